#include "CBenchPeers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "gpulse/v1/metrics.pb-c.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sender_args {
    void *context;
    const char *endpoint;
    size_t frame_size;
    int count;
};

static void *sender(void *raw) {
    struct sender_args *a = raw;
    void *push = zmq_socket(a->context, ZMQ_PUSH);
    int hwm = 1000;
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_connect(push, a->endpoint);
    char *frame = calloc(1, a->frame_size);
    for (int i = 0; i < a->count; i++) zmq_send(push, frame, a->frame_size, 0);
    free(frame);
    zmq_close(push);
    return NULL;
}

double gpulse_bench_raw_zmq(const char *endpoint, size_t frame_size, int count) {
    void *context = zmq_ctx_new();
    void *pull = zmq_socket(context, ZMQ_PULL);
    int hwm = 1000;
    zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(pull, endpoint) != 0) return -1;
    char bound[256];
    size_t bound_len = sizeof bound;
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, bound, &bound_len);

    struct sender_args args = {context, bound, frame_size, count};
    pthread_t thread;
    pthread_create(&thread, NULL, sender, &args);
    char *buffer = malloc(frame_size + 1);
    // Timing starts at the first frame, as the Swift side does, so connection set-up is not counted.
    zmq_recv(pull, buffer, frame_size + 1, 0);
    double start = now_seconds();
    for (int i = 1; i < count; i++) zmq_recv(pull, buffer, frame_size + 1, 0);
    double elapsed = now_seconds() - start;
    pthread_join(thread, NULL);
    free(buffer);
    zmq_close(pull);
    zmq_ctx_term(context);
    return elapsed;
}

int gpulse_bench_protobuf_c(const uint8_t *bytes, size_t length, int count, double *unpack_seconds, double *pack_seconds) {
    double start = now_seconds();
    for (int i = 0; i < count; i++) {
        Gpulse__V1__MetricsBatch *m = gpulse__v1__metrics_batch__unpack(NULL, length, bytes);
        if (m == NULL) return -1;
        gpulse__v1__metrics_batch__free_unpacked(m, NULL);
    }
    *unpack_seconds = now_seconds() - start;

    Gpulse__V1__MetricsBatch *m = gpulse__v1__metrics_batch__unpack(NULL, length, bytes);
    if (m == NULL) return -1;
    uint8_t *out = malloc(length + 64);
    start = now_seconds();
    for (int i = 0; i < count; i++) {
        size_t n = gpulse__v1__metrics_batch__get_packed_size(m);
        gpulse__v1__metrics_batch__pack(m, out);
        (void)n;
    }
    *pack_seconds = now_seconds() - start;
    free(out);
    gpulse__v1__metrics_batch__free_unpacked(m, NULL);
    return 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/// The procfs files the read loop preads each tick (stat only every `stat_every` ticks).
struct proc_reads {
    int meminfo, netdev, stat;
    long stat_every;
};

/// Sleeps to absolute CLOCK_MONOTONIC deadlines at `hz` for `seconds`, doing `reads` (none when
/// NULL) after each wake-up. Returns p99 lateness in microseconds, -1 when a read fails.
static double deadline_loop(double hz, double seconds, const struct proc_reads *reads) {
    static char buffer[64 << 10];
    long period = (long)(1e9 / hz);
    long ticks = (long)(hz * seconds);
    double *late = malloc(sizeof(double) * (size_t)ticks);
    struct timespec deadline, now;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    for (long i = 0; i < ticks; i++) {
        deadline.tv_nsec += period;
        while (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_nsec -= 1000000000L;
            deadline.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        late[i] = ((double)(now.tv_sec - deadline.tv_sec) * 1e9 + (double)(now.tv_nsec - deadline.tv_nsec)) / 1e3;
        if (reads == NULL) continue;
        if ((i % reads->stat_every == 0 && pread(reads->stat, buffer, sizeof buffer, 0) < 0)
            || pread(reads->meminfo, buffer, sizeof buffer, 0) < 0 || pread(reads->netdev, buffer, sizeof buffer, 0) < 0) {
            free(late);
            return -1;
        }
    }
    qsort(late, (size_t)ticks, sizeof(double), compare_doubles);
    double p99 = late[(size_t)((double)ticks * 0.99)];
    free(late);
    return p99;
}

double gpulse_bench_sleep_loop(double hz, double seconds) { return deadline_loop(hz, seconds, NULL); }

double gpulse_bench_read_loop(double hz, double seconds, double stat_hz) {
    struct proc_reads reads = {
        .meminfo = open("/proc/meminfo", O_RDONLY | O_CLOEXEC),
        .netdev = open("/proc/net/dev", O_RDONLY | O_CLOEXEC),
        .stat = open("/proc/stat", O_RDONLY | O_CLOEXEC),
        .stat_every = stat_hz > 0 && stat_hz < hz ? (long)(hz / stat_hz + 0.5) : 1,
    };
    double p99 = reads.meminfo < 0 || reads.netdev < 0 || reads.stat < 0 ? -1 : deadline_loop(hz, seconds, &reads);
    if (reads.meminfo >= 0) close(reads.meminfo);
    if (reads.netdev >= 0) close(reads.netdev);
    if (reads.stat >= 0) close(reads.stat);
    return p99;
}
