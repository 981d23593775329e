package focusllm

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"strconv"
)

// Conversation is a chat with a model: a system prompt, then user and assistant turns in
// the model's chat template, over an optional processed document. While it fits the window
// each turn decodes only what is new since the last one (Result.CachedTokens says how much
// was kept); past it, the oldest turns (and the document) are read in chunks, the FocusLLM
// way, and no turn is dropped. It has its own copy of the session's model and settings (the
// session may be closed first). One call at a time (StatusBusy otherwise); Close and
// cancelling a call's context are safe from any goroutine.
type Conversation struct {
	owner[*C.focusllm_conversation]
}

// SourceText says which of the caller's texts a Source lies in.
type SourceText int

const (
	// SourceDocument: the document (of Ask or Run, or the processed document's text).
	SourceDocument SourceText = C.FOCUSLLM_SOURCE_TEXT_DOCUMENT
	// SourceMessage: a message of a conversation's history (Source.Message is its index).
	SourceMessage SourceText = C.FOCUSLLM_SOURCE_TEXT_MESSAGE
)

// Source is a passage an answer read: bytes [Start, End) of the caller's text (on UTF-8
// character boundaries), the chunk it belongs to and that chunk's score (lower is more
// relevant).
type Source struct {
	Chunk   int
	Score   float32
	Text    SourceText
	Message int // the message's index for SourceMessage, else 0
	Start   int
	End     int
}

// NewConversation starts a conversation with the session's model and settings, opened by
// system ("" for none, when the chat template decides). The model needs a chat template and
// SessionParams.UseChatTemplate on (StatusUnsupported otherwise). Close it when done.
func (s *Session) NewConversation(system string) (*Conversation, error) {
	ptr, err := s.acquire("Session.NewConversation")
	if err != nil {
		return nil, err
	}
	defer s.release()
	cSystem, systemLen := cString(system)
	var conversation *C.focusllm_conversation
	var message *C.char
	status := C.fgo_conversation_new(ptr, cSystem, systemLen, &conversation, &message)
	runtime.KeepAlive(system)
	if status != 0 {
		return nil, newError(status, message)
	}
	return newConversation(conversation), nil
}

// NewConversationOver starts a conversation about a processed document: the document opens
// the first user message, every turn reuses its chunks' KV and sees the earlier turns. The
// conversation keeps the document's data alive (doc may be closed first). A document made
// with another model or settings fails with StatusDocumentMismatch.
func (s *Session) NewConversationOver(doc *Document) (*Conversation, error) {
	const method = "Session.NewConversationOver"
	ptr, err := s.acquire(method)
	if err != nil {
		return nil, err
	}
	defer s.release()
	var docPtr *C.focusllm_document
	if doc != nil {
		if docPtr, err = doc.acquire(method); err != nil {
			return nil, err
		}
		defer doc.release()
	}
	var conversation *C.focusllm_conversation
	var message *C.char
	if status := C.fgo_conversation_new_over_document(ptr, docPtr, &conversation, &message); status != 0 {
		return nil, newError(status, message)
	}
	return newConversation(conversation), nil
}

func newConversation(ptr *C.focusllm_conversation) *Conversation {
	c := &Conversation{owner[*C.focusllm_conversation]{
		ptr:    ptr,
		free:   func(p *C.focusllm_conversation) { C.focusllm_conversation_free(p) },
		cancel: func(p *C.focusllm_conversation) { C.focusllm_conversation_cancel(p) },
	}}
	runtime.SetFinalizer(c, (*Conversation).Close)
	return c
}

