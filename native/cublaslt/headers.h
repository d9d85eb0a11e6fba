/* Umbrella header for jextract: cuBLASLt (libcublasLt.so.*). See ../regenerate.sh. */
#include <cublasLt.h>
