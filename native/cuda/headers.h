/* Umbrella header for jextract: the CUDA driver API (libcuda.so.1). See ../regenerate.sh. */
#include <cuda.h>
