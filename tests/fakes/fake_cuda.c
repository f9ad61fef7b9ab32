/* A stand-in libcuda.so.1. Device memory is host memory, and the only "kernel" is vectorAdd, computed on
 * the host from the real kernelParams, so the managed launch/copy/verify path runs for real.
 *   FAKE_CUDA_INIT=<CUresult>      cuInit returns it (100 NO_DEVICE, 35 INSUFFICIENT_DRIVER, 999 UNKNOWN, ...)
 *   FAKE_CUDA_HANG=<function>      that call never returns
 *   FAKE_CUDA_KERNEL=wrong         vectorAdd writes a wrong element (the host check must catch it)
 *   FAKE_CUDA_ALLOC=<CUresult>     cuMemAlloc_v2 fails with it (e.g. 2 OUT_OF_MEMORY)
 *   FAKE_GPU_COUNT, FAKE_GPU_NAME, FAKE_GPU_MEM_MIB, FAKE_GPU_CC */
#include <stdio.h>
#include <stdint.h>
#include "fake_common.h"

typedef int CUresult;
#define HANG(f) fake_maybe_hang("FAKE_CUDA_HANG", f)
static int initialised;
static int dummy_context, dummy_module, dummy_function, dummy_stream;

CUresult cuGetErrorName(CUresult e, const char **s) {
    switch (e) {
    case 0: *s = "CUDA_SUCCESS"; return 0;
    case 1: *s = "CUDA_ERROR_INVALID_VALUE"; return 0;
    case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
    case 3: *s = "CUDA_ERROR_NOT_INITIALIZED"; return 0;
    case 35: *s = "CUDA_ERROR_INSUFFICIENT_DRIVER"; return 0;
    case 100: *s = "CUDA_ERROR_NO_DEVICE"; return 0;
    case 999: *s = "CUDA_ERROR_UNKNOWN"; return 0;
    default: *s = 0; return 1;
    }
}
CUresult cuGetErrorString(CUresult e, const char **s) {
    switch (e) {  /* the real driver's texts */
    case 0: *s = "no error"; return 0;
    case 1: *s = "invalid argument"; return 0;
    case 2: *s = "out of memory"; return 0;
    case 3: *s = "initialization error"; return 0;
    case 35: *s = "CUDA driver version is insufficient for CUDA runtime version"; return 0;
    case 100: *s = "no CUDA-capable device is detected"; return 0;
    case 999: *s = "unknown error"; return 0;
    default: *s = 0; return 1;
    }
}

CUresult cuInit(unsigned flags) {
    HANG("cuInit");
    int r = atoi(fake_env("FAKE_CUDA_INIT", "0"));
    if (r == 0) initialised = 1;
    return r;
}
#define NEED_INIT() do { if (!initialised) return 3; } while (0)
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *n) { HANG("cuDeviceGetCount"); NEED_INIT(); *n = fake_count(); return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { NEED_INIT(); if (ordinal >= fake_count()) return 101; *d = ordinal; return 0; }
CUresult cuDeviceGetName(char *name, int n, int d) { snprintf(name, n, "%s", fake_env("FAKE_GPU_NAME", "NVIDIA A10G")); return 0; }
CUresult cuDeviceTotalMem_v2(size_t *b, int d) { *b = (strtoull(fake_env("FAKE_GPU_MEM_MIB", "23028"), 0, 10) - 300) << 20; return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
    const char *cc = fake_env("FAKE_GPU_CC", "8.6");
    switch (attr) {
    case 75: *v = atoi(cc); return 0;
    case 76: *v = atoi(strchr(cc, '.') ? strchr(cc, '.') + 1 : "0"); return 0;
    case 16: *v = 80; return 0;            /* SMs */
    case 38: *v = 6 << 20; return 0;       /* L2 */
    case 36: *v = 6251000; return 0;       /* memory clock kHz */
    case 37: *v = 384; return 0;           /* bus width */
    case 33: *v = 0x1e + d; return 0;
    case 34: case 50: *v = 0; return 0;
    default: *v = 0; return 0;
    }
}
CUresult cuDeviceGetUuid_v2(unsigned char *u, int d) { memset(u, 0, 16); u[0] = 0x0b; u[1] = 0xad; u[15] = (unsigned char)d; return 0; }
CUresult cuDeviceCanAccessPeer(int *c, int d, int p) { *c = 0; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { HANG("cuDevicePrimaryCtxRetain"); NEED_INIT(); *c = &dummy_context; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { return 0; }
CUresult cuCtxSetCurrent(void *c) { return 0; }
CUresult cuCtxGetCurrent(void **c) { *c = &dummy_context; return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { cuDeviceTotalMem_v2(t, 0); *f = *t - (64 << 20); return 0; }
CUresult cuMemAlloc_v2(uint64_t *p, size_t n) {
    int r = atoi(fake_env("FAKE_CUDA_ALLOC", "0"));
    if (r) return r;
    void *m = malloc(n ? n : 1);
    if (!m) return 2;
    *p = (uint64_t)(uintptr_t)m;
    return 0;
}
CUresult cuMemFree_v2(uint64_t p) { free((void *)(uintptr_t)p); return 0; }
CUresult cuMemAllocHost_v2(void **p, size_t n) { *p = malloc(n); return *p ? 0 : 2; }
CUresult cuMemFreeHost(void *p) { free(p); return 0; }
CUresult cuMemcpyHtoD_v2(uint64_t d, const void *s, size_t n) { memcpy((void *)(uintptr_t)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, uint64_t s, size_t n) { memcpy(d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) { memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemsetD32_v2(uint64_t d, unsigned v, size_t n) { unsigned *p = (unsigned *)(uintptr_t)d; for (size_t i = 0; i < n; i++) p[i] = v; return 0; }
CUresult cuMemsetD8_v2(uint64_t d, unsigned char v, size_t n) { memset((void *)(uintptr_t)d, v, n); return 0; }
CUresult cuModuleLoadData(void **m, const void *image) {
    HANG("cuModuleLoadData");
    if (!strstr((const char *)image, ".entry vectorAdd")) return 218; /* CUDA_ERROR_INVALID_PTX */
    *m = &dummy_module;
    return 0;
}
CUresult cuModuleUnload(void *m) { return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
    if (strcmp(name, "vectorAdd")) return 500; /* CUDA_ERROR_NOT_FOUND */
    *f = &dummy_function;
    return 0;
}
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *stream, void **params, void **extra) {
    HANG("cuLaunchKernel");
    const float *a = *(const float **)params[0], *b = *(const float **)params[1];
    float *c = *(float **)params[2];
    int n = *(int *)params[3];
    long threads = (long)gx * bx;
    for (long i = 0; i < n && i < threads; i++) c[i] = a[i] + b[i];
    if (!strcmp(fake_env("FAKE_CUDA_KERNEL", ""), "wrong") && n > 7) c[7] += 1.0f;
    return 0;
}
CUresult cuStreamCreate(void **s, unsigned flags) { *s = &dummy_stream; return 0; }
CUresult cuStreamDestroy_v2(void *s) { return 0; }
CUresult cuStreamSynchronize(void *s) { return 0; }
CUresult cuEventCreate(void **e, unsigned flags) { *e = malloc(8); return 0; }
CUresult cuEventRecord(void *e, void *s) { return 0; }
CUresult cuEventSynchronize(void *e) { HANG("cuEventSynchronize"); return 0; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { *ms = 0.05f; return 0; }
CUresult cuEventDestroy_v2(void *e) { free(e); return 0; }
