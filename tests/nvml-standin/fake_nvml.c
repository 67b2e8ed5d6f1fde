/*
 * A stand-in for libnvidia-ml.so.1, for tests only. It implements the subset of the NVML ABI the device plugin
 * uses (see docs/nvml.md and shared/facts/nvml.md), with the same struct layouts and return codes.
 *
 * Build:  gcc -shared -fPIC -O2 -o DIR/libnvidia-ml.so.1 fake_nvml.c
 *         add -DNO_OPTIONAL for a "driver" without the optional functions (NUMA, MIG, NVLink, topology,
 *         compute capability, supported event types), or -DNO_MIG for one with nvmlDeviceGetMigMode but without
 *         the functions that list MIG devices.
 *
 * Each copy of the library finds its own directory with dladdr and reads DIR/nvml.conf on nvmlInit_v2 (when not
 * already initialised), so parallel tests each copy the library into their own directory. Lines of nvml.conf:
 *   init_return N                 nvmlInit_v2 fails with N (0 = success, the default)
 *   driver_version TEXT
 *   cuda_version N                nvmlSystemGetCudaDriverVersion(_v2) answers N (1000 * major + 10 * minor; default 12050;
 *                                 0 = NOT_SUPPORTED)
 *   nvlink_max_links N            links at or above N answer INVALID_ARGUMENT (default 18)
 *   topology_default LEVEL        common ancestor level of pairs without a topology line (default 50 = SYSTEM)
 *   topology A B LEVEL            common ancestor level of GPUs A and B (indices in file order)
 *   nvlink A B COUNT              COUNT links between GPUs A and B (each takes its next free link numbers)
 *   nvlink_switch A COUNT [S]     COUNT links from GPU A to NVSwitch S (default 0; remote PCI info 00000000:FF-S:00.0)
 *   deliver_unregistered 1        deliver every injected event, even of types the GPU was not registered for
 *   gpu key=value ...             one GPU; keys: uuid name memory minor pci numa (N | none) mig (0 | 1 | none)
 *                                 cc (M.m) events (supported event mask, default 0xb; 0x10b when mig is 0 or 1)
 *                                 register (ok | notsupported) migmemory (ok | nopermission: the memory of a GPU
 *                                 in MIG mode needs CAP_SYS_ADMIN, as on a real driver run unprivileged)
 *                                 a value may be in double quotes to hold spaces
 *   mig I SLOT PROFILE key=value  a MIG device of GPU I in slot SLOT (0-6; slots may be left empty). PROFILE is
 *                                 SET:NAME from the built-in profile sets below, or "custom" with gslices=G
 *                                 cslices=C memorymb=M; keys: uuid (default MIG-00000000-0000-0000-<I>-<SLOT>)
 *                                 gi (GPU instance id, default SLOT + 1) ci (compute instance id, default 0)
 * Built-in profile sets (slices and instance memory in MiB as the driver reports them; the GPU's memory line must
 * hold the parent's total): a100-40gb (1g 2g 3g 4g 7g 1c.3g), h100-80gb (1g 1g.2x 2g 3g 4g 7g),
 * h200-141gb (1g 1g.2x 2g 3g 4g 7g); 1g.2x is the one-slice profile with twice the memory.
 *
 * Injection while running: append lines to DIR/events; nvmlEventSetWait_v2 polls the file and handles each line once:
 *   xid I CODE     critical XID event on GPU I          dbe I   double-bit ECC event on GPU I
 *   sbe I          single-bit ECC event on GPU I        lost I  GPU I falls off the bus: its calls answer
 *   found I        GPU I answers again                          GPU_IS_LOST, and this wait returns GPU_IS_LOST
 *   waiterror N    this wait returns N
 *   xid I CODE GI CI / dbe I GI CI   the event attributed to GPU instance GI, compute instance CI of GPU I
 *   mig I SLOT PROFILE key=value     a MIG device appears (as in nvml.conf); no event is delivered
 *   migremove I SLOT                 the MIG device in that slot is destroyed; its handle answers NOT_FOUND
 *   migconfig I                      a MIG configuration change event (0x100) on GPU I, when registered
 * Changing the GPU set while running (handled the same way; the wait goes on, as no NVML event announces them):
 *   addgpu key=value ...   a new GPU, keys as for "gpu"; it takes the next index in file order (after every GPU ever
 *                          configured or added) and is enumerated after the GPUs present
 *   removegpu I            GPU I is no longer enumerated (count and handle-by-index skip it); calls on its handle
 *                          answer GPU_IS_LOST
 *   nvlink A B COUNT, nvlink_switch A COUNT [S], topology A B LEVEL   as in nvml.conf, applied at once
 * GPU indices (I, A, B) always mean file order, removed GPUs included; NVML's enumeration index may differ.
 *
 * Every NVML call is counted by function: fake_get_call_count("nvmlInit_v2"), fake_total_calls(),
 * fake_total_calls_except("nvmlEventSetWait_v2"),
 * fake_events_consumed() (lines of DIR/events handled so far).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2, NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4, NVML_ERROR_NOT_FOUND = 6, NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_TIMEOUT = 10, NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999
};

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;

struct gpu;
typedef struct gpu *nvmlDevice_t;

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;

typedef struct event_set *nvmlEventSet_t;

typedef struct {
    unsigned int multiprocessorCount, sharedCopyEngineCount, sharedDecoderCount, sharedEncoderCount, sharedJpegCount,
        sharedOfaCount, gpuInstanceSliceCount, computeInstanceSliceCount;
    unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t");
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t");
_Static_assert(sizeof(nvmlDeviceAttributes_t) == 40, "nvmlDeviceAttributes_t");

#define MAX_GPUS 64
#define MAX_LINKS 36
#define MIG_SLOTS 7
#define NO_INSTANCE 0xFFFFFFFFu
#define REMOTE_NONE (-1)
#define REMOTE_SWITCH(s) (-2 - (s)) /* NVSwitch s = 0, 1, ... */

