import SLMJSON

/// What can be wrong with a line a client sent.
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    case invalidUTF8(offset: Int)
    case malformedJSON(offset: Int, reason: String)
    case notAnObject
    case missingField(String)
    case wrongType(field: String, expected: String)
    case invalidValue(field: String, reason: String)
    case unknownField(String)
    case unknownOp(String)
    case lineTooLong(limit: Int)

    public var description: String {
        switch self {
        case .invalidUTF8(let offset): return "invalid UTF-8 at byte \(offset)"
        case .malformedJSON(let offset, let reason): return "malformed JSON at byte \(offset): \(reason)"
        case .notAnObject: return "a request must be a JSON object"
        case .missingField(let field): return "missing field \"\(field)\""
        case .wrongType(let field, let expected): return "field \"\(field)\" must be \(expected)"
        case .invalidValue(let field, let reason): return "field \"\(field)\": \(reason)"
        case .unknownField(let field): return "unknown field \"\(field)\""
        case .unknownOp(let op): return "unknown op \"\(op)\""
        case .lineTooLong(let limit): return "line longer than \(limit) bytes"
        }
    }

    /// The parser's error as the protocol reports it.
    public init(_ error: JSONError) {
        switch error {
        case .invalidUTF8(let offset): self = .invalidUTF8(offset: offset)
        case .malformed(let offset, let reason): self = .malformedJSON(offset: offset, reason: reason)
        }
    }

    /// The wire error code this becomes.
    public var code: ErrorCode {
        switch self {
        case .unknownOp: return .unsupported
        case .lineTooLong: return .tooLarge
        default: return .badRequest
        }
    }
}

/// The `error.code` values of protocol v1.
public enum ErrorCode: String, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case notFound = "not_found"
    case tooLarge = "too_large"
    /// The client's uid reached a limit of the conversation store (conversations, stored bytes).
    case quotaExceeded = "quota_exceeded"
    case busy
    case unsupported
    case `internal`
}

/// A request that could not be decoded, with its id when the line got that far (else the reply's
/// id is null).
public struct RequestError: Error, Equatable {
    public var id: RequestID?
    public var error: ProtocolError

    public init(id: RequestID?, error: ProtocolError) {
        self.id = id
        self.error = error
    }
}
