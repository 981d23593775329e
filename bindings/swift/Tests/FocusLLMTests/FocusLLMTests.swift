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
}