struct gpu {
    char uuid[96], name[96], pci[32];
    unsigned long long memory;
    unsigned minor;
    int numa;            /* -1: NOT_SUPPORTED */
    int mig;             /* -1: NOT_SUPPORTED */
    int cc_major, cc_minor;
    unsigned long long supported_events;
    int register_not_supported;
    int mig_memory_no_permission;
    unsigned long long registered;
    int lost;
    int removed;
    int link_remote[MAX_LINKS]; /* GPU index, REMOTE_SWITCH(s) or REMOTE_NONE */
};

struct event_set { int unused; };

/* A MIG device: its handle is a pointer into migs[][], told apart from GPU handles by address. */
struct mig {
    int present;
    char uuid[96];
    unsigned gi, ci, gslices, cslices;
    unsigned long long memory_mb;
};

struct profile { const char *set, *name; unsigned gslices, cslices; unsigned long long memory_mb; };
static const struct profile profiles[] = {
    { "a100-40gb", "1g", 1, 1, 4864 }, { "a100-40gb", "2g", 2, 2, 9856 }, { "a100-40gb", "3g", 3, 3, 19968 },
    { "a100-40gb", "4g", 4, 4, 19968 }, { "a100-40gb", "7g", 7, 7, 40192 }, { "a100-40gb", "1c.3g", 3, 1, 19968 },
    { "h100-80gb", "1g", 1, 1, 9984 }, { "h100-80gb", "1g.2x", 1, 1, 19968 }, { "h100-80gb", "2g", 2, 2, 20096 },
    { "h100-80gb", "3g", 3, 3, 40320 }, { "h100-80gb", "4g", 4, 4, 40320 }, { "h100-80gb", "7g", 7, 7, 80896 },
    { "h200-141gb", "1g", 1, 1, 16384 }, { "h200-141gb", "1g.2x", 1, 1, 32768 }, { "h200-141gb", "2g", 2, 2, 33280 },
    { "h200-141gb", "3g", 3, 3, 69632 }, { "h200-141gb", "4g", 4, 4, 69632 }, { "h200-141gb", "7g", 7, 7, 140800 },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gpu gpus[MAX_GPUS];
static struct mig migs[MAX_GPUS][MIG_SLOTS];
static int gpu_count; /* GPUs configured or added, removed ones included */
static int topology[MAX_GPUS][MAX_GPUS];
static int init_refs;
static int init_return;
static int nvlink_max_links = 18;
static int deliver_unregistered;
static char driver_version[80] = "999.99.99";
static int cuda_version = 12050;
static char dir[PATH_MAX];
static long events_offset;
static long events_consumed;
static struct event_set the_set;

/* ---- call counting ---- */
#define FUNCTIONS(X) \
    X(nvmlInit_v2) X(nvmlInitWithFlags) X(nvmlShutdown) X(nvmlErrorString) X(nvmlSystemGetDriverVersion) \
    X(nvmlDeviceGetCount_v2) X(nvmlDeviceGetHandleByIndex_v2) X(nvmlDeviceGetUUID) X(nvmlDeviceGetName) \
    X(nvmlDeviceGetPciInfo_v3) X(nvmlDeviceGetMinorNumber) X(nvmlDeviceGetMemoryInfo) \
    X(nvmlDeviceGetCudaComputeCapability) X(nvmlDeviceGetNumaNodeId) X(nvmlDeviceGetTopologyCommonAncestor) \
    X(nvmlDeviceGetNvLinkState) X(nvmlDeviceGetNvLinkRemotePciInfo_v2) X(nvmlDeviceGetMigMode) \
    X(nvmlEventSetCreate) X(nvmlDeviceGetSupportedEventTypes) X(nvmlDeviceRegisterEvents) \
    X(nvmlEventSetWait_v2) X(nvmlEventSetFree) X(nvmlDeviceGetMaxMigDeviceCount) \
    X(nvmlDeviceGetMigDeviceHandleByIndex) X(nvmlDeviceGetGpuInstanceId) X(nvmlDeviceGetComputeInstanceId) \
    X(nvmlDeviceGetAttributes_v2) X(nvmlSystemGetCudaDriverVersion_v2) X(nvmlSystemGetCudaDriverVersion)
#define ENUM(f) FN_##f,
enum { FUNCTIONS(ENUM) FN_COUNT };
#define NAME(f) #f,
static const char *function_names[] = { FUNCTIONS(NAME) };
static long call_counts[FN_COUNT];
#define COUNT(f) __atomic_fetch_add(&call_counts[FN_##f], 1, __ATOMIC_RELAXED)

long fake_get_call_count(const char *name)
{
    for (int i = 0; i < FN_COUNT; i++)
        if (strcmp(function_names[i], name) == 0)
            return __atomic_load_n(&call_counts[i], __ATOMIC_RELAXED);
    return -1;
}

long fake_total_calls(void)
{
    long total = 0;
    for (int i = 0; i < FN_COUNT; i++)
        total += __atomic_load_n(&call_counts[i], __ATOMIC_RELAXED);
    return total;
}

long fake_total_calls_except(const char *name)
{
    long total = 0;
    for (int i = 0; i < FN_COUNT; i++)
        if (strcmp(function_names[i], name) != 0)
            total += __atomic_load_n(&call_counts[i], __ATOMIC_RELAXED);
    return total;
}

long fake_events_consumed(void)
{
    pthread_mutex_lock(&lock);
    long n = events_consumed;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- configuration ---- */
static void find_dir(void)
{
    Dl_info info;
    if (dladdr((void *)&find_dir, &info) && info.dli_fname) {
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0; else strcpy(dir, ".");
    } else {
        strcpy(dir, ".");
    }
}

/* Next token of a line: a run of non-blank characters, or the text between double quotes after "key=". */
static char *next_token(char **cursor)
{
    char *p = *cursor;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '\n') return NULL;
    char *start = p, *out = p;
    int quoted = 0;
    while (*p && *p != '\n' && (quoted || (*p != ' ' && *p != '\t'))) {
        if (*p == '"') { quoted = !quoted; p++; continue; }
        *out++ = *p++;
    }
    if (*p) p++;
    *out = 0;
    *cursor = p;
    return start;
}

static int next_link(struct gpu *g)
{
    for (int l = 0; l < MAX_LINKS; l++)
        if (g->link_remote[l] == REMOTE_NONE) return l;
    return -1;
}

static void parse_gpu(char *cursor)
{
    if (gpu_count >= MAX_GPUS) return;
    struct gpu *g = &gpus[gpu_count++];
    memset(g, 0, sizeof *g);
    snprintf(g->uuid, sizeof g->uuid, "GPU-00000000-0000-0000-0000-%012d", gpu_count - 1);
    snprintf(g->name, sizeof g->name, "Fake GPU");
    snprintf(g->pci, sizeof g->pci, "00000000:%02X:00.0", gpu_count);
    g->memory = 1ULL << 34;
    g->minor = gpu_count - 1;
    g->numa = -1;
    g->mig = -1;
    g->cc_major = 9;
    g->supported_events = 0xb;
    for (int l = 0; l < MAX_LINKS; l++) g->link_remote[l] = REMOTE_NONE;
    char *token;
    int explicit_events = 0;
    while ((token = next_token(&cursor))) {
        char *eq = strchr(token, '=');
        if (!eq) continue;
        *eq = 0;
        char *v = eq + 1;
        if (!strcmp(token, "uuid")) snprintf(g->uuid, sizeof g->uuid, "%s", v);
        else if (!strcmp(token, "name")) snprintf(g->name, sizeof g->name, "%s", v);
        else if (!strcmp(token, "pci")) snprintf(g->pci, sizeof g->pci, "%s", v);
        else if (!strcmp(token, "memory")) g->memory = strtoull(v, NULL, 0);
        else if (!strcmp(token, "minor")) g->minor = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(token, "numa")) g->numa = strcmp(v, "none") ? atoi(v) : -1;
        else if (!strcmp(token, "mig")) g->mig = strcmp(v, "none") ? atoi(v) : -1;
        else if (!strcmp(token, "cc")) sscanf(v, "%d.%d", &g->cc_major, &g->cc_minor);
        else if (!strcmp(token, "events")) { g->supported_events = strtoull(v, NULL, 0); explicit_events = 1; }
        else if (!strcmp(token, "register")) g->register_not_supported = !strcmp(v, "notsupported");
        else if (!strcmp(token, "migmemory")) g->mig_memory_no_permission = !strcmp(v, "nopermission");
    }
    if (g->mig >= 0 && !explicit_events) g->supported_events |= 0x100;
    memset(migs[gpu_count - 1], 0, sizeof migs[gpu_count - 1]);
}

