module memwatch/tests/receiver

go 1.19
