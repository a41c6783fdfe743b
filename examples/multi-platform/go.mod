module example.com/multi-platform

go 1.23
