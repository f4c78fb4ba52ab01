// The subset of NVML that gpulse uses, declared here from NVIDIA's public API documentation so that
// nothing links against NVML at build time. The library is opened at run time with dlopen, so one
// agent binary runs on hosts with and without a GPU.
#pragma once
#include <stddef.h>

typedef int gpulse_nvmlReturn_t;  // nvmlReturn_t: 0 = NVML_SUCCESS
enum {
    GPULSE_NVML_SUCCESS = 0,
    GPULSE_NVML_ERROR_UNINITIALIZED = 1,
    GPULSE_NVML_ERROR_INVALID_ARGUMENT = 2,
    GPULSE_NVML_ERROR_NOT_SUPPORTED = 3,
    GPULSE_NVML_ERROR_NO_PERMISSION = 4,
    GPULSE_NVML_ERROR_NOT_FOUND = 6,
    GPULSE_NVML_ERROR_INSUFFICIENT_SIZE = 7,
    GPULSE_NVML_ERROR_DRIVER_NOT_LOADED = 9,
    GPULSE_NVML_ERROR_TIMEOUT = 10,
    GPULSE_NVML_ERROR_GPU_IS_LOST = 15,
    GPULSE_NVML_ERROR_UNKNOWN = 999,
};

typedef struct gpulse_nvmlDevice_st *gpulse_nvmlDevice_t;
typedef struct gpulse_nvmlEventSet_st *gpulse_nvmlEventSet_t;

/// nvmlEventData_t: what nvmlEventSetWait_v2 fills in.
typedef struct {
    gpulse_nvmlDevice_t device;
    unsigned long long eventType;   // one nvmlEventType* bit
    unsigned long long eventData;   // for nvmlEventTypeXidCriticalError: the XID
    unsigned int gpuInstanceId;     // MIG: the GPU instance, else 0xFFFFFFFF
    unsigned int computeInstanceId; // MIG: the compute instance, else 0xFFFFFFFF
} gpulse_nvmlEventData_t;

enum { GPULSE_NVML_EVENT_TYPE_XID_CRITICAL_ERROR = 0x8 };  // nvmlEventTypeXidCriticalError
enum { GPULSE_NVML_TEMPERATURE_GPU = 0 };                   // nvmlTemperatureSensors_t
enum { GPULSE_NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1 };     // nvmlMemoryErrorType_t
enum { GPULSE_NVML_VOLATILE_ECC = 0 };                      // nvmlEccCounterType_t: since the driver loaded

// GPM (GPU performance monitoring, Hopper and newer): counters read as the difference of two samples.
typedef struct gpulse_nvmlGpmSample_st *gpulse_nvmlGpmSample_t;

enum {  // nvmlGpmMetricId_t: each a percentage 0..100 over the interval between the two samples
    GPULSE_NVML_GPM_METRIC_SM_UTIL = 2,          // share of SMs busy (SM activity)
    GPULSE_NVML_GPM_METRIC_SM_OCCUPANCY = 3,     // active warps over the theoretical maximum
    GPULSE_NVML_GPM_METRIC_ANY_TENSOR_UTIL = 5,  // share of time the SMs ran any tensor operation
    GPULSE_NVML_GPM_METRIC_DRAM_BW_UTIL = 10,    // DRAM bandwidth used over the peak
};

typedef struct {
    unsigned int metricId;             // IN
    gpulse_nvmlReturn_t nvmlReturn;    // OUT: the value is valid only when 0
    double value;                      // OUT
    struct {
        char *shortName;
        char *longName;
        char *unit;
    } metricInfo;                      // OUT, may be NULL
} gpulse_nvmlGpmMetric_t;

