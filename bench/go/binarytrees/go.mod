module gomem.bench/binarytrees

go 1.27
