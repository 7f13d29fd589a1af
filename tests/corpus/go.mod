module memwatch/tests/corpus

go 1.19
