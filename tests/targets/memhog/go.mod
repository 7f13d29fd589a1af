module memwatch/tests/memhog

go 1.19
