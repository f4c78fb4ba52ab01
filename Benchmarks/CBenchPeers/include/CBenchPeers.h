// Peers for gpulse-bench: the same work done directly in C, measured in the same run, so that the
// Swift layers' figures are read as ratios rather than as absolute numbers on a noisy machine.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// Pushes `count` frames of `frame_size` bytes from a sender thread to a receiver over `endpoint`
/// (inproc:// or tcp://) with plain libzmq calls. Returns the receiver's elapsed seconds, or -1.
double gpulse_bench_raw_zmq(const char *endpoint, size_t frame_size, int count);

/// Unpacks `bytes` (a MetricsBatch) and packs the result again, `count` times each, with protobuf-c
/// alone. Writes the elapsed seconds of each half. Returns 0, or -1 if the bytes do not unpack.
int gpulse_bench_protobuf_c(const uint8_t *bytes, size_t length, int count, double *unpack_seconds, double *pack_seconds);

/// The least a periodic sampler can cost: a loop that sleeps to absolute CLOCK_MONOTONIC deadlines
/// at `hz` for `seconds` and does nothing else. Returns p99 lateness in microseconds.
double gpulse_bench_sleep_loop(double hz, double seconds);

/// The agent's fast-group procfs work done in C with nothing else: the same deadline loop, and per
/// tick a pread of /proc/meminfo and /proc/net/dev, of /proc/stat at most `stat_hz` times a second
/// (the agent's CPU sampler reads no faster than the kernel's 100 Hz counters), no parsing. The
/// least those reads can cost on this machine. Returns p99 lateness in microseconds, -1 on error.
double gpulse_bench_read_loop(double hz, double seconds, double stat_hz);
