package focusllm

// The Go functions the C trampolines of shim.c call. A file with //export may only declare
// C functions in its preamble, hence this separate file.

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// A panic must not unwind through the library's frames: each callback recovers it, records
// it, and tells the library to stop; the Go caller re-raises it after the C call returns.

//export focusllmGoPiece
func focusllmGoPiece(text *C.char, length C.size_t, tokens *C.int32_t, nTokens C.size_t, handle C.uintptr_t) C.bool {
	st := cgo.Handle(handle).Value().(*runState)
	if st.panicked {
		return false
	}
	piece := Piece{Text: C.GoStringN(text, C.int(length)), Logprobs: st.logprobs}
	st.logprobs = nil
	if nTokens > 0 {
		piece.Tokens = make([]int32, int(nTokens))
		copy(piece.Tokens, unsafe.Slice((*int32)(unsafe.Pointer(tokens)), int(nTokens)))
	}
	st.text.WriteString(piece.Text)
	keepGoing := true
	if st.onPiece != nil {
		keepGoing = st.callPiece(piece)
	}
	st.checkContext()
	return C.bool(keepGoing && !st.panicked)
}

func (st *runState) callPiece(piece Piece) (keepGoing bool) {
	defer func() {
		if r := recover(); r != nil {
			st.panicked, st.panicValue, keepGoing = true, r, false
		}
	}()
	return st.onPiece(piece)
}

//export focusllmGoLogprobs
func focusllmGoLogprobs(token C.int32_t, logprob C.float, top unsafe.Pointer, nTop C.size_t, handle C.uintptr_t) C.bool {
	st := cgo.Handle(handle).Value().(*runState)
	if st.panicked {
		return false
	}
	entry := TokenLogprobs{Token: int32(token), Logprob: float32(logprob), Top: make([]TopLogprob, int(nTop))}
	if nTop > 0 {
		// focusllm_token_logprob is {int32_t token; float logprob;}: the layout of TopLogprob.
		copy(entry.Top, unsafe.Slice((*TopLogprob)(top), int(nTop)))
	}
	st.logprobs = append(st.logprobs, entry)
	return true
}

//export focusllmGoProgress
func focusllmGoProgress(done, total C.size_t, handle C.uintptr_t) C.bool {
	st := cgo.Handle(handle).Value().(*runState)
	if st.panicked {
		return false
	}
	keepGoing := true
	if st.onProgress != nil {
		keepGoing = st.callProgress(int(done), int(total))
	}
	st.checkContext()
	return C.bool(keepGoing && !st.panicked)
}

func (st *runState) callProgress(done, total int) (keepGoing bool) {
	defer func() {
		if r := recover(); r != nil {
			st.panicked, st.panicValue, keepGoing = true, r, false
		}
	}()
	return st.onProgress(done, total)
}

//export focusllmGoLoadProgress
func focusllmGoLoadProgress(fraction C.float, handle C.uintptr_t) (keepGoing C.bool) {
	p := cgo.Handle(handle).Value().(*loadProgress)
	if p.panicked {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			p.panicked, p.panicValue, keepGoing = true, r, false
		}
	}()
	return C.bool(p.fn(float32(fraction)))
}

//export focusllmGoLog
func focusllmGoLog(level C.int32_t, text *C.char, length C.size_t) {
	deliverLog(LogLevel(level), C.GoStringN(text, C.int(length)))
}
