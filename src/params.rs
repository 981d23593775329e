//! Every parameter struct and its `Default`: the single source of defaults. Each struct has a
//! `validate()` that names the offending field and value.

use crate::error::{Error, Result};
use crate::llama::{MAX_SEQUENCES, Token};

/// How a model is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParams {
    /// Layers to offload to the GPU (0 = CPU only; a large number = all). Ignored on CPU builds.
    pub n_gpu_layers: i32,
    /// Map the file instead of reading it into memory.
    pub use_mmap: bool,
    /// Load only the vocabulary (tokenize without weights).
    pub vocab_only: bool,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            n_gpu_layers: if cfg!(any(feature = "cuda", feature = "metal")) { 999 } else { 0 },
            use_mmap: true,
            vocab_only: false,
        }
    }
}

impl ModelParams {
    pub fn validate(&self) -> Result<()> {
        if self.n_gpu_layers < 0 {
            return Err(Error::invalid_param(format!("n_gpu_layers must be >= 0, got {}", self.n_gpu_layers)));
        }
        Ok(())
    }
}

/// Flash attention setting (llama.cpp's `flash_attn_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlashAttention {
    /// llama.cpp decides (on for CPU).
    #[default]
    Auto,
    Enabled,
    Disabled,
}

/// The element type of the K or V half of the KV cache (llama.cpp's `type_k` / `type_v`): the
/// types its CPU backend computes attention with.
///
/// | type | bytes per 32 elements | of f16 |
/// |---|---|---|
/// | `F16` (default) | 64 | 1 |
/// | `Q8_0` | 34 | 0.53 |
/// | `Q4_0` | 18 | 0.28 |
///
/// Any K type works with flash attention on or off. A quantized V needs flash attention
/// (without it llama.cpp stores V transposed, one element at a time, which a block type
/// cannot do): [`ContextParams::validate`] refuses a quantized V with
/// [`FlashAttention::Disabled`], and with [`FlashAttention::Auto`] llama.cpp turns flash
/// attention on. A quantized type also needs the model's head size to be a multiple of its
/// block of 32 elements, which llama.cpp checks when the context is made
/// ([`Error::ContextCreate`] with its words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum KvType {
    /// 16-bit floats: llama.cpp's default, exact to what the model computes.
    #[default]
    F16,
    /// 8-bit blocks (32 values and one f16 scale in 34 bytes): about half the bytes of F16.
    Q8_0,
    /// 4-bit blocks (32 values and one f16 scale in 18 bytes): about a quarter of F16.
    Q4_0,
}

impl KvType {
    /// Every type, in the order of their C values.
    pub const ALL: [KvType; 3] = [KvType::F16, KvType::Q8_0, KvType::Q4_0];

    /// The type's name as llama.cpp and the command line write it: `f16`, `q8_0`, `q4_0`.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
            KvType::Q4_0 => "q4_0",
        }
    }

    /// The type of a name written as [`KvType::name`] gives it (case-insensitive).
    pub fn from_name(name: &str) -> Option<KvType> {
        KvType::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether values are stored in quantized blocks (everything but F16).
    pub fn is_quantized(self) -> bool {
        self != KvType::F16
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The longest length (in tokens) a window, context, batch, chunk or question setting may
/// name: 16,777,216, beyond every model's window, so that a typo fails at once rather than
/// sizing memory for it.
pub const MAX_LENGTH: u32 = 1 << 24;
/// The shortest chunk a `chunk_len` may ask for (and the shortest window): a chunk is a
/// window-sized piece of the document, and shorter ones only multiply the work.
pub const MIN_CHUNK_LEN: u32 = 64;
/// The shortest `local_len`: the chat template's tail alone takes a few tokens.
pub const MIN_LOCAL_LEN: u32 = 16;
/// The most KV cells each chunk may contribute in the Candidate strategy.
pub const MAX_CANDIDATE_CELLS: u32 = 1024;

/// Default [`FocusParams::read_gap`], in nats (see bench/README.md, the RULER section, for the
/// measurements it comes from).
pub const DEFAULT_READ_GAP: f32 = 8.0;

/// Checks a length whose 0 means "the default": 0, or `min..=MAX_LENGTH`.
fn check_length(name: &str, value: u32, min: u32, zero_means: &str) -> Result<()> {
    if value == 0 || (min..=MAX_LENGTH).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid_param(format!("{name} must be 0 ({zero_means}) or in {min}..={MAX_LENGTH}, got {value}")))
    }
}

