int gpulse_bench_placeholder(void){return 0;}
