package focusllm

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"time"
	"unsafe"
)

// FlashAttention is llama.cpp's flash attention setting.
type FlashAttention int32

// The flash attention settings of focusllm.h.
const (
	FlashAttentionAuto     FlashAttention = C.FOCUSLLM_FLASH_ATTENTION_AUTO
	FlashAttentionEnabled  FlashAttention = C.FOCUSLLM_FLASH_ATTENTION_ENABLED
	FlashAttentionDisabled FlashAttention = C.FOCUSLLM_FLASH_ATTENTION_DISABLED
)

// KVType is the element type of the K or V half of the KV cache. Per 32 values, KVTypeF16
// takes 64 bytes, KVTypeQ8_0 34 and KVTypeQ4_0 18. A quantized V needs flash attention:
// NewSession refuses one with FlashAttentionDisabled (StatusInvalidParam), and with
// FlashAttentionAuto llama.cpp turns flash attention on. A processed document is used only
// by a session with the types it was made with.
type KVType int32

// The KV cache types of focusllm.h.
const (
	KVTypeF16  KVType = C.FOCUSLLM_KV_TYPE_F16
	KVTypeQ8_0 KVType = C.FOCUSLLM_KV_TYPE_Q8_0
	KVTypeQ4_0 KVType = C.FOCUSLLM_KV_TYPE_Q4_0
)

// DirectWhenFits is whether a document that fits the window together with the answer is read
// as one plain prompt or in chunks.
type DirectWhenFits int32

// The settings of focusllm.h.
const (
	// DirectWhenFitsAuto runs plain generation up to AutoDirectMaxTokens input tokens and
	// chunks above (the default; bench/README.md has the measurements behind it).
	DirectWhenFitsAuto DirectWhenFits = C.FOCUSLLM_DIRECT_WHEN_FITS_AUTO
	// DirectWhenFitsAlways runs plain generation whenever the input and the answer fit.
	DirectWhenFitsAlways DirectWhenFits = C.FOCUSLLM_DIRECT_WHEN_FITS_ALWAYS
	// DirectWhenFitsNever reads any document in chunks, however short.
	DirectWhenFitsNever DirectWhenFits = C.FOCUSLLM_DIRECT_WHEN_FITS_NEVER
)

// AutoDirectMaxTokens is the longest input, in tokens, that DirectWhenFitsAuto runs as plain
// generation.
const AutoDirectMaxTokens = C.FOCUSLLM_AUTO_DIRECT_MAX_TOKENS

// Strategy is how what the chunks of a long document hold reaches the answer.
type Strategy int32

// The strategies of focusllm.h.
const (
	// StrategyFocus scores chunks with the question appended and attends to the best ones.
	StrategyFocus Strategy = C.FOCUSLLM_STRATEGY_FOCUS
	// StrategyLogitFusion decodes the best chunks and a context-free row in parallel and
	// fuses their logits.
	StrategyLogitFusion Strategy = C.FOCUSLLM_STRATEGY_LOGIT_FUSION
	// StrategyCandidate shares the last CandidateCells KV cells of every chunk.
	StrategyCandidate Strategy = C.FOCUSLLM_STRATEGY_CANDIDATE
)

// FinishReason is why generation ended.
type FinishReason int32

// The finish reasons of focusllm.h.
const (
	FinishEndOfGeneration FinishReason = C.FOCUSLLM_FINISH_REASON_END_OF_GENERATION
	FinishMaxTokens       FinishReason = C.FOCUSLLM_FINISH_REASON_MAX_TOKENS
	FinishStopString      FinishReason = C.FOCUSLLM_FINISH_REASON_STOP_STRING
	FinishContextFull     FinishReason = C.FOCUSLLM_FINISH_REASON_CONTEXT_FULL
	FinishCallerStopped   FinishReason = C.FOCUSLLM_FINISH_REASON_CALLER_STOPPED
)

// ModelParams is how LoadModel loads a model. Start from DefaultModelParams (a nil
// *ModelParams means the defaults).
type ModelParams struct {
	// GPULayers is how many layers to offload to the GPU (0 = CPU only); CPU builds ignore it.
	GPULayers int32
	// UseMmap maps the file instead of reading it (default true).
	UseMmap bool
	// VocabOnly loads only the vocabulary (default false).
	VocabOnly bool
	// Progress, when set, is called during the load with the fraction loaded (0 to 1), on
	// the loading goroutine; returning false cancels the load (StatusCancelled).
	Progress func(fraction float32) bool
}

