import CFocusLLM

/// How a model is loaded. The initializer gives the library's defaults.
public struct ModelParams: Sendable {
    /// Layers to offload to the GPU (0 = CPU only); CPU builds ignore it.
    public var gpuLayers: Int32
    /// Map the file instead of reading it (default true).
    public var useMmap: Bool
    /// Load only the vocabulary (default false).
    public var vocabOnly: Bool

    public init() {
        var c = focusllm_model_params()
        _ = focusllm_model_default_params(&c, MemoryLayout<focusllm_model_params>.stride)
        gpuLayers = c.n_gpu_layers
        useMmap = c.use_mmap
        vocabOnly = c.vocab_only
    }

    func cValue() throws -> focusllm_model_params {
        var c = focusllm_model_params()
        try check(focusllm_model_default_params(&c, MemoryLayout<focusllm_model_params>.stride))
        c.n_gpu_layers = gpuLayers
        c.use_mmap = useMmap
        c.vocab_only = vocabOnly
        return c
    }
}

/// How what the chunks of a long document hold reaches the answer.
public enum Strategy: Int32, Sendable {
    case focus = 0
    case logitFusion = 1
    case candidate = 2
}

/// The element type of the K or V half of the KV cache (FOCUSLLM_KV_TYPE_*). Per 32 values,
/// f16 takes 64 bytes, q8_0 34 and q4_0 18. A quantized V needs flash attention: a session
/// with a quantized typeV and flashAttention 2 (disabled) is refused; with 0 (auto) llama.cpp
/// turns it on. A processed document is used only by a session with its types.
public enum KVType: Int32, Sendable {
    case f16 = 0
    case q8_0 = 1
    case q4_0 = 2
}

/// Whether a document that fits the window together with the answer is read as one plain
/// prompt or in chunks (FOCUSLLM_DIRECT_WHEN_FITS_*).
public enum DirectWhenFits: Int32, Sendable {
    /// Plain generation up to FOCUSLLM_AUTO_DIRECT_MAX_TOKENS input tokens, chunks above.
    case auto = 0
    /// Plain generation whenever the input and the answer fit.
    case always = 1
    /// Chunks whenever there is a document, however short.
    case never = 2
}

/// How a session runs. The initializer gives the library's defaults; lengths of 0 mean the
/// default for the model and strategy. The fields are focusllm_session_params' (focusllm.h).
public struct SessionParams: Sendable {
    public var nCtx: UInt32
    public var nBatch: UInt32
    public var nUbatch: UInt32
    public var nThreads: UInt32
    /// 0 auto, 1 enabled, 2 disabled (FOCUSLLM_FLASH_ATTENTION_*).
    public var flashAttention: Int32
    public var strategy: Strategy
    public var window: UInt32
    public var chunkLen: UInt32
    public var localLen: UInt32
    public var promptLen: UInt32
    public var topChunks: UInt32
    public var waveSize: UInt32
    public var fusionBeta: Float
    public var candidateCells: UInt32
    public var useChatTemplate: Bool
    /// Element type of the K cache (default f16).
    public var typeK: KVType
    /// Element type of the V cache (default f16; a quantized one needs flash attention).
    public var typeV: KVType
    /// The focus strategy reads, of the topChunks best, those scored within this many nats of
    /// the best (>= 0; .infinity reads them all).
    public var readGap: Float
    /// The focus strategy reads the best chunk's most relevant passage again before the question.
    public var zoom: Bool
    /// Plain generation or chunks for a document that fits the window (default auto).
    public var directWhenFits: DirectWhenFits

