module memwatch/tests/hostile

go 1.19
