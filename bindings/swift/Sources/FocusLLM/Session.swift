import CFocusLLM
import Foundation

/// What to run: a question about a document of any length, or a plain prompt.
public struct Job: Sendable {
    /// The text to answer about; "" means no document: `prompt` runs alone.
    public var document: String
    /// The question about the document, or the plain prompt.
    public var prompt: String
    /// Plain prompts only: wrap `prompt` as one user message in the model's chat template.
    public var chat: Bool

    public init(document: String = "", prompt: String, chat: Bool = true) {
        self.document = document
        self.prompt = prompt
        self.chat = chat
    }
}

/// One streamed piece: whole UTF-8 characters and the token ids that produced them.
public struct Piece: Sendable {
    public var text: String
    public var tokens: [Int32]
    /// When GenerateParams.topLogprobs > 0: the log-probabilities of the tokens generated
    /// since the previous piece (usually one per token of `tokens`).
    public var logprobs: [TokenLogprobs] = []
}

/// The log-probability of one generated token and the most likely alternatives at that
/// step, from the model's distribution before bias and penalties.
public struct TokenLogprobs: Sendable, Equatable {
    public var token: Int32
    /// Natural log, <= 0.
    public var logprob: Float
    /// The GenerateParams.topLogprobs most likely tokens, most likely first.
    public var top: [TopLogprob]
}

/// One alternative: a token and its log-probability.
public struct TopLogprob: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
}

/// A session over a model. It runs one call at a time (a second call while one runs throws
/// Status.busy); `cancel()` may be called from any thread. Freed in deinit, which a running
/// call prevents (the call holds a reference).
public final class Session: @unchecked Sendable {
    let handle: OpaquePointer
    /// The model, kept for the caller's convenience (the C session keeps it alive anyway).
    public let model: Model

    public init(model: Model, params: SessionParams = SessionParams()) throws {
        var cParams = try params.cValue()
        var out: OpaquePointer?
        try check(focusllm_session_new(model.handle, &cParams, &out))
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_session_new succeeded without a session")
        }
        handle = out
        self.model = model
    }

    deinit {
        focusllm_session_free(handle)
    }

    /// Stops the call running on this session as soon as possible; it throws
    /// Status.cancelled. Any thread, any time. A cancel is never lost: one that comes while
    /// no call runs stops the next call (which throws at once). To stop one particular call
    /// and nothing else, give it a `CancelToken` (`GenerateParams.cancelToken`).
    public func cancel() {
        _ = focusllm_session_cancel(handle)
    }

    /// Runs `job`, blocking the calling thread, and streams pieces to `onPiece` on it
    /// (returning false stops generation: the run succeeds with `.callerStopped`).
    /// `onProgress` gets prefill progress (done, total); returning false cancels the run.
    @discardableResult
    public func run(
        _ job: Job,
        params: GenerateParams = GenerateParams(),
        onPiece: ((Piece) -> Bool)? = nil,
        onProgress: ((Int, Int) -> Bool)? = nil
    ) throws -> RunResult {
        let box = Unmanaged.passRetained(RunBox(onPiece: onPiece, onProgress: onProgress))
        defer { box.release() }
        var result = focusllm_result()
        result.struct_size = MemoryLayout<focusllm_result>.stride
        try withUTF8CString(job.document) { document, documentLength in
            try withUTF8CString(job.prompt) { prompt, promptLength in
                var cJob = focusllm_job()
                cJob.struct_size = MemoryLayout<focusllm_job>.stride
                cJob.document = document
                cJob.document_len = documentLength
                cJob.prompt = prompt
                cJob.prompt_len = promptLength
                cJob.chat = job.chat
                try params.withCValue { cParams in
                    try check(focusllm_session_run(handle, &cJob, cParams, runPieceCallback, runProgressCallback, box.toOpaque(), &result))
                }
            }
        }
        return try withSources(RunResult(result, text: box.takeUnretainedValue().text), count: result.n_sources)
    }

    /// `run` with the sources of the call that just ended on this session.
    func withSources(_ run: RunResult, count: Int) throws -> RunResult {
        var run = run
        run.sources = try readSources(count: count) { index, out in
            focusllm_session_get_source(handle, index, out)
        }
        return run
    }

    /// Answers `question` about `document` (of any length).
    @discardableResult
    public func ask(
        document: String, question: String, params: GenerateParams = GenerateParams(),
        onPiece: ((Piece) -> Bool)? = nil
    ) throws -> RunResult {
        try run(Job(document: document, prompt: question), params: params, onPiece: onPiece)
    }

    /// Answers `prompt` as one user message in the model's chat template.
    @discardableResult
    public func generate(
        _ prompt: String, params: GenerateParams = GenerateParams(), onPiece: ((Piece) -> Bool)? = nil
    ) throws -> RunResult {
        try run(Job(prompt: prompt, chat: true), params: params, onPiece: onPiece)
    }

    /// Runs `job` on a dedicated thread (not Swift's cooperative pool) and yields the pieces'
    /// text. Ending the iteration early (break, or cancelling the consuming task) terminates
    /// the stream, and onTermination cancels the run (through the run's own CancelToken, so
    /// the cancel reaches no later call). Errors (FocusLLMError) end the stream.
    public func stream(_ job: Job, params: GenerateParams = GenerateParams()) -> AsyncThrowingStream<String, Error> {
        pieceStream(params: params) { runParams, onPiece, onProgress in
            try self.run(job, params: runParams, onPiece: onPiece, onProgress: onProgress)
        }
    }
}

