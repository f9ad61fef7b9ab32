/* Scripted GPU events of the fake libnvidia-ml.so.1 (included by fake_nvml.c after `devices`).
 * FAKE_NVML_EVENTS=what@seconds,...   what: xid:<n>, dbe, sbe, clock, power_source, replay; seconds after the
 * process's first nvmlInit_v2, or after its first nvmlEventSetCreate once there is one. `what@trigger`: due once
 * the file FAKE_NVML_TRIGGER_FILE exists (a test's signal instead of a time). Events are on GPU 0. nvmlEventSetWait_v2 delivers each due event once, to a set
 * that registered its type; the counters (ECC, PCIe replays) count the due ones, so a poll sees the same facts. */
#include <time.h>
#include <stdio.h>
#include <dirent.h>

#define GPU_IS_LOST 15
#define TIMEOUT 10
#define MAX_SCRIPTED 32

typedef struct { char what[16]; unsigned long long type, data; double due; int delivered; } fake_event;
static fake_event scripted[MAX_SCRIPTED];
static int scripted_count = -1;
static double t0;
static unsigned long long registered[16];

static double fake_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* (Re)reads the script when nvmlInit_v2 first runs or FAKE_NVML_EVENTS has changed since (in-process tests). */
static void fake_events_start(void) {
    static char script[512];
    const char *v = getenv("FAKE_NVML_EVENTS");
    if (scripted_count >= 0 && !strncmp(script, v ? v : "", sizeof script - 1)) return;
    snprintf(script, sizeof script, "%s", v ? v : "");
    t0 = fake_now();
    memset(scripted, 0, sizeof scripted);
    scripted_count = 0;
    while (v && *v && scripted_count < MAX_SCRIPTED) {
        fake_event *e = &scripted[scripted_count];
        const char *at = strchr(v, '@');
        const char *end = strchr(v, ',');
        if (!at || (end && at > end)) break;
        size_t n = (size_t)(at - v) < sizeof e->what - 1 ? (size_t)(at - v) : sizeof e->what - 1;
        memcpy(e->what, v, n); e->what[n] = 0;
        e->due = !strncmp(at + 1, "trigger", 7) ? -1 : atof(at + 1);
        if (!strncmp(e->what, "xid:", 4)) { e->type = 0x8; e->data = strtoull(e->what + 4, 0, 10); e->what[3] = 0; }
        else if (!strcmp(e->what, "sbe")) e->type = 0x1;
        else if (!strcmp(e->what, "dbe")) e->type = 0x2;
        else if (!strcmp(e->what, "clock")) e->type = 0x10;
        else if (!strcmp(e->what, "power_source")) e->type = 0x80;
        else e->type = 0; /* a counter only (replay) */
        scripted_count++;
        v = end ? end + 1 : 0;
    }
}

static double fake_elapsed(void) { return scripted_count < 0 ? 0 : fake_now() - t0; }

static int fake_is_due(const fake_event *e) {
    if (e->due >= 0) return e->due <= fake_elapsed();
    const char *trigger = getenv("FAKE_NVML_TRIGGER_FILE");
    return trigger && *trigger && access(trigger, F_OK) == 0;
}

/* How many scripted `what` events are due by now (device 0 only). */
static unsigned fake_events_due(int device, const char *what) {
    unsigned n = 0;
    if (device != 0) return 0;
    for (int i = 0; i < scripted_count; i++)
        if (!strcmp(scripted[i].what, what) && fake_is_due(&scripted[i])) n++;
    return n;
}

static void fake_signal_lost(void) {
    static int signalled;
    const char *file = getenv("FAKE_NVML_LOST_FILE");
    if (signalled || !file || !*file) return;
    signalled = 1;
    FILE *f = fopen(file, "w");
    if (f) { fputs("lost\n", f); fclose(f); }
}

