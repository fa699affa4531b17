import SLMJSON

/// One message of a conversation sent with an HTTP request (OpenAI or Ollama chat).
public struct APIMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// How long a model stays mapped after its last request (Ollama's `keep_alive`).
public enum KeepAlive: Sendable, Equatable {
    case forever
    case milliseconds(Int)

    /// A number of seconds, or a duration string such as "5m", "1h30m", "500ms", "-1" (forever).
    public init(json value: JSONValue, field: String = "keep_alive") throws(APIError) {
        if let seconds = value.numberValue {
            self = seconds < 0 ? .forever : .milliseconds(Int(min(seconds, 1e9) * 1000))
            return
        }
        guard let text = value.stringValue else { throw .badField(field, "must be a number of seconds or a duration such as \"5m\"") }
        if let seconds = Double(text) {
            self = seconds < 0 ? .forever : .milliseconds(Int(min(seconds, 1e9) * 1000))
            return
        }
        if text.hasPrefix("-") {
            self = .forever
            return
        }
        // Go's time.ParseDuration units, which Ollama takes.
        let units: [(String, Double)] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        var total = 0.0
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let amount = Double(digits) else { throw .badField(field, "cannot read the duration \"\(text)\"") }
            rest = rest.dropFirst(digits.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else {
                throw .badField(field, "cannot read the duration \"\(text)\" (units: ms, s, m, h)")
            }
            rest = rest.dropFirst(unit.count)
            total += amount * scale
        }
        self = .milliseconds(Int(min(total, 1e12)))
    }
}

/// A generation asked for over HTTP, decoded from an OpenAI or Ollama body.
public struct APIGeneration: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        /// Run as is (OpenAI completions, Ollama `raw`).
        case prompt(String)
        /// Rendered with the model's chat template.
        case messages([APIMessage])
        /// slm's extension: a turn of a stored conversation (nil: start one).
        case conversation(Int64?, message: String)
    }

    /// nil: the daemon's default model.
    public var model: String?
    public var input: Input
    public var fields = SamplingFields()
    public var stream: Bool
    /// OpenAI `stream_options.include_usage`: a last chunk with the token counts.
    public var includeUsage = false
    public var keepAlive: KeepAlive?
    /// Ollama's `options.num_ctx`: the context the client expects (the daemon refuses more than its own).
    public var requestedContext: Int?

    public init(model: String?, input: Input, stream: Bool) {
        self.model = model
        self.input = input
        self.stream = stream
    }
}

/// A request the HTTP API refuses, with its status. OpenAI's and Ollama's error bodies are both
/// made from it.
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    /// The request field at fault, when there is one (OpenAI's `param`).
    public var param: String?
    /// OpenAI's `code` ("model_not_found", …).
    public var code: String?

    public init(status: Int, _ message: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.param = param
        self.code = code
    }

    public var description: String { message }

    public static func badField(_ field: String, _ problem: String) -> APIError {
        APIError(status: 400, "\"\(field)\" \(problem)", param: field)
    }

    public static func unsupported(_ field: String, _ why: String) -> APIError {
        APIError(status: 400, "\"\(field)\" is not supported: \(why)", param: field, code: "unsupported_parameter")
    }

    public static func modelNotFound(_ name: String) -> APIError {
        APIError(
            status: 404, "model \"\(name)\" not found; GET /v1/models lists the models this daemon serves", param: "model",
            code: "model_not_found")
    }

    /// A request field the protocol layer refused.
    public init(_ error: ProtocolError) {
        switch error {
        case .missingField(let f), .wrongType(let f, _), .invalidValue(let f, _), .unknownField(let f):
            self.init(status: 400, error.description, param: f)
        default:
            self.init(status: 400, error.description)
        }
    }

    /// The status for a daemon error code (a failed generation, a refused submission).
    public static func status(for code: ErrorCode) -> Int {
        switch code {
        case .badRequest, .tooLarge: return 400
        case .notFound: return 404
        case .quotaExceeded, .busy: return 429
        case .unsupported: return 501
        case .internal: return 500
        }
    }
}

/// A request body's fields: typed access where null means absent, and a check that every field
/// was read or is one the API lets through.
struct APIFields {
    let fields: [(String, JSONValue)]
    private(set) var read: Set<String> = []

    /// The body as a JSON object, or the 400 to answer.
    init(body: [UInt8]) throws(APIError) {
        let value: JSONValue
        do { value = try JSONParser.parse(body) } catch { throw APIError(ProtocolError(error)) }
        try self.init(value, name: "the request body")
    }

    init(_ value: JSONValue, name: String) throws(APIError) {
        guard let fields = value.objectValue else { throw APIError(status: 400, "\(name) must be a JSON object") }
        self.fields = fields
    }

