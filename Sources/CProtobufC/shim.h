// protobuf-c runtime headers (apt: libprotobuf-c-dev). Only GPulseWire imports this module.
#pragma once
#include <protobuf-c/protobuf-c.h>