// Send sends a user message and streams the assistant's reply to onPiece (may be nil); the
// reply joins the history. Cancellation through ctx, panics in onPiece, params nil and
// StatusBusy work as in Session.Run. On an error the history is as it was.
func (c *Conversation) Send(ctx context.Context, text string, params *GenerateParams, onPiece func(Piece) bool) (Result, error) {
	const method = "Conversation.Send"
	ptr, err := c.acquire(method)
	if err != nil {
		return Result{}, err
	}
	defer c.release()
	if err := ctx.Err(); err != nil {
		return Result{}, &Error{Status: StatusCancelled, Message: method + ": the context is done", cause: err}
	}
	var cParams C.focusllm_generate_params
	stops, err := params.toC(&cParams)
	if err != nil {
		return Result{}, err
	}
	defer stops.free()
	st := &runState{ctx: ctx, onPiece: onPiece}
	cText, textLen := cString(text)
	var result C.focusllm_result
	result.struct_size = C.sizeof_focusllm_result
	err = st.call(nil, func(handle C.uintptr_t, message **C.char) C.int32_t {
		cParams.cancel = st.token
		return C.fgo_conversation_send(ptr, cText, textLen, &cParams, handle, &result, message)
	})
	runtime.KeepAlive(text)
	if err != nil {
		return Result{Text: st.text.String()}, err
	}
	out := resultFromC(&result, st.text.String())
	out.Sources, err = readSources(int(result.n_sources), func(i C.size_t, s *C.focusllm_source, message **C.char) C.int32_t {
		return C.fgo_conversation_get_source(ptr, i, s, message)
	})
	return out, err
}

// Push adds a message without generating (a saved conversation restored, or a reply the
// application wrote): role "user" or "assistant", alternating from "user".
func (c *Conversation) Push(role, text string) error {
	ptr, err := c.acquire("Conversation.Push")
	if err != nil {
		return err
	}
	defer c.release()
	var cRole C.focusllm_role
	switch role {
	case "user":
		cRole = C.FOCUSLLM_ROLE_USER
	case "assistant":
		cRole = C.FOCUSLLM_ROLE_ASSISTANT
	default:
		return &Error{Status: StatusInvalidArgument, Message: "Conversation.Push: role must be \"user\" or \"assistant\", got " + strconv.Quote(role)}
	}
	cText, textLen := cString(text)
	var message *C.char
	status := C.fgo_conversation_push(ptr, cRole, cText, textLen, &message)
	runtime.KeepAlive(text)
	if status != 0 {
		return newError(status, message)
	}
	return nil
}

// Messages returns the history: user and assistant turns, in order (a Source's Message
// indexes this list).
func (c *Conversation) Messages() ([]Message, error) {
	ptr, err := c.acquire("Conversation.Messages")
	if err != nil {
		return nil, err
	}
	defer c.release()
	var count C.size_t
	var message *C.char
	if status := C.fgo_conversation_message_count(ptr, &count, &message); status != 0 {
		return nil, newError(status, message)
	}
	messages := make([]Message, 0, int(count))
	for i := C.size_t(0); i < count; i++ {
		var role C.focusllm_role
		text, err := readText(func(buffer *C.char, size C.size_t, n *C.size_t, message **C.char) C.int32_t {
			return C.fgo_conversation_get_message(ptr, i, buffer, size, n, &role, message)
		})
		if err != nil {
			return nil, err
		}
		name := "user"
		if role == C.FOCUSLLM_ROLE_ASSISTANT {
			name = "assistant"
		}
		messages = append(messages, Message{Role: name, Content: text})
	}
	return messages, nil
}

// Close frees the conversation. Idempotent, never blocks: a call running on it is cancelled
// and the conversation is freed when that call returns. Calls after Close return an error
// wrapping ErrClosed.
func (c *Conversation) Close() error {
	if c.close() {
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// readSources reads the n sources of the call that just ended through get.
func readSources(n int, get func(i C.size_t, s *C.focusllm_source, message **C.char) C.int32_t) ([]Source, error) {
	if n == 0 {
		return nil, nil
	}
	sources := make([]Source, n)
	for i := range sources {
		var s C.focusllm_source
		var message *C.char
		if status := get(C.size_t(i), &s, &message); status != 0 {
			return nil, newError(status, message)
		}
		sources[i] = Source{
			Chunk:   int(s.chunk),
			Score:   float32(s.score),
			Text:    SourceText(s.text),
			Message: int(s.message),
			Start:   int(s.byte_start),
			End:     int(s.byte_end),
		}
	}
	return sources, nil
}