/* "I SLOT PROFILE key=value ...": a MIG device (nvml.conf or the events file). */
static void parse_mig(char *cursor)
{
    char *token = next_token(&cursor);
    int index = token ? atoi(token) : -1;
    token = next_token(&cursor);
    int slot = token ? atoi(token) : -1;
    char *profile = next_token(&cursor);
    if (index < 0 || index >= gpu_count || slot < 0 || slot >= MIG_SLOTS || !profile) return;
    struct mig *m = &migs[index][slot];
    memset(m, 0, sizeof *m);
    m->present = 1;
    snprintf(m->uuid, sizeof m->uuid, "MIG-00000000-0000-0000-%04d-%012d", index, slot);
    m->gi = (unsigned)slot + 1;
    m->ci = 0;
    char *colon = strchr(profile, ':');
    if (colon) {
        *colon = 0;
        for (size_t p = 0; p < sizeof profiles / sizeof profiles[0]; p++) {
            if (!strcmp(profiles[p].set, profile) && !strcmp(profiles[p].name, colon + 1)) {
                m->gslices = profiles[p].gslices;
                m->cslices = profiles[p].cslices;
                m->memory_mb = profiles[p].memory_mb;
            }
        }
    }
    while ((token = next_token(&cursor))) {
        char *eq = strchr(token, '=');
        if (!eq) continue;
        *eq = 0;
        char *v = eq + 1;
        if (!strcmp(token, "uuid")) snprintf(m->uuid, sizeof m->uuid, "%s", v);
        else if (!strcmp(token, "gi")) m->gi = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(token, "ci")) m->ci = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(token, "gslices")) m->gslices = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(token, "cslices")) m->cslices = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(token, "memorymb")) m->memory_mb = strtoull(v, NULL, 0);
    }
}

