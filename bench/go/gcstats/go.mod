module gomem.bench/gcstats

go 1.27