    public init() {
        var c = focusllm_session_params()
        _ = focusllm_session_default_params(&c, MemoryLayout<focusllm_session_params>.stride)
        nCtx = c.n_ctx
        nBatch = c.n_batch
        nUbatch = c.n_ubatch
        nThreads = c.n_threads
        flashAttention = c.flash_attention
        strategy = Strategy(rawValue: c.strategy) ?? .focus
        window = c.window
        chunkLen = c.chunk_len
        localLen = c.local_len
        promptLen = c.prompt_len
        topChunks = c.top_chunks
        waveSize = c.wave_size
        fusionBeta = c.fusion_beta
        candidateCells = c.candidate_cells
        useChatTemplate = c.use_chat_template
        typeK = KVType(rawValue: c.type_k) ?? .f16
        typeV = KVType(rawValue: c.type_v) ?? .f16
        readGap = c.read_gap
        zoom = c.zoom
        directWhenFits = DirectWhenFits(rawValue: c.direct_when_fits) ?? .auto
    }

    func cValue() throws -> focusllm_session_params {
        var c = focusllm_session_params()
        try check(focusllm_session_default_params(&c, MemoryLayout<focusllm_session_params>.stride))
        c.n_ctx = nCtx
        c.n_batch = nBatch
        c.n_ubatch = nUbatch
        c.n_threads = nThreads
        c.flash_attention = flashAttention
        c.strategy = strategy.rawValue
        c.window = window
        c.chunk_len = chunkLen
        c.local_len = localLen
        c.prompt_len = promptLen
        c.top_chunks = topChunks
        c.wave_size = waveSize
        c.fusion_beta = fusionBeta
        c.candidate_cells = candidateCells
        c.use_chat_template = useChatTemplate
        c.type_k = typeK.rawValue
        c.type_v = typeV.rawValue
        c.read_gap = readGap
        c.zoom = zoom
        c.direct_when_fits = directWhenFits.rawValue
        return c
    }
}

/// What a run generates. The initializer gives the library's defaults (greedy sampling).
/// A bias added to one token's logit.
public struct LogitBias: Sendable, Equatable {
    public var token: Int32
    public var bias: Float

    public init(token: Int32, bias: Float) {
        self.token = token
        self.bias = bias
    }
}

public struct GenerateParams: Sendable {
    public var maxTokens: UInt32
    public var temperature: Float
    public var topK: Int32
    public var topP: Float
    public var minP: Float
    public var repeatPenalty: Float
    public var repeatLastN: Int32
    public var seed: UInt32
    /// Generation ends when the text contains one of these; it is not emitted.
    public var stop: [String] = []
    /// Render control tokens as text instead of dropping them.
    public var renderSpecial: Bool
    /// A token that cancels the call run with these parameters (nil: only `Session.cancel()`
    /// and the callbacks stop it). Use a new token per call.
    public var cancelToken: CancelToken? = nil
    /// Subtracted from a token's logit per occurrence in the last repeatLastN tokens, in
    /// -2...2 (0 disables).
    public var frequencyPenalty: Float = 0
    /// Subtracted once from every token in the last repeatLastN tokens, in -2...2 (0 disables).
    public var presencePenalty: Float = 0
    /// Added to these tokens' logits before sampling: -.infinity bans a token, a large
    /// positive bias forces it. At most 1024 entries.
    public var logitBias: [LogitBias] = []
    /// Let the penalties count the prompt's tokens too (llama.cpp's way); by default they count
    /// generated tokens only, so an answer may repeat a document's words.
    public var penalizePrompt: Bool = false
    /// In 0...20: each generated token's log-probability and its topLogprobs most likely
    /// alternatives arrive in `Piece.logprobs` (0: none).
    public var topLogprobs: UInt32 = 0

    public init(maxTokens: UInt32? = nil) {
        var c = focusllm_generate_params()
        _ = focusllm_generate_default_params(&c, MemoryLayout<focusllm_generate_params>.stride)
        self.maxTokens = maxTokens ?? c.max_tokens
        temperature = c.temperature
        topK = c.top_k
        topP = c.top_p
        minP = c.min_p
        repeatPenalty = c.repeat_penalty
        repeatLastN = c.repeat_last_n
        seed = c.seed
        renderSpecial = c.render_special
    }