/* A "topology", "nvlink" or "nvlink_switch" line, from nvml.conf or the events file; returns 0 for other keys. */
static int apply_link_line(const char *key, const char *cursor)
{
    int a, b, n;
    if (!strcmp(key, "topology")) {
        if (sscanf(cursor, "%d %d %d", &a, &b, &n) == 3 && a >= 0 && b >= 0 && a < MAX_GPUS && b < MAX_GPUS)
            topology[a][b] = topology[b][a] = n;
    } else if (!strcmp(key, "nvlink")) {
        if (sscanf(cursor, "%d %d %d", &a, &b, &n) == 3 && a >= 0 && b >= 0 && a < gpu_count && b < gpu_count) {
            for (int k = 0; k < n; k++) {
                int la = next_link(&gpus[a]), lb = next_link(&gpus[b]);
                if (la < 0 || lb < 0) break;
                gpus[a].link_remote[la] = b;
                gpus[b].link_remote[lb] = a;
            }
        }
    } else if (!strcmp(key, "nvlink_switch")) {
        int fields = sscanf(cursor, "%d %d %d", &a, &n, &b);
        if (fields >= 2 && a >= 0 && a < gpu_count) {
            int s = fields == 3 && b >= 0 && b < 64 ? b : 0;
            for (int k = 0; k < n; k++) {
                int la = next_link(&gpus[a]);
                if (la < 0) break;
                gpus[a].link_remote[la] = REMOTE_SWITCH(s);
            }
        }
    } else {
        return 0;
    }
    return 1;
}

