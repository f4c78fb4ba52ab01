int gpulse_bench_placeholder(void);
