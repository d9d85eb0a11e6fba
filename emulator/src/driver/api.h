// The exported driver API (native/cuda/includes.txt) with the signatures the CUDA driver API documents, plus the
// emulator's own pdemuLastErrorDetail and pdemuInstructionsExecuted. Included by every file that defines one of
// them, so a definition that disagrees with its declaration does not compile; the tests call through it.
#pragma once

#include "driver/cuda_types.h"

PDEMU_API CUresult cuInit(unsigned int Flags);
PDEMU_API CUresult cuDriverGetVersion(int* driverVersion);
PDEMU_API CUresult cuGetErrorName(CUresult error, const char** pStr);
PDEMU_API CUresult cuGetErrorString(CUresult error, const char** pStr);
PDEMU_API CUresult cuDeviceGetCount(int* count);
PDEMU_API CUresult cuDeviceGet(CUdevice* device, int ordinal);
PDEMU_API CUresult cuDeviceGetName(char* name, int len, CUdevice dev);
PDEMU_API CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev);
PDEMU_API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev);
PDEMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev);
PDEMU_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev);
PDEMU_API CUresult cuCtxSetCurrent(CUcontext ctx);
PDEMU_API CUresult cuCtxGetCurrent(CUcontext* pctx);
PDEMU_API CUresult cuCtxSynchronize(void);
PDEMU_API CUresult cuMemGetInfo_v2(size_t* free, size_t* total);
PDEMU_API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize);
PDEMU_API CUresult cuMemFree_v2(CUdeviceptr dptr);
PDEMU_API CUresult cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags);
PDEMU_API CUresult cuMemFreeHost(void* p);
PDEMU_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount);
PDEMU_API CUresult cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount);
PDEMU_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount, CUstream hStream);
PDEMU_API CUresult cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
PDEMU_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
PDEMU_API CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
PDEMU_API CUresult cuStreamCreate(CUstream* phStream, unsigned int Flags);
PDEMU_API CUresult cuStreamDestroy_v2(CUstream hStream);
PDEMU_API CUresult cuStreamSynchronize(CUstream hStream);
PDEMU_API CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags);
PDEMU_API CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);
PDEMU_API CUresult cuStreamEndCapture(CUstream hStream, CUgraph* phGraph);
PDEMU_API CUresult cuEventCreate(CUevent* phEvent, unsigned int Flags);
PDEMU_API CUresult cuEventRecord(CUevent hEvent, CUstream hStream);
PDEMU_API CUresult cuEventSynchronize(CUevent hEvent);
PDEMU_API CUresult cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart, CUevent hEnd);
PDEMU_API CUresult cuEventDestroy_v2(CUevent hEvent);
PDEMU_API CUresult cuModuleLoadData(CUmodule* module, const void* image);
PDEMU_API CUresult cuModuleUnload(CUmodule hmod);
PDEMU_API CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name);
PDEMU_API CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value);
PDEMU_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                  unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                  unsigned int sharedMemBytes, CUstream hStream, void** kernelParams, void** extra);
PDEMU_API CUresult cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph, unsigned long long flags);
PDEMU_API CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream);
PDEMU_API CUresult cuGraphExecDestroy(CUgraphExec hGraphExec);
PDEMU_API CUresult cuGraphDestroy(CUgraph hGraph);

/** The last error's one-line detail on the calling thread (kernel, block, thread, address for a fault). */
PDEMU_API const char* pdemuLastErrorDetail(void);
/** Thread-instructions executed by all kernel launches so far. */
PDEMU_API unsigned long long pdemuInstructionsExecuted(void);
