import CFocusLLM

/// Which of the caller's texts a `Source` lies in.
public enum SourceText: Sendable, Equatable {
    /// The document (of `Session.ask` or `run`, or the processed document's text).
    case document
    /// Message `index` of a conversation's history (`Conversation.messages()`).
    case message(Int)
}

/// A passage an answer read: bytes `bytes` of the caller's text (UTF-8, on character
/// boundaries), the chunk it belongs to and that chunk's score (lower is more relevant).
public struct Source: Sendable, Equatable {
    public var chunk: Int
    public var score: Float
    public var text: SourceText
    public var bytes: Range<Int>

    init(_ c: focusllm_source) {
        chunk = c.chunk
        score = c.score
        text = c.text == FOCUSLLM_SOURCE_TEXT_MESSAGE ? .message(c.message) : .document
        bytes = c.byte_start..<c.byte_end
    }
}

/// Reads the `count` sources of the call that just ended through `get`.
func readSources(
    count: Int, _ get: (Int, UnsafeMutablePointer<focusllm_source>) -> focusllm_status
) throws -> [Source] {
    try (0..<count).map { index in
        var c = focusllm_source()
        c.struct_size = MemoryLayout<focusllm_source>.stride
        try check(get(index, &c))
        return Source(c)
    }
}

/// A chat with a model: a system prompt, then user and assistant turns in the model's chat
/// template, over an optional processed document. While it fits the window each turn decodes
/// only what is new (`RunResult.cachedTokens`); past it, the oldest turns (and the document)
/// are read in chunks and no turn is dropped. It has its own copy of the session's model and
/// settings. One call at a time (Status.busy otherwise); `cancel()` from any thread.
public final class Conversation: @unchecked Sendable {
    let handle: OpaquePointer
    /// Kept so that the document outlives the conversation's Swift references to it.
    public let document: Document?

    /// A new conversation with `session`'s model and settings, opened by `system` (nil: the
    /// chat template decides). Throws Status.unsupported for a model without a chat template.
    public init(session: Session, system: String? = nil) throws {
        var out: OpaquePointer?
        try withUTF8CString(system ?? "") { bytes, length in
            try check(focusllm_conversation_new(session.handle, length == 0 ? nil : bytes, length, &out))
        }
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_conversation_new succeeded without a conversation")
        }
        handle = out
        document = nil
    }

    /// A conversation about a processed document: every turn reuses its chunks' KV and sees
    /// the earlier turns. Throws Status.documentMismatch for another model or settings.
    public init(session: Session, over document: Document) throws {
        var out: OpaquePointer?
        try check(focusllm_conversation_new_over_document(session.handle, document.handle, &out))
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_conversation_new_over_document succeeded without a conversation")
        }
        handle = out
        self.document = document
    }

    deinit {
        focusllm_conversation_free(handle)
    }

    /// Stops the call running on the conversation (or the next one), as `Session.cancel()`.
    public func cancel() {
        _ = focusllm_conversation_cancel(handle)
    }

    /// Sends a user message, blocking the calling thread, and streams the reply to `onPiece`
    /// on it; the reply joins the history. On an error the history is as it was.
    @discardableResult
    public func send(
        _ text: String,
        params: GenerateParams = GenerateParams(),
        onPiece: ((Piece) -> Bool)? = nil,
        onProgress: ((Int, Int) -> Bool)? = nil
    ) throws -> RunResult {
        let box = Unmanaged.passRetained(RunBox(onPiece: onPiece, onProgress: onProgress))
        defer { box.release() }
        var result = focusllm_result()
        result.struct_size = MemoryLayout<focusllm_result>.stride
        try withUTF8CString(text) { bytes, length in
            try params.withCValue { cParams in
                try check(focusllm_conversation_send(handle, bytes, length, cParams, runPieceCallback, runProgressCallback, box.toOpaque(), &result))
            }
        }
        var run = RunResult(result, text: box.takeUnretainedValue().text)
        run.sources = try readSources(count: result.n_sources) { index, out in
            focusllm_conversation_get_source(handle, index, out)
        }
        return run
    }

    /// Sends `text` on a dedicated thread and yields the reply's pieces (see `Session.stream`).
    public func stream(_ text: String, params: GenerateParams = GenerateParams()) -> AsyncThrowingStream<String, Error> {
        pieceStream(params: params) { runParams, onPiece, onProgress in
            try self.send(text, params: runParams, onPiece: onPiece, onProgress: onProgress)
        }
    }

    /// Adds a message without generating: role "user" or "assistant", alternating from "user".
    public func push(role: String, _ text: String) throws {
        let cRole: focusllm_role
        switch role {
        case "user": cRole = FOCUSLLM_ROLE_USER
        case "assistant": cRole = FOCUSLLM_ROLE_ASSISTANT
        default: throw FocusLLMError(status: .invalidArgument, message: "role must be \"user\" or \"assistant\", got \"\(role)\"")
        }
        try withUTF8CString(text) { bytes, length in
            try check(focusllm_conversation_push(handle, cRole, bytes, length))
        }
    }

    /// The history: user and assistant turns, in order.
    public func messages() throws -> [ChatMessage] {
        var count = 0
        try check(focusllm_conversation_message_count(handle, &count))
        return try (0..<count).map { index in
            var length = 0
            var role: focusllm_role = FOCUSLLM_ROLE_USER
            try check(focusllm_conversation_get_message(handle, index, nil, 0, &length, &role))
            var buffer = [CChar](repeating: 0, count: length + 1)
            try check(focusllm_conversation_get_message(handle, index, &buffer, buffer.count, &length, nil))
            let content = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return ChatMessage(role: role == FOCUSLLM_ROLE_ASSISTANT ? "assistant" : "user", content: content)
        }
    }
}
