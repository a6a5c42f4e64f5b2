module gomem.bench/gcbench

go 1.27
