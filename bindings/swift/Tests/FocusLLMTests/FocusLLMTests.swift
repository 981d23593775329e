import Foundation
import XCTest

@testable import FocusLLM

/// Tests against the repository's default model, kept small (one thread, a few tokens). A
/// missing model fails them: run scripts/fetch-models.sh. NOTE: never compiled or run here
/// (no Swift toolchain); see README.md.
final class FocusLLMTests: XCTestCase {
    static let modelPath: String = {
        let dir = ProcessInfo.processInfo.environment["FOCUSLLM_MODELS_DIR"]
            ?? URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .appendingPathComponent("../../../../models")
            .standardizedFileURL.path
        return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }()

    func loadModel() throws -> Model {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            XCTFail("the test model \(Self.modelPath) is missing: run scripts/fetch-models.sh")
            throw FocusLLMError(status: .modelFile, message: "missing test model")
        }
        return try Model(path: Self.modelPath)
    }

    func smallSession(_ model: Model) throws -> Session {
        var params = SessionParams()
        params.nThreads = 1
        params.nCtx = 512
        params.nBatch = 512
        params.nUbatch = 512
        return try Session(model: model, params: params)
    }

    func testTokensTemplatesAndInfo() throws {
        let model = try loadModel()
        let text = "Hello, world! ünïcödé"
        let tokens = try model.tokenize(text, special: false)
        XCTAssertFalse(tokens.isEmpty)
        XCTAssertEqual(try model.detokenize(tokens, special: false), text)
        XCTAssertEqual(try model.countTokens(text, special: false), tokens.count)
        XCTAssertGreaterThan(try model.countTokens("<|im_start|>", special: false), 1)
        let chat = try model.applyChatTemplate([ChatMessage(role: "user", content: "Hi!")], addAssistant: true)
        XCTAssertEqual(chat, "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")
        let info = try model.info()
        XCTAssertEqual(info.architecture, "llama")
        XCTAssertEqual(info.nVocab, 49152)
        XCTAssertEqual(info.nCtxTrain, model.nCtxTrain)
        XCTAssertTrue(info.hasChatTemplate)
        XCTAssertNotNil(info.eos)
        XCTAssertThrowsError(try model.detokenize([49152], special: false)) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .invalidInput)
        }
    }

    func testLogprobsAndLogitBias() throws {
        let session = try smallSession(try loadModel())
        var params = GenerateParams(maxTokens: 4)
        params.topLogprobs = 2
        var entries: [TokenLogprobs] = []
        var tokens: [Int32] = []
        try session.run(Job(prompt: "apple banana apple banana"), params: params, onPiece: { piece in
            entries += piece.logprobs
            tokens += piece.tokens
            return true
        })
        XCTAssertEqual(entries.map(\.token), tokens)
        for entry in entries {
            XCTAssertEqual(entry.top.count, 2)
            XCTAssertLessThanOrEqual(entry.logprob, 0)
            XCTAssertGreaterThanOrEqual(entry.top[0].logprob, entry.top[1].logprob)
        }
        params.topLogprobs = 0
        params.logitBias = [LogitBias(token: 1000, bias: 100)]
        var forced: [Int32] = []
        try session.run(Job(prompt: "apple banana apple banana"), params: params, onPiece: { piece in
            forced += piece.tokens
            return true
        })
        XCTAssertEqual(forced.first, 1000)
    }

    func testHeaderAndLibraryABIAgree() throws {
        XCTAssertEqual(Version.headerABI, Version.libraryABI)
        XCTAssertNoThrow(try Version.check())
        XCTAssertTrue(Version.string.hasPrefix("focusllm "))
        XCTAssertEqual(Status.cancelled.description, "cancelled")
    }

    func testMissingModelThrowsStatusAndMessage() {
        let path = NSTemporaryDirectory() + "/no-such-model.gguf"
        XCTAssertThrowsError(try Model(path: path)) { error in
            guard let error = error as? FocusLLMError else {
                return XCTFail("\(error) is not a FocusLLMError")
            }
            XCTAssertEqual(error.status, .modelFile)
            XCTAssertTrue(error.message.contains(path), error.message)
        }
    }

    func testGenerateStreamsPieces() throws {
        let session = try smallSession(try loadModel())
        var streamed = ""
        let result = try session.generate("What is the capital of France?", params: GenerateParams(maxTokens: 8)) {
            streamed += $0.text
            return true
        }
        XCTAssertFalse(result.text.isEmpty)
        XCTAssertEqual(result.text, streamed)
        XCTAssertTrue((1...8).contains(result.tokens))
    }

    func testBadInputThrows() throws {
        let session = try smallSession(try loadModel())
        XCTAssertThrowsError(try session.run(Job(prompt: ""))) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .invalidInput)
        }
        var params = SessionParams()
        params.nThreads = 0
        XCTAssertThrowsError(try Session(model: try loadModel(), params: params)) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .invalidParam)
            XCTAssertTrue((error as? FocusLLMError)?.message.contains("n_threads") ?? false)
        }
        var gap = SessionParams()
        XCTAssertEqual(gap.readGap, 8)
        XCTAssertTrue(gap.zoom)
        XCTAssertEqual(gap.directWhenFits, .auto)
        gap.readGap = -1
        XCTAssertThrowsError(try Session(model: try loadModel(), params: gap)) { error in
            XCTAssertTrue((error as? FocusLLMError)?.message.contains("read_gap") ?? false)
        }
    }

    // README.md's Swift snippet, line for line (scripts/test-bindings.sh checks that it is),
    // so it compiles and runs wherever these tests do.
    func testReadmeSnippet() async throws {
        let path = Self.modelPath
        let doc = "The lighthouse keeper of Ardmore was called Niamh."
        let question = "What was the lighthouse keeper called?"
        let session = try Session(model: try Model(path: path))
        for try await piece in session.stream(Job(document: doc, prompt: question)) { print(piece, terminator: "") }
    }

    // README.md's Swift chat snippet, line for line (checked as the one above).
    func testReadmeChatSnippet() async throws {
        let path = Self.modelPath
        let chat = try Conversation(session: try Session(model: try Model(path: path)), system: "Be brief.")
        for turn in ["My name is Niamh.", "What is my name?"] {
            for try await piece in chat.stream(turn) { print(piece, terminator: "") }
        }
    }

    func testStreamYieldsTextAndStopsWhenTheConsumerLeaves() async throws {
        let session = try smallSession(try loadModel())
        var text = ""
        for try await piece in session.stream(Job(prompt: "What is the capital of France?"), params: GenerateParams(maxTokens: 6)) {
            text += piece
        }
        XCTAssertFalse(text.isEmpty)

        // Leaving after the first piece terminates the stream, which cancels the run; the
        // session is then free for the next call.
        for try await _ in session.stream(Job(prompt: "Count from one to one hundred."), params: GenerateParams(maxTokens: 200)) {
            break
        }
        var result: RunResult?
        for _ in 0..<100 {  // the cancelled run may still be returning on its thread
            do {
                result = try session.generate("Hi", params: GenerateParams(maxTokens: 1))
                break
            } catch let error as FocusLLMError where error.status == .busy {
                try await Task.sleep(nanoseconds: 10_000_000)
            }
        }
        XCTAssertNotNil(result)
    }

    // Processed documents: a window of 512 tokens chunks a text of about 600 (as in
    // bindings/go/document_test.go and tests/it/document.rs).

    static let documentText = String(repeating: "The grass is green and the sky is blue. ", count: 60)
    static let documentQuestion = "What color is the grass?"

    func documentSession(_ model: Model, window: UInt32 = 512) throws -> Session {
        var params = SessionParams()
        params.nThreads = 1
        params.nCtx = 512
        params.nBatch = 512
        params.nUbatch = 512
        params.window = window
        return try Session(model: model, params: params)
    }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("focusllm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    func testDocumentAnswersLikeAPlainAskAndAfterSaveAndLoad() throws {
        let session = try documentSession(try loadModel())
        let params = GenerateParams(maxTokens: 4)
        let plain = try session.ask(document: Self.documentText, question: Self.documentQuestion, params: params)
        XCTAssertFalse(plain.direct)
        XCTAssertGreaterThanOrEqual(plain.chunks, 2)

        var progressCalls = 0
        var lastProgress = (done: 0, total: 0)
        let document = try session.ingest(Self.documentText) { done, total in
            progressCalls += 1
            lastProgress = (done, total)
            return true
        }
        XCTAssertGreaterThan(progressCalls, 0)
        XCTAssertEqual(lastProgress.done, lastProgress.total)
        let info = try document.info()
        XCTAssertEqual(info.chunks, plain.chunks)
        XCTAssertEqual(info.inMemory, info.chunks)
        XCTAssertGreaterThan(info.ingestSeconds, 0)

        var streamed = ""
        let cached = try session.askDocument(document, question: Self.documentQuestion, params: params, onPiece: {
            streamed += $0.text
            return true
        })
        XCTAssertEqual(cached.text, plain.text)
        XCTAssertEqual(cached.text, streamed)
        XCTAssertEqual(cached.chunks, plain.chunks)

        let path = try temporaryDirectory() + "/doc.fllm"
        try document.save(to: path)
        let loaded = try session.loadDocument(path: path)
        let loadedInfo = try loaded.info()
        XCTAssertEqual(loadedInfo.inFile, plain.chunks)
        XCTAssertEqual(loadedInfo.ingestSeconds, 0)
        XCTAssertEqual(try session.askDocument(loaded, question: Self.documentQuestion, params: params).text, plain.text)

        var spill = DocumentParams()
        spill.memoryBudgetBytes = 1
        spill.spillDir = try temporaryDirectory()
        let spilled = try session.ingest(Self.documentText, params: spill)
        XCTAssertEqual(try spilled.info().inMemory, 0)
        XCTAssertEqual(try session.askDocument(spilled, question: Self.documentQuestion, params: params).text, plain.text)

        var streaming = DocumentParams()
        streaming.savePath = try temporaryDirectory() + "/streamed.fllm"
        let streamedDocument = try session.ingest(Self.documentText, params: streaming)
        let streamedInfo = try streamedDocument.info()
        XCTAssertEqual(streamedInfo.inMemory, 0)
        XCTAssertEqual(streamedInfo.inFile, plain.chunks)
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: streaming.savePath)),
            try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(
            try session.askDocument(streamedDocument, question: Self.documentQuestion, params: params).text, plain.text)
    }

    func testDocumentFilesAndSettingsThatDoNotFitThrow() throws {
        let model = try loadModel()
        let session = try documentSession(model)
        let document = try session.ingest(Self.documentText)
        let dir = try temporaryDirectory()
        let path = dir + "/doc.fllm"
        try document.save(to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))

        func refusal(_ name: String, _ bytes: Data) -> FocusLLMError? {
            let bad = dir + "/" + name
            XCTAssertNoThrow(try bytes.write(to: URL(fileURLWithPath: bad)))
            do {
                _ = try session.loadDocument(path: bad)
                XCTFail("\(name) loaded")
                return nil
            } catch {
                return error as? FocusLLMError
            }
        }
        XCTAssertEqual(refusal("truncated.fllm", good.prefix(good.count / 2))?.status, .documentFile)
        XCTAssertEqual(refusal("garbage.fllm", Data("GGUF not a document, just some text".utf8))?.status, .documentFile)
        XCTAssertThrowsError(try session.loadDocument(path: dir + "/missing.fllm")) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .io)
        }

        // A session with another window: the document's chunking does not fit it.
        let other = try documentSession(model, window: 256)
        XCTAssertThrowsError(try other.loadDocument(path: path)) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .documentMismatch)
        }
        XCTAssertThrowsError(try other.askDocument(document, question: Self.documentQuestion, params: GenerateParams(maxTokens: 4))) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .documentMismatch)
            XCTAssertTrue((error as? FocusLLMError)?.message.contains("window") ?? false)
        }
    }

    func testIngestCancels() throws {
        let session = try documentSession(try loadModel())
        XCTAssertThrowsError(try session.ingest(Self.documentText) { _, _ in false }) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .cancelled)
        }
        XCTAssertThrowsError(try session.ingest(Self.documentText) { _, _ in
            session.cancel()
            return true
        }) { error in
            XCTAssertEqual((error as? FocusLLMError)?.status, .cancelled)
        }
        // The next call starts uncancelled.
        XCTAssertGreaterThanOrEqual(try session.ingest(Self.documentText).info().chunks, 2)
    }

    func testConversationReusesTurnsAndRestores() throws {
        let model = try loadModel()
        var params = SessionParams()
        params.nThreads = 1
        params.window = 1024
        let session = try Session(model: model, params: params)
        let chat = try Conversation(session: session, system: "You are a helpful assistant.")
        let first = try chat.send("My name is Alice and I live in Lisbon.", params: GenerateParams(maxTokens: 8))
        let second = try chat.send("Where do I live?", params: GenerateParams(maxTokens: 8))
        XCTAssertEqual(first.cachedTokens, 0)
        XCTAssertGreaterThan(second.cachedTokens, first.promptTokens)
        let history = try chat.messages()
        XCTAssertEqual(history.count, 4)
        XCTAssertEqual(history[3], ChatMessage(role: "assistant", content: second.text))

        let restored = try Conversation(session: session, system: "You are a helpful assistant.")
        try restored.push(role: "user", history[0].content)
        try restored.push(role: "assistant", history[1].content)
        XCTAssertThrowsError(try restored.push(role: "assistant", "again"))
        let again = try restored.send("Where do I live?", params: GenerateParams(maxTokens: 8))
        XCTAssertEqual(again.text, second.text)
    }

    func testConversationOverDocumentCitesIt() async throws {
        let model = try loadModel()
        var params = SessionParams()
        params.nThreads = 1
        params.window = 512
        let session = try Session(model: model, params: params)
        let code = "The secret code is 7421. "
        let text = String(repeating: "The grass is green and the sky is blue. ", count: 30) + code
            + String(repeating: "The sun is warm and the wind is calm. ", count: 30)
        let document = try session.ingest(text)
        let chat = try Conversation(session: session, over: document)
        var streamed = ""
        for try await piece in chat.stream("What is the secret code in the text?", params: GenerateParams(maxTokens: 12)) {
            streamed += piece
        }
        XCTAssertFalse(streamed.isEmpty)
        let followUp = try chat.send("Say the secret code once more.", params: GenerateParams(maxTokens: 12))
        XCTAssertFalse(followUp.direct)
        XCTAssertFalse(followUp.sources.isEmpty)
        for source in followUp.sources {
            if case .document = source.text {
                XCTAssertLessThanOrEqual(source.bytes.upperBound, text.utf8.count)
            }
        }
        XCTAssertEqual(try chat.messages().count, 4)
    }
}
