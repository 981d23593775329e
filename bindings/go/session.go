package focusllm

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
	"strings"
)

// Session is a model plus the settings jobs run with; it keeps no state between calls (see
// Conversation for turns). A session runs one call at a time: use one per goroutine (a second call while one
// runs returns an error with StatusBusy). Close, and cancelling a call's context, are safe
// from any goroutine, including from inside the call's callbacks.
type Session struct {
	owner[*C.focusllm_session]
}

// NewSession makes a session over model with params (nil: DefaultSessionParams). The
// parameters are checked now: a bad value fails here with StatusInvalidParam.
func NewSession(model *Model, params *SessionParams) (*Session, error) {
	var cParams C.focusllm_session_params
	if err := params.toC(&cParams); err != nil {
		return nil, err
	}
	model.mu.RLock()
	defer model.mu.RUnlock()
	if model.ptr == nil {
		return nil, closedError("NewSession")
	}
	var ptr *C.focusllm_session
	var message *C.char
	if status := C.fgo_session_new(model.ptr, &cParams, &ptr, &message); status != 0 {
		return nil, newError(status, message)
	}
	s := &Session{owner[*C.focusllm_session]{
		ptr:    ptr,
		free:   func(p *C.focusllm_session) { C.focusllm_session_free(p) },
		cancel: func(p *C.focusllm_session) { C.focusllm_session_cancel(p) },
	}}
	runtime.SetFinalizer(s, (*Session).Close)
	return s, nil
}

