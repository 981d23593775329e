import CFocusLLM

/// A status of the C API (focusllm_status). The numbers never change; the library may add
/// new ones, so treat an unknown status as a failure.
public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let ok = Status(rawValue: 0)
    public static let invalidArgument = Status(rawValue: 1)
    public static let structSize = Status(rawValue: 2)
    public static let invalidParam = Status(rawValue: 3)
    public static let modelFile = Status(rawValue: 4)
    public static let modelLoad = Status(rawValue: 5)
    public static let contextCreate = Status(rawValue: 6)
    public static let invalidInput = Status(rawValue: 7)
    public static let tooLong = Status(rawValue: 8)
    public static let tokenize = Status(rawValue: 9)
    public static let chatTemplate = Status(rawValue: 10)
    public static let decode = Status(rawValue: 11)
    public static let kvCacheFull = Status(rawValue: 12)
    public static let cancelled = Status(rawValue: 13)
    public static let io = Status(rawValue: 14)
    public static let gguf = Status(rawValue: 15)
    public static let unsupported = Status(rawValue: 16)
    public static let `internal` = Status(rawValue: 17)
    public static let busy = Status(rawValue: 18)
    public static let panic = Status(rawValue: 19)
    /// A processed-document file is not one, is from a newer format, truncated or damaged.
    public static let documentFile = Status(rawValue: 20)
    /// A processed document belongs to another model, chunking or KV layout.
    public static let documentMismatch = Status(rawValue: 21)

    /// The library's short description ("cancelled", "invalid argument", ...).
    public var description: String { String(cString: focusllm_status_string(rawValue)) }
}

/// A failure reported by the library: its status and its message, which names the function,
/// what was wrong and with which value (for a model that does not load: llama.cpp's reason).
public struct FocusLLMError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Status
    public let message: String

    public init(status: Status, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "focusllm: \(status): \(message)" }
}

/// The header this package was compiled against and the linked library disagree.
public struct ABIMismatch: Error, CustomStringConvertible, Sendable {
    public let header: UInt32
    public let library: UInt32
    public var description: String {
        "focusllm: ABI mismatch: focusllm.h has ABI \(header), the library \(library)"
    }
}

/// Versions of the header and the library.
public enum Version {
    /// FOCUSLLM_ABI_VERSION of the focusllm.h this package was compiled against.
    public static let headerABI = UInt32(FOCUSLLM_ABI_VERSION)
    /// The ABI version of the linked library.
    public static var libraryABI: UInt32 { focusllm_abi_version() }
    /// The library's version string, naming the llama.cpp build.
    public static var string: String { String(cString: focusllm_version_string()) }

    /// Throws ABIMismatch unless header and library agree. Model.init calls it.
    public static func check() throws {
        if headerABI != libraryABI {
            throw ABIMismatch(header: headerABI, library: libraryABI)
        }
    }
}

/// Turns a C status into a thrown FocusLLMError. The message is kept per thread, so this must
/// run right after the C call, on the same thread: always use it as
/// `try check(focusllm_...(...))`, never with an `await` between the call and the check.
@inline(__always)
func check(_ status: Int32) throws {
    if status != 0 {
        throw FocusLLMError(status: Status(rawValue: status), message: lastErrorMessage())
    }
}

/// This thread's last error message.
func lastErrorMessage() -> String {
    let length = focusllm_last_error_message(nil, 0)
    var buffer = [CChar](repeating: 0, count: length + 1)
    _ = focusllm_last_error_message(&buffer, buffer.count)
    return String(cString: buffer)
}

/// Calls `body` with `text`'s UTF-8 bytes as (pointer, length), valid during the call.
func withUTF8CString<R>(_ text: String, _ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
    var text = text
    return try text.withUTF8 { bytes in
        try bytes.withMemoryRebound(to: CChar.self) { chars in
            try body(chars.baseAddress, chars.count)
        }
    }
}
