import CFocusLLM

/// A loaded GGUF model. Immutable and shared: any thread may use it and make sessions from
/// it at once. Freed when the last reference goes (sessions keep the C model alive).
public final class Model: @unchecked Sendable {
    let handle: OpaquePointer

    /// Loads the model at `path`. `progress`, when given, receives the fraction loaded on the
    /// calling thread; returning false cancels the load (Status.cancelled). Throws
    /// FocusLLMError: a missing file is Status.modelFile with the path in the message.
    public init(path: String, params: ModelParams = ModelParams(), progress: ((Float) -> Bool)? = nil) throws {
        try Version.check()
        var cParams = try params.cValue()
        var out: OpaquePointer?
        if let progress {
            let box = Unmanaged.passRetained(ProgressBox(progress))
            defer { box.release() }
            try withUTF8CString(path) { bytes, length in
                try check(focusllm_model_load(bytes, length, &cParams, { fraction, userData in
                    Unmanaged<ProgressBox>.fromOpaque(userData!).takeUnretainedValue().callback(fraction)
                }, box.toOpaque(), &out))
            }
        } else {
            try withUTF8CString(path) { bytes, length in
                try check(focusllm_model_load(bytes, length, &cParams, nil, nil, &out))
            }
        }
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_model_load succeeded without a model")
        }
        handle = out
    }

    deinit {
        focusllm_model_free(handle)
    }

    /// The context length the model was trained with.
    public var nCtxTrain: Int { Int(focusllm_model_n_ctx_train(handle)) }
    /// The number of tokens in the vocabulary.
    public var nVocab: Int { Int(focusllm_model_n_vocab(handle)) }
    /// The size of the model's tensors in bytes.
    public var sizeBytes: UInt64 { focusllm_model_size_bytes(handle) }

    /// llama.cpp's one-line description of the model.
    public var modelDescription: String {
        let length = focusllm_model_description(handle, nil, 0)
        var buffer = [CChar](repeating: 0, count: length + 1)
        _ = focusllm_model_description(handle, &buffer, buffer.count)
        return String(cString: buffer)
    }

    /// The peak memory in bytes a session with `params` needs for a long-document job
    /// generating up to `maxTokens` tokens.
    public func estimateMemory(_ params: SessionParams = SessionParams(), maxTokens: UInt32) throws -> UInt64 {
        var cParams = try params.cValue()
        var bytes: UInt64 = 0
        try check(focusllm_model_estimate_memory(handle, &cParams, maxTokens, &bytes))
        return bytes
    }
}

final class ProgressBox {
    let callback: (Float) -> Bool
    init(_ callback: @escaping (Float) -> Bool) { self.callback = callback }
}
