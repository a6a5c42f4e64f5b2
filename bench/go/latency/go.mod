module gomem.bench/latency

go 1.27
