import CFocusLLM

/// How a processed document keeps its chunks' KV. The initializer gives the library's
/// defaults. The fields are focusllm_document_params' (focusllm.h).
public struct DocumentParams: Sendable {
    /// Most bytes of chunk KV held in memory (0 = no limit). Beyond it each chunk's KV goes
    /// to an unlinked spill file, or is dropped and decoded again by each question when that
    /// was measured to be faster.
    public var memoryBudgetBytes: UInt64
    /// The existing directory of the spill file ("" = the system's temporary directory).
    public var spillDir: String = ""
    /// Where `Session.ingest` writes the document as a `.fllm` file while it processes it
    /// ("" = keep the KV as `memoryBudgetBytes` says). When set, each chunk's KV goes to the
    /// file as soon as it is decoded (processing then needs no more memory than a question;
    /// `memoryBudgetBytes` and `spillDir` do not apply), the file appears under this name only
    /// once complete, and the document reads its KV from it, as a loaded one does.
    public var savePath: String = ""
    /// A token that cancels the ingest (nil: only `Session.cancel()` and the progress
    /// callback stop it). Use a new token per call.
    public var cancelToken: CancelToken? = nil

    public init() {
        var c = focusllm_document_params()
        _ = focusllm_document_default_params(&c, MemoryLayout<focusllm_document_params>.stride)
        memoryBudgetBytes = c.memory_budget_bytes
    }

    /// Calls `body` with the C parameters, whose spill directory and save path are valid
    /// during the call.
    func withCValue<R>(_ body: (UnsafePointer<focusllm_document_params>) throws -> R) throws -> R {
        var c = focusllm_document_params()
        try check(focusllm_document_default_params(&c, MemoryLayout<focusllm_document_params>.stride))
        c.memory_budget_bytes = memoryBudgetBytes
        c.cancel = cancelToken?.handle
        return try withUTF8CString(spillDir) { dir, dirLength in
            c.spill_dir = dirLength == 0 ? nil : dir
            c.spill_dir_len = dirLength
            return try withUTF8CString(savePath) { path, pathLength in
                c.save_path = pathLength == 0 ? nil : path
                c.save_path_len = pathLength
                return try body(&c)
            }
        }
    }
}

/// What a processed document holds.
public struct DocumentInfo: Sendable {
    /// Tokens of the document's text.
    public var tokens: Int
    /// Chunks whose KV was computed (0 when the text is read as one plain prompt, see
    /// directWhenFits: questions then run without chunking).
    public var chunks: Int
    /// Chunks whose KV is in memory, in a file (the spill file or a loaded document's), or
    /// not kept (decoded again by each question).
    public var inMemory: Int
    public var inFile: Int
    public var notKept: Int
    /// Bytes of chunk KV in memory and in the file.
    public var memoryBytes: UInt64
    public var fileBytes: UInt64
    /// Wall time of `Session.ingest` (0 for a loaded document).
    public var ingestSeconds: Double

    init(_ c: focusllm_document_info) {
        tokens = c.n_tokens
        chunks = c.n_chunks
        inMemory = c.n_in_memory
        inFile = c.n_in_file
        notKept = c.n_not_kept
        memoryBytes = c.memory_bytes
        fileBytes = c.file_bytes
        ingestSeconds = c.ingest_seconds
    }
}

/// A processed document: the chunks' KV of a long text, computed once by `Session.ingest`
/// (or read from a file by `Session.loadDocument`) and reused by every
/// `Session.askDocument`. It holds no reference to the session that made it: any session on
/// the same model and settings may use it, several at the same time (from different
/// threads). Freed (and its files closed) in deinit, which a running call prevents (the call
/// holds a reference).
public final class Document: @unchecked Sendable {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        focusllm_document_free(handle)
    }

    /// Writes the document to the file at `path`, replacing it: a versioned header (format,
    /// model identity, settings, checksums) and the chunks' KV. The file is written under a
    /// temporary name and renamed, so a failed save leaves no partial file at `path`.
    public func save(to path: String) throws {
        try withUTF8CString(path) { bytes, length in
            try check(focusllm_document_save(handle, bytes, length))
        }
    }

    /// What the document holds.
    public func info() throws -> DocumentInfo {
        var c = focusllm_document_info()
        c.struct_size = MemoryLayout<focusllm_document_info>.stride
        try check(focusllm_document_get_info(handle, &c))
        return DocumentInfo(c)
    }
}

extension Session {
    /// Processes `text` for later questions (see `askDocument`): the text is cut into chunks
    /// and their KV is computed in parallel batches, once, with the session's settings. A
    /// text read as one plain prompt (see directWhenFits) gives a document of no chunks,
    /// answered directly. Blocks
    /// the calling thread. `onProgress` gets the decoded tokens (done, total) on it;
    /// returning false cancels (Status.cancelled), as do `cancel()` and
    /// `params.cancelToken`. The candidate
    /// strategy cannot process documents (Status.unsupported).
    public func ingest(
        _ text: String, params: DocumentParams = DocumentParams(), onProgress: ((Int, Int) -> Bool)? = nil
    ) throws -> Document {
        let box = Unmanaged.passRetained(RunBox(onPiece: nil, onProgress: onProgress))
        defer { box.release() }
        var out: OpaquePointer?
        try withUTF8CString(text) { bytes, length in
            try params.withCValue { cParams in
                try check(focusllm_document_ingest(handle, bytes, length, cParams, runProgressCallback, box.toOpaque(), &out))
            }
        }
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_document_ingest succeeded without a document")
        }
        return Document(handle: out)
    }

    /// Answers `question` about `document`, streaming as `run` does: only the question's
    /// prompts, the kept chunks and the answer are decoded. The answer is the one `ask`
    /// gives for the document's text and this question (token for token with greedy
    /// sampling). A document made with another model or settings (window, chunk lengths,
    /// batch sizes, strategy, ...) throws Status.documentMismatch, whose message names the
    /// differences.
    @discardableResult
    public func askDocument(
        _ document: Document,
        question: String,
        params: GenerateParams = GenerateParams(),
        onPiece: ((Piece) -> Bool)? = nil,
        onProgress: ((Int, Int) -> Bool)? = nil
    ) throws -> RunResult {
        let box = Unmanaged.passRetained(RunBox(onPiece: onPiece, onProgress: onProgress))
        defer { box.release() }
        var result = focusllm_result()
        result.struct_size = MemoryLayout<focusllm_result>.stride
        try withExtendedLifetime(document) {
            try withUTF8CString(question) { question, questionLength in
                try params.withCValue { cParams in
                    try check(focusllm_document_ask(handle, document.handle, question, questionLength, cParams, runPieceCallback, runProgressCallback, box.toOpaque(), &result))
                }
            }
        }
        return try withSources(RunResult(result, text: box.takeUnretainedValue().text), count: result.n_sources)
    }

    /// Opens a document saved by `Document.save(to:)` for use with this session (and any
    /// other on the same model and settings). Every checksum is verified now: a file that is
    /// not a document, from a newer format, truncated or damaged throws Status.documentFile;
    /// one from another model or settings Status.documentMismatch; a missing file Status.io.
    /// The chunks' KV stays in the file and is read per question: keep the file in place.
    public func loadDocument(path: String) throws -> Document {
        var out: OpaquePointer?
        try withUTF8CString(path) { bytes, length in
            try check(focusllm_document_load(handle, bytes, length, &out))
        }
        guard let out else {
            throw FocusLLMError(status: .internal, message: "focusllm_document_load succeeded without a document")
        }
        return Document(handle: out)
    }
}
