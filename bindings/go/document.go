package focusllm

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"time"
)

// Document is a processed document: the chunks' KV of a long text, computed once by
// [Session.Ingest] (or read from a file by [Session.LoadDocument]) and reused by every
// [Session.AskDocument]. It holds no reference to the session that made it: any session on
// the same model and settings may use it, several at the same time (from different
// goroutines). Close, Save and Info are safe from any goroutine.
type Document struct {
	owner[*C.focusllm_document]
}

// DocumentParams is how a document keeps its chunks' KV. Start from DefaultDocumentParams
// (a nil *DocumentParams means the defaults). The fields are those of
// focusllm_document_params, documented in focusllm.h.
type DocumentParams struct {
	// MemoryBudgetBytes is the most bytes of chunk KV held in memory (0 = no limit). Beyond
	// it each chunk's KV goes to an unlinked spill file, or is dropped and decoded again by
	// each question when that was measured to be faster.
	MemoryBudgetBytes uint64
	// SpillDir is the existing directory of the spill file ("" = the system's temporary
	// directory).
	SpillDir string
	// SavePath is where Ingest writes the document as a `.fllm` file while it processes it
	// ("" = keep the KV as MemoryBudgetBytes says). When set, each chunk's KV goes to the file
	// as soon as it is decoded (processing then needs no more memory than a question;
	// MemoryBudgetBytes and SpillDir do not apply), the file appears under this name only
	// once complete, and the document reads its KV from it, as a loaded one does.
	SavePath string
}

// DocumentInfo is what a document holds.
type DocumentInfo struct {
	// Tokens of the document's text.
	Tokens int
	// Chunks whose KV was computed (0 when the text is read as one plain prompt, see
	// SessionParams.DirectWhenFits: questions then run without chunking).
	Chunks int
	// InMemory, InFile and NotKept count the chunks whose KV is in memory, in a file (the
	// spill file or a loaded document's), or not kept (decoded again by each question).
	InMemory int
	InFile   int
	NotKept  int
	// MemoryBytes and FileBytes are the bytes of chunk KV in memory and in the file.
	MemoryBytes uint64
	FileBytes   uint64
	// IngestTime is the wall time of Ingest (0 for a loaded document).
	IngestTime time.Duration
}

// DefaultDocumentParams returns the library's default document parameters.
func DefaultDocumentParams() DocumentParams {
	var c C.focusllm_document_params
	mustDefaults(C.fgo_document_default_params(&c, nil))
	return DocumentParams{MemoryBudgetBytes: uint64(c.memory_budget_bytes)}
}

// toC fills c with the library's defaults and then p's values (p == nil: the defaults),
// except the spill directory and the save path: a C struct in Go memory must not point to
// Go memory, so the caller passes p.SpillDir and p.SavePath to the shim, which sets them.
func (p *DocumentParams) toC(c *C.focusllm_document_params) error {
	var message *C.char
	if status := C.fgo_document_default_params(c, &message); status != 0 {
		return newError(status, message)
	}
	if p != nil {
		c.memory_budget_bytes = C.uint64_t(p.MemoryBudgetBytes)
	}
	return nil
}

// newDocument wraps a handle the library made.
func newDocument(ptr *C.focusllm_document) *Document {
	d := &Document{owner[*C.focusllm_document]{
		ptr:  ptr,
		free: func(p *C.focusllm_document) { C.focusllm_document_free(p) },
	}}
	runtime.SetFinalizer(d, (*Document).Close)
	return d
}

// Ingest processes text for later questions (see AskDocument): the text is cut into chunks
// and their KV is computed in parallel batches, once, with the session's settings. A text
// read as one plain prompt (see SessionParams.DirectWhenFits) gives a document of no chunks,
// answered directly. onProgress (may
// be nil) receives the decoded tokens (done of total) on the calling goroutine; returning
// false cancels (StatusCancelled). params nil means DefaultDocumentParams. Cancellation
// through ctx, panics in onProgress and Close of the session work as in Run. The
// candidate strategy cannot process documents (StatusUnsupported). Close the document when
// done.
func (s *Session) Ingest(ctx context.Context, text string, params *DocumentParams, onProgress func(done, total int) bool) (*Document, error) {
	ptr, err := s.start(ctx, "Session.Ingest")
	if err != nil {
		return nil, err
	}
	defer s.release()
	var cParams C.focusllm_document_params
	if err := params.toC(&cParams); err != nil {
		return nil, err
	}
	var spillDir, savePath string
	if params != nil {
		spillDir, savePath = params.SpillDir, params.SavePath
	}

	st := &runState{ctx: ctx, onProgress: onProgress}
	cText, textLen := cString(text)
	cDir, dirLen := cString(spillDir)
	cSave, saveLen := cString(savePath)
	var doc *C.focusllm_document
	err = st.call(func() { C.focusllm_document_free(doc) }, func(handle C.uintptr_t, message **C.char) C.int32_t {
		cParams.cancel = st.token
		return C.fgo_document_ingest(ptr, cText, textLen, &cParams, cDir, dirLen, cSave, saveLen, handle, &doc, message)
	})
	runtime.KeepAlive(text)
	runtime.KeepAlive(spillDir)
	runtime.KeepAlive(savePath)
	if err != nil {
		return nil, err
	}
	return newDocument(doc), nil
}