/// The number of threads to use by default: every core the process may use.
pub fn default_threads() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// How a llama.cpp context is created.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextParams {
    /// KV cells in total; 0 = the model's native window.
    pub n_ctx: u32,
    /// Most tokens per `llama_decode` call.
    pub n_batch: u32,
    /// Most tokens per compute step inside a decode (<= n_batch).
    pub n_ubatch: u32,
    /// Sequences the context holds at once (1..=256).
    pub n_seq_max: u32,
    /// One KV pool shared by all sequences (needed to share cells between sequences).
    pub kv_unified: bool,
    /// CPU threads for prompt processing and generation.
    pub n_threads: u32,
    pub flash_attention: FlashAttention,
    /// Element type of the K cache (see [`KvType`]).
    pub type_k: KvType,
    /// Element type of the V cache; a quantized one needs flash attention (see [`KvType`]).
    pub type_v: KvType,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 0,
            n_batch: 2048,
            n_ubatch: 512,
            n_seq_max: 1,
            kv_unified: false,
            n_threads: default_threads(),
            flash_attention: FlashAttention::Auto,
            type_k: KvType::F16,
            type_v: KvType::F16,
        }
    }
}

impl ContextParams {
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid_param(msg));
        if self.n_threads == 0 || self.n_threads > 1024 {
            return bad(format!("n_threads must be in 1..=1024, got {}", self.n_threads));
        }
        if self.n_batch == 0 || self.n_batch > MAX_LENGTH {
            return bad(format!("n_batch must be in 1..={MAX_LENGTH}, got {}", self.n_batch));
        }
        if self.n_ubatch == 0 {
            return bad("n_ubatch must be at least 1, got 0".into());
        }
        if self.n_ubatch > self.n_batch {
            return bad(format!("n_ubatch {} must not exceed n_batch {}", self.n_ubatch, self.n_batch));
        }
        if self.n_seq_max == 0 || self.n_seq_max > MAX_SEQUENCES {
            return bad(format!("n_seq_max must be in 1..={MAX_SEQUENCES}, got {}", self.n_seq_max));
        }
        if self.n_ctx > 0 && self.n_ctx < 8 {
            return bad(format!("n_ctx must be 0 (the model's window) or at least 8, got {}", self.n_ctx));
        }
        if self.type_v.is_quantized() && self.flash_attention == FlashAttention::Disabled {
            return bad(format!(
                "type_v {} (a quantized V cache) needs flash attention, but flash_attention is disabled; \
                 use type_v f16, or flash attention enabled or auto (K may be {} either way)",
                self.type_v, self.type_k
            ));
        }
        check_length("n_ctx", self.n_ctx, 8, "the model's window")
    }
}

/// Token sampling, done by llama.cpp's sampler chain. `temperature <= 0` is greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    pub temperature: f32,
    /// 0 disables top-k.
    pub top_k: i32,
    /// 1.0 disables top-p.
    pub top_p: f32,
    /// 0.0 disables min-p.
    pub min_p: f32,
    /// 1.0 disables the repetition penalty.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at (-1 = the whole context).
    pub repeat_last_n: i32,
    /// Subtracted from a token's logit once per time it occurs in the last `repeat_last_n`
    /// tokens (OpenAI's `frequency_penalty`); in -2..=2, 0 disables.
    pub frequency_penalty: f32,
    /// Subtracted once from the logit of every token that occurs in the last `repeat_last_n`
    /// tokens (OpenAI's `presence_penalty`); in -2..=2, 0 disables.
    pub presence_penalty: f32,
    /// Added to the logits of these tokens before anything else samples: a large negative
    /// bias (or `f32::NEG_INFINITY`) bans a token, a large positive one forces it.
    pub logit_bias: Vec<LogitBias>,
    /// Whether the penalties also count the prompt's tokens (llama.cpp's way) or only the
    /// generated ones (OpenAI's; the default): an answer about a document must stay free to
    /// repeat the document's words, a name above all.
    pub penalize_prompt: bool,
    pub seed: u32,
}