    /// Calls `body` with the C parameters, whose stop strings are valid during the call.
    func withCValue<R>(_ body: (UnsafePointer<focusllm_generate_params>) throws -> R) throws -> R {
        var c = focusllm_generate_params()
        try check(focusllm_generate_default_params(&c, MemoryLayout<focusllm_generate_params>.stride))
        c.max_tokens = maxTokens
        c.temperature = temperature
        c.top_k = topK
        c.top_p = topP
        c.min_p = minP
        c.repeat_penalty = repeatPenalty
        c.repeat_last_n = repeatLastN
        c.seed = seed
        c.render_special = renderSpecial
        c.cancel = cancelToken?.handle
        c.frequency_penalty = frequencyPenalty
        c.presence_penalty = presencePenalty
        c.top_logprobs = topLogprobs
        c.penalize_prompt = penalizePrompt
        // Every run passes its RunBox as user_data, which runLogprobsCallback reads.
        c.on_logprobs = topLogprobs > 0 ? runLogprobsCallback : nil
        let biases = logitBias.map { focusllm_logit_bias(token: $0.token, bias: $0.bias) }
        let bytes: [CChar] = stop.flatMap { $0.utf8.map { CChar(bitPattern: $0) } }
        return try bytes.withUnsafeBufferPointer { buffer in
            var strings: [focusllm_str] = []
            var offset = 0
            for text in stop {
                let length = text.utf8.count
                strings.append(focusllm_str(ptr: length == 0 ? nil : buffer.baseAddress! + offset, len: length))
                offset += length
            }
            return try strings.withUnsafeBufferPointer { array in
                c.stop = array.baseAddress
                c.n_stop = array.count
                return try biases.withUnsafeBufferPointer { biasArray in
                    c.logit_bias = biasArray.baseAddress
                    c.n_logit_bias = biasArray.count
                    return try body(&c)
                }
            }
        }
    }
}

/// Why generation ended.
public enum FinishReason: Int32, Sendable {
    case endOfGeneration = 1
    case maxTokens = 2
    case stopString = 3
    case contextFull = 4
    case callerStopped = 5
}

/// What a finished run reports.
public struct RunResult: Sendable {
    /// The whole generated text (the streamed pieces, concatenated).
    public var text: String
    /// nil for a reason this package does not know (a newer library).
    public var finishReason: FinishReason?
    /// True when the input fit the model's window and ran without chunking.
    public var direct: Bool
    public var tokens: Int
    public var promptTokens: Int
    public var chunks: Int
    public var waves: Int
    public var prefillSeconds: Double
    public var generateSeconds: Double
    /// Input tokens a Conversation kept from its previous turn instead of decoding them again.
    public var cachedTokens: Int
    /// The passages the answer read, in the order read (empty when direct).
    public var sources: [Source] = []

    init(_ c: focusllm_result, text: String) {
        self.text = text
        finishReason = FinishReason(rawValue: c.finish_reason)
        direct = c.direct
        tokens = c.n_tokens
        promptTokens = c.n_prompt_tokens
        chunks = c.n_chunks
        waves = c.n_waves
        prefillSeconds = c.prefill_seconds
        generateSeconds = c.generate_seconds
        cachedTokens = c.n_cached_tokens
    }
}

/// A cancel token for one call: set it as `GenerateParams.cancelToken` (or
/// `DocumentParams.cancelToken`), then `cancel()` stops that call from any thread, whenever it
/// comes: a token cancelled before the call starts makes the call throw Status.cancelled at
/// once, and one cancelled after the call returned reaches no other call. A token stays
/// cancelled: use a new one per call.
public final class CancelToken: @unchecked Sendable {
    let handle: OpaquePointer

    public init() throws {
        var out: OpaquePointer?
        try check(focusllm_cancel_token_new(&out))
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_cancel_token_new succeeded without a token")
        }
        handle = out
    }

    deinit {
        focusllm_cancel_token_free(handle)
    }

    /// Stops the call that uses the token (any thread, any time).
    public func cancel() {
        _ = focusllm_cancel_token_cancel(handle)
    }

    public var isCancelled: Bool {
        focusllm_cancel_token_is_cancelled(handle)
    }
}
