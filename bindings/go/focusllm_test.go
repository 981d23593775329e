package focusllm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run the real default model, kept small: one thread, short contexts, a few
// generated tokens. A missing model fails the whole run; tests never skip.
const modelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"

var (
	model     *Model
	modelPath string
)

func TestMain(m *testing.M) {
	dir := os.Getenv("FOCUSLLM_MODELS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "models")
	}
	path, err := filepath.Abs(filepath.Join(dir, modelFile))
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the test model %s is missing (%v): run scripts/fetch-models.sh "+
			"in the repository root (or set FOCUSLLM_MODELS_DIR)\n", path, err)
		os.Exit(1)
	}
	modelPath = path
	model, err = LoadModel(path, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: loading %s: %v\n", path, err)
		os.Exit(1)
	}
	code := m.Run()
	model.Close()
	os.Exit(code)
}

// smallParams: one thread, small contexts.
func smallParams() *SessionParams {
	p := DefaultSessionParams()
	p.NThreads = 1
	p.NCtx = 512
	p.NBatch = 512
	p.NUbatch = 512
	p.Window = 256
	return &p
}

func maxTokens(n uint32) *GenerateParams {
	p := DefaultGenerateParams()
	p.MaxTokens = n
	return &p
}

func newSession(t *testing.T) *Session {
	t.Helper()
	s, err := NewSession(model, smallParams())
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantStatus checks that err is an *Error with the status and a message containing needle.
func wantStatus(t *testing.T, err error, status Status, needle string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want an *Error with status %v", err, err, status)
	}
	if e.Status != status || !errors.Is(err, status) {
		t.Fatalf("got status %v (%q), want %v", e.Status, e.Message, status)
	}
	if !strings.Contains(e.Message, needle) {
		t.Fatalf("message %q lacks %q", e.Message, needle)
	}
	return e
}

const question = "What is the capital of France?"

func TestABIVersionOfHeaderAndLibraryAgree(t *testing.T) {
	if HeaderABIVersion != ABIVersion() {
		t.Fatalf("focusllm.h has ABI %d, the library %d", HeaderABIVersion, ABIVersion())
	}
	if err := CheckABI(); err != nil {
		t.Fatal(err)
	}
	if v := Version(); !strings.HasPrefix(v, "focusllm ") || !strings.Contains(v, fmt.Sprintf("ABI %d", HeaderABIVersion)) {
		t.Fatalf("version string %q", v)
	}
	if StatusCancelled.String() != "cancelled" || Status(9999).String() != "unknown status" {
		t.Fatalf("status strings: %q %q", StatusCancelled.String(), Status(9999).String())
	}
}

func TestModelFacts(t *testing.T) {
	if model.NCtxTrain() < 2048 || model.NVocab() < 1000 || model.SizeBytes() < 10<<20 {
		t.Fatalf("facts: n_ctx_train %d, n_vocab %d, size %d", model.NCtxTrain(), model.NVocab(), model.SizeBytes())
	}
	if d := model.Description(); d == "" {
		t.Fatal("empty description")
	}
	bytes, err := model.EstimateMemory(smallParams(), 16)
	if err != nil {
		t.Fatal(err)
	}
	if bytes <= model.SizeBytes() {
		t.Fatalf("estimate %d is not above the weights' %d bytes", bytes, model.SizeBytes())
	}
	_, err = model.EstimateMemory(nil, 0)
	wantStatus(t, err, StatusInvalidParam, "max_tokens")
}