static void load_config(void)
{
    find_dir();
    gpu_count = 0;
    init_return = 0;
    nvlink_max_links = 18;
    deliver_unregistered = 0;
    int default_level = 50;
    for (int i = 0; i < MAX_GPUS; i++)
        for (int j = 0; j < MAX_GPUS; j++) topology[i][j] = -1;

    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/nvml.conf", dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *cursor = line;
        char *key = next_token(&cursor);
        if (!key || key[0] == '#') continue;
        if (!strcmp(key, "gpu")) parse_gpu(cursor);
        else if (!strcmp(key, "mig")) parse_mig(cursor);
        else if (!strcmp(key, "init_return")) init_return = atoi(cursor);
        else if (!strcmp(key, "cuda_version")) { char *v = next_token(&cursor); if (v) cuda_version = atoi(v); }
        else if (!strcmp(key, "driver_version")) { char *v = next_token(&cursor); if (v) snprintf(driver_version, sizeof driver_version, "%s", v); }
        else if (!strcmp(key, "nvlink_max_links")) nvlink_max_links = atoi(cursor);
        else if (!strcmp(key, "deliver_unregistered")) deliver_unregistered = atoi(cursor);
        else if (!strcmp(key, "topology_default")) default_level = atoi(cursor);
        else apply_link_line(key, cursor);
    }
    fclose(f);
    for (int i = 0; i < MAX_GPUS; i++)
        for (int j = 0; j < MAX_GPUS; j++)
            if (topology[i][j] < 0) topology[i][j] = i == j ? 0 : default_level;
    /* Events appended before start-up were "before registration": NVML does not record them. */
    snprintf(path, sizeof path, "%s/events", dir);
    f = fopen(path, "r");
    events_offset = 0;
    if (f) { fseek(f, 0, SEEK_END); events_offset = ftell(f); fclose(f); }
}

/* ---- helpers ---- */
static int valid_gpu(nvmlDevice_t d)
{
    return d >= &gpus[0] && d < &gpus[gpu_count];
}

/* The MIG device a handle names, or NULL when it is not a MIG handle. */
static struct mig *as_mig(nvmlDevice_t d)
{
    void *p = d;
    if (p < (void *)&migs[0][0] || p >= (void *)&migs[gpu_count][0]) return NULL;
    return (struct mig *)p;
}

static struct gpu *parent_of(struct mig *m)
{
    return &gpus[(m - &migs[0][0]) / MIG_SLOTS];
}

/* Common entry checks for a call on a device: initialised, known handle, not lost. */
static nvmlReturn_t check_device(nvmlDevice_t d)
{
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (!valid_gpu(d)) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->lost || d->removed) return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

/* Entry checks for a call that takes a GPU or a MIG device handle; *m is set for a MIG handle. */
static nvmlReturn_t check_any(nvmlDevice_t d, struct mig **m)
{
    *m = NULL;
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    struct mig *mig = as_mig(d);
    if (!mig) return check_device(d);
    struct gpu *parent = parent_of(mig);
    if (parent->lost || parent->removed) return NVML_ERROR_GPU_IS_LOST;
    if (!mig->present || parent->mig != 1) return NVML_ERROR_NOT_FOUND;
    *m = mig;
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(char *out, unsigned len, const char *value)
{
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, value);
    return NVML_SUCCESS;
}

