/* Umbrella header for jextract: cuDNN 9 (libcudnn.so.9), legacy convolution API. See ../regenerate.sh. */
#include <cudnn.h>
