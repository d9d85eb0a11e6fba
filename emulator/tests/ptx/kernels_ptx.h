// The path of our kernels' PTX (kernels/src/*.cu through nvcc -ptx), as the build passes it to the tests and the
// benchmark that run them: empty where nvcc was not found at configure time.
#pragma once

#ifndef PDEMU_KERNELS_PTX
#define PDEMU_KERNELS_PTX ""
#endif
