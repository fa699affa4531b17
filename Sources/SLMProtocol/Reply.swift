import SLMJSON

/// Reply lines of protocol v1. Every line is one JSON object with `id` (the request's, or null)
/// and `event` first, then the event's fields, then a newline.
public enum Reply {
    public static func line(id: RequestID?, event: String, _ fields: [(String, JSONValue)] = []) -> String {
        var object: [(String, JSONValue)] = [("id", id?.json ?? .null), ("event", .string(event))]
        object.append(contentsOf: fields)
        return JSONValue.object(object).serialized + "\n"
    }

    public static func error(id: RequestID?, code: ErrorCode, message: String) -> String {
        line(id: id, event: "error", [("error", .object([("code", .string(code.rawValue)), ("message", .string(message))]))])
    }

    public static func error(_ failure: RequestError) -> String {
        error(id: failure.id, code: failure.error.code, message: failure.error.description)
    }

    public static func ok(id: RequestID) -> String { line(id: id, event: "ok") }

    public static func token(id: RequestID, text: String) -> String { line(id: id, event: "token", [("text", .string(text))]) }
}

/// Why a generation ended, as the `done` event says it.
public enum WireStopReason: String, Sendable {
    case eos, length, stop, cancelled
}

/// One parsed reply line, for clients.
public struct Event: Sendable {
    public var id: JSONValue
    public var name: String
    public var body: JSONValue

    public init(line: [UInt8]) throws(ProtocolError) {
        do { body = try JSONParser.parse(line) } catch { throw ProtocolError(error) }
        guard case .object = body else { throw .notAnObject }
        guard let event = body["event"]?.stringValue else { throw .missingField("event") }
        name = event
        id = body["id"] ?? .null
    }

    public init(line: String) throws(ProtocolError) { try self.init(line: Array(line.utf8)) }

    public subscript(key: String) -> JSONValue? { body[key] }

    /// For `error` events: the code and the message.
    public var error: (code: String, message: String)? {
        guard name == "error", let e = body["error"] else { return nil }
        return (e["code"]?.stringValue ?? "", e["message"]?.stringValue ?? "")
    }
}
