package focusllm

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestTokenizeDetokenizeCount(t *testing.T) {
	text := "Hello, world! ünïcödé 世界"
	tokens, err := model.Tokenize(text, false)
	if err != nil || len(tokens) < 4 {
		t.Fatalf("Tokenize = %v, %v", tokens, err)
	}
	back, err := model.Detokenize(tokens, false)
	if err != nil || back != text {
		t.Fatalf("Detokenize = %q, %v; want %q", back, err, text)
	}
	n, err := model.CountTokens(text, false)
	if err != nil || n != len(tokens) {
		t.Fatalf("CountTokens = %d, %v; want %d", n, err, len(tokens))
	}
	// special: control-token text becomes one control token, rendered only with special.
	control, err := model.Tokenize("<|im_start|>", true)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := model.Info()
	want := 1
	if info.AddsBOS {
		want = 2
	}
	if len(control) != want {
		t.Fatalf("Tokenize(<|im_start|>, special) = %v", control)
	}
	if plain, _ := model.CountTokens("<|im_start|>", false); plain <= 1 {
		t.Fatalf("without special, control-token text is plain text: %d tokens", plain)
	}
	last := control[len(control)-1:]
	if s, _ := model.Detokenize(last, true); s != "<|im_start|>" {
		t.Fatalf("Detokenize(special) = %q", s)
	}
	if s, _ := model.Detokenize(last, false); s != "" {
		t.Fatalf("Detokenize(!special) = %q", s)
	}
	// A long text needs a second, larger buffer.
	long := strings.Repeat("word ", 3000)
	longTokens, err := model.Tokenize(long, false)
	if err != nil || len(longTokens) < 3000 {
		t.Fatalf("long Tokenize: %d tokens, %v", len(longTokens), err)
	}
	if s, err := model.Detokenize(longTokens, false); err != nil || s != long {
		t.Fatalf("long Detokenize: %v", err)
	}
	_, err = model.Detokenize([]int32{1, 49152}, false)
	wantStatus(t, err, StatusInvalidInput, "token 49152 (at index 1) is outside the model's vocabulary")
	_, err = model.Tokenize("a\xffb", false)
	wantStatus(t, err, StatusInvalidArgument, "not valid UTF-8")
	if toks, err := model.Tokenize("", false); err != nil || len(toks) != 0 {
		t.Fatalf("Tokenize(\"\") = %v, %v", toks, err)
	}
}

func TestApplyChatTemplate(t *testing.T) {
	msgs := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi!"}}
	closed, err := model.ApplyChatTemplate(msgs, false)
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
	if err != nil || closed != want {
		t.Fatalf("ApplyChatTemplate(false) = %q, %v", closed, err)
	}
	open, err := model.ApplyChatTemplate(msgs, true)
	if err != nil || open != want+"<|im_start|>assistant\n" {
		t.Fatalf("ApplyChatTemplate(true) = %q, %v", open, err)
	}
	// Longer than the first buffer.
	big := []Message{{Role: "user", Content: strings.Repeat("x", 1000)}}
	if text, err := model.ApplyChatTemplate(big, true); err != nil || !strings.Contains(text, strings.Repeat("x", 1000)) {
		t.Fatalf("big ApplyChatTemplate: %v", err)
	}
	_, err = model.ApplyChatTemplate(nil, true)
	wantStatus(t, err, StatusInvalidInput, "the chat has no messages")
}

func TestInfo(t *testing.T) {
	info, err := model.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Architecture != "llama" || info.NCtxTrain != 8192 || info.NVocab != 49152 || info.NLayer != 30 ||
		info.NEmbd != 576 || !info.HasChatTemplate || info.BOS < 0 || info.EOS < 0 {
		t.Fatalf("Info = %+v", info)
	}
	if info.NParams < 130_000_000 || info.NParams > 140_000_000 || info.SizeBytes != model.SizeBytes() {
		t.Fatalf("Info sizes = %+v", info)
	}
	if !strings.Contains(info.Description, "llama") {
		t.Fatalf("Description = %q", info.Description)
	}
}

func TestLogprobsBiasAndPenalties(t *testing.T) {
	s := newSession(t)
	job := Job{Prompt: "one two three one two three one two three one two", Chat: false}
	params := maxTokens(6)
	plain, err := s.Run(context.Background(), job, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	params.TopLogprobs = 3
	var entries []TokenLogprobs
	var tokens []int32
	res, err := s.Run(context.Background(), job, params, func(p Piece) bool {
		entries = append(entries, p.Logprobs...)
		tokens = append(tokens, p.Tokens...)
		return true
	})
	if err != nil || res.Text != plain.Text {
		t.Fatalf("with logprobs: %q, %v; want %q", res.Text, err, plain.Text)
	}
	if len(entries) != len(tokens) || len(entries) == 0 {
		t.Fatalf("%d logprob entries for %d tokens", len(entries), len(tokens))
	}
	for i, e := range entries {
		if e.Token != tokens[i] || len(e.Top) != 3 || e.Top[0].Token != e.Token || e.Logprob > 0 ||
			e.Top[0].Logprob < e.Top[1].Logprob || e.Top[1].Logprob < e.Top[2].Logprob {
			t.Fatalf("entry %d = %+v (token %d)", i, e, tokens[i])
		}
	}
	// A logit bias forcing a token, and one banning the first greedy token.
	params.TopLogprobs = 0
	params.LogitBias = []LogitBias{{Token: 1000, Bias: 100}}
	var forced []int32
	if _, err := s.Run(context.Background(), job, params, func(p Piece) bool {
		forced = append(forced, p.Tokens...)
		return true
	}); err != nil || len(forced) == 0 || forced[0] != 1000 {
		t.Fatalf("forced: %v, %v", forced, err)
	}
	params.LogitBias = []LogitBias{{Token: tokens[0], Bias: float32(math.Inf(-1))}}
	var banned []int32
	if _, err := s.Run(context.Background(), job, params, func(p Piece) bool {
		banned = append(banned, p.Tokens...)
		return true
	}); err != nil || len(banned) == 0 || banned[0] == tokens[0] {
		t.Fatalf("banned: %v, %v", banned, err)
	}
	params.LogitBias = []LogitBias{{Token: 49152, Bias: 1}}
	_, err = s.Run(context.Background(), job, params, nil)
	wantStatus(t, err, StatusInvalidParam, "logit_bias[0] names token 49152")
	params.LogitBias = nil
	params.FrequencyPenalty = float32(math.NaN())
	_, err = s.Run(context.Background(), job, params, nil)
	wantStatus(t, err, StatusInvalidParam, "frequency_penalty must be in -2..=2")
	params.FrequencyPenalty = 1.5
	penalized, err := s.Run(context.Background(), job, params, nil)
	if err != nil || penalized.Text == plain.Text {
		t.Fatalf("a frequency penalty changed nothing: %q, %v", penalized.Text, err)
	}
}