    /// The value, nil when absent or null.
    mutating func value(_ key: String) -> JSONValue? {
        read.insert(key)
        guard let v = fields.first(where: { $0.0 == key })?.1, v != .null else { return nil }
        return v
    }

    mutating func string(_ key: String) throws(APIError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw .badField(key, "must be a string") }
        return s
    }

    mutating func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw .badField(key, "must be true or false") }
        return b
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let n = v.integerValue, n >= Int64(range.lowerBound), n <= Int64(range.upperBound) else {
            throw .badField(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(n)
    }

    /// Fields that change nothing at their neutral value (0 penalties, `n` 1): that value is
    /// accepted, any other is refused rather than silently ignored.
    mutating func onlyNeutral(_ key: String, _ neutral: JSONValue, _ why: String) throws(APIError) {
        guard let v = value(key) else { return }
        guard v == neutral else { throw .unsupported(key, why) }
    }

    /// Sampling fields copied under slm's names (`SamplingParameters(json:)` checks them later).
    mutating func sampling(_ names: [(api: String, slm: String)], into out: inout [(String, JSONValue)]) {
        for (api, slm) in names {
            if let v = value(api) { out.append((slm, v)) }
        }
    }

    /// `stop`: one string or an array of them.
    mutating func stop(_ key: String) throws(APIError) -> [String] {
        guard let v = value(key) else { return [] }
        do {
            return try SamplingFields.stopSequences(v.stringValue.map { .array([.string($0)]) } ?? v, field: key)
        } catch {
            throw APIError(error)
        }
    }

    /// Refuses the first field nobody read, unless it is in `ignored` (metadata that changes
    /// nothing, such as OpenAI's `user`).
    func refuseUnknown(ignoring ignored: Set<String> = []) throws(APIError) {
        for (key, _) in fields where !read.contains(key) && !ignored.contains(key) {
            throw APIError(status: 400, "unknown field \"\(key)\"", param: key, code: "unknown_parameter")
        }
    }
}

extension APIMessage {
    /// A message of OpenAI's or Ollama's `messages`: text content only.
    static func decode(_ value: JSONValue, index: Int) throws(APIError) -> APIMessage {
        let field = "messages[\(index)]"
        var f = try APIFields(value, name: field)
        guard let role = try f.string("role") else { throw .badField(field + ".role", "is required") }
        guard ["system", "developer", "user", "assistant"].contains(role) else {
            if role == "tool" || role == "function" { throw .unsupported(field + ".role", "tool calls are not supported") }
            throw .badField(field + ".role", "must be system, user or assistant, got \"\(role)\"")
        }
        var content = ""
        switch f.value("content") {
        case nil: break
        case .string(let text)?: content = text
        case .array(let parts)?:
            // OpenAI's content parts: text parts are joined; an image is refused, not dropped.
            for (p, part) in parts.enumerated() {
                let type = part["type"]?.stringValue
                guard type == "text", let text = part["text"]?.stringValue else {
                    if type == "image_url" || type == "input_audio" || type == "file" {
                        throw .unsupported("\(field).content[\(p)]", "slm models read text only")
                    }
                    throw .badField("\(field).content[\(p)]", "must be {\"type\":\"text\",\"text\":…}")
                }
                content += text
            }
        default: throw .badField(field + ".content", "must be a string or an array of text parts")
        }
        for key in ["images", "tool_calls", "function_call", "audio"] {
            // Absent, null or an empty list asks for nothing.
            guard let value = f.value(key), value != .array([]) else { continue }
            throw .unsupported(
                "\(field).\(key)", key == "images" || key == "audio" ? "slm models read text only" : "tool calls are not supported")
        }
        _ = f.value("refusal")
        try f.refuseUnknown(ignoring: ["name"])
        // OpenAI's newer name for the system role; every chat template knows "system".
        return APIMessage(role: role == "developer" ? "system" : role, content: content)
    }

    static func decodeList(_ value: JSONValue?) throws(APIError) -> [APIMessage] {
        guard let value else { throw .badField("messages", "is required") }
        guard let items = value.arrayValue else { throw .badField("messages", "must be an array") }
        guard !items.isEmpty else { throw .badField("messages", "must not be empty") }
        var messages: [APIMessage] = []
        for (i, item) in items.enumerated() { messages.append(try decode(item, index: i)) }
        return messages
    }
}

/// Structured output as the HTTP APIs name it, in the sampling fields' terms (`json_schema`).
enum StructuredOutput {
    /// Any JSON object: OpenAI's `json_object` and Ollama's `"json"` (both promise an object).
    static let anyObject: JSONValue = .object([("type", .string("object"))])
}