// nvmlGpmMetricsGet_t with room for the metrics gpulse asks for: NVML's own header sizes the array
// NVML_GPM_METRIC_MAX (98 and more, by driver), but NVML reads and writes only `numMetrics` entries,
// and the array is the last member, so the layout of what is used is the same.
enum { GPULSE_NVML_GPM_METRICS = 8, GPULSE_NVML_GPM_METRICS_GET_VERSION = 1, GPULSE_NVML_GPM_SUPPORT_VERSION = 1 };
typedef struct {
    unsigned int version;              // IN: GPULSE_NVML_GPM_METRICS_GET_VERSION
    unsigned int numMetrics;           // IN
    gpulse_nvmlGpmSample_t sample1;    // IN: the older sample
    gpulse_nvmlGpmSample_t sample2;    // IN: the newer sample
    gpulse_nvmlGpmMetric_t metrics[GPULSE_NVML_GPM_METRICS];
} gpulse_nvmlGpmMetricsGet_t;

typedef struct {
    unsigned int version;              // IN: GPULSE_NVML_GPM_SUPPORT_VERSION
    unsigned int isSupportedDevice;    // OUT
} gpulse_nvmlGpmSupport_t;

// The layout NVML's header gives these on LP64 Linux; a mismatch would corrupt memory, so it fails the build.
_Static_assert(sizeof(gpulse_nvmlGpmMetric_t) == 40, "nvmlGpmMetric_t is 40 bytes");
_Static_assert(offsetof(gpulse_nvmlGpmMetricsGet_t, sample1) == 8, "nvmlGpmMetricsGet_t.sample1 at 8");
_Static_assert(offsetof(gpulse_nvmlGpmMetricsGet_t, metrics) == 24, "nvmlGpmMetricsGet_t.metrics at 24");
_Static_assert(offsetof(gpulse_nvmlGpmMetric_t, value) == 8, "nvmlGpmMetric_t.value at 8");

typedef struct {
    unsigned long long total;  // bytes
    unsigned long long free;   // bytes
    unsigned long long used;   // bytes
} gpulse_nvmlMemory_t;

typedef union {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    signed long long sllVal;
} gpulse_nvmlValue_t;

enum {  // nvmlValueType_t
    GPULSE_NVML_VALUE_TYPE_DOUBLE = 0,
    GPULSE_NVML_VALUE_TYPE_UNSIGNED_INT = 1,
    GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG = 2,
    GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
    GPULSE_NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4,
};

typedef struct {
    unsigned long long timeStamp;  // CPU wall clock, microseconds since 1970
    gpulse_nvmlValue_t sampleValue;
} gpulse_nvmlSample_t;

enum { GPULSE_NVML_GPU_UTILIZATION_SAMPLES = 1 };  // nvmlSamplingType_t
enum { GPULSE_NVML_CLOCK_SM = 1 };                 // nvmlClockType_t

typedef struct {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;    // CPU wall clock, microseconds since 1970
    long long latencyUsec;
    int valueType;          // nvmlValueType_t
    gpulse_nvmlReturn_t nvmlReturn;
    gpulse_nvmlValue_t value;
} gpulse_nvmlFieldValue_t;

enum {  // NVML_FI_* field ids
    GPULSE_NVML_FI_DEV_POWER_INSTANT = 186,       // milliwatts
    GPULSE_NVML_FI_DEV_PCIE_COUNT_TX_BYTES = 197, // monotonic byte counter, GPU -> host
    GPULSE_NVML_FI_DEV_PCIE_COUNT_RX_BYTES = 198, // monotonic byte counter, host -> GPU
};

enum { GPULSE_NVML_DEVICE_UUID_BUFFER_SIZE = 96, GPULSE_NVML_DEVICE_NAME_BUFFER_SIZE = 96 };

