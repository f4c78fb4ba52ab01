// TEST FAKE: exports nvmlInit_v2 and nothing else NVML has, so loading it must fail with
// "lacks required symbol nvmlShutdown".
#include "FakeNVMLMissingSymbols.h"
int nvmlInit_v2(void) { return 0; }
