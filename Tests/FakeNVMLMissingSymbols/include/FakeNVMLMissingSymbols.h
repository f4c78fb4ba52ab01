// TEST FAKE: an "NVML" that exports only nvmlInit_v2, to test the missing-symbol path.
#pragma once
int nvmlInit_v2(void);