static void fill_pci(const char *bus_id, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", bus_id);
    unsigned domain = 0, bus = 0, device = 0, function = 0;
    sscanf(bus_id, "%x:%x:%x.%x", &domain, &bus, &device, &function);
    pci->domain = domain; pci->bus = bus; pci->device = device;
    pci->pciDeviceId = 0x233010de;
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", domain & 0xffff, bus, device, function);
}

/* ---- required functions ---- */
nvmlReturn_t nvmlInit_v2(void)
{
    COUNT(nvmlInit_v2);
    pthread_mutex_lock(&lock);
    if (init_refs == 0) load_config();
    nvmlReturn_t r = init_return;
    if (r == NVML_SUCCESS) init_refs++;
    pthread_mutex_unlock(&lock);
    return r;
}

nvmlReturn_t nvmlInitWithFlags(unsigned flags)
{
    (void)flags;
    COUNT(nvmlInitWithFlags);
    return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void)
{
    COUNT(nvmlShutdown);
    pthread_mutex_lock(&lock);
    nvmlReturn_t r = init_refs ? (init_refs--, NVML_SUCCESS) : NVML_ERROR_UNINITIALIZED;
    pthread_mutex_unlock(&lock);
    return r;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
    COUNT(nvmlErrorString);
    switch (r) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 15: return "GPU is lost";
    case 18: return "RM has detected an NVML/RM version mismatch";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned len)
{
    COUNT(nvmlSystemGetDriverVersion);
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, len, driver_version);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count)
{
    COUNT(nvmlDeviceGetCount_v2);
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&lock);
    unsigned present = 0;
    for (int i = 0; i < gpu_count; i++) present += !gpus[i].removed;
    pthread_mutex_unlock(&lock);
    *count = present;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t *device)
{
    COUNT(nvmlDeviceGetHandleByIndex_v2);
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (!device) return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < gpu_count; i++) {
        if (gpus[i].removed) continue;
        if (index-- == 0) { *device = &gpus[i]; r = NVML_SUCCESS; break; }
    }
    pthread_mutex_unlock(&lock);
    return r;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned len)
{
    COUNT(nvmlDeviceGetUUID);
    struct mig *m;
    nvmlReturn_t r = check_any(d, &m);
    return r ? r : copy_string(uuid, len, m ? m->uuid : d->uuid);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned len)
{
    COUNT(nvmlDeviceGetName);
    nvmlReturn_t r = check_device(d);
    return r ? r : copy_string(name, len, d->name);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
    COUNT(nvmlDeviceGetPciInfo_v3);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
    fill_pci(d->pci, pci);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned *minor)
{
    COUNT(nvmlDeviceGetMinorNumber);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!minor) return NVML_ERROR_INVALID_ARGUMENT;
    *minor = d->minor;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *memory)
{
    COUNT(nvmlDeviceGetMemoryInfo);
    struct mig *m;
    nvmlReturn_t r = check_any(d, &m);
    if (r) return r;
    if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
    if (!m && d->mig == 1 && d->mig_memory_no_permission) return NVML_ERROR_NO_PERMISSION;
    unsigned long long total = m ? m->memory_mb << 20 : d->memory;
    memory->total = total;
    memory->used = total / 16;
    memory->free = total - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    COUNT(nvmlEventSetCreate);
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (!set) return NVML_ERROR_INVALID_ARGUMENT;
    *set = &the_set;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types, nvmlEventSet_t set)
{
    COUNT(nvmlDeviceRegisterEvents);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (set != &the_set) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->register_not_supported || (types & ~d->supported_events)) return NVML_ERROR_NOT_SUPPORTED;
    pthread_mutex_lock(&lock);
    d->registered |= types;
    pthread_mutex_unlock(&lock);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    COUNT(nvmlEventSetFree);
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (set != &the_set) return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < gpu_count; i++) gpus[i].registered = 0;
    pthread_mutex_unlock(&lock);
    return NVML_SUCCESS;
}

