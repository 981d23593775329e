package focusllm

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Model is a loaded GGUF model. It is immutable and safe for concurrent use: any number of
// goroutines may read its facts and make sessions from it at once. Sessions keep the
// underlying model alive, so a Model may be closed before its sessions.
type Model struct {
	mu  sync.RWMutex // read-locked by calls using ptr, write-locked by Close
	ptr *C.focusllm_model
}

// loadProgress is the Go side of a load's progress callback.
type loadProgress struct {
	fn         func(float32) bool
	panicked   bool
	panicValue any
}

// LoadModel loads the GGUF model at path with params (nil: DefaultModelParams). On failure
// the error is an *Error whose Message says why: a missing file (StatusModelFile, naming
// the path), or llama.cpp's own reason (StatusModelLoad). A panic in params.Progress
// cancels the load and is re-raised here.
func LoadModel(path string, params *ModelParams) (*Model, error) {
	if err := CheckABI(); err != nil {
		return nil, err
	}
	var cParams C.focusllm_model_params
	if err := params.toC(&cParams); err != nil {
		return nil, err
	}
	var handle cgo.Handle
	var progress *loadProgress
	if params != nil && params.Progress != nil {
		progress = &loadProgress{fn: params.Progress}
		handle = cgo.NewHandle(progress)
		defer handle.Delete()
	}
	cPath, pathLen := cString(path)
	var ptr *C.focusllm_model
	var message *C.char
	status := C.fgo_model_load(cPath, pathLen, &cParams, C.uintptr_t(handle), &ptr, &message)
	runtime.KeepAlive(path)
	if progress != nil && progress.panicked {
		if status == 0 {
			C.focusllm_model_free(ptr)
		} else {
			C.free(unsafe.Pointer(message))
		}
		panic(progress.panicValue)
	}
	if status != 0 {
		return nil, newError(status, message)
	}
	m := &Model{ptr: ptr}
	runtime.SetFinalizer(m, (*Model).Close)
	return m, nil
}

// Close frees the model. It is idempotent and safe for concurrent use; sessions made from
// the model stay usable. Calls after Close return an error wrapping ErrClosed (the facts
// return zero values).
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr != nil {
		runtime.SetFinalizer(m, nil)
		C.focusllm_model_free(m.ptr)
		m.ptr = nil
	}
	return nil
}

// NCtxTrain returns the context length the model was trained with (0 after Close).
func (m *Model) NCtxTrain() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return 0
	}
	return int(C.focusllm_model_n_ctx_train(m.ptr))
}

// NVocab returns the number of tokens in the model's vocabulary (0 after Close).
func (m *Model) NVocab() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return 0
	}
	return int(C.focusllm_model_n_vocab(m.ptr))
}

// SizeBytes returns the size of the model's tensors in bytes (0 after Close).
func (m *Model) SizeBytes() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return 0
	}
	return uint64(C.focusllm_model_size_bytes(m.ptr))
}

// Description returns llama.cpp's one-line description of the model ("" after Close).
func (m *Model) Description() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return ""
	}
	text := C.fgo_model_description(m.ptr)
	if text == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(text))
	return C.GoString(text)
}

// EstimateMemory estimates the peak memory in bytes a session with params (nil: the
// defaults) needs for a job on a long document generating up to maxTokens tokens: weights,
// KV cache and compute buffers. Use it to decide whether a job fits before running it.
func (m *Model) EstimateMemory(params *SessionParams, maxTokens uint32) (uint64, error) {
	var cParams C.focusllm_session_params
	if err := params.toC(&cParams); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return 0, closedError("Model.EstimateMemory")
	}
	var bytes C.uint64_t
	var message *C.char
	if status := C.fgo_model_estimate_memory(m.ptr, &cParams, C.uint32_t(maxTokens), &bytes, &message); status != 0 {
		return 0, newError(status, message)
	}
	return uint64(bytes), nil
}