/// A bias added to one token's logit (see [`SamplerParams::logit_bias`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitBias {
    pub token: Token,
    pub bias: f32,
}

/// The repetition penalty of [`SamplerParams::chat`]: mild enough to leave a short answer as
/// greedy gives it, strong enough that the default model stops repeating one sentence until
/// `max_tokens` (measured on the README's GPL question: 1.0 loops the same sentence, 1.1 and
/// 1.15 do not). It counts generated tokens only (`penalize_prompt` false).
pub const CHAT_REPEAT_PENALTY: f32 = 1.15;
/// The largest |frequency_penalty| and |presence_penalty| (OpenAI's range).
pub const MAX_TOKEN_PENALTY: f32 = 2.0;
/// The most entries a logit-bias list may have.
pub const MAX_LOGIT_BIAS: usize = 1024;
/// The most alternatives `top_logprobs` may ask for per generated token.
pub const MAX_TOP_LOGPROBS: u32 = 20;

impl Default for SamplerParams {
    /// Greedy: the reproducible choice for retrieval and for tests.
    fn default() -> Self {
        SamplerParams {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            logit_bias: Vec::new(),
            penalize_prompt: false,
            seed: 42,
        }
    }
}

impl SamplerParams {
    /// Greedy with a mild repetition penalty ([`CHAT_REPEAT_PENALTY`] over the last 64
    /// tokens): the preset the command line uses for chat (`ask`, `generate --chat`), where
    /// a small model otherwise tends to repeat one sentence until `max_tokens`. Still
    /// reproducible; the library's own default stays plain greedy.
    pub fn chat() -> SamplerParams {
        SamplerParams { repeat_penalty: CHAT_REPEAT_PENALTY, ..SamplerParams::default() }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid_param(msg));
        if !self.temperature.is_finite() {
            return bad(format!("temperature must be a finite number, got {}", self.temperature));
        }
        if self.top_k < 0 {
            return bad(format!("top_k must be >= 0, got {}", self.top_k));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad(format!("repeat_penalty must be > 0, got {}", self.repeat_penalty));
        }
        if self.repeat_last_n < -1 {
            return bad(format!("repeat_last_n must be >= -1, got {}", self.repeat_last_n));
        }
        for (name, value) in
            [("frequency_penalty", self.frequency_penalty), ("presence_penalty", self.presence_penalty)]
        {
            if !(value.is_finite() && value.abs() <= MAX_TOKEN_PENALTY) {
                return bad(format!("{name} must be in -{MAX_TOKEN_PENALTY}..={MAX_TOKEN_PENALTY}, got {value}"));
            }
        }
        if self.logit_bias.len() > MAX_LOGIT_BIAS {
            return bad(format!(
                "logit_bias has {} entries; at most {MAX_LOGIT_BIAS} are allowed",
                self.logit_bias.len()
            ));
        }
        for (i, entry) in self.logit_bias.iter().enumerate() {
            if entry.token.index().is_none() {
                return bad(format!(
                    "logit_bias[{i}] names token {}, which is not a token id (ids are >= 0)",
                    entry.token
                ));
            }
            // -inf is the usual way to ban a token; NaN and +inf have no meaning.
            if entry.bias.is_nan() || entry.bias == f32::INFINITY {
                return bad(format!(
                    "logit_bias[{i}] for token {} must be a finite number or -inf, got {}",
                    entry.token, entry.bias
                ));
            }
        }
        Ok(())
    }

    /// Refuses logit-bias entries for tokens outside a vocabulary of `n_vocab` tokens.
    pub fn check_vocab(&self, n_vocab: usize) -> Result<()> {
        match self.logit_bias.iter().enumerate().find(|(_, e)| e.token.index().is_none_or(|t| t >= n_vocab)) {
            Some((i, entry)) => Err(Error::invalid_param(format!(
                "logit_bias[{i}] names token {}, outside the model's vocabulary 0..{n_vocab}",
                entry.token
            ))),
            None => Ok(()),
        }
    }

    /// Whether any penalty looks at earlier tokens (so the history must be fed to the sampler).
    pub fn penalizes(&self) -> bool {
        self.repeat_penalty != 1.0 || self.frequency_penalty != 0.0 || self.presence_penalty != 0.0
    }
}

