module memwatch/tests/cgoleak

go 1.19