// Close frees the session. It is idempotent, returns at once and never blocks: a call
// running on the session (or about to start) is cancelled (it returns an error with
// StatusCancelled) and the session is freed when that call returns. Calls after Close
// return an error wrapping ErrClosed.
func (s *Session) Close() error {
	if s.close() {
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// Job is what to run: a question about a document of any length (when it does not fit the
// model's window it is read in chunks, the FocusLLM way), or a plain prompt.
type Job struct {
	// Document is the text to answer about; "" means no document: Prompt runs alone.
	Document string
	// Prompt is the question about the document, or the plain prompt.
	Prompt string
	// Chat (plain prompts only) wraps Prompt as one user message in the model's chat
	// template; false feeds it as raw text. Document jobs follow SessionParams.UseChatTemplate.
	Chat bool
	// Progress, when set, receives prefill progress (done of total input tokens) on the
	// calling goroutine; returning false cancels the run (StatusCancelled).
	Progress func(done, total int) bool
}

// Piece is one streamed piece of generated text: whole UTF-8 characters, and the token ids
// that produced them (possibly none).
type Piece struct {
	Text   string
	Tokens []int32
	// Logprobs holds, when GenerateParams.TopLogprobs > 0, the log-probabilities of the
	// tokens generated since the previous piece (usually one per token of Tokens).
	Logprobs []TokenLogprobs
}

// TokenLogprobs is the log-probability of one generated token and the most likely
// alternatives at that step, from the model's distribution before bias and penalties.
type TokenLogprobs struct {
	Token   int32
	Logprob float32 // natural log, <= 0
	// Top holds the GenerateParams.TopLogprobs most likely tokens, most likely first.
	Top []TopLogprob
}

// TopLogprob is one alternative: a token and its log-probability.
type TopLogprob struct {
	Token   int32
	Logprob float32
}

// runState is the Go side of one running call, reached from C through a cgo.Handle.
type runState struct {
	ctx             context.Context
	token           *C.focusllm_cancel_token // this call's own cancel token, set by call
	onPiece         func(Piece) bool
	onProgress      func(done, total int) bool
	logprobs        []TokenLogprobs // received since the last piece
	text            strings.Builder
	cancelRequested bool
	panicked        bool
	panicValue      any
}

// checkContext cancels the run when its context is done. Called after every callback (the
// token already stops the run whenever the context is done; this is a second line).
func (st *runState) checkContext() {
	if !st.cancelRequested && st.ctx.Err() != nil {
		st.cancelRequested = true
		C.focusllm_cancel_token_cancel(st.token)
	}
}

// Run runs job on the session, streaming the generated text to onPiece (may be nil) on the
// calling goroutine; onPiece returning false stops generation (the run then succeeds with
// FinishCallerStopped). When ctx is done the run stops as soon as possible (between tokens,
// between prefill batches or inside a decode) and returns an *Error with StatusCancelled
// that also matches ctx.Err() under errors.Is. params nil means DefaultGenerateParams. A
// panic in a callback stops the run and is re-raised here once the library has returned.
func (s *Session) Run(ctx context.Context, job Job, params *GenerateParams, onPiece func(Piece) bool) (Result, error) {
	ptr, err := s.start(ctx, "Session.Run")
	if err != nil {
		return Result{}, err
	}
	defer s.release()
	var cParams C.focusllm_generate_params
	stops, err := params.toC(&cParams)
	if err != nil {
		return Result{}, err
	}
	defer stops.free()

	st := &runState{ctx: ctx, onPiece: onPiece, onProgress: job.Progress}
	document, documentLen := cString(job.Document)
	prompt, promptLen := cString(job.Prompt)
	var result C.focusllm_result
	result.struct_size = C.sizeof_focusllm_result
	err = st.call(nil, func(handle C.uintptr_t, message **C.char) C.int32_t {
		cParams.cancel = st.token
		return C.fgo_session_run(ptr, document, documentLen, prompt, promptLen, C.bool(job.Chat),
			&cParams, handle, &result, message)
	})
	runtime.KeepAlive(job)
	if err != nil {
		return Result{Text: st.text.String()}, err
	}
	return s.withSources(ptr, resultFromC(&result, st.text.String()), int(result.n_sources))
}

// withSources adds the sources of the call that just ended on the session to r.
func (s *Session) withSources(ptr *C.focusllm_session, r Result, n int) (Result, error) {
	var err error
	r.Sources, err = readSources(n, func(i C.size_t, source *C.focusllm_source, message **C.char) C.int32_t {
		return C.fgo_session_get_source(ptr, i, source, message)
	})
	return r, err
}

// start begins a call on the session that takes the run callbacks: it returns the
// session's handle, which the caller gives back with release, or the error of a closed
// session or of a context already done.
func (s *Session) start(ctx context.Context, method string) (*C.focusllm_session, error) {
	ptr, err := s.acquire(method)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		s.release()
		return nil, &Error{Status: StatusCancelled, Message: method + ": the context is done", cause: err}
	}
	return ptr, nil
}

// call runs fn, one library call whose callbacks reach st through the cgo.Handle fn gets
// and which fn gives st.token (its own cancel token), and cancels it when st.ctx is done. It
// returns the call's *Error (nil on success; a cancelled call's also matches the context's
// error). When a callback panicked, undo (may be nil) releases what a call that succeeded
// anyway made, and the panic is re-raised.
func (st *runState) call(undo func(), fn func(handle C.uintptr_t, message **C.char) C.int32_t) error {
	var message *C.char
	if status := C.fgo_cancel_token_new(&st.token, &message); status != 0 {
		return newError(status, message)
	}
	defer C.focusllm_cancel_token_free(st.token)
	handle := cgo.NewHandle(st)
	defer handle.Delete()
	// The token stops the call whenever the context is done: before the library starts
	// (the call then returns at once), inside a decode, or between callbacks. Being this
	// call's own, a cancel that comes after the call returned reaches no other call. The
	// token stays valid until this function has waited for that goroutine.
	token := st.token
	cancelled := make(chan struct{})
	stopWatching := context.AfterFunc(st.ctx, func() {
		C.focusllm_cancel_token_cancel(token)
		close(cancelled)
	})
	status := fn(C.uintptr_t(handle), &message)
	if !stopWatching() {
		<-cancelled
	}

	var callErr *Error
	if status != 0 {
		callErr = newError(status, message)
	}
	if st.panicked {
		if callErr == nil && undo != nil {
			undo()
		}
		panic(st.panicValue)
	}
	if callErr == nil {
		return nil
	}
	if callErr.Status == StatusCancelled {
		callErr.cause = st.ctx.Err()
	}
	return callErr
}

// Ask answers question about document (of any length), streaming to onPiece (may be nil).
func (s *Session) Ask(ctx context.Context, document, question string, params *GenerateParams, onPiece func(Piece) bool) (Result, error) {
	return s.Run(ctx, Job{Document: document, Prompt: question}, params, onPiece)
}

// Generate answers prompt as one user message in the model's chat template, streaming to
// onPiece (may be nil). Use Run with Job{Prompt: p} for raw text completion.
func (s *Session) Generate(ctx context.Context, prompt string, params *GenerateParams, onPiece func(Piece) bool) (Result, error) {
	return s.Run(ctx, Job{Prompt: prompt, Chat: true}, params, onPiece)
}

// Stream is a run whose pieces arrive on a channel.
type Stream struct {
	pieces chan Piece
	done   chan struct{}
	result Result
	err    error
}

// Stream runs job in a new goroutine and sends its pieces on Pieces(), which is closed when
// the run ends; Wait then returns its Result and error. Receive until the channel is
// closed, or cancel ctx to stop early: a run whose pieces nobody receives waits (Wait
// receives and drops what is left). A panic in job.Progress crashes the program, as in any
// goroutine.
func (s *Session) Stream(ctx context.Context, job Job, params *GenerateParams) *Stream {
	st := &Stream{pieces: make(chan Piece, 16), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		defer close(st.pieces)
		st.result, st.err = s.Run(ctx, job, params, func(p Piece) bool {
			select {
			case st.pieces <- p:
			case <-ctx.Done(): // Run sees the context and cancels
			}
			return true
		})
	}()
	return st
}

// Pieces returns the channel of streamed pieces; it is closed when the run ends.
func (st *Stream) Pieces() <-chan Piece { return st.pieces }

// Wait waits for the run to end, dropping pieces not yet received, and returns its Result
// (whose Text has every piece) and error.
func (st *Stream) Wait() (Result, error) {
	for range st.pieces {
	}
	<-st.done
	return st.result, st.err
}
