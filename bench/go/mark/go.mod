module gomem.bench/mark

go 1.27