// SessionParams is how a session runs. Start from DefaultSessionParams (a nil
// *SessionParams means the defaults). Lengths of 0 mean the default for the model and
// strategy. The fields are those of focusllm_session_params, documented in focusllm.h.
type SessionParams struct {
	NCtx           uint32 // context length for plain prompts (0 = the model's window)
	NBatch         uint32 // most tokens per llama_decode call
	NUbatch        uint32 // most tokens per compute step inside a decode (<= NBatch)
	NThreads       uint32 // CPU threads (default: every core the process may use)
	FlashAttention FlashAttention
	Strategy       Strategy
	Window         uint32  // the window the engine plans for (0 = the model's training window)
	ChunkLen       uint32  // tokens per chunk of a long document (0 = derived)
	LocalLen       uint32  // longest question accepted as the local context, in tokens (0 = derived)
	PromptLen      uint32  // most tokens of the question's tail appended to every chunk (0 = derived)
	TopChunks      uint32  // chunks kept after scoring (1..=64)
	WaveSize       uint32  // chunks decoded together in one wave
	FusionBeta     float32 // weight of the context-free contrast in StrategyLogitFusion (0..=4)
	CandidateCells uint32  // KV cells each chunk contributes in StrategyCandidate (>= 1)
	// UseChatTemplate wraps document and question in the model's chat template.
	UseChatTemplate bool
	TypeK           KVType // element type of the K cache (default KVTypeF16)
	TypeV           KVType // element type of the V cache (default KVTypeF16; quantized needs flash attention)
	// ReadGap: StrategyFocus reads, of the TopChunks best, those scored within this many nats
	// of the best (>= 0; math.Inf(1) reads them all).
	ReadGap float32
	Zoom    bool // StrategyFocus reads the best chunk's most relevant passage again before the question
	// DirectWhenFits: plain generation or chunks for a document that fits the window.
	DirectWhenFits DirectWhenFits
}

// GenerateParams is what a run generates. Start from DefaultGenerateParams (a nil
// *GenerateParams means the defaults, which sample greedily: reproducible output).
type GenerateParams struct {
	MaxTokens     uint32  // most tokens to generate (>= 1)
	Temperature   float32 // <= 0 is greedy
	TopK          int32   // 0 disables
	TopP          float32 // in (0, 1]; 1 disables
	MinP          float32 // in [0, 1]; 0 disables
	RepeatPenalty float32 // > 0; 1 disables
	RepeatLastN   int32   // recent tokens the penalty looks at (-1 = the whole context)
	Seed          uint32  // seed of the sampler
	// Stop strings end generation when the text contains one; it is not emitted.
	Stop []string
	// RenderSpecial renders control tokens ("<|im_end|>") as text instead of dropping them.
	RenderSpecial bool
	// FrequencyPenalty is subtracted from a token's logit per occurrence in the last
	// RepeatLastN tokens, in [-2, 2] (0 disables).
	FrequencyPenalty float32
	// PresencePenalty is subtracted once from every token in the last RepeatLastN tokens, in
	// [-2, 2] (0 disables).
	PresencePenalty float32
	// LogitBias is added to these tokens' logits before sampling: math.Inf(-1) bans a token,
	// a large positive bias forces it. At most 1024 entries.
	LogitBias []LogitBias
	// PenalizePrompt lets the penalties count the prompt's tokens too (llama.cpp's way); by
	// default they count generated tokens only, so an answer may repeat a document's words.
	PenalizePrompt bool
	// TopLogprobs, in 0..=20, asks for each generated token's log-probability and its
	// TopLogprobs most likely alternatives, delivered in Piece.Logprobs (0: none).
	TopLogprobs uint32
}

// LogitBias is a bias added to one token's logit.
type LogitBias struct {
	Token int32
	Bias  float32
}

// DefaultModelParams returns the library's default model parameters.
func DefaultModelParams() ModelParams {
	var c C.focusllm_model_params
	mustDefaults(C.fgo_model_default_params(&c, nil))
	return ModelParams{GPULayers: int32(c.n_gpu_layers), UseMmap: bool(c.use_mmap), VocabOnly: bool(c.vocab_only)}
}

