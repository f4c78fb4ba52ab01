// TEST FAKE of NVML (libnvidia-ml.so.1) for machines without a GPU.
//
// Implements the NVML subset gpulse uses (Sources/CNVML/include/CNVML.h) with scripted values, so the
// agent's NVML path (loading, error codes, sample buffers, field values) runs in tests. Every value it
// returns is made up; device names say "FAKE" so nothing can be mistaken for a real GPU.
//
// Script it through the environment, read at nvmlInit_v2:
//   GPULSE_FAKE_NVML_DEVICES=N         number of GPUs (default 2)
//   GPULSE_FAKE_NVML_INIT_ERROR=CODE   nvmlInit_v2 returns CODE (e.g. 9, driver not loaded)
//   GPULSE_FAKE_NVML_MEMORY_ERROR=CODE nvmlDeviceGetMemoryInfo returns CODE (e.g. 15, GPU is lost)
//   GPULSE_FAKE_NVML_SAMPLES=empty     nvmlDeviceGetSamples finds no new samples (NVML_ERROR_NOT_FOUND)
//   GPULSE_FAKE_NVML_MIG=1             MIG enabled: utilization samples are not supported
//   GPULSE_FAKE_NVML_LOAD_FILE=PATH    a file holding one number 0..1, re-read on every call: while it
//                                      parses, every GPU's memory used fraction is that number and its
//                                      utilization samples are that number in percent (tests step load)
//   GPULSE_FAKE_NVML_HEALTH_FILE=PATH  health, re-read on every call; lines of "key value", all optional:
//                                        temp C            every GPU's temperature (default 40 + index)
//                                        reasons MASK      clock event reasons, e.g. 0x20 (default 0)
//                                        ecc N             uncorrected ECC errors, volatile (default 0)
//                                        remap_pending 0|1 / remap_failed 0|1   row remapping state
//                                        lost INDEX        that GPU answers NVML_ERROR_GPU_IS_LOST
//                                        xid SEQ CODE [INDEX]  one critical XID event per new SEQ
//                                                          (on GPU INDEX, default 0), delivered by
//                                                          nvmlEventSetWait_v2
//   GPULSE_FAKE_NVML_GPM=absent        nvmlGpmQueryDeviceSupport says the GPUs have no GPM (pre-Hopper);
//                                      otherwise GPM gives SM activity = the scripted load (else
//                                      40 + index percent), occupancy half of it, tensor 0.8 of it,
//                                      DRAM bandwidth 30 %, and checks the request as NVML does
//   GPULSE_FAKE_NVML_HEALTH=unsupported  temperature, clock reasons, ECC, row remapping and events
//                                        all answer NVML_ERROR_NOT_SUPPORTED
//
// Scripted values: memory total 80 GiB, used fraction 0.10*(index+1) + 0.01*(call % 10); a
// utilization sample every 1/6 s of wall time since init with value 10*(k % 10) percent; power
// 350 W + index W; PCIe counters growing at 1 GB/s (tx) and 2 GB/s (rx); SM clock 1980 MHz.
#include "FakeNVML.h"
#include "../../Sources/CNVML/include/CNVML.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define MAX_DEVICES 16
#define SAMPLE_PERIOD_US 166666ULL

static int device_count = 2;
static int init_error = 0;
static int memory_error = 0;
static int samples_empty = 0;
static int mig = 0;
static int initialized = 0;
static unsigned long long init_us = 0;
static unsigned long long memory_calls[MAX_DEVICES];
static struct gpulse_nvmlDevice_st { int index; } devices[MAX_DEVICES];

int gpulse_fake_nvml_marker(void) { return 1; }

static unsigned long long now_us(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
}

static int env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

/* The scripted load from GPULSE_FAKE_NVML_LOAD_FILE, or -1 when unset or unreadable. */
static double scripted_load(void) {
    const char *path = getenv("GPULSE_FAKE_NVML_LOAD_FILE");
    if (!path || !*path) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    double v = -1;
    if (fscanf(f, "%lf", &v) != 1 || v < 0 || v > 1) v = -1;
    fclose(f);
    return v;
}

