// A Go program outside focusllm: a module of its own that requires the binding by its module
// path and finds the installed C library through pkg-config (PKG_CONFIG_PATH). It asks the
// model a question about a short text and checks that an answer streamed back.
//
//	go run . MODEL.gguf
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	focusllm "github.com/focusllm/focusllm/bindings/go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: consumer MODEL.gguf")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "go consumer:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	fmt.Println("go consumer: linked", focusllm.Version())
	model, err := focusllm.LoadModel(path, nil)
	if err != nil {
		return err
	}
	defer model.Close()
	sessionParams := focusllm.DefaultSessionParams()
	sessionParams.NCtx = 1024
	sessionParams.Window = 1024
	sessionParams.NThreads = 2
	session, err := focusllm.NewSession(model, &sessionParams)
	if err != nil {
		return err
	}
	defer session.Close()
	params := focusllm.DefaultGenerateParams()
	params.MaxTokens = 12
	var answer strings.Builder
	result, err := session.Ask(context.Background(),
		"The lighthouse keeper of Ardmore was called Niamh. Every evening she climbed the 112 steps "+
			"of the tower and lit the lamp before sunset.",
		"What was the lighthouse keeper called?", &params,
		func(p focusllm.Piece) bool { answer.WriteString(p.Text); return true })
	if err != nil {
		return err
	}
	if result.Tokens == 0 || answer.Len() == 0 {
		return fmt.Errorf("no answer (%d tokens, %q)", result.Tokens, answer.String())
	}
	fmt.Printf("go consumer: ok, %d tokens: %s\n", result.Tokens, answer.String())
	return nil
}