/// Runs `call` on a dedicated thread with its own CancelToken in the params and yields the
/// pieces' text (see `Session.stream`).
func pieceStream(
    params: GenerateParams,
    _ call: @escaping @Sendable (GenerateParams, @escaping (Piece) -> Bool, @escaping (Int, Int) -> Bool) throws -> Void
) -> AsyncThrowingStream<String, Error> {
    AsyncThrowingStream { continuation in
        let stopped = StopFlag()
        let token: CancelToken
        do {
            token = try CancelToken()
        } catch {
            continuation.finish(throwing: error)
            return
        }
        var withToken = params
        withToken.cancelToken = token
        let runParams = withToken
        continuation.onTermination = { termination in
            if case .cancelled = termination {
                stopped.set()
                token.cancel()
            }
        }
        let thread = Thread {
            do {
                // The token stops the run whenever the termination comes (even before the C
                // call starts); the flag also stops it at the next callback.
                try call(runParams, { piece in
                    if case .terminated = continuation.yield(piece.text) {
                        return false
                    }
                    return !stopped.isSet
                }, { _, _ in !stopped.isSet })
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.start()
    }
}

/// The C piece callback of every run: forwards to the `RunBox` passed as user_data.
let runPieceCallback: focusllm_piece_fn = { text, length, tokens, count, userData in
    let box = Unmanaged<RunBox>.fromOpaque(userData!).takeUnretainedValue()
    let piece = Piece(
        text: String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self),
        tokens: Array(UnsafeBufferPointer(start: tokens, count: count)),
        logprobs: box.pendingLogprobs
    )
    box.pendingLogprobs = []
    box.text += piece.text
    return box.onPiece?(piece) ?? true
}

/// The C log-probabilities callback of every run: collects them for the next piece.
let runLogprobsCallback: focusllm_logprobs_fn = { token, logprob, top, count, userData in
    let box = Unmanaged<RunBox>.fromOpaque(userData!).takeUnretainedValue()
    let alternatives = UnsafeBufferPointer(start: top, count: count).map {
        TopLogprob(token: $0.token, logprob: $0.logprob)
    }
    box.pendingLogprobs.append(TokenLogprobs(token: token, logprob: logprob, top: alternatives))
    return true
}

/// The C progress callback of every run and ingest: forwards to the `RunBox` in user_data.
let runProgressCallback: focusllm_progress_fn = { done, total, userData in
    let box = Unmanaged<RunBox>.fromOpaque(userData!).takeUnretainedValue()
    return box.onProgress?(done, total) ?? true
}

/// The Swift side of one run, reached from the C callbacks through user_data.
final class RunBox {
    let onPiece: ((Piece) -> Bool)?
    let onProgress: ((Int, Int) -> Bool)?
    var text = ""
    var pendingLogprobs: [TokenLogprobs] = []

    init(onPiece: ((Piece) -> Bool)?, onProgress: ((Int, Int) -> Bool)?) {
        self.onPiece = onPiece
        self.onProgress = onProgress
    }
}

/// A thread-safe flag.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
