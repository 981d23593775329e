package focusllm

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Message is one message of a chat: a role ("system", "user", "assistant") and its content.
type Message struct {
	Role    string
	Content string
}

// ModelInfo is a model's metadata, for budgeting prompts before running them.
type ModelInfo struct {
	Architecture    string // GGUF general.architecture ("llama")
	Description     string // llama.cpp's one-line description
	NCtxTrain       int    // the context length the model was trained with
	NVocab          int    // valid token ids are 0..NVocab-1
	NParams         uint64
	SizeBytes       uint64
	NLayer          int
	NEmbd           int
	BOS             int32 // beginning-of-sequence token, -1 if none
	EOS             int32 // end-of-sequence token, -1 if none
	AddsBOS         bool  // Tokenize with special adds BOS
	HasChatTemplate bool
}

// Tokenize returns the token ids of text. With special, the model's BOS/EOS are added and
// control-token text ("<|im_start|>") becomes control tokens, as for a raw prompt; without
// it, text is plain text (what a user's message costs).
func (m *Model) Tokenize(text string, special bool) ([]int32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return nil, closedError("Model.Tokenize")
	}
	cText, textLen := cString(text)
	// Most tokens cover at least one byte: len+2 entries nearly always suffice.
	tokens := make([]int32, len(text)+2)
	for {
		var n C.size_t
		var message *C.char
		status := C.fgo_model_tokenize(m.ptr, cText, textLen, C.bool(special),
			(*C.int32_t)(unsafe.Pointer(unsafe.SliceData(tokens))), C.size_t(len(tokens)), &n, &message)
		runtime.KeepAlive(text)
		if status != 0 {
			return nil, newError(status, message)
		}
		if int(n) <= len(tokens) {
			return tokens[:int(n)], nil
		}
		tokens = make([]int32, int(n))
	}
}

// CountTokens returns how many tokens text becomes (see Tokenize for special).
func (m *Model) CountTokens(text string, special bool) (int, error) {
	tokens, err := m.Tokenize(text, special)
	return len(tokens), err
}

// Detokenize returns the text of tokens. With special, control tokens ("<|im_end|>") are
// written as their text; without, they are dropped. An id outside the vocabulary is an
// error (StatusInvalidInput) naming it.
func (m *Model) Detokenize(tokens []int32, special bool) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return "", closedError("Model.Detokenize")
	}
	var ptr *C.int32_t
	if len(tokens) > 0 {
		ptr = (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(tokens)))
	}
	return readText(func(buffer *C.char, size C.size_t, n *C.size_t, message **C.char) C.int32_t {
		status := C.fgo_model_detokenize(m.ptr, ptr, C.size_t(len(tokens)), C.bool(special), buffer, size, n, message)
		runtime.KeepAlive(tokens)
		return status
	})
}

// ApplyChatTemplate formats msgs with the model's own chat template, ending with the opener
// of the assistant's turn when addAssistant is true. The text holds control-token text: run
// it with Tokenize(text, true), knowing that control-token text inside the messages then
// becomes control tokens too (Session.Run with Job.Chat keeps messages as data).
func (m *Model) ApplyChatTemplate(msgs []Message, addAssistant bool) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return "", closedError("Model.ApplyChatTemplate")
	}
	// The message array holds pointers, so it and the bytes it points to live in C memory.
	total := 1
	for _, msg := range msgs {
		total += len(msg.Role) + len(msg.Content)
	}
	var array unsafe.Pointer
	if len(msgs) > 0 {
		array = C.malloc(C.size_t(len(msgs)) * C.size_t(unsafe.Sizeof(C.focusllm_chat_message{})))
	}
	bytes := C.malloc(C.size_t(total))
	defer C.free(array)
	defer C.free(bytes)
	if bytes == nil || (len(msgs) > 0 && array == nil) {
		return "", &Error{Status: StatusInternal, Message: "out of memory copying the chat messages"}
	}
	raw := unsafe.Slice((*byte)(bytes), total)
	cMsgs := unsafe.Slice((*C.focusllm_chat_message)(array), len(msgs))
	offset := 0
	put := func(s string) C.focusllm_str {
		copy(raw[offset:], s)
		str := C.focusllm_str{ptr: (*C.char)(unsafe.Add(bytes, offset)), len: C.size_t(len(s))}
		offset += len(s)
		return str
	}
	for i, msg := range msgs {
		cMsgs[i] = C.focusllm_chat_message{role: put(msg.Role), content: put(msg.Content)}
	}
	return readText(func(buffer *C.char, size C.size_t, n *C.size_t, message **C.char) C.int32_t {
		return C.fgo_model_apply_chat_template(m.ptr, (*C.focusllm_chat_message)(array), C.size_t(len(msgs)),
			C.bool(addAssistant), buffer, size, n, message)
	})
}

// Info returns the model's metadata.
func (m *Model) Info() (ModelInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return ModelInfo{}, closedError("Model.Info")
	}
	var c C.focusllm_model_info
	var message *C.char
	if status := C.fgo_model_get_info(m.ptr, &c, &message); status != 0 {
		return ModelInfo{}, newError(status, message)
	}
	arch, err := readText(func(buffer *C.char, size C.size_t, n *C.size_t, message **C.char) C.int32_t {
		return C.fgo_model_architecture(m.ptr, buffer, size, n, message)
	})
	if err != nil {
		return ModelInfo{}, err
	}
	info := ModelInfo{
		Architecture:    arch,
		NCtxTrain:       int(c.n_ctx_train),
		NVocab:          int(c.n_vocab),
		NParams:         uint64(c.n_params),
		SizeBytes:       uint64(c.size_bytes),
		NLayer:          int(c.n_layer),
		NEmbd:           int(c.n_embd),
		BOS:             int32(c.bos),
		EOS:             int32(c.eos),
		AddsBOS:         bool(c.adds_bos),
		HasChatTemplate: bool(c.has_chat_template),
	}
	text := C.fgo_model_description(m.ptr)
	if text != nil {
		info.Description = C.GoString(text)
		C.free(unsafe.Pointer(text))
	}
	return info, nil
}

// readText runs a snprintf-style C call (buffer, size, full length out) until the text fits.
func readText(call func(buffer *C.char, size C.size_t, n *C.size_t, message **C.char) C.int32_t) (string, error) {
	size := 256
	for {
		buffer := (*C.char)(C.malloc(C.size_t(size)))
		if buffer == nil {
			return "", &Error{Status: StatusInternal, Message: "out of memory"}
		}
		var n C.size_t
		var message *C.char
		status := call(buffer, C.size_t(size), &n, &message)
		if status != 0 {
			C.free(unsafe.Pointer(buffer))
			return "", newError(status, message)
		}
		if int(n) < size {
			text := C.GoStringN(buffer, C.int(n))
			C.free(unsafe.Pointer(buffer))
			return text, nil
		}
		C.free(unsafe.Pointer(buffer))
		size = int(n) + 1
	}
}