static int valid(gpulse_nvmlDevice_t d) { return initialized && d >= devices && d < devices + device_count; }

gpulse_nvmlReturn_t nvmlInit_v2(void) {
    init_error = env_int("GPULSE_FAKE_NVML_INIT_ERROR", 0);
    if (init_error) return init_error;
    device_count = env_int("GPULSE_FAKE_NVML_DEVICES", 2);
    if (device_count < 0) device_count = 0;
    if (device_count > MAX_DEVICES) device_count = MAX_DEVICES;
    memory_error = env_int("GPULSE_FAKE_NVML_MEMORY_ERROR", 0);
    const char *s = getenv("GPULSE_FAKE_NVML_SAMPLES");
    samples_empty = s && strcmp(s, "empty") == 0;
    mig = env_int("GPULSE_FAKE_NVML_MIG", 0);
    for (int i = 0; i < MAX_DEVICES; i++) {
        devices[i].index = i;
        memory_calls[i] = 0;
    }
    init_us = now_us();
    initialized = 1;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlShutdown(void) {
    initialized = 0;
    return GPULSE_NVML_SUCCESS;
}

const char *nvmlErrorString(gpulse_nvmlReturn_t r) {
    switch (r) {
    case GPULSE_NVML_SUCCESS: return "Success (fake NVML)";
    case GPULSE_NVML_ERROR_NOT_SUPPORTED: return "Not Supported (fake NVML)";
    case GPULSE_NVML_ERROR_NOT_FOUND: return "Not Found (fake NVML)";
    case GPULSE_NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded (fake NVML)";
    case GPULSE_NVML_ERROR_GPU_IS_LOST: return "GPU is lost (fake NVML)";
    default: return "Unknown Error (fake NVML)";
    }
}

gpulse_nvmlReturn_t nvmlSystemGetDriverVersion(char *out, unsigned int length) {
    snprintf(out, length, "fake-nvml-0");
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialized) return GPULSE_NVML_ERROR_UNINITIALIZED;
    *count = (unsigned int)device_count;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, gpulse_nvmlDevice_t *device) {
    if (!initialized) return GPULSE_NVML_ERROR_UNINITIALIZED;
    if (index >= (unsigned int)device_count) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetUUID(gpulse_nvmlDevice_t d, char *out, unsigned int length) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    snprintf(out, length, "GPU-FAKE0000-0000-0000-0000-%012d", d->index);
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetName(gpulse_nvmlDevice_t d, char *out, unsigned int length) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    snprintf(out, length, "FAKE NVML test GPU %d", d->index);
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetMemoryInfo(gpulse_nvmlDevice_t d, gpulse_nvmlMemory_t *m) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    if (memory_error) return memory_error;
    unsigned long long n = memory_calls[d->index]++;
    m->total = 80ULL << 30;
    double fraction = 0.10 * (d->index + 1) + 0.01 * (double)(n % 10);
    double load = scripted_load();
    if (load >= 0) fraction = load;
    m->used = (unsigned long long)(fraction * (double)m->total);
    m->free = m->total - m->used;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetSamples(gpulse_nvmlDevice_t d, int type, unsigned long long last_seen, int *value_type,
                                         unsigned int *count, gpulse_nvmlSample_t *samples) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    if (type != GPULSE_NVML_GPU_UTILIZATION_SAMPLES || mig) return GPULSE_NVML_ERROR_NOT_SUPPORTED;
    if (samples == NULL) {  // size query, as real NVML answers it
        *count = 120;
        return GPULSE_NVML_SUCCESS;
    }
    if (samples_empty) return GPULSE_NVML_ERROR_NOT_FOUND;
    *value_type = GPULSE_NVML_VALUE_TYPE_UNSIGNED_INT;
    unsigned long long now = now_us();
    // Sample k lies at init + k * period; return those after last_seen, oldest first.
    unsigned long long k = last_seen <= init_us ? 1 : (last_seen - init_us) / SAMPLE_PERIOD_US + 1;
    unsigned int n = 0;
    double load = scripted_load();
    while (n < *count && init_us + k * SAMPLE_PERIOD_US <= now) {
        samples[n].timeStamp = init_us + k * SAMPLE_PERIOD_US;
        samples[n].sampleValue.uiVal = load >= 0 ? (unsigned int)(load * 100 + 0.5) : (unsigned int)(10 * (k % 10));
        n++;
        k++;
    }
    *count = n;
    return n ? GPULSE_NVML_SUCCESS : GPULSE_NVML_ERROR_NOT_FOUND;
}

