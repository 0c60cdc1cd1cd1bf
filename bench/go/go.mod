module libctx/bench/go

go 1.19