// DefaultSessionParams returns the library's default session parameters.
func DefaultSessionParams() SessionParams {
	var c C.focusllm_session_params
	mustDefaults(C.fgo_session_default_params(&c, nil))
	return SessionParams{
		NCtx:            uint32(c.n_ctx),
		NBatch:          uint32(c.n_batch),
		NUbatch:         uint32(c.n_ubatch),
		NThreads:        uint32(c.n_threads),
		FlashAttention:  FlashAttention(c.flash_attention),
		Strategy:        Strategy(c.strategy),
		Window:          uint32(c.window),
		ChunkLen:        uint32(c.chunk_len),
		LocalLen:        uint32(c.local_len),
		PromptLen:       uint32(c.prompt_len),
		TopChunks:       uint32(c.top_chunks),
		WaveSize:        uint32(c.wave_size),
		FusionBeta:      float32(c.fusion_beta),
		CandidateCells:  uint32(c.candidate_cells),
		UseChatTemplate: bool(c.use_chat_template),
		TypeK:           KVType(c.type_k),
		TypeV:           KVType(c.type_v),
		ReadGap:         float32(c.read_gap),
		Zoom:            bool(c.zoom),
		DirectWhenFits:  DirectWhenFits(c.direct_when_fits),
	}
}

// DefaultGenerateParams returns the library's default generation parameters.
func DefaultGenerateParams() GenerateParams {
	var c C.focusllm_generate_params
	mustDefaults(C.fgo_generate_default_params(&c, nil))
	return GenerateParams{
		MaxTokens:     uint32(c.max_tokens),
		Temperature:   float32(c.temperature),
		TopK:          int32(c.top_k),
		TopP:          float32(c.top_p),
		MinP:          float32(c.min_p),
		RepeatPenalty: float32(c.repeat_penalty),
		RepeatLastN:   int32(c.repeat_last_n),
		Seed:          uint32(c.seed),
		RenderSpecial: bool(c.render_special),
		// The penalties and TopLogprobs default to 0 and LogitBias to none (focusllm.h).
		FrequencyPenalty: float32(c.frequency_penalty),
		PresencePenalty:  float32(c.presence_penalty),
		TopLogprobs:      uint32(c.top_logprobs),
		PenalizePrompt:   bool(c.penalize_prompt),
	}
}

// mustDefaults panics when filling a default struct failed: that happens only when the
// library is older than the header (StatusStructSize), which CheckABI is there to catch.
func mustDefaults(status C.int32_t) {
	if status != 0 {
		panic(&Error{Status: Status(status), Message: "filling default parameters failed: the linked " +
			"library does not match focusllm.h (" + Status(status).String() + ")"})
	}
}

// toC fills c with the library's defaults and then p's values (p == nil: the defaults).
func (p *ModelParams) toC(c *C.focusllm_model_params) error {
	var message *C.char
	if status := C.fgo_model_default_params(c, &message); status != 0 {
		return newError(status, message)
	}
	if p != nil {
		c.n_gpu_layers = C.int32_t(p.GPULayers)
		c.use_mmap = C.bool(p.UseMmap)
		c.vocab_only = C.bool(p.VocabOnly)
	}
	return nil
}

func (p *SessionParams) toC(c *C.focusllm_session_params) error {
	var message *C.char
	if status := C.fgo_session_default_params(c, &message); status != 0 {
		return newError(status, message)
	}
	if p != nil {
		c.n_ctx = C.uint32_t(p.NCtx)
		c.n_batch = C.uint32_t(p.NBatch)
		c.n_ubatch = C.uint32_t(p.NUbatch)
		c.n_threads = C.uint32_t(p.NThreads)
		c.flash_attention = C.focusllm_flash_attention(p.FlashAttention)
		c.strategy = C.focusllm_strategy(p.Strategy)
		c.window = C.uint32_t(p.Window)
		c.chunk_len = C.uint32_t(p.ChunkLen)
		c.local_len = C.uint32_t(p.LocalLen)
		c.prompt_len = C.uint32_t(p.PromptLen)
		c.top_chunks = C.uint32_t(p.TopChunks)
		c.wave_size = C.uint32_t(p.WaveSize)
		c.fusion_beta = C.float(p.FusionBeta)
		c.candidate_cells = C.uint32_t(p.CandidateCells)
		c.use_chat_template = C.bool(p.UseChatTemplate)
		c.type_k = C.focusllm_kv_type(p.TypeK)
		c.type_v = C.focusllm_kv_type(p.TypeV)
		c.read_gap = C.float(p.ReadGap)
		c.zoom = C.bool(p.Zoom)
		c.direct_when_fits = C.focusllm_direct_when_fits(p.DirectWhenFits)
	}
	return nil
}

// cStops is C memory holding stop strings: the focusllm_str array and the bytes it points to
// (Go memory must not hold Go pointers when passed to C, so both live in C memory).
type cStops struct {
	array unsafe.Pointer
	bytes unsafe.Pointer
	// biases is the focusllm_logit_bias array (C memory, like the stop strings).
	biases unsafe.Pointer
}

func (s cStops) free() {
	C.free(s.array)
	C.free(s.bytes)
	C.free(s.biases)
}

