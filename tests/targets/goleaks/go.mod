module memwatch/tests/goleaks

go 1.19
