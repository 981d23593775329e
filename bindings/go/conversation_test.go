package focusllm

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Conversations against the real model: a second turn decodes only its new tokens, a
// restored history replies the same, bad turns are refused, a conversation over a document
// that outlives the document's handle cites it, and a chunked Ask returns its sources.

func chatSession(t *testing.T, window uint32) *Session {
	t.Helper()
	p := smallParams()
	p.NCtx = 0
	p.Window = window
	p.UseChatTemplate = true
	s, err := NewSession(model, p)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConversationReusesEarlierTurns(t *testing.T) {
	s := chatSession(t, 1024)
	ctx := context.Background()
	chat, err := s.NewConversation("You are a helpful assistant.")
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	first, err := chat.Send(ctx, "My name is Alice and I live in Lisbon.", maxTokens(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	second, err := chat.Send(ctx, "Where do I live?", maxTokens(8), func(p Piece) bool {
		streamed.WriteString(p.Text)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.CachedTokens != 0 || second.CachedTokens <= first.PromptTokens || !second.Direct {
		t.Fatalf("turn 2 should reuse turn 1: first %+v, second %+v", first, second)
	}
	if streamed.String() != second.Text {
		t.Fatalf("streamed %q, result %q", streamed.String(), second.Text)
	}
	messages, err := chat.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(messages) != 4 || messages[3] != (Message{Role: "assistant", Content: second.Text}) {
		t.Fatalf("history: %+v", messages)
	}

	restored, err := s.NewConversation("You are a helpful assistant.")
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	for _, m := range messages[:2] {
		if err := restored.Push(m.Role, m.Content); err != nil {
			t.Fatal(err)
		}
	}
	again, err := restored.Send(ctx, "Where do I live?", maxTokens(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Text != second.Text || again.CachedTokens != 0 {
		t.Fatalf("restored history replied %q (cached %d), the conversation %q", again.Text, again.CachedTokens, second.Text)
	}
}

func TestConversationRefusesBadTurns(t *testing.T) {
	s := chatSession(t, 1024)
	chat, err := s.NewConversation("")
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Push("assistant", "hi"); !errors.Is(err, StatusInvalidInput) {
		t.Fatalf("an assistant turn first: %v", err)
	}
	if err := chat.Push("system", "hi"); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("a system turn: %v", err)
	}
	if _, err := chat.Send(context.Background(), " ", maxTokens(2), nil); !errors.Is(err, StatusInvalidInput) {
		t.Fatalf("an empty message: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := chat.Send(ctx, "Hello", maxTokens(2), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a done context: %v", err)
	}
	if messages, err := chat.Messages(); err != nil || len(messages) != 0 {
		t.Fatalf("refused turns left %v (%v)", messages, err)
	}
	chat.Close()
	if _, err := chat.Send(context.Background(), "Hello", maxTokens(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	plain := smallParams()
	plain.UseChatTemplate = false
	ps, err := NewSession(model, plain)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.NewConversation(""); !errors.Is(err, StatusUnsupported) {
		t.Fatalf("without the chat template: %v", err)
	}
}

const codeText = "The secret code is 7421. "

func TestConversationOverDocumentCitesIt(t *testing.T) {
	s := chatSession(t, 512)
	ctx := context.Background()
	text := strings.Repeat("The grass is green and the sky is blue. ", 30) + codeText +
		strings.Repeat("The sun is warm and the wind is calm. ", 30)
	doc, err := s.Ingest(ctx, text, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := s.NewConversationOver(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	doc.Close() // the conversation keeps the document's data
	res, err := chat.Send(ctx, "What is the secret code in the text?", maxTokens(12), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Direct || len(res.Sources) == 0 {
		t.Fatalf("chunked with sources: %+v", res)
	}
	at := strings.Index(text, codeText)
	cited := false
	for _, src := range res.Sources {
		if src.Text != SourceDocument || src.Start >= src.End || src.End > len(text) {
			t.Fatalf("source %+v of a %d-byte document", src, len(text))
		}
		cited = cited || (src.Start <= at && at+len(codeText)-1 <= src.End)
	}
	if !cited {
		t.Fatalf("the code's passage (byte %d) is not among %+v", at, res.Sources)
	}

	asked, err := s.Ask(ctx, text, "What is the secret code in the text?", maxTokens(12), nil)
	if err != nil {
		t.Fatal(err)
	}
	if asked.Text != res.Text || len(asked.Sources) != len(res.Sources) || asked.Sources[0] != res.Sources[0] {
		t.Fatalf("Ask %q %+v, the conversation's first turn %q %+v", asked.Text, asked.Sources, res.Text, res.Sources)
	}
}