// toC fills c with the defaults and then p's values. The stop strings are copied into C
// memory that the caller frees (after the run) with the returned cStops' free.
func (p *GenerateParams) toC(c *C.focusllm_generate_params) (cStops, error) {
	var message *C.char
	if status := C.fgo_generate_default_params(c, &message); status != 0 {
		return cStops{}, newError(status, message)
	}
	if p == nil {
		return cStops{}, nil
	}
	c.max_tokens = C.uint32_t(p.MaxTokens)
	c.temperature = C.float(p.Temperature)
	c.top_k = C.int32_t(p.TopK)
	c.top_p = C.float(p.TopP)
	c.min_p = C.float(p.MinP)
	c.repeat_penalty = C.float(p.RepeatPenalty)
	c.repeat_last_n = C.int32_t(p.RepeatLastN)
	c.seed = C.uint32_t(p.Seed)
	c.render_special = C.bool(p.RenderSpecial)
	c.frequency_penalty = C.float(p.FrequencyPenalty)
	c.presence_penalty = C.float(p.PresencePenalty)
	c.top_logprobs = C.uint32_t(p.TopLogprobs)
	c.penalize_prompt = C.bool(p.PenalizePrompt)
	var biases unsafe.Pointer
	if len(p.LogitBias) > 0 {
		biases = C.malloc(C.size_t(len(p.LogitBias)) * C.size_t(unsafe.Sizeof(C.focusllm_logit_bias{})))
		if biases == nil {
			return cStops{}, &Error{Status: StatusInternal, Message: "out of memory copying the logit biases"}
		}
		array := unsafe.Slice((*C.focusllm_logit_bias)(biases), len(p.LogitBias))
		for i, b := range p.LogitBias {
			array[i] = C.focusllm_logit_bias{token: C.int32_t(b.Token), bias: C.float(b.Bias)}
		}
		c.logit_bias = (*C.focusllm_logit_bias)(biases)
		c.n_logit_bias = C.size_t(len(p.LogitBias))
	}
	if len(p.Stop) == 0 {
		return cStops{biases: biases}, nil
	}
	total := 1
	for _, s := range p.Stop {
		total += len(s)
	}
	stops := cStops{
		array:  C.malloc(C.size_t(len(p.Stop)) * C.size_t(unsafe.Sizeof(C.focusllm_str{}))),
		bytes:  C.malloc(C.size_t(total)),
		biases: biases,
	}
	if stops.array == nil || stops.bytes == nil {
		stops.free()
		return cStops{}, &Error{Status: StatusInternal, Message: "out of memory copying the stop strings"}
	}
	array := unsafe.Slice((*C.focusllm_str)(stops.array), len(p.Stop))
	bytes := unsafe.Slice((*byte)(stops.bytes), total)
	offset := 0
	for i, s := range p.Stop {
		copy(bytes[offset:], s)
		array[i] = C.focusllm_str{ptr: (*C.char)(unsafe.Add(stops.bytes, offset)), len: C.size_t(len(s))}
		offset += len(s)
	}
	c.stop = (*C.focusllm_str)(stops.array)
	c.n_stop = C.size_t(len(p.Stop))
	return stops, nil
}

// Result is what a finished run reports besides the streamed pieces.
type Result struct {
	// Text is the whole generated text: the pieces, concatenated.
	Text         string
	FinishReason FinishReason
	// Direct is true when the input fit the model's window and ran without chunking.
	Direct bool
	// Tokens generated (an end-of-generation token is not counted) and of the whole input.
	Tokens       int
	PromptTokens int
	// Chunks and Waves of a long document (0 when Direct).
	Chunks int
	Waves  int
	// PrefillTime is the time until the first token could be sampled; GenerateTime that of
	// generation.
	PrefillTime  time.Duration
	GenerateTime time.Duration
	// CachedTokens are the input tokens a Conversation kept from its previous turn instead
	// of decoding them again (0 for other calls).
	CachedTokens int
	// Sources are the passages the answer read, in the order read (none when Direct).
	Sources []Source
}

func resultFromC(c *C.focusllm_result, text string) Result {
	return Result{
		Text:         text,
		FinishReason: FinishReason(c.finish_reason),
		Direct:       bool(c.direct),
		Tokens:       int(c.n_tokens),
		PromptTokens: int(c.n_prompt_tokens),
		Chunks:       int(c.n_chunks),
		Waves:        int(c.n_waves),
		PrefillTime:  time.Duration(float64(c.prefill_seconds) * float64(time.Second)),
		GenerateTime: time.Duration(float64(c.generate_seconds) * float64(time.Second)),
		CachedTokens: int(c.n_cached_tokens),
	}
}
