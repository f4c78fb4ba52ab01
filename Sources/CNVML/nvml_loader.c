#include "CNVML.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int gpulse_nvml_open(const char *path, gpulse_nvml_t *out, char *error, size_t error_length) {
    memset(out, 0, sizeof *out);
    // RTLD_LOCAL: the driver's symbols stay out of the global namespace.
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(error, error_length, "%s", why ? why : "dlopen failed");
        return -1;
    }
    out->handle = handle;

#define REQUIRED(field, symbol)                                                    \
    do {                                                                           \
        *(void **)(&out->field) = dlsym(handle, symbol);                           \
        if (out->field == NULL) {                                                  \
            snprintf(error, error_length, "%s lacks required symbol %s", path, symbol); \
            dlclose(handle);                                                       \
            memset(out, 0, sizeof *out);                                           \
            return -2;                                                             \
        }                                                                          \
    } while (0)
#define OPTIONAL(field, symbol) (*(void **)(&out->field) = dlsym(handle, symbol))

    REQUIRED(initialize, "nvmlInit_v2");
    REQUIRED(shutdown, "nvmlShutdown");
    REQUIRED(errorString, "nvmlErrorString");
    REQUIRED(deviceGetCount, "nvmlDeviceGetCount_v2");
    REQUIRED(deviceGetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2");
    REQUIRED(deviceGetUUID, "nvmlDeviceGetUUID");
    REQUIRED(deviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo");
    OPTIONAL(deviceGetName, "nvmlDeviceGetName");
    OPTIONAL(deviceGetSamples, "nvmlDeviceGetSamples");
    OPTIONAL(deviceGetFieldValues, "nvmlDeviceGetFieldValues");
    OPTIONAL(deviceGetClockInfo, "nvmlDeviceGetClockInfo");
    OPTIONAL(deviceGetMigMode, "nvmlDeviceGetMigMode");
    OPTIONAL(systemGetDriverVersion, "nvmlSystemGetDriverVersion");
    OPTIONAL(deviceGetTemperature, "nvmlDeviceGetTemperature");
    OPTIONAL(deviceGetCurrentClocksEventReasons, "nvmlDeviceGetCurrentClocksEventReasons");
    if (out->deviceGetCurrentClocksEventReasons == NULL)
        OPTIONAL(deviceGetCurrentClocksEventReasons, "nvmlDeviceGetCurrentClocksThrottleReasons");
    OPTIONAL(deviceGetTotalEccErrors, "nvmlDeviceGetTotalEccErrors");
    OPTIONAL(deviceGetRemappedRows, "nvmlDeviceGetRemappedRows");
    OPTIONAL(eventSetCreate, "nvmlEventSetCreate");
    OPTIONAL(deviceGetSupportedEventTypes, "nvmlDeviceGetSupportedEventTypes");
    OPTIONAL(deviceRegisterEvents, "nvmlDeviceRegisterEvents");
    OPTIONAL(eventSetWait, "nvmlEventSetWait_v2");
    OPTIONAL(eventSetFree, "nvmlEventSetFree");
    OPTIONAL(gpmQueryDeviceSupport, "nvmlGpmQueryDeviceSupport");
    OPTIONAL(gpmSampleAlloc, "nvmlGpmSampleAlloc");
    OPTIONAL(gpmSampleFree, "nvmlGpmSampleFree");
    OPTIONAL(gpmSampleGet, "nvmlGpmSampleGet");
    OPTIONAL(gpmMetricsGet, "nvmlGpmMetricsGet");
#undef REQUIRED
#undef OPTIONAL
    return 0;
}

void gpulse_nvml_close(gpulse_nvml_t *nvml) {
    if (nvml->handle) dlclose(nvml->handle);
    memset(nvml, 0, sizeof *nvml);
}
