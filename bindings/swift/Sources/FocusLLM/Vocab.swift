import CFocusLLM

/// One message of a chat: a role ("system", "user", "assistant") and its content.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's metadata, for budgeting prompts before running them.
public struct ModelInfo: Sendable, Equatable {
    /// The GGUF general.architecture ("llama").
    public var architecture: String
    /// The context length the model was trained with.
    public var nCtxTrain: Int
    /// Valid token ids are 0 ..< nVocab.
    public var nVocab: Int
    public var nParams: UInt64
    public var sizeBytes: UInt64
    public var nLayer: Int
    public var nEmbd: Int
    /// The beginning- and end-of-sequence tokens, nil when the vocabulary has none.
    public var bos: Int32?
    public var eos: Int32?
    /// Whether tokenizing with `special` adds BOS.
    public var addsBOS: Bool
    public var hasChatTemplate: Bool
}

extension Model {
    /// The token ids of `text`. With `special`, the model's BOS/EOS are added and control-token
    /// text ("<|im_start|>") becomes control tokens, as for a raw prompt; without it, the
    /// text is plain text (what a user's message costs).
    public func tokenize(_ text: String, special: Bool) throws -> [Int32] {
        try withUTF8CString(text) { bytes, length in
            var count = 0
            try check(focusllm_model_tokenize(handle, bytes, length, special, special, nil, 0, &count))
            var tokens = [Int32](repeating: 0, count: count)
            var written = 0
            try tokens.withUnsafeMutableBufferPointer { buffer in
                try check(focusllm_model_tokenize(
                    handle, bytes, length, special, special, buffer.baseAddress, buffer.count, &written))
            }
            return Array(tokens.prefix(written))
        }
    }

    /// How many tokens `text` becomes (see `tokenize` for `special`).
    public func countTokens(_ text: String, special: Bool) throws -> Int {
        try withUTF8CString(text) { bytes, length in
            var count = 0
            try check(focusllm_model_count_tokens(handle, bytes, length, special, special, &count))
            return count
        }
    }

    /// The text of `tokens`. With `special`, control tokens ("<|im_end|>") are written as
    /// their text; without, they are dropped. An id outside the vocabulary throws
    /// Status.invalidInput naming it.
    public func detokenize(_ tokens: [Int32], special: Bool) throws -> String {
        try tokens.withUnsafeBufferPointer { ids in
            try readText { buffer, size, length in
                focusllm_model_detokenize(handle, ids.baseAddress, ids.count, special, buffer, size, length)
            }
        }
    }

    /// Formats `messages` with the model's own chat template, ending with the opener of the
    /// assistant's turn when `addAssistant` is true. The text holds control-token text: run
    /// it with `tokenize(text, special: true)`, knowing that control-token text inside the
    /// messages then becomes control tokens too (a chat job keeps messages as data).
    public func applyChatTemplate(_ messages: [ChatMessage], addAssistant: Bool) throws -> String {
        // One byte array holds every role and content; the C messages point into it.
        var bytes: [CChar] = []
        var spans: [(role: Range<Int>, content: Range<Int>)] = []
        for message in messages {
            let roleStart = bytes.count
            bytes.append(contentsOf: message.role.utf8.map { CChar(bitPattern: $0) })
            let contentStart = bytes.count
            bytes.append(contentsOf: message.content.utf8.map { CChar(bitPattern: $0) })
            spans.append((roleStart..<contentStart, contentStart..<bytes.count))
        }
        return try bytes.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress
            func str(_ range: Range<Int>) -> focusllm_str {
                focusllm_str(ptr: range.isEmpty ? nil : base! + range.lowerBound, len: range.count)
            }
            let cMessages = spans.map { focusllm_chat_message(role: str($0.role), content: str($0.content)) }
            return try cMessages.withUnsafeBufferPointer { array in
                try readText { out, size, length in
                    focusllm_model_apply_chat_template(
                        handle, array.baseAddress, array.count, addAssistant, out, size, length)
                }
            }
        }
    }

    /// The model's metadata.
    public func info() throws -> ModelInfo {
        var c = focusllm_model_info()
        c.struct_size = MemoryLayout<focusllm_model_info>.stride
        try check(focusllm_model_get_info(handle, &c))
        let architecture = try readText { buffer, size, length in
            focusllm_model_architecture(handle, buffer, size, length)
        }
        return ModelInfo(
            architecture: architecture,
            nCtxTrain: Int(c.n_ctx_train),
            nVocab: Int(c.n_vocab),
            nParams: c.n_params,
            sizeBytes: c.size_bytes,
            nLayer: Int(c.n_layer),
            nEmbd: Int(c.n_embd),
            bos: c.bos >= 0 ? c.bos : nil,
            eos: c.eos >= 0 ? c.eos : nil,
            addsBOS: c.adds_bos,
            hasChatTemplate: c.has_chat_template
        )
    }
}

/// Runs a snprintf-style C call (buffer, size, full length out) until the text fits.
func readText(
    _ call: (UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>) -> Int32
) throws -> String {
    var length = 0
    try check(call(nil, 0, &length))
    var buffer = [CChar](repeating: 0, count: length + 1)
    var written = 0
    try buffer.withUnsafeMutableBufferPointer { out in
        try check(call(out.baseAddress, out.count, &written))
    }
    let bytes = buffer.prefix(min(written, length)).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
