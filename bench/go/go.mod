module kgo/bench

go 1.23
