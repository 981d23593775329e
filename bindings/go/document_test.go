package focusllm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Processed documents, against the real model: a window of 512 tokens chunks a text of about
// 600 (tests/it/document.rs uses the same sizes), and a few generated tokens keep it quick.

const (
	docWindow   = 512
	docQuestion = "What color is the grass?"
)

var docText = strings.Repeat("The grass is green and the sky is blue. ", 60)

// docSession is a small session planning for window tokens.
func docSession(t *testing.T, window uint32) *Session {
	t.Helper()
	p := smallParams()
	p.Window = window
	s, err := NewSession(model, p)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ingest(t *testing.T, s *Session, text string, params *DocumentParams) *Document {
	t.Helper()
	doc, err := s.Ingest(context.Background(), text, params, nil)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	t.Cleanup(func() { doc.Close() })
	return doc
}

func info(t *testing.T, doc *Document) DocumentInfo {
	t.Helper()
	in, err := doc.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return in
}

func askDocument(t *testing.T, s *Session, doc *Document) Result {
	t.Helper()
	res, err := s.AskDocument(context.Background(), doc, docQuestion, maxTokens(4), nil)
	if err != nil {
		t.Fatalf("AskDocument: %v", err)
	}
	return res
}

func TestDocumentAnswersLikeAPlainAsk(t *testing.T) {
	s := docSession(t, docWindow)
	ctx := context.Background()
	plain, err := s.Ask(ctx, docText, docQuestion, maxTokens(4), nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Direct || plain.Chunks < 2 || plain.Text == "" {
		t.Fatalf("plain ask: %+v", plain)
	}

	var last [2]int
	calls := 0
	doc, err := s.Ingest(ctx, docText, nil, func(done, total int) bool {
		calls++
		if done > total {
			t.Errorf("progress %d of %d", done, total)
		}
		last = [2]int{done, total}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if calls < 1 || last[0] != last[1] || last[1] < 500 {
		t.Fatalf("%d progress calls, the last %d of %d", calls, last[0], last[1])
	}
	in := info(t, doc)
	if in.Chunks != plain.Chunks || in.InMemory != in.Chunks || in.InFile != 0 || in.Tokens < 500 ||
		in.MemoryBytes == 0 || in.IngestTime <= 0 {
		t.Fatalf("info %+v (plain ask: %d chunks)", in, plain.Chunks)
	}

	var streamed strings.Builder
	res, err := s.AskDocument(ctx, doc, docQuestion, maxTokens(4), func(p Piece) bool {
		streamed.WriteString(p.Text)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != plain.Text || streamed.String() != res.Text || res.Direct || res.Chunks != plain.Chunks ||
		res.Tokens != plain.Tokens {
		t.Fatalf("document ask %+v (streamed %q), plain ask %+v", res, streamed.String(), plain)
	}
	t.Logf("answer %q: plain prefill %v, document prefill %v", res.Text, plain.PrefillTime, res.PrefillTime)

	// Saved and loaded: the same answer, the KV read from the file.
	path := filepath.Join(t.TempDir(), "doc.fllm")
	if err := doc.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := s.LoadDocument(path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if in := info(t, loaded); in.Chunks != plain.Chunks || in.InFile != in.Chunks || in.IngestTime != 0 || in.FileBytes == 0 {
		t.Fatalf("loaded info %+v", in)
	}
	if got := askDocument(t, s, loaded).Text; got != plain.Text {
		t.Fatalf("loaded document: %q, plain ask %q", got, plain.Text)
	}

	// A budget of one byte: every chunk's KV goes to the spill file.
	spilled := ingest(t, s, docText, &DocumentParams{MemoryBudgetBytes: 1, SpillDir: t.TempDir()})
	if in := info(t, spilled); in.InMemory != 0 || in.InFile+in.NotKept != plain.Chunks {
		t.Fatalf("spilled info %+v", in)
	}
	if got := askDocument(t, s, spilled).Text; got != plain.Text {
		t.Fatalf("spilled document: %q, plain ask %q", got, plain.Text)
	}

	// Streamed to its file while processed: the saved file's bytes, no KV in memory, the
	// same answer.
	streamedPath := filepath.Join(t.TempDir(), "streamed.fllm")
	streamedDoc := ingest(t, s, docText, &DocumentParams{SavePath: streamedPath})
	if in := info(t, streamedDoc); in.InMemory != 0 || in.MemoryBytes != 0 || in.InFile != plain.Chunks {
		t.Fatalf("streamed info %+v", in)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(streamedPath); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the streamed file differs from the saved one (%d and %d bytes, %v)", len(got), len(want), err)
	}
	if got := askDocument(t, s, streamedDoc).Text; got != plain.Text {
		t.Fatalf("streamed document: %q, plain ask %q", got, plain.Text)
	}

	// Two sessions ask about one document at the same time.
	other := docSession(t, docWindow)
	var wg sync.WaitGroup
	answers := make([]string, 2)
	errs := make([]error, 2)
	for i, session := range []*Session{s, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res Result
			res, errs[i] = session.AskDocument(ctx, doc, docQuestion, maxTokens(4), nil)
			answers[i] = res.Text
		}()
	}
	wg.Wait()
	for i := range answers {
		if errs[i] != nil || answers[i] != plain.Text {
			t.Errorf("session %d: %q, %v; want %q", i, answers[i], errs[i], plain.Text)
		}
	}
}

func TestDocumentFilesAndSettingsThatDoNotFit(t *testing.T) {
	s := docSession(t, docWindow)
	doc := ingest(t, s, docText, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "doc.fllm")
	if err := doc.Save(path); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	load := func(name string, bytes []byte) error {
		bad := filepath.Join(dir, name)
		if err := os.WriteFile(bad, bytes, 0o644); err != nil {
			t.Fatal(err)
		}
		loaded, err := s.LoadDocument(bad)
		if err == nil {
			loaded.Close()
			t.Fatalf("%s loaded", name)
		}
		return err
	}
	e := wantStatus(t, load("truncated.fllm", good[:len(good)/2]), StatusDocumentFile, "truncated")
	t.Logf("truncated: %v", e)
	wantStatus(t, load("short.fllm", good[:7]), StatusDocumentFile, "shorter")
	wantStatus(t, load("garbage.fllm", []byte("GGUF not a document, just some text to fill a header")),
		StatusDocumentFile, "not a focusllm document")
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*131 + i/7)
	}
	wantStatus(t, load("noise.fllm", garbage), StatusDocumentFile, "")
	_, err = s.LoadDocument(filepath.Join(dir, "missing.fllm"))
	wantStatus(t, err, StatusIO, "missing.fllm")
	_, err = s.LoadDocument("")
	wantStatus(t, err, StatusInvalidArgument, "path")

	// A session with another window: the document's chunking does not fit it.
	other := docSession(t, docWindow/2)
	_, err = other.LoadDocument(path)
	wantStatus(t, err, StatusDocumentMismatch, "chunk_len")
	_, err = other.AskDocument(context.Background(), doc, docQuestion, maxTokens(4), nil)
	e = wantStatus(t, err, StatusDocumentMismatch, "window")
	t.Logf("mismatch: %v", e)

	// A session with a q8_0 KV cache: the f16 document's KV is not its own.
	q8 := smallParams()
	q8.Window = docWindow
	q8.TypeK, q8.TypeV = KVTypeQ8_0, KVTypeQ8_0
	quantized, err := NewSession(model, q8)
	if err != nil {
		t.Fatal(err)
	}
	defer quantized.Close()
	_, err = quantized.LoadDocument(path)
	wantStatus(t, err, StatusDocumentMismatch, `kv_type_k: document "f16", session "q8_0"`)
	_, err = quantized.AskDocument(context.Background(), doc, docQuestion, maxTokens(4), nil)
	wantStatus(t, err, StatusDocumentMismatch, `kv_type_v: document "f16", session "q8_0"`)

	// The good file still loads.
	loaded, err := s.LoadDocument(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Close()

	err = doc.Save(filepath.Join(dir, "no-such-dir", "doc.fllm"))
	var saveErr *Error
	if !errors.As(err, &saveErr) || saveErr.Message == "" {
		t.Fatalf("save into a missing folder: %v", err)
	}
	cp := smallParams()
	cp.Strategy = StrategyCandidate
	candidate, err := NewSession(model, cp)
	if err != nil {
		t.Fatal(err)
	}
	defer candidate.Close()
	_, err = candidate.Ingest(context.Background(), docText, nil, nil)
	wantStatus(t, err, StatusUnsupported, "candidate")
	_, err = s.Ingest(context.Background(), "", nil, nil)
	wantStatus(t, err, StatusInvalidInput, "empty")
	_, err = s.AskDocument(context.Background(), nil, docQuestion, maxTokens(4), nil)
	wantStatus(t, err, StatusInvalidArgument, "document")
}

func TestDocumentCloseTwiceAndUseAfterClose(t *testing.T) {
	const text = "The cat is called Mira. She sleeps on the red chair."
	s := docSession(t, docWindow)
	maker := docSession(t, docWindow)
	doc := ingest(t, maker, text, nil)
	if in := info(t, doc); in.Chunks != 0 || in.Tokens < 5 {
		t.Fatalf("a short text: %+v", in)
	}
	// The document holds no reference to the session that made it.
	maker.Close()
	if _, err := maker.Ingest(context.Background(), text, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ingest on a closed session: %v", err)
	}
	if _, err := maker.LoadDocument("doc.fllm"); !errors.Is(err, ErrClosed) {
		t.Fatalf("LoadDocument on a closed session: %v", err)
	}
	if _, err := maker.AskDocument(context.Background(), doc, "What is the cat called?", maxTokens(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("AskDocument on a closed session: %v", err)
	}
	res, err := s.AskDocument(context.Background(), doc, "What is the cat called?", maxTokens(2), nil)
	if err != nil || !res.Direct || res.Text == "" {
		t.Fatalf("a short document: %+v, %v", res, err)
	}

	// Close from inside a call that uses the document: the call finishes, then it is freed.
	pieces := 0
	res, err = s.AskDocument(context.Background(), doc, "What is the cat called?", maxTokens(3), func(Piece) bool {
		pieces++
		if doc.Close() != nil {
			t.Error("Close failed")
		}
		return true
	})
	if err != nil || res.Text == "" || pieces < 1 {
		t.Fatalf("a call that closed its document: %+v, %v", res, err)
	}
	if doc.Close() != nil || doc.Close() != nil {
		t.Fatal("Document.Close twice")
	}
	if _, err := doc.Info(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Info after Close: %v", err)
	}
	if err := doc.Save(filepath.Join(t.TempDir(), "doc.fllm")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
	if _, err := s.AskDocument(context.Background(), doc, "What is the cat called?", maxTokens(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("AskDocument after Close: %v", err)
	}

	// Documents that are never closed are freed by their finalizers.
	for i := 0; i < 4; i++ {
		if _, err := s.Ingest(context.Background(), text, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
}

func TestIngestCancelled(t *testing.T) {
	s := docSession(t, docWindow)

	// Through the context, from the first progress call.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	doc, err := s.Ingest(ctx, docText, nil, func(done, total int) bool {
		calls++
		cancel()
		return true
	})
	wantStatus(t, err, StatusCancelled, "")
	if doc != nil || !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("doc %v, err %v, %d progress calls", doc, err, calls)
	}

	// A context done before the call.
	_, err = s.Ingest(ctx, docText, nil, func(int, int) bool {
		t.Error("progress after the context was done")
		return true
	})
	wantStatus(t, err, StatusCancelled, "context")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v does not match context.Canceled", err)
	}

	// A deadline that passes during the decode of a long text, no callback.
	long := strings.Repeat("The weather report said the morning was calm and the river was quiet. ", 300)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Ingest(ctx, long, nil, nil)
	wantStatus(t, err, StatusCancelled, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not match context.DeadlineExceeded", err)
	}
	t.Logf("cancelled after %v", time.Since(start))

	// The progress callback returns false: cancelled, not by a context.
	_, err = s.Ingest(context.Background(), docText, nil, func(int, int) bool { return false })
	wantStatus(t, err, StatusCancelled, "")
	if errors.Is(err, context.Canceled) {
		t.Fatalf("%v matches context.Canceled", err)
	}

	// A panic in the progress callback is re-raised.
	func() {
		defer func() {
			if r := recover(); r != "ingest boom" {
				t.Fatalf("recovered %v", r)
			}
		}()
		s.Ingest(context.Background(), docText, nil, func(int, int) bool { panic("ingest boom") })
		t.Fatal("no panic")
	}()

	// The session is usable again, and the next call starts uncancelled.
	doc = ingest(t, s, docText, nil)
	if in := info(t, doc); in.Chunks < 2 {
		t.Fatalf("after cancels: %+v", in)
	}
}