/// What one generation does.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateParams {
    /// Most tokens to generate (>= 1).
    pub max_tokens: u32,
    /// Generation stops when the text contains one of these; the stop text is not emitted.
    pub stop: Vec<String>,
    pub sampler: SamplerParams,
    /// Render control tokens (`<|im_end|>`) as text in the output instead of dropping them.
    pub render_special: bool,
    /// How many of the most likely alternatives to report with each generated token's
    /// log-probability (0 = no log-probabilities; at most [`MAX_TOP_LOGPROBS`]).
    pub top_logprobs: u32,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            stop: Vec::new(),
            sampler: SamplerParams::default(),
            render_special: false,
            top_logprobs: 0,
        }
    }
}

impl GenerateParams {
    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(Error::invalid_param("max_tokens must be at least 1, got 0"));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid_param("a stop string must not be empty"));
        }
        if self.top_logprobs > MAX_TOP_LOGPROBS {
            return Err(Error::invalid_param(format!(
                "top_logprobs must be in 0..={MAX_TOP_LOGPROBS}, got {}",
                self.top_logprobs
            )));
        }
        self.sampler.validate()
    }
}

/// How what the chunks hold reaches the answer (README.md, "How the engine works").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Score every chunk by how expected the question and the start of its answer are after
    /// reading it, keep the `top_chunks` best, and let the local context attend to their
    /// whole KV (re-read one after another, the best last, next to the question): focus, then
    /// attend.
    #[default]
    Focus,
    /// NBCE-style: the `top_chunks` best chunks and a context-free row decode in parallel; at
    /// each step the most confident chunk's log-probabilities, contrasted with the
    /// context-free ones, choose the token.
    LogitFusion,
    /// The paper's structure, training-free: the last `candidate_cells` KV cells of every
    /// chunk's appended question (its candidate tokens) are shared into the local context.
    Candidate,
}

/// Whether an input that fits the window together with its answer runs as plain generation
/// (one sequence over the whole input) or is read in chunks like a longer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectWhenFits {
    /// Plain generation for inputs up to [`AUTO_DIRECT_MAX_TOKENS`], chunks above it: a
    /// single sequence's attention cost grows with the square of its length, and past that
    /// length the chunked path was faster and found more look-alike facts, though plain reading
    /// did better on questions needing many facts (the table is in bench/README.md).
    #[default]
    Auto,
    /// Plain generation whenever the input and the answer fit the window.
    Always,
    /// Chunks whenever the input holds a document, however short.
    Never,
}

/// Longest input (in tokens, the chat template included) that [`DirectWhenFits::Auto`] runs as
/// plain generation.
pub const AUTO_DIRECT_MAX_TOKENS: usize = 2048;

impl DirectWhenFits {
    /// Whether an input of `input_tokens` that fits the window runs as plain generation.
    pub fn prefers_direct(self, input_tokens: usize) -> bool {
        match self {
            DirectWhenFits::Always => true,
            DirectWhenFits::Never => false,
            DirectWhenFits::Auto => input_tokens <= AUTO_DIRECT_MAX_TOKENS,
        }
    }
}

