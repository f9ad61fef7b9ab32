/* A stand-in libnvidia-ml.so.1: a working "NVIDIA A10G" (24 GB) unless told otherwise.
 *   FAKE_NVML_INIT=DRIVER_NOT_LOADED|LIB_RM_VERSION_MISMATCH|UNKNOWN|<number>   nvmlInit_v2 fails so
 *   FAKE_NVML_HANG=<function>[,...]      those calls never return
 *   FAKE_NVML_UNSUPPORTED=power,temperature,ecc,clocks,pcie,...   NVML_ERROR_NOT_SUPPORTED for those fields
 *   FAKE_NVML_UNSUPPORTED=memory_v2 makes nvmlDeviceGetMemoryInfo_v2 refuse (callers fall back to v1, which
 *   counts the 512 MiB reservation as used)
 *   FAKE_GPU_COUNT, FAKE_GPU_NAME, FAKE_GPU_MEM_MIB, FAKE_GPU_CC (e.g. 8.6), FAKE_DRIVER_VERSION
 *   FAKE_GPU_UTIL=<pct>   SM (and memory) utilisation; FAKE_NVML_THROTTLE=<hex bits>   clock event reasons
 *   FAKE_NVML_PROCESS_MIB=<MiB>   each child process of the caller shows up in per-process accounting with it
 * Scripted GPU events (fake_events.h): FAKE_NVML_EVENTS=xid:79@2,dbe@1,sbe@0.5,clock@0.2,replay@1
 *   (what @ seconds after the first nvmlInit_v2, or after the first nvmlEventSetCreate); FAKE_NVML_UNSUPPORTED=events makes event registration
 *   NOT_SUPPORTED (as in many containers), so callers poll. Once an Xid 79 is due, device reads answer
 *   NVML_ERROR_GPU_IS_LOST; FAKE_NVML_LOST_FILE names a file created when a caller first learns of it.
 * nvmlDeviceGetCurrentClocksEventReasons is deliberately absent (an older driver): callers must fall back to
 * nvmlDeviceGetCurrentClocksThrottleReasons. */
#include <stdio.h>
#include "fake_common.h"

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct { char busIdLegacy[16]; unsigned domain, bus, device, pciDeviceId, pciSubSystemId; char busId[32]; } nvmlPciInfo_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned gpu, memory; } nvmlUtilization_t;

#define OK 0
#define NOT_SUPPORTED 3
#define INVALID_ARGUMENT 2
#define UNINITIALIZED 1
static int initialised;
static int devices[16];

#define HANG(f) fake_maybe_hang("FAKE_NVML_HANG", f)
#define UNSUPPORTED(field) do { if (fake_listed("FAKE_NVML_UNSUPPORTED", field)) return NOT_SUPPORTED; } while (0)
#define DEVICE_INDEX(d) ((int)((int *)(d) - devices))
#include "fake_events.h"

nvmlReturn_t nvmlInit_v2(void) {
    HANG("nvmlInit_v2");
    const char *mode = fake_env("FAKE_NVML_INIT", "");
    if (!strcmp(mode, "DRIVER_NOT_LOADED")) return 9;
    if (!strcmp(mode, "LIB_RM_VERSION_MISMATCH")) return 18;
    if (!strcmp(mode, "UNKNOWN")) return 999;
    if (*mode) return atoi(mode);
    fake_events_start();
    initialised++;
    return OK;
}

