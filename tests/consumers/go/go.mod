module example.com/focusllm-consumer

go 1.22

require github.com/focusllm/focusllm/bindings/go v0.0.0

// The binding from this checkout; scripts/test-bindings.sh copies this module out of the
// repository and points the replace at the binding's absolute path.
replace github.com/focusllm/focusllm/bindings/go => ../../../bindings/go