func TestGenerateStreamsPieces(t *testing.T) {
	s := newSession(t)
	var text strings.Builder
	pieces, tokens := 0, 0
	res, err := s.Generate(context.Background(), question, maxTokens(8), func(p Piece) bool {
		text.WriteString(p.Text)
		pieces++
		tokens += len(p.Tokens)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishMaxTokens && res.FinishReason != FinishEndOfGeneration {
		t.Fatalf("finish reason %d", res.FinishReason)
	}
	if res.Tokens < 1 || res.Tokens > 8 || pieces < 1 || tokens < 1 || tokens > res.Tokens {
		t.Fatalf("result %+v, %d pieces, %d streamed tokens", res, pieces, tokens)
	}
	if res.Text != text.String() || res.Text == "" || !res.Direct || res.PromptTokens < 5 {
		t.Fatalf("result %+v, streamed %q", res, text.String())
	}
	t.Logf("answer %q (%d tokens)", res.Text, res.Tokens)

	// A raw prompt, no callback.
	res, err = s.Run(context.Background(), Job{Prompt: "The capital of France is"}, maxTokens(3), nil)
	if err != nil || res.Text == "" {
		t.Fatalf("raw prompt: %+v, %v", res, err)
	}

	// The callback stops generation: success, FinishCallerStopped.
	pieces = 0
	res, err = s.Generate(context.Background(), question, maxTokens(8), func(Piece) bool { pieces++; return false })
	if err != nil || res.FinishReason != FinishCallerStopped || pieces != 1 {
		t.Fatalf("stop from callback: %+v, %v, %d pieces", res, err, pieces)
	}
}

func TestAskAboutADocument(t *testing.T) {
	s := newSession(t)
	doc := "Notes of the expedition. The passkey is 4721. Remember it, it is important."
	progressCalls := 0
	res, err := s.Run(context.Background(), Job{
		Document: doc,
		Prompt:   "What is the passkey?",
		Progress: func(done, total int) bool {
			progressCalls++
			if done > total {
				t.Errorf("progress %d of %d", done, total)
			}
			return true
		},
	}, maxTokens(4), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Direct || res.Chunks != 0 || res.Tokens < 1 || progressCalls < 1 {
		t.Fatalf("result %+v, %d progress calls", res, progressCalls)
	}

	// A document longer than the 256-token window is read in chunks.
	long := strings.Repeat("The weather report said the morning was calm and the river was quiet. ", 16)
	start := time.Now()
	res, err = s.Ask(context.Background(), long+doc, "What is the passkey?", maxTokens(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Direct || res.Chunks < 2 || res.Waves < 1 {
		t.Fatalf("long document: %+v", res)
	}
	t.Logf("long document: %d input tokens, %d chunks, %v", res.PromptTokens, res.Chunks, time.Since(start))
}

func TestStopString(t *testing.T) {
	s := newSession(t)
	first, err := s.Generate(context.Background(), question, maxTokens(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Text) < 4 {
		t.Fatalf("answer %q too short to pick a stop string", first.Text)
	}
	stop := first.Text[len(first.Text)/2 : len(first.Text)/2+2]
	p := maxTokens(8)
	p.Stop = []string{"\x00never", stop}
	res, err := s.Generate(context.Background(), question, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishStopString || strings.Contains(res.Text, stop) {
		t.Fatalf("stop %q: %+v", stop, res)
	}
}

func TestConcurrentSessionsShareOneModel(t *testing.T) {
	reference, err := newSession(t).Generate(context.Background(), question, maxTokens(6), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := NewSession(model, smallParams())
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for j := 0; j < 2; j++ {
				res, err := s.Generate(context.Background(), question, maxTokens(6), nil)
				if err != nil {
					errs <- err
					return
				}
				if res.Text != reference.Text {
					errs <- fmt.Errorf("goroutine %d: %q, want %q (greedy sampling is deterministic)", i, res.Text, reference.Text)
				}
				if model.NVocab() == 0 {
					errs <- errors.New("model facts while generating")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCancelMidStreamThroughContext(t *testing.T) {
	s := newSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	firstPiece := make(chan struct{})
	go func() {
		<-firstPiece
		cancel()
	}()
	pieces := 0
	res, err := s.Generate(ctx, question, maxTokens(200), func(p Piece) bool {
		pieces++
		if pieces == 1 {
			close(firstPiece)
			<-ctx.Done() // the next token never comes
		}
		return true
	})
	wantStatus(t, err, StatusCancelled, "cancel")
	if !errors.Is(err, context.Canceled) || pieces != 1 || res.Text == "" {
		t.Fatalf("err %v, %d pieces, text %q", err, pieces, res.Text)
	}
	// The session is usable again, and the next call starts uncancelled.
	if _, err := s.Generate(context.Background(), question, maxTokens(2), nil); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
}

func TestCancelBeforeStartAndByDeadline(t *testing.T) {
	s := newSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Generate(ctx, question, maxTokens(4), func(Piece) bool {
		t.Error("a piece after the context was done")
		return true
	})
	wantStatus(t, err, StatusCancelled, "context")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v does not match context.Canceled", err)
	}

	// A deadline that passes during the prefill of a long document, no callbacks.
	long := strings.Repeat("The weather report said the morning was calm and the river was quiet. ", 300)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Ask(ctx, long, "What was the weather?", maxTokens(4), nil)
	wantStatus(t, err, StatusCancelled, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not match context.DeadlineExceeded", err)
	}
	t.Logf("cancelled after %v", time.Since(start))
}

// A context cancelled at a random moment around a short run, 1,000 times (the whole Go
// suite then needs go test -timeout 20m on a busy 2-core machine): before the run
// starts, during it, or after it: never a hang, a crash or a race, a cancel that came
// before the run always stops it, and no cancel ever reaches the next run on the session.
func TestCancelAtRandomMomentsIsNeverLost(t *testing.T) {
	p := smallParams()
	p.NCtx = 64
	s, err := NewSession(model, p)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	defer s.Close()
	job := Job{Prompt: "Hi"}
	params := maxTokens(2)
	start := time.Now()
	if _, err := s.Run(context.Background(), job, params, nil); err != nil {
		t.Fatalf("a first run: %v", err)
	}
	span := time.Since(start) // the cancels fall within one run's time
	races := 1000             // FOCUSLLM_CANCEL_RACES overrides it, for a quick local look
	if n, err := strconv.Atoi(os.Getenv("FOCUSLLM_CANCEL_RACES")); err == nil && n > 0 {
		races = n
	}
	rng := rand.New(rand.NewSource(15))
	var before, during, finished int
	for i := 0; i < races; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		delay := time.Duration(rng.Int63n(int64(span) + 1))
		var cancelled atomic.Bool
		canceller := make(chan struct{})
		go func() {
			defer close(canceller)
			time.Sleep(delay)
			cancel()
			cancelled.Store(true)
		}()
		if rng.Intn(2) == 0 {
			time.Sleep(time.Duration(rng.Int63n(int64(span) + 1)))
		}
		cancelledBefore := cancelled.Load()
		res, err := s.Run(ctx, job, params, nil)
		<-canceller
		switch {
		case err == nil:
			if cancelledBefore {
				t.Fatalf("run %d: cancelled before it started, yet it finished: %+v", i, res)
			}
			finished++
		case errors.Is(err, context.Canceled):
			wantStatus(t, err, StatusCancelled, "")
			if cancelledBefore {
				before++
			} else {
				during++
			}
		default:
			t.Fatalf("run %d: %v", i, err)
		}
		// The cancel, whenever it came, reaches no later run.
		if _, err := s.Run(context.Background(), job, params, nil); err != nil {
			t.Fatalf("run %d: the run after a cancel: %v", i, err)
		}
	}
	t.Logf("%d cancels (one run %v): %d before the run, %d during it, %d after it finished", races, span, before, during, finished)
	if before == 0 || during+finished == 0 {
		t.Fatalf("the cancels did not spread around the runs: %d before, %d during, %d after", before, during, finished)
	}
}

func TestStreamChannel(t *testing.T) {
	s := newSession(t)
	stream := s.Stream(context.Background(), Job{Prompt: question, Chat: true}, maxTokens(6))
	var text strings.Builder
	for p := range stream.Pieces() {
		text.WriteString(p.Text)
	}
	res, err := stream.Wait()
	if err != nil || res.Text != text.String() || res.Text == "" {
		t.Fatalf("%+v, %v, received %q", res, err, text.String())
	}

	// Stop after the first piece by cancelling the context.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream = s.Stream(ctx, Job{Prompt: question, Chat: true}, maxTokens(200))
	if _, ok := <-stream.Pieces(); !ok {
		t.Fatal("no piece")
	}
	cancel()
	_, err = stream.Wait()
	wantStatus(t, err, StatusCancelled, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	m, err := LoadModel(modelPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(m, smallParams())
	if err != nil {
		t.Fatal(err)
	}
	// The session keeps the model alive: closing the model first is fine.
	if m.Close() != nil || m.Close() != nil {
		t.Fatal("Model.Close failed")
	}
	if _, err := s.Generate(context.Background(), question, maxTokens(2), nil); err != nil {
		t.Fatalf("session after its model's Close: %v", err)
	}
	if s.Close() != nil || s.Close() != nil {
		t.Fatal("Session.Close failed")
	}
	if _, err := s.Generate(context.Background(), question, maxTokens(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Generate after Close: %v", err)
	}
	stream := s.Stream(context.Background(), Job{Prompt: question}, nil)
	if _, err := stream.Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stream after Close: %v", err)
	}
	if _, err := NewSession(m, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewSession on a closed model: %v", err)
	}
	if _, err := m.EstimateMemory(nil, 4); !errors.Is(err, ErrClosed) {
		t.Fatalf("EstimateMemory on a closed model: %v", err)
	}
	if m.NCtxTrain() != 0 || m.NVocab() != 0 || m.SizeBytes() != 0 || m.Description() != "" {
		t.Fatal("facts of a closed model are not zero")
	}
}

func TestCloseDuringARunCancelsIt(t *testing.T) {
	s, err := NewSession(model, smallParams())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	pieces := 0
	_, err = s.Generate(context.Background(), question, maxTokens(200), func(Piece) bool {
		pieces++
		if pieces == 1 {
			go func() { s.Close(); close(closed) }()
			<-closed // Close returns at once, without waiting for this run
		}
		return true
	})
	wantStatus(t, err, StatusCancelled, "")
	if _, err := s.Generate(context.Background(), question, maxTokens(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	// Close from inside the run's own callback.
	s2 := newSession(t)
	_, err = s2.Generate(context.Background(), question, maxTokens(200), func(Piece) bool { s2.Close(); return true })
	wantStatus(t, err, StatusCancelled, "")
}

func TestMissingModelFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-model.gguf")
	m, err := LoadModel(path, nil)
	if m != nil {
		t.Fatal("a model from a missing file")
	}
	e := wantStatus(t, err, StatusModelFile, path)
	t.Logf("missing file: %v", err)
	if !strings.Contains(e.Error(), path) || !strings.HasPrefix(e.Message, "focusllm_model_load") {
		t.Fatalf("error text %q", e.Error())
	}
	// Not a GGUF file: llama.cpp's reason.
	junk := filepath.Join(t.TempDir(), "junk.gguf")
	if err := os.WriteFile(junk, []byte("this is not a gguf file, just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadModel(junk, nil)
	var fe *Error
	if !errors.As(err, &fe) || (fe.Status != StatusModelLoad && fe.Status != StatusModelFile) || fe.Message == "" {
		t.Fatalf("junk file: %v", err)
	}
	_, err = LoadModel("", nil)
	wantStatus(t, err, StatusInvalidArgument, "path")
}

// Each error carries its own message even when many goroutines fail at once: the message is
// read in the same C call as the failure, on the same thread.
func TestErrorMessagesBelongToTheirCall(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				path := filepath.Join(dir, fmt.Sprintf("missing-%d-%d.gguf", i, j))
				_, err := LoadModel(path, nil)
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Message, path) {
					t.Errorf("%s: %v", path, err)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
}

func TestBadInputs(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	_, err := s.Run(ctx, Job{}, nil, nil)
	wantStatus(t, err, StatusInvalidInput, "empty")
	_, err = s.Generate(ctx, "bad \xff utf-8", maxTokens(2), nil)
	wantStatus(t, err, StatusInvalidArgument, "UTF-8")
	_, err = s.Generate(ctx, question, maxTokens(0), nil)
	wantStatus(t, err, StatusInvalidParam, "max_tokens")
	p := maxTokens(2)
	p.Stop = []string{""}
	_, err = s.Generate(ctx, question, p, nil)
	wantStatus(t, err, StatusInvalidParam, "stop")

	sp := smallParams()
	sp.NThreads = 0
	_, err = NewSession(model, sp)
	wantStatus(t, err, StatusInvalidParam, "n_threads must be in 1..=1024, got 0")
	sp = smallParams()
	sp.Strategy = 7
	_, err = NewSession(model, sp)
	wantStatus(t, err, StatusInvalidParam, "strategy")
	sp = smallParams()
	sp.TypeK = 9
	_, err = NewSession(model, sp)
	wantStatus(t, err, StatusInvalidParam, "type_k must be 0 (f16), 1 (q8_0) or 2 (q4_0)")
	sp = smallParams()
	sp.TypeV = KVTypeQ4_0
	sp.FlashAttention = FlashAttentionDisabled
	_, err = NewSession(model, sp)
	wantStatus(t, err, StatusInvalidParam, "type_v q4_0 (a quantized V cache) needs flash attention")
	sp = smallParams()
	if d := DefaultSessionParams(); d.ReadGap != 8 || !d.Zoom {
		t.Errorf("default ReadGap %v, Zoom %v; want 8 and true", d.ReadGap, d.Zoom)
	}
	sp.ReadGap = -1
	_, err = NewSession(model, sp)
	wantStatus(t, err, StatusInvalidParam, "read_gap must be a number of nats >= 0 (or infinity), got -1")
	sp.ReadGap, sp.Zoom = float32(math.Inf(1)), false
	readsAll, err := NewSession(model, sp)
	if err != nil {
		t.Fatalf("ReadGap +Inf, Zoom false: %v", err)
	}
	readsAll.Close()
	sp = smallParams()
	if d := DefaultSessionParams(); d.DirectWhenFits != DirectWhenFitsAuto {
		t.Errorf("default DirectWhenFits %v; want DirectWhenFitsAuto", d.DirectWhenFits)
	}
	sp.DirectWhenFits = 3
	_, err = NewSession(model, sp)
	wantStatus(t, err, StatusInvalidParam, "direct_when_fits must be 0 (auto), 1 (always) or 2 (never)")
}

func TestDirectWhenFitsChoosesPlainOrChunks(t *testing.T) {
	// About 150 tokens: within the 256-token window with the answer, and longer than the
	// question, so there is a document to chunk.
	document := strings.Repeat("The lamp in the hall is green. ", 15)
	results := map[DirectWhenFits]Result{}
	for _, mode := range []DirectWhenFits{DirectWhenFitsAlways, DirectWhenFitsNever, DirectWhenFitsAuto} {
		sp := smallParams()
		sp.DirectWhenFits = mode
		s, err := NewSession(model, sp)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Ask(context.Background(), document, "What colour is the lamp?", maxTokens(3), nil)
		s.Close()
		if err != nil {
			t.Fatalf("DirectWhenFits %d: %v", mode, err)
		}
		results[mode] = res
	}
	if always := results[DirectWhenFitsAlways]; !always.Direct || always.Chunks != 0 {
		t.Errorf("Always: Direct %v, %d chunks; want plain generation", always.Direct, always.Chunks)
	}
	if never := results[DirectWhenFitsNever]; never.Direct || never.Chunks < 1 {
		t.Errorf("Never: Direct %v, %d chunks; want chunks", never.Direct, never.Chunks)
	}
	// Far below AutoDirectMaxTokens: Auto runs it as plain generation.
	if auto := results[DirectWhenFitsAuto]; !auto.Direct {
		t.Errorf("Auto on %d tokens: Direct false; want plain generation (threshold %d)", auto.PromptTokens, AutoDirectMaxTokens)
	}
}

func TestOneCallAtATime(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	var inner, concurrent error
	_, err := s.Generate(ctx, question, maxTokens(3), func(Piece) bool {
		if inner == nil {
			_, inner = s.Generate(ctx, question, maxTokens(1), nil) // re-entry
			done := make(chan struct{})
			go func() { // another goroutine
				defer close(done)
				_, concurrent = s.Generate(ctx, question, maxTokens(1), nil)
			}()
			<-done
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, inner, StatusBusy, "")
	wantStatus(t, concurrent, StatusBusy, "")
	// Another session may be used from inside a callback.
	other := newSession(t)
	var otherErr error
	_, err = s.Generate(ctx, question, maxTokens(2), func(Piece) bool {
		_, otherErr = other.Generate(ctx, question, maxTokens(1), nil)
		return false
	})
	if err != nil || otherErr != nil {
		t.Fatalf("%v, %v", err, otherErr)
	}
}

func TestPanicInCallbackIsReRaised(t *testing.T) {
	s := newSession(t)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		s.Generate(context.Background(), question, maxTokens(8), func(Piece) bool { panic("boom") })
		t.Fatal("no panic")
	}()
	func() {
		defer func() {
			if r := recover(); r != "progress boom" {
				t.Fatalf("recovered %v", r)
			}
		}()
		s.Run(context.Background(), Job{Prompt: question, Progress: func(int, int) bool { panic("progress boom") }}, maxTokens(2), nil)
	}()
	if _, err := s.Generate(context.Background(), question, maxTokens(2), nil); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

func TestLoadProgressAndLogCallback(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	if err := SetLogCallback(func(level LogLevel, line string) {
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	defer SetLogCallback(nil)
	var fractions []float32
	p := DefaultModelParams()
	p.VocabOnly = true
	p.Progress = func(f float32) bool { fractions = append(fractions, f); return true }
	m, err := LoadModel(modelPath, &p)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	mu.Lock()
	n := len(lines)
	mu.Unlock()
	if n == 0 {
		t.Error("no log lines while loading")
	}
	p = DefaultModelParams()
	calls := 0
	p.Progress = func(float32) bool { calls++; return false }
	_, err = LoadModel(modelPath, &p)
	wantStatus(t, err, StatusCancelled, "")
	if calls != 1 {
		t.Fatalf("%d progress calls after returning false", calls)
	}
	t.Logf("%d log lines, vocab-only progress %v", n, fractions)
}

// Sessions and models that are never closed are freed by their finalizers.
func TestFinalizersFreeForgottenObjects(t *testing.T) {
	for i := 0; i < 8; i++ {
		if _, err := NewSession(model, smallParams()); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
}