// AskDocument answers question about doc, streaming to onPiece (may be nil) as Run does:
// only the question's prompts, the kept chunks and the answer are decoded. The answer is
// the one Ask gives for the document's text and this question (token for token with
// greedy sampling). Cancellation, callbacks, panics, StatusBusy and the Result work as in
// Run. A document made with another model or settings (window, chunk lengths, batch sizes,
// strategy, ...) is refused with StatusDocumentMismatch, whose message names the
// differences. doc may be used by other sessions at the same time; Close on it meanwhile
// frees it once this call returns.
func (s *Session) AskDocument(ctx context.Context, doc *Document, question string, params *GenerateParams, onPiece func(Piece) bool) (Result, error) {
	const method = "Session.AskDocument"
	ptr, err := s.start(ctx, method)
	if err != nil {
		return Result{}, err
	}
	defer s.release()
	// A nil *Document reaches the library as NULL, which it refuses (StatusInvalidArgument).
	var docPtr *C.focusllm_document
	if doc != nil {
		if docPtr, err = doc.acquire(method); err != nil {
			return Result{}, err
		}
		defer doc.release()
	}
	var cParams C.focusllm_generate_params
	stops, err := params.toC(&cParams)
	if err != nil {
		return Result{}, err
	}
	defer stops.free()

	st := &runState{ctx: ctx, onPiece: onPiece}
	cQuestion, questionLen := cString(question)
	var result C.focusllm_result
	result.struct_size = C.sizeof_focusllm_result
	err = st.call(nil, func(handle C.uintptr_t, message **C.char) C.int32_t {
		cParams.cancel = st.token
		return C.fgo_document_ask(ptr, docPtr, cQuestion, questionLen, &cParams, handle, &result, message)
	})
	runtime.KeepAlive(question)
	if err != nil {
		return Result{Text: st.text.String()}, err
	}
	return s.withSources(ptr, resultFromC(&result, st.text.String()), int(result.n_sources))
}

// LoadDocument opens a document saved by Document.Save for use with this session (and any
// other on the same model and settings). Every checksum is verified now: a file that is not
// a document, from a newer format, truncated or damaged fails with StatusDocumentFile; one
// from another model or settings with StatusDocumentMismatch; a missing file with StatusIO.
// The chunks' KV stays in the file and is read (and checked again) per question, so the
// file must stay in place until the document is closed.
func (s *Session) LoadDocument(path string) (*Document, error) {
	ptr, err := s.acquire("Session.LoadDocument")
	if err != nil {
		return nil, err
	}
	defer s.release()
	cPath, pathLen := cString(path)
	var doc *C.focusllm_document
	var message *C.char
	status := C.fgo_document_load(ptr, cPath, pathLen, &doc, &message)
	runtime.KeepAlive(path)
	if status != 0 {
		return nil, newError(status, message)
	}
	return newDocument(doc), nil
}

// Save writes the document to the file at path, replacing it: a versioned header (format,
// model identity, settings, checksums) and the chunks' KV. The file is written under a
// temporary name and renamed, so a failed Save leaves no partial file at path.
func (d *Document) Save(path string) error {
	ptr, err := d.acquire("Document.Save")
	if err != nil {
		return err
	}
	defer d.release()
	cPath, pathLen := cString(path)
	var message *C.char
	status := C.fgo_document_save(ptr, cPath, pathLen, &message)
	runtime.KeepAlive(path)
	if status != 0 {
		return newError(status, message)
	}
	return nil
}

// Info returns what the document holds.
func (d *Document) Info() (DocumentInfo, error) {
	ptr, err := d.acquire("Document.Info")
	if err != nil {
		return DocumentInfo{}, err
	}
	defer d.release()
	var c C.focusllm_document_info
	c.struct_size = C.sizeof_focusllm_document_info
	var message *C.char
	if status := C.fgo_document_get_info(ptr, &c, &message); status != 0 {
		return DocumentInfo{}, newError(status, message)
	}
	return DocumentInfo{
		Tokens:      int(c.n_tokens),
		Chunks:      int(c.n_chunks),
		InMemory:    int(c.n_in_memory),
		InFile:      int(c.n_in_file),
		NotKept:     int(c.n_not_kept),
		MemoryBytes: uint64(c.memory_bytes),
		FileBytes:   uint64(c.file_bytes),
		IngestTime:  time.Duration(float64(c.ingest_seconds) * float64(time.Second)),
	}, nil
}

// Close frees the document and closes its files. It is idempotent, safe for concurrent
// use, returns at once and never blocks: calls using the document (AskDocument on any
// session, Save, Info) finish normally, and the document is freed when the last of them
// returns. Calls after Close return an error wrapping ErrClosed.
func (d *Document) Close() error {
	if d.close() {
		runtime.SetFinalizer(d, nil)
	}
	return nil
}