gpulse_nvmlReturn_t nvmlDeviceGetFieldValues(gpulse_nvmlDevice_t d, int count, gpulse_nvmlFieldValue_t *values) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    unsigned long long now = now_us();
    unsigned long long elapsed = now - init_us;
    for (int i = 0; i < count; i++) {
        values[i].timestamp = (long long)now;
        values[i].latencyUsec = 1;
        values[i].nvmlReturn = GPULSE_NVML_SUCCESS;
        switch (values[i].fieldId) {
        case GPULSE_NVML_FI_DEV_POWER_INSTANT:
            values[i].valueType = GPULSE_NVML_VALUE_TYPE_UNSIGNED_INT;
            values[i].value.uiVal = 350000u + 1000u * (unsigned int)d->index;
            break;
        case GPULSE_NVML_FI_DEV_PCIE_COUNT_TX_BYTES:
            values[i].valueType = GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
            values[i].value.ullVal = elapsed * 1000ULL;
            break;
        case GPULSE_NVML_FI_DEV_PCIE_COUNT_RX_BYTES:
            values[i].valueType = GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
            values[i].value.ullVal = elapsed * 2000ULL;
            break;
        default:
            values[i].nvmlReturn = GPULSE_NVML_ERROR_NOT_SUPPORTED;
        }
    }
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetClockInfo(gpulse_nvmlDevice_t d, int type, unsigned int *mhz) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    if (type != GPULSE_NVML_CLOCK_SM) return GPULSE_NVML_ERROR_NOT_SUPPORTED;
    *mhz = 1980;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetMigMode(gpulse_nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    *current = (unsigned int)mig;
    *pending = (unsigned int)mig;
    return GPULSE_NVML_SUCCESS;
}

/* ---- health: temperature, clock event reasons, ECC, row remapping, XID events ---- */

struct health_script {
    int temp;            /* -1: default */
    unsigned long long reasons;
    unsigned long long ecc;
    unsigned int remap_pending, remap_failed;
    int lost;            /* GPU index, -1: none */
    long long xid_seq;   /* -1: none */
    unsigned long long xid_code;
    int xid_index;
};

static struct health_script read_health(void) {
    struct health_script h = {-1, 0, 0, 0, 0, -1, -1, 0, 0};
    const char *path = getenv("GPULSE_FAKE_NVML_HEALTH_FILE");
    if (!path || !*path) return h;
    FILE *f = fopen(path, "r");
    if (!f) return h;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char key[32];
        unsigned long long a = 0, b = 0, c = 0;
        int n = sscanf(line, "%31s %lli %lli %lli", key, (long long *)&a, (long long *)&b, (long long *)&c);
        if (n < 2) continue;
        if (strcmp(key, "temp") == 0) h.temp = (int)a;
        else if (strcmp(key, "reasons") == 0) h.reasons = a;
        else if (strcmp(key, "ecc") == 0) h.ecc = a;
        else if (strcmp(key, "remap_pending") == 0) h.remap_pending = (unsigned int)a;
        else if (strcmp(key, "remap_failed") == 0) h.remap_failed = (unsigned int)a;
        else if (strcmp(key, "lost") == 0) h.lost = (int)a;
        else if (strcmp(key, "xid") == 0 && n >= 3) {
            h.xid_seq = (long long)a;
            h.xid_code = b;
            h.xid_index = n >= 4 ? (int)c : 0;
        }
    }
    fclose(f);
    return h;
}

