// A tiny kernel compiled by nvcc into the fatbins driver_module_test loads (see CMakeLists.txt).
extern "C" __global__ void add_one(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += 1.0f;
}
