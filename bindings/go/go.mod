module github.com/focusllm/focusllm/bindings/go

go 1.22