/// Parameters of the FocusLLM engine. A length of 0 means "the default for this model and
/// strategy", derived from the window as the README's "How the engine works" section describes.
#[derive(Debug, Clone, PartialEq)]
pub struct FocusParams {
    pub strategy: Strategy,
    /// The window the engine plans for; 0 = the model's training window (n_ctx_train).
    pub window: u32,
    /// Tokens per chunk of memory.
    pub chunk_len: u32,
    /// Longest question (with the chat template's tail) accepted as the local context; the
    /// local context is the question, and the chunks cut the document alone.
    pub local_len: u32,
    /// Most tokens of the question's tail appended to every chunk (the dynamic prompt).
    pub prompt_len: u32,
    /// Chunks kept after scoring (Focus, LogitFusion).
    pub top_chunks: u32,
    /// Focus reads, of the `top_chunks` best, only those whose score is within `read_gap`
    /// nats of the best one's (a chunk `read_gap` nats behind makes the question `e^read_gap`
    /// times less likely); `f32::INFINITY` reads all of them.
    pub read_gap: f32,
    /// Focus reads, once more right before the question, the short passage of the best chunk
    /// after which the question is most expected (found by scoring windows of an eighth of
    /// the chunk): among look-alike facts in one chunk, the one the question names sits
    /// nearest to it.
    pub zoom: bool,
    /// Chunk sequences decoded together in one wave (bounds memory).
    pub wave_size: u32,
    /// Weight of the context-free contrast in LogitFusion.
    pub fusion_beta: f32,
    /// KV cells each chunk contributes in the Candidate strategy.
    pub candidate_cells: u32,
    /// Wrap document and question in the model's chat template (when it has one).
    pub use_chat_template: bool,
    /// Plain generation or chunks for an input that fits the window.
    pub direct_when_fits: DirectWhenFits,
}

impl Default for FocusParams {
    fn default() -> Self {
        FocusParams {
            strategy: Strategy::Focus,
            window: 0,
            chunk_len: 0,
            local_len: 0,
            prompt_len: 0,
            top_chunks: 2,
            read_gap: DEFAULT_READ_GAP,
            zoom: true,
            wave_size: 4,
            fusion_beta: 0.25,
            candidate_cells: 1,
            use_chat_template: true,
            direct_when_fits: DirectWhenFits::Auto,
        }
    }
}

impl FocusParams {
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid_param(msg));
        if self.window > 0 && self.window < MIN_CHUNK_LEN {
            return bad(format!("window must be 0 (the model's) or at least {MIN_CHUNK_LEN}, got {}", self.window));
        }
        check_length("window", self.window, MIN_CHUNK_LEN, "the model's")?;
        check_length("chunk_len", self.chunk_len, MIN_CHUNK_LEN, "derived from the window")?;
        check_length("local_len", self.local_len, MIN_LOCAL_LEN, "derived from the window")?;
        check_length("prompt_len", self.prompt_len, 1, "derived from the chunk length")?;
        if self.top_chunks == 0 || self.top_chunks > 64 {
            return bad(format!("top_chunks must be in 1..=64, got {}", self.top_chunks));
        }
        if self.read_gap.is_nan() || self.read_gap < 0.0 {
            return bad(format!("read_gap must be a number of nats >= 0 (or infinity), got {}", self.read_gap));
        }
        if self.wave_size == 0 || self.wave_size > MAX_SEQUENCES - 2 {
            return bad(format!("wave_size must be in 1..={}, got {}", MAX_SEQUENCES - 2, self.wave_size));
        }
        if !(self.fusion_beta.is_finite() && (0.0..=4.0).contains(&self.fusion_beta)) {
            return bad(format!("fusion_beta must be in [0, 4], got {}", self.fusion_beta));
        }
        if self.candidate_cells == 0 || self.candidate_cells > MAX_CANDIDATE_CELLS {
            return bad(format!("candidate_cells must be in 1..={MAX_CANDIDATE_CELLS}, got {}", self.candidate_cells));
        }
        Ok(())
    }
}

