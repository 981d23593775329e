// Package focusllm runs GGUF language models through llama.cpp and answers questions about
// documents longer than the model's window with the FocusLLM method. It wraps the C API of
// include/focusllm.h (the Rust library in this repository) with cgo.
//
// The package links the installed C library through pkg-config (focusllm.pc): install it
// first, in the repository root, then point PKG_CONFIG_PATH at it:
//
//	scripts/install.sh --prefix "$HOME/.local"
//	export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
//
// The shared library is the default; build with -tags focusllm_static to link libfocusllm.a
// from an install made with --static-only (see README.md).
//
// A [Model] is immutable and shared: any number of goroutines may use it and make sessions
// from it at once. A [Session] runs one call at a time; use one session per goroutine (a
// second call while one runs fails with [StatusBusy]). Calls stream the generated text to a
// callback or a channel and stop early when their context.Context is done. A long text
// processed once by [Session.Ingest] is a [Document]: every question about it then decodes
// only the question and the answer ([Session.AskDocument]), and it can be saved to a file
// and loaded again ([Document.Save], [Session.LoadDocument]).
//
// Every failure of the library is an [*Error] carrying the [Status] and the library's
// message; errors.Is(err, focusllm.StatusCancelled) tests the status. Close models,
// sessions and documents when done; a finalizer frees forgotten ones, later.
package focusllm

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// HeaderABIVersion is FOCUSLLM_ABI_VERSION of the focusllm.h this package was compiled
// against. It must equal [ABIVersion], the library's; see [CheckABI].
const HeaderABIVersion = C.FOCUSLLM_ABI_VERSION

// ABIVersion returns the ABI version of the linked library (focusllm_abi_version()).
func ABIVersion() uint32 { return uint32(C.focusllm_abi_version()) }

// Version returns the library's version string, naming the llama.cpp build.
func Version() string { return C.GoString(C.focusllm_version_string()) }

// abiErr is CheckABI's answer, computed once: header and library cannot change while the
// program runs.
var abiErr = func() error {
	if lib := ABIVersion(); lib != HeaderABIVersion {
		return fmt.Errorf("focusllm: ABI mismatch: focusllm.h has ABI %d but the linked library has ABI %d "+
			"(rebuild the library and this package from the same checkout)", HeaderABIVersion, lib)
	}
	return nil
}()

// CheckABI reports whether the header this package was compiled against and the library
// it runs with agree on the ABI version. LoadModel refuses to load when they do not.
func CheckABI() error { return abiErr }

// Status is the library's focusllm_status: what a failed call returns. The numbers never
// change. A Status is also an error, so that errors.Is(err, StatusCancelled) works.
type Status int32

// The statuses of focusllm.h.
const (
	StatusOK              Status = C.FOCUSLLM_STATUS_OK
	StatusInvalidArgument Status = C.FOCUSLLM_STATUS_INVALID_ARGUMENT
	StatusStructSize      Status = C.FOCUSLLM_STATUS_STRUCT_SIZE
	StatusInvalidParam    Status = C.FOCUSLLM_STATUS_INVALID_PARAM
	StatusModelFile       Status = C.FOCUSLLM_STATUS_MODEL_FILE
	StatusModelLoad       Status = C.FOCUSLLM_STATUS_MODEL_LOAD
	StatusContextCreate   Status = C.FOCUSLLM_STATUS_CONTEXT_CREATE
	StatusInvalidInput    Status = C.FOCUSLLM_STATUS_INVALID_INPUT
	StatusTooLong         Status = C.FOCUSLLM_STATUS_TOO_LONG
	StatusTokenize        Status = C.FOCUSLLM_STATUS_TOKENIZE
	StatusChatTemplate    Status = C.FOCUSLLM_STATUS_CHAT_TEMPLATE
	StatusDecode          Status = C.FOCUSLLM_STATUS_DECODE
	StatusKVCacheFull     Status = C.FOCUSLLM_STATUS_KV_CACHE_FULL
	StatusCancelled       Status = C.FOCUSLLM_STATUS_CANCELLED
	StatusIO              Status = C.FOCUSLLM_STATUS_IO
	StatusGGUF            Status = C.FOCUSLLM_STATUS_GGUF
	StatusUnsupported     Status = C.FOCUSLLM_STATUS_UNSUPPORTED
	StatusInternal        Status = C.FOCUSLLM_STATUS_INTERNAL
	StatusBusy            Status = C.FOCUSLLM_STATUS_BUSY
	StatusPanic           Status = C.FOCUSLLM_STATUS_PANIC
	// StatusDocumentFile: a processed-document file is not one, is from a newer format,
	// truncated or damaged.
	StatusDocumentFile Status = C.FOCUSLLM_STATUS_DOCUMENT_FILE
	// StatusDocumentMismatch: a processed document belongs to another model, chunking or KV
	// layout than the session's.
	StatusDocumentMismatch Status = C.FOCUSLLM_STATUS_DOCUMENT_MISMATCH
)

// String returns the library's short description of the status ("cancelled", ...).
func (s Status) String() string { return C.GoString(C.focusllm_status_string(C.int32_t(s))) }

// Error makes a Status usable as an errors.Is target.
func (s Status) Error() string { return "focusllm: " + s.String() }

// Error is a failure reported by the library: its status and its message, which names the
// function, what was wrong and with which value (for a model that does not load,
// llama.cpp's own reason).
type Error struct {
	Status  Status
	Message string
	// cause is what made a cancelled run stop (the context's error), for errors.Is.
	cause error
}

func (e *Error) Error() string { return "focusllm: " + e.Status.String() + ": " + e.Message }

// Is reports whether target is this error's Status: errors.Is(err, focusllm.StatusBusy).
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// Unwrap returns the context's error for a run cancelled through its context (so that
// errors.Is(err, context.Canceled) holds), and nil otherwise.
func (e *Error) Unwrap() error { return e.cause }

// ErrClosed is returned (wrapped) by calls on a Model, Session, Document or Conversation
// after its Close.
var ErrClosed = errors.New("focusllm: use of a closed model, session, document or conversation")

func closedError(method string) error { return fmt.Errorf("focusllm: %s: %w", method, ErrClosed) }

// newError makes the error of a failed shim call and frees the message the shim allocated.
func newError(status C.int32_t, message *C.char) *Error {
	text := "(no message: out of memory)"
	if message != nil {
		text = C.GoString(message)
		C.free(unsafe.Pointer(message))
	}
	return &Error{Status: Status(status), Message: text}
}

// cString returns a pointer to s's bytes for a C call that only reads them during the call,
// and their length; nil for "". The bytes hold no Go pointers, so cgo allows passing them.
func cString(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}
