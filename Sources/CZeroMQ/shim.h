// libzmq headers (apt: libzmq3-dev). Only GPulseTransport imports this module.
#pragma once
#include <zmq.h>