static int health_unsupported(void) {
    const char *v = getenv("GPULSE_FAKE_NVML_HEALTH");
    return v && strcmp(v, "unsupported") == 0;
}

/* Every health call: NOT_SUPPORTED when scripted so, GPU_IS_LOST for the lost GPU. */
#define HEALTH_PROLOGUE(d, h)                                        \
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;        \
    if (health_unsupported()) return GPULSE_NVML_ERROR_NOT_SUPPORTED; \
    struct health_script h = read_health();                          \
    if (h.lost == (d)->index) return GPULSE_NVML_ERROR_GPU_IS_LOST;

gpulse_nvmlReturn_t nvmlDeviceGetTemperature(gpulse_nvmlDevice_t d, int sensor, unsigned int *celsius) {
    HEALTH_PROLOGUE(d, h)
    if (sensor != GPULSE_NVML_TEMPERATURE_GPU) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    *celsius = h.temp >= 0 ? (unsigned int)h.temp : 40u + (unsigned int)d->index;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(gpulse_nvmlDevice_t d, unsigned long long *reasons) {
    HEALTH_PROLOGUE(d, h)
    *reasons = h.reasons;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetTotalEccErrors(gpulse_nvmlDevice_t d, int type, int counter, unsigned long long *count) {
    HEALTH_PROLOGUE(d, h)
    if (type != GPULSE_NVML_MEMORY_ERROR_TYPE_UNCORRECTED || counter != GPULSE_NVML_VOLATILE_ECC) {
        *count = 0;
        return GPULSE_NVML_SUCCESS;
    }
    *count = h.ecc;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetRemappedRows(gpulse_nvmlDevice_t d, unsigned int *corrected, unsigned int *uncorrected,
                                              unsigned int *pending, unsigned int *failed) {
    HEALTH_PROLOGUE(d, h)
    *corrected = 0;
    *uncorrected = h.remap_failed ? 1 : 0;
    *pending = h.remap_pending;
    *failed = h.remap_failed;
    return GPULSE_NVML_SUCCESS;
}

static struct gpulse_nvmlEventSet_st {
    int created;
    unsigned long long registered[MAX_DEVICES];
    long long delivered_seq;
} event_set;

gpulse_nvmlReturn_t nvmlEventSetCreate(gpulse_nvmlEventSet_t *set) {
    if (!initialized) return GPULSE_NVML_ERROR_UNINITIALIZED;
    if (health_unsupported()) return GPULSE_NVML_ERROR_NOT_SUPPORTED;
    memset(&event_set, 0, sizeof event_set);
    event_set.created = 1;
    /* Events scripted before the set existed are history, as the driver's are. */
    event_set.delivered_seq = read_health().xid_seq;
    *set = &event_set;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceGetSupportedEventTypes(gpulse_nvmlDevice_t d, unsigned long long *types) {
    if (!valid(d)) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    if (health_unsupported()) return GPULSE_NVML_ERROR_NOT_SUPPORTED;
    *types = GPULSE_NVML_EVENT_TYPE_XID_CRITICAL_ERROR;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlDeviceRegisterEvents(gpulse_nvmlDevice_t d, unsigned long long types, gpulse_nvmlEventSet_t set) {
    if (!valid(d) || set != &event_set || !event_set.created) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    if (health_unsupported()) return GPULSE_NVML_ERROR_NOT_SUPPORTED;
    event_set.registered[d->index] |= types;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlEventSetWait_v2(gpulse_nvmlEventSet_t set, gpulse_nvmlEventData_t *data, unsigned int timeout_ms) {
    if (set != &event_set || !event_set.created) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    unsigned long long deadline = now_us() + (unsigned long long)timeout_ms * 1000ULL;
    for (;;) {
        struct health_script h = read_health();
        if (h.xid_seq > event_set.delivered_seq && h.xid_index >= 0 && h.xid_index < device_count &&
            (event_set.registered[h.xid_index] & GPULSE_NVML_EVENT_TYPE_XID_CRITICAL_ERROR)) {
            event_set.delivered_seq = h.xid_seq;
            data->device = &devices[h.xid_index];
            data->eventType = GPULSE_NVML_EVENT_TYPE_XID_CRITICAL_ERROR;
            data->eventData = h.xid_code;
            data->gpuInstanceId = mig ? 1u : 0xFFFFFFFFu;
            data->computeInstanceId = mig ? 0u : 0xFFFFFFFFu;
            return GPULSE_NVML_SUCCESS;
        }
        if (now_us() >= deadline) return GPULSE_NVML_ERROR_TIMEOUT;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

gpulse_nvmlReturn_t nvmlEventSetFree(gpulse_nvmlEventSet_t set) {
    if (set != &event_set) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    event_set.created = 0;
    return GPULSE_NVML_SUCCESS;
}

/* ---- GPM ---- */

struct gpulse_nvmlGpmSample_st {
    int device;              /* -1 until taken */
    unsigned long long t_us;
};

gpulse_nvmlReturn_t nvmlGpmQueryDeviceSupport(gpulse_nvmlDevice_t d, gpulse_nvmlGpmSupport_t *support) {
    if (!valid(d) || !support || support->version != GPULSE_NVML_GPM_SUPPORT_VERSION) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    const char *v = getenv("GPULSE_FAKE_NVML_GPM");
    support->isSupportedDevice = (v && strcmp(v, "absent") == 0) || mig ? 0u : 1u;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlGpmSampleAlloc(gpulse_nvmlGpmSample_t *sample) {
    if (!initialized || !sample) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    *sample = calloc(1, sizeof **sample);
    if (!*sample) return GPULSE_NVML_ERROR_UNKNOWN;
    (*sample)->device = -1;
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlGpmSampleFree(gpulse_nvmlGpmSample_t sample) {
    free(sample);
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlGpmSampleGet(gpulse_nvmlDevice_t d, gpulse_nvmlGpmSample_t sample) {
    if (!valid(d) || !sample) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    sample->device = d->index;
    sample->t_us = now_us();
    return GPULSE_NVML_SUCCESS;
}

gpulse_nvmlReturn_t nvmlGpmMetricsGet(gpulse_nvmlGpmMetricsGet_t *request) {
    if (!initialized || !request || request->version != GPULSE_NVML_GPM_METRICS_GET_VERSION) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    gpulse_nvmlGpmSample_t a = request->sample1, b = request->sample2;
    /* Two taken samples of one GPU, the second newer: what NVML requires too. */
    if (!a || !b || a->device < 0 || a->device != b->device || b->t_us < a->t_us) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    if (request->numMetrics > GPULSE_NVML_GPM_METRICS) return GPULSE_NVML_ERROR_INVALID_ARGUMENT;
    double load = scripted_load();
    double sm = load >= 0 ? load * 100 : 40.0 + a->device;
    for (unsigned int i = 0; i < request->numMetrics; i++) {
        gpulse_nvmlGpmMetric_t *m = &request->metrics[i];
        m->nvmlReturn = GPULSE_NVML_SUCCESS;
        m->metricInfo.shortName = m->metricInfo.longName = m->metricInfo.unit = NULL;
        switch (m->metricId) {
        case GPULSE_NVML_GPM_METRIC_SM_UTIL: m->value = sm; break;
        case GPULSE_NVML_GPM_METRIC_SM_OCCUPANCY: m->value = sm / 2; break;
        case GPULSE_NVML_GPM_METRIC_ANY_TENSOR_UTIL: m->value = sm * 0.8; break;
        case GPULSE_NVML_GPM_METRIC_DRAM_BW_UTIL: m->value = 30; break;
        default: m->nvmlReturn = GPULSE_NVML_ERROR_NOT_SUPPORTED; m->value = 0;
        }
    }
    return GPULSE_NVML_SUCCESS;
}
