module gomem.bench/gcbench

go 1.27

require gomem.bench/gcstats v0.0.0

replace gomem.bench/gcstats => ../gcstats