/// Entry points resolved from the library. Required ones are never NULL after a successful open;
/// optional ones (older drivers lack them) may be NULL and their features are then reported missing.
typedef struct {
    void *handle;
    // required
    gpulse_nvmlReturn_t (*initialize)(void);                            // nvmlInit_v2
    gpulse_nvmlReturn_t (*shutdown)(void);                              // nvmlShutdown
    const char *(*errorString)(gpulse_nvmlReturn_t);                    // nvmlErrorString
    gpulse_nvmlReturn_t (*deviceGetCount)(unsigned int *);              // nvmlDeviceGetCount_v2
    gpulse_nvmlReturn_t (*deviceGetHandleByIndex)(unsigned int, gpulse_nvmlDevice_t *);  // _v2
    gpulse_nvmlReturn_t (*deviceGetUUID)(gpulse_nvmlDevice_t, char *, unsigned int);
    gpulse_nvmlReturn_t (*deviceGetMemoryInfo)(gpulse_nvmlDevice_t, gpulse_nvmlMemory_t *);
    // optional
    gpulse_nvmlReturn_t (*deviceGetName)(gpulse_nvmlDevice_t, char *, unsigned int);
    gpulse_nvmlReturn_t (*deviceGetSamples)(gpulse_nvmlDevice_t, int, unsigned long long, int *, unsigned int *, gpulse_nvmlSample_t *);
    gpulse_nvmlReturn_t (*deviceGetFieldValues)(gpulse_nvmlDevice_t, int, gpulse_nvmlFieldValue_t *);
    gpulse_nvmlReturn_t (*deviceGetClockInfo)(gpulse_nvmlDevice_t, int, unsigned int *);
    gpulse_nvmlReturn_t (*deviceGetMigMode)(gpulse_nvmlDevice_t, unsigned int *, unsigned int *);
    gpulse_nvmlReturn_t (*systemGetDriverVersion)(char *, unsigned int);
    // health (optional)
    gpulse_nvmlReturn_t (*deviceGetTemperature)(gpulse_nvmlDevice_t, int, unsigned int *);
    // nvmlDeviceGetCurrentClocksEventReasons (r535 and newer), else the older
    // nvmlDeviceGetCurrentClocksThrottleReasons: the same call under its former name.
    gpulse_nvmlReturn_t (*deviceGetCurrentClocksEventReasons)(gpulse_nvmlDevice_t, unsigned long long *);
    gpulse_nvmlReturn_t (*deviceGetTotalEccErrors)(gpulse_nvmlDevice_t, int, int, unsigned long long *);
    // corrected rows, uncorrected rows, remapping pending, remapping failed
    gpulse_nvmlReturn_t (*deviceGetRemappedRows)(gpulse_nvmlDevice_t, unsigned int *, unsigned int *, unsigned int *, unsigned int *);
    gpulse_nvmlReturn_t (*eventSetCreate)(gpulse_nvmlEventSet_t *);
    gpulse_nvmlReturn_t (*deviceGetSupportedEventTypes)(gpulse_nvmlDevice_t, unsigned long long *);
    gpulse_nvmlReturn_t (*deviceRegisterEvents)(gpulse_nvmlDevice_t, unsigned long long, gpulse_nvmlEventSet_t);
    gpulse_nvmlReturn_t (*eventSetWait)(gpulse_nvmlEventSet_t, gpulse_nvmlEventData_t *, unsigned int);  // _v2, milliseconds
    gpulse_nvmlReturn_t (*eventSetFree)(gpulse_nvmlEventSet_t);
    // GPM (optional; drivers r520 and newer have the entry points, Hopper and newer GPUs the counters)
    gpulse_nvmlReturn_t (*gpmQueryDeviceSupport)(gpulse_nvmlDevice_t, gpulse_nvmlGpmSupport_t *);
    gpulse_nvmlReturn_t (*gpmSampleAlloc)(gpulse_nvmlGpmSample_t *);
    gpulse_nvmlReturn_t (*gpmSampleFree)(gpulse_nvmlGpmSample_t);
    gpulse_nvmlReturn_t (*gpmSampleGet)(gpulse_nvmlDevice_t, gpulse_nvmlGpmSample_t);
    gpulse_nvmlReturn_t (*gpmMetricsGet)(gpulse_nvmlGpmMetricsGet_t *);
} gpulse_nvml_t;

/// Opens `path` and resolves the entry points. Returns 0 on success; -1 when the library cannot be
/// loaded, -2 when a required symbol is missing. On failure `error` receives a description.
int gpulse_nvml_open(const char *path, gpulse_nvml_t *out, char *error, size_t error_length);

/// Unloads the library. Call nvmlShutdown first.
void gpulse_nvml_close(gpulse_nvml_t *nvml);