/* Has GPU `device` fallen off the bus (a scripted Xid 79 is due)? */
static int fake_lost(int device) {
    if (device != 0) return 0;
    for (int i = 0; i < scripted_count; i++)
        if (scripted[i].type == 0x8 && scripted[i].data == 79 && fake_is_due(&scripted[i])) return 1;
    return 0;
}
#define LOST(d) do { if (fake_lost(DEVICE_INDEX(d))) { fake_signal_lost(); return GPU_IS_LOST; } } while (0)

typedef struct { nvmlDevice_t device; unsigned long long eventType, eventData; unsigned gpuInstanceId, computeInstanceId; } nvmlEventData_t;
static int the_set; /* one set is enough for a fake */

/* The script's clock restarts when the first event set is made: "an Xid 79 N seconds after the watch started". */
nvmlReturn_t nvmlEventSetCreate(void **set) {
    static int created;
    if (!created++) t0 = fake_now();
    *set = &the_set;
    return OK;
}
nvmlReturn_t nvmlEventSetFree(void *set) { memset(registered, 0, sizeof registered); return OK; }

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long *types) {
    UNSUPPORTED("events");
    *types = 0x1 | 0x2 | 0x4 | 0x8 | 0x10; /* no power-source events, like most data-centre GPUs */
    return OK;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types, void *set) {
    UNSUPPORTED("events");
    if (types & ~(0x1ull | 0x2 | 0x4 | 0x8 | 0x10)) return NOT_SUPPORTED;
    registered[DEVICE_INDEX(d)] |= types;
    return OK;
}

nvmlReturn_t nvmlEventSetWait_v2(void *set, nvmlEventData_t *data, unsigned timeoutms) {
    HANG("nvmlEventSetWait_v2");
    double deadline = fake_elapsed() + timeoutms / 1000.0;
    for (;;) {
        fake_event *next = 0;
        for (int i = 0; i < scripted_count; i++) {
            fake_event *e = &scripted[i];
            if (e->delivered || !(registered[0] & e->type)) continue;
            if (fake_is_due(e)) { next = e; break; }
            if (e->due >= 0 && (!next || e->due < next->due)) next = e;
        }
        double now = fake_elapsed();
        if (next && fake_is_due(next)) {
            next->delivered = 1;
            memset(data, 0, sizeof *data);
            data->device = &devices[0];
            data->eventType = next->type;
            data->eventData = next->data;
            if (next->type == 0x8 && next->data == 79) fake_signal_lost();
            return OK;
        }
        if (now >= deadline) return TIMEOUT;
        /* Sleep until the next timed event or the deadline, in slices of at most 50 ms (a trigger file may appear). */
        double until = next && next->due < deadline ? next->due : deadline;
        if (until > now + 0.05) until = now + 0.05;
        usleep((useconds_t)((until - now) * 1e6) + 1000);
    }
}

/* Per-process accounting: each child of the calling process uses FAKE_NVML_PROCESS_MIB (unset: none listed). */
typedef struct { unsigned pid; unsigned long long usedGpuMemory; unsigned gpuInstanceId, computeInstanceId; } nvmlProcessInfo_t;
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *count, nvmlProcessInfo_t *infos) {
    LOST(d);
    const char *mib = getenv("FAKE_NVML_PROCESS_MIB");
    unsigned n = 0;
    if (mib && *mib && DEVICE_INDEX(d) == 0) {
        char path[300], buf[512];
        DIR *proc = opendir("/proc");
        struct dirent *ent;
        while (proc && (ent = readdir(proc)) && n < *count) {
            int pid = atoi(ent->d_name);
            if (pid <= 0) continue;
            snprintf(path, sizeof path, "/proc/%d/stat", pid);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            size_t len = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[len] = 0;
            const char *close = strrchr(buf, ')');
            int ppid = 0;
            if (close && sscanf(close + 2, "%*c %d", &ppid) == 1 && ppid == getpid()) {
                infos[n].pid = (unsigned)pid;
                infos[n].usedGpuMemory = strtoull(mib, 0, 10) << 20;
                infos[n].gpuInstanceId = infos[n].computeInstanceId = 0xFFFFFFFF;
                n++;
            }
        }
        if (proc) closedir(proc);
    }
    *count = n;
    return OK;
}