/* Handles one line of DIR/events; returns 1 and fills *result when the wait should return. */
static int handle_event_line(char *line, nvmlEventData_t *data, nvmlReturn_t *result)
{
    char *cursor = line;
    char *kind = next_token(&cursor);
    if (!kind) return 0;
    if (!strcmp(kind, "addgpu")) { parse_gpu(cursor); return 0; }
    if (!strcmp(kind, "mig")) { parse_mig(cursor); return 0; }
    if (apply_link_line(kind, cursor)) return 0;
    int index = -1;
    unsigned long long code = 0;
    unsigned gi = NO_INSTANCE, ci = NO_INSTANCE;
    if (!strcmp(kind, "dbe")) {
        if (sscanf(cursor, "%d %u %u", &index, &gi, &ci) < 1) return 0;
    } else if (sscanf(cursor, "%d %llu %u %u", &index, &code, &gi, &ci) < 1) {
        return 0;
    }
    if (!strcmp(kind, "waiterror")) { *result = index; return 1; }
    if (index < 0 || index >= gpu_count) return 0;
    struct gpu *g = &gpus[index];
    if (!strcmp(kind, "removegpu")) { g->removed = 1; g->registered = 0; return 0; }
    if (!strcmp(kind, "lost")) { g->lost = 1; *result = NVML_ERROR_GPU_IS_LOST; return 1; }
    if (!strcmp(kind, "found")) { g->lost = 0; return 0; }
    if (!strcmp(kind, "migremove")) {
        if (code < MIG_SLOTS) migs[index][code].present = 0;
        return 0;
    }
    unsigned long long type = !strcmp(kind, "xid") ? 0x8 : !strcmp(kind, "dbe") ? 0x2 : !strcmp(kind, "sbe") ? 0x1
        : !strcmp(kind, "migconfig") ? 0x100 : 0;
    if (!type || (!(g->registered & type) && !deliver_unregistered)) return 0;
    memset(data, 0, sizeof *data);
    data->device = g;
    data->eventType = type;
    data->eventData = type == 0x8 ? code : 0;
    data->gpuInstanceId = gi;
    data->computeInstanceId = ci;
    *result = NVML_SUCCESS;
    return 1;
}

/* Reads and handles complete new lines of DIR/events; returns 1 when the wait should return. */
static int poll_events(nvmlEventData_t *data, nvmlReturn_t *result)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/events", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int done = 0;
    char line[1024];
    if (fseek(f, events_offset, SEEK_SET) == 0) {
        while (!done && fgets(line, sizeof line, f)) {
            size_t n = strlen(line);
            if (n == 0 || line[n - 1] != '\n') break; /* a line still being written */
            events_offset += (long)n;
            events_consumed++;
            done = handle_event_line(line, data, result);
        }
    }
    fclose(f);
    return done;
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned timeout_ms)
{
    COUNT(nvmlEventSetWait_v2);
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (set != &the_set || !data) return NVML_ERROR_INVALID_ARGUMENT;
    struct timespec start, now, step = { 0, 2 * 1000 * 1000 };
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        nvmlReturn_t result = NVML_ERROR_TIMEOUT;
        pthread_mutex_lock(&lock);
        int done = poll_events(data, &result);
        pthread_mutex_unlock(&lock);
        if (done) return result;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed_ms >= (long)timeout_ms) return NVML_ERROR_TIMEOUT;
        nanosleep(&step, NULL);
    }
}

/* ---- optional functions: absent from older drivers ---- */
#ifndef NO_OPTIONAL
static nvmlReturn_t cuda_driver_version(int *version)
{
    if (!init_refs) return NVML_ERROR_UNINITIALIZED;
    if (!version) return NVML_ERROR_INVALID_ARGUMENT;
    if (cuda_version == 0) return NVML_ERROR_NOT_SUPPORTED;
    *version = cuda_version;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version)
{
    COUNT(nvmlSystemGetCudaDriverVersion_v2);
    return cuda_driver_version(version);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version)
{
    COUNT(nvmlSystemGetCudaDriverVersion);
    return cuda_driver_version(version);
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor)
{
    COUNT(nvmlDeviceGetCudaComputeCapability);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!major || !minor) return NVML_ERROR_INVALID_ARGUMENT;
    *major = d->cc_major;
    *minor = d->cc_minor;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t d, unsigned *node)
{
    COUNT(nvmlDeviceGetNumaNodeId);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!node) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->numa < 0) return NVML_ERROR_NOT_SUPPORTED;
    *node = (unsigned)d->numa;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *current, unsigned *pending)
{
    COUNT(nvmlDeviceGetMigMode);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!current || !pending) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig < 0) return NVML_ERROR_NOT_SUPPORTED;
    *current = *pending = (unsigned)d->mig;
    return NVML_SUCCESS;
}

