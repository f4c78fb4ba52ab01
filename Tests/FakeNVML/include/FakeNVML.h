// TEST FAKE of NVML: see fake_nvml.c. Never shipped, never loaded outside tests unless asked for
// by path (gpulse-agent --nvml-library .../libFakeNVML.so).
#pragma once
int gpulse_fake_nvml_marker(void);