/// A session: how its contexts are made and how the engine runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionParams {
    /// Threads, batch sizes, flash attention, and n_ctx for plain generation (0 = the model's
    /// window). The engine sizes n_ctx, n_seq_max and kv_unified itself for long inputs.
    pub context: ContextParams,
    pub focus: FocusParams,
}

impl SessionParams {
    pub fn validate(&self) -> Result<()> {
        self.context.validate()?;
        self.focus.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_when_fits_decides_by_the_setting_and_auto_by_the_length() {
        for n in [1, AUTO_DIRECT_MAX_TOKENS, AUTO_DIRECT_MAX_TOKENS + 1, 1 << 20] {
            assert!(DirectWhenFits::Always.prefers_direct(n));
            assert!(!DirectWhenFits::Never.prefers_direct(n));
            assert_eq!(DirectWhenFits::Auto.prefers_direct(n), n <= AUTO_DIRECT_MAX_TOKENS, "{n}");
        }
        assert_eq!(FocusParams::default().direct_when_fits, DirectWhenFits::Auto);
    }

    #[test]
    fn defaults_are_valid() {
        ModelParams::default().validate().unwrap();
        ContextParams::default().validate().unwrap();
        SamplerParams::default().validate().unwrap();
        GenerateParams::default().validate().unwrap();
    }

    fn message(r: Result<()>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn context_params_name_the_bad_field_and_value() {
        let base = ContextParams::default();
        assert!(
            message(ContextParams { n_threads: 0, ..base.clone() }.validate())
                .contains("n_threads must be in 1..=1024, got 0")
        );
        assert!(message(ContextParams { n_batch: 0, ..base.clone() }.validate()).contains("n_batch"));
        assert!(message(ContextParams { n_ubatch: 0, ..base.clone() }.validate()).contains("n_ubatch"));
        assert!(
            message(ContextParams { n_batch: 64, n_ubatch: 128, ..base.clone() }.validate())
                .contains("n_ubatch 128 must not exceed n_batch 64")
        );
        assert!(message(ContextParams { n_seq_max: 0, ..base.clone() }.validate()).contains("n_seq_max"));
        assert!(message(ContextParams { n_seq_max: 257, ..base.clone() }.validate()).contains("257"));
        assert!(message(ContextParams { n_ctx: 3, ..base }.validate()).contains("n_ctx"));
    }

    #[test]
    fn sampler_and_generate_params_are_checked() {
        let s = SamplerParams::default();
        assert!(message(SamplerParams { temperature: f32::NAN, ..s.clone() }.validate()).contains("temperature"));
        assert!(message(SamplerParams { top_p: 0.0, ..s.clone() }.validate()).contains("top_p"));
        assert!(message(SamplerParams { top_k: -1, ..s.clone() }.validate()).contains("top_k"));
        assert!(message(SamplerParams { min_p: 2.0, ..s.clone() }.validate()).contains("min_p"));
        assert!(message(SamplerParams { repeat_penalty: 0.0, ..s.clone() }.validate()).contains("repeat_penalty"));
        assert!(
            message(SamplerParams { frequency_penalty: f32::NAN, ..s.clone() }.validate())
                .contains("frequency_penalty must be in -2..=2, got NaN")
        );
        assert!(
            message(SamplerParams { presence_penalty: -2.5, ..s.clone() }.validate())
                .contains("presence_penalty must be in -2..=2, got -2.5")
        );
        let bias =
            |token, bias| SamplerParams { logit_bias: vec![LogitBias { token: Token(token), bias }], ..s.clone() };
        assert!(message(bias(-3, 1.0).validate()).contains("logit_bias[0] names token -3"));
        assert!(message(bias(5, f32::NAN).validate()).contains("logit_bias[0] for token 5 must be a finite number"));
        assert!(message(bias(5, f32::INFINITY).validate()).contains("got inf"));
        bias(5, f32::NEG_INFINITY).validate().unwrap();
        assert!(
            message(bias(100, 1.0).check_vocab(100))
                .contains("logit_bias[0] names token 100, outside the model's vocabulary 0..100")
        );
        bias(99, 1.0).check_vocab(100).unwrap();
        assert!(!s.penalizes());
        assert!(SamplerParams { presence_penalty: 0.5, ..s }.penalizes());
        let g = GenerateParams::default();
        assert!(message(GenerateParams { max_tokens: 0, ..g.clone() }.validate()).contains("max_tokens"));
        assert!(message(GenerateParams { stop: vec![String::new()], ..g.clone() }.validate()).contains("stop string"));
        assert!(
            message(GenerateParams { top_logprobs: 21, ..g }.validate())
                .contains("top_logprobs must be in 0..=20, got 21")
        );
        assert!(
            message(ModelParams { n_gpu_layers: -2, ..ModelParams::default() }.validate()).contains("n_gpu_layers")
        );
    }

    #[test]
    fn a_quantized_v_cache_needs_flash_attention() {
        let base = ContextParams::default();
        for type_k in KvType::ALL {
            for type_v in KvType::ALL {
                for flash_attention in [FlashAttention::Auto, FlashAttention::Enabled, FlashAttention::Disabled] {
                    let params = ContextParams { type_k, type_v, flash_attention, ..base.clone() };
                    let refused = type_v.is_quantized() && flash_attention == FlashAttention::Disabled;
                    match params.validate() {
                        Ok(()) => assert!(!refused, "{type_k}/{type_v} {flash_attention:?} accepted"),
                        Err(e) => {
                            assert!(refused, "{type_k}/{type_v} {flash_attention:?} refused: {e}");
                            let message = e.to_string();
                            assert!(
                                message
                                    .contains(&format!("type_v {type_v} (a quantized V cache) needs flash attention"))
                                    && message.contains("flash_attention is disabled"),
                                "{message}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(KvType::default(), KvType::F16);
        for t in KvType::ALL {
            assert_eq!(KvType::from_name(t.name()), Some(t));
        }
        assert_eq!(KvType::from_name("Q8_0"), Some(KvType::Q8_0));
        assert_eq!(KvType::from_name("q5_1"), None);
    }

    #[test]
    fn every_length_has_a_range() {
        let f = FocusParams::default();
        for (params, needle) in [
            (
                FocusParams { chunk_len: 1, ..f.clone() },
                "chunk_len must be 0 (derived from the window) or in 64..=16777216, got 1",
            ),
            (FocusParams { chunk_len: u32::MAX, ..f.clone() }, "chunk_len must be 0"),
            (
                FocusParams { local_len: 4_294_967_295, ..f.clone() },
                "local_len must be 0 (derived from the window) or in 16..=16777216, got 4294967295",
            ),
            (FocusParams { local_len: 3, ..f.clone() }, "local_len"),
            (FocusParams { prompt_len: MAX_LENGTH + 1, ..f.clone() }, "prompt_len"),
            (FocusParams { window: MAX_LENGTH + 1, ..f.clone() }, "window must be 0"),
            (FocusParams { candidate_cells: 1025, ..f.clone() }, "candidate_cells must be in 1..=1024, got 1025"),
        ] {
            assert!(message(params.validate()).contains(needle), "{needle}");
        }
        let c = ContextParams::default();
        assert!(message(ContextParams { n_ctx: u32::MAX, ..c.clone() }.validate()).contains("n_ctx must be 0"));
        assert!(message(ContextParams { n_batch: u32::MAX, ..c }.validate()).contains("n_batch must be in 1..="));
        let edges = FocusParams { chunk_len: 64, local_len: 16, prompt_len: 1, window: MAX_LENGTH, ..f };
        edges.validate().unwrap();
    }
}