#ifndef NO_MIG
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned *count)
{
    COUNT(nvmlDeviceGetMaxMigDeviceCount);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig < 0) return NVML_ERROR_NOT_SUPPORTED;
    *count = d->mig == 1 ? MIG_SLOTS : 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned index, nvmlDevice_t *mig)
{
    COUNT(nvmlDeviceGetMigDeviceHandleByIndex);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!mig) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->mig != 1) return NVML_ERROR_NOT_SUPPORTED;
    if (index >= MIG_SLOTS) return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&lock);
    struct mig *m = &migs[d - gpus][index];
    r = m->present ? NVML_SUCCESS : NVML_ERROR_NOT_FOUND;
    pthread_mutex_unlock(&lock);
    if (!r) *mig = (nvmlDevice_t)(void *)m;
    return r;
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t d, unsigned *id)
{
    COUNT(nvmlDeviceGetGpuInstanceId);
    struct mig *m;
    nvmlReturn_t r = check_any(d, &m);
    if (r) return r;
    if (!id) return NVML_ERROR_INVALID_ARGUMENT;
    if (!m) return NVML_ERROR_INVALID_ARGUMENT;
    *id = m->gi;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t d, unsigned *id)
{
    COUNT(nvmlDeviceGetComputeInstanceId);
    struct mig *m;
    nvmlReturn_t r = check_any(d, &m);
    if (r) return r;
    if (!id) return NVML_ERROR_INVALID_ARGUMENT;
    if (!m) return NVML_ERROR_INVALID_ARGUMENT;
    *id = m->ci;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t d, nvmlDeviceAttributes_t *attributes)
{
    COUNT(nvmlDeviceGetAttributes_v2);
    struct mig *m;
    nvmlReturn_t r = check_any(d, &m);
    if (r) return r;
    if (!attributes) return NVML_ERROR_INVALID_ARGUMENT;
    if (!m) return NVML_ERROR_NOT_SUPPORTED;
    memset(attributes, 0, sizeof *attributes);
    attributes->multiprocessorCount = 14 * m->cslices;
    attributes->sharedCopyEngineCount = m->gslices;
    attributes->gpuInstanceSliceCount = m->gslices;
    attributes->computeInstanceSliceCount = m->cslices;
    attributes->memorySizeMB = m->memory_mb;
    return NVML_SUCCESS;
}
#endif

nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t a, nvmlDevice_t b, int *level)
{
    COUNT(nvmlDeviceGetTopologyCommonAncestor);
    nvmlReturn_t r = check_device(a);
    if (!r) r = check_device(b);
    if (r) return r;
    if (!level) return NVML_ERROR_INVALID_ARGUMENT;
    *level = topology[a - gpus][b - gpus];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t d, unsigned link, int *active)
{
    COUNT(nvmlDeviceGetNvLinkState);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!active || link >= (unsigned)nvlink_max_links || link >= MAX_LINKS) return NVML_ERROR_INVALID_ARGUMENT;
    *active = d->link_remote[link] != REMOTE_NONE;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t d, unsigned link, nvmlPciInfo_t *pci)
{
    COUNT(nvmlDeviceGetNvLinkRemotePciInfo_v2);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!pci || link >= (unsigned)nvlink_max_links || link >= MAX_LINKS) return NVML_ERROR_INVALID_ARGUMENT;
    int remote = d->link_remote[link];
    if (remote == REMOTE_NONE) return NVML_ERROR_NOT_SUPPORTED;
    if (remote >= 0) {
        fill_pci(gpus[remote].pci, pci);
    } else {
        char bus_id[32];
        snprintf(bus_id, sizeof bus_id, "00000000:%02X:00.0", 0xFF - (-2 - remote));
        fill_pci(bus_id, pci);
    }
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long *types)
{
    COUNT(nvmlDeviceGetSupportedEventTypes);
    nvmlReturn_t r = check_device(d);
    if (r) return r;
    if (!types) return NVML_ERROR_INVALID_ARGUMENT;
    *types = d->supported_events;
    return NVML_SUCCESS;
}
#endif
