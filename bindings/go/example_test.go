package focusllm_test

import (
	"context"
	"fmt"
	"log"

	focusllm "github.com/focusllm/focusllm/bindings/go"
)

func Example() {
	model, err := focusllm.LoadModel("models/SmolLM2-135M-Instruct.Q4_1.gguf", nil)
	if err != nil {
		log.Fatal(err) // e.g. "focusllm: model file: focusllm_model_load: ..."
	}
	defer model.Close()

	session, err := focusllm.NewSession(model, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	params := focusllm.DefaultGenerateParams()
	params.MaxTokens = 64
	document := "... a text of any length ..."
	_, err = session.Ask(context.Background(), document, "What is this text about?", &params,
		func(p focusllm.Piece) bool {
			fmt.Print(p.Text)
			return true
		})
	if err != nil {
		log.Fatal(err)
	}
}