nvmlReturn_t nvmlShutdown(void) { if (initialised > 0) initialised--; return OK; }

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {  /* the real library's texts */
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 3: return "Not Supported";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 15: return "GPU is lost";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    case 999: return "Unknown Error";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned n) {
    HANG("nvmlSystemGetDriverVersion");
    snprintf(v, n, "%s", fake_env("FAKE_DRIVER_VERSION", "580.159.04"));
    return OK;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { *v = 13000; return OK; }

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count) {
    HANG("nvmlDeviceGetCount_v2");
    if (!initialised) return UNINITIALIZED;
    *count = (unsigned)fake_count();
    return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d) {
    if ((int)i >= fake_count() || i >= 16) return INVALID_ARGUMENT;
    *d = &devices[i];
    return OK;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned n) {
    HANG("nvmlDeviceGetName");
    snprintf(name, n, "%s", fake_env("FAKE_GPU_NAME", "NVIDIA A10G"));
    return OK;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned n) {
    snprintf(uuid, n, "GPU-0badf00d-0000-4000-8000-00000000000%d", DEVICE_INDEX(d));
    return OK;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p) {
    memset(p, 0, sizeof *p);
    p->bus = 0x1e + DEVICE_INDEX(d);
    snprintf(p->busIdLegacy, sizeof p->busIdLegacy, "0000:%02X:00.0", p->bus);
    snprintf(p->busId, sizeof p->busId, "00000000:%02X:00.0", p->bus);
    p->pciDeviceId = 0x223710de;
    return OK;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
    LOST(d);
    unsigned long long mib = strtoull(fake_env("FAKE_GPU_MEM_MIB", "23028"), 0, 10);
    m->total = mib << 20; m->used = 513ull << 20; m->free = m->total - m->used;
    return OK;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    UNSUPPORTED("memory_v2");
    LOST(d);
    if (m->version != (sizeof *m | 2u << 24)) return 25; /* NVML_ERROR_ARGUMENT_VERSION_MISMATCH */
    unsigned long long mib = strtoull(fake_env("FAKE_GPU_MEM_MIB", "23028"), 0, 10);
    m->total = mib << 20; m->reserved = 512ull << 20; m->used = 1ull << 20; m->free = m->total - m->reserved - m->used;
    return OK;
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
    const char *cc = fake_env("FAKE_GPU_CC", "8.6");
    *major = atoi(cc); *minor = atoi(strchr(cc, '.') ? strchr(cc, '.') + 1 : "0");
    return OK;
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *cur, unsigned *pend) {
    UNSUPPORTED("mig");
    *cur = *pend = (unsigned)atoi(fake_env("FAKE_GPU_MIG", "0"));
    return OK;
}
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, int *m) { UNSUPPORTED("persistence"); *m = 1; return OK; }
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *t) { UNSUPPORTED("temperature"); LOST(d); *t = 31; return OK; }
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned *mw) { UNSUPPORTED("power"); LOST(d); *mw = 18250; return OK; }
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned *mw) { UNSUPPORTED("power"); *mw = 300000; return OK; }
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *mhz) { UNSUPPORTED("clocks"); *mhz = type == 2 ? 6251 : 210; return OK; }
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, int type, unsigned *mhz) { UNSUPPORTED("clocks"); *mhz = type == 2 ? 6251 : 1710; return OK; }
nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t d, int *cur, int *pend) { UNSUPPORTED("ecc"); *cur = *pend = 1; return OK; }
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter, unsigned long long *n) {
    UNSUPPORTED("ecc");
    LOST(d);
    *n = (type == 1) ? strtoull(fake_env("FAKE_GPU_ECC_UNCORRECTED", "0"), 0, 10) + fake_events_due(DEVICE_INDEX(d), "dbe")
                     : fake_events_due(DEVICE_INDEX(d), "sbe");
    return OK;
}
nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t d, int cause, unsigned *count, unsigned long long *addr) {
    UNSUPPORTED("retired");
    *count = 0;
    return OK;
}
nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t d, int *p) { UNSUPPORTED("retired"); *p = 0; return OK; }
nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t d, unsigned *c, unsigned *u, unsigned *p, unsigned *f) {
    UNSUPPORTED("remap");
    *c = *u = *p = *f = 0;
    return OK;
}
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *r) {
    UNSUPPORTED("throttle");
    *r = strtoull(fake_env("FAKE_NVML_THROTTLE", "0x1"), 0, 16);
    return OK;
}
nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t d, unsigned *g) { UNSUPPORTED("pcie"); *g = 1; return OK; }
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t d, unsigned *g) { UNSUPPORTED("pcie"); *g = 4; return OK; }
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t d, unsigned *w) { UNSUPPORTED("pcie"); *w = 16; return OK; }
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t d, unsigned *w) { UNSUPPORTED("pcie"); *w = 16; return OK; }
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    LOST(d);
    u->gpu = (unsigned)atoi(fake_env("FAKE_GPU_UTIL", "0")); u->memory = u->gpu / 2;
    return OK;
}
nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t d, unsigned *v) {
    UNSUPPORTED("pcie");
    LOST(d);
    *v = 10 * fake_events_due(DEVICE_INDEX(d), "replay");
    return OK;
}
