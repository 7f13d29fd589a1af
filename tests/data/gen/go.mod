module memwatch/tests/data/gen

go 1.19
