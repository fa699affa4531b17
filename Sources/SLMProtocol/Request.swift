import SLMJSON

/// Protocol v1 constants shared by the daemon and its clients.
public enum ProtocolLimits {
    public static let version = 1
    /// The longest request line, newline excluded. Longer: `too_large`, then the connection closes
    /// (the rest of the line cannot be told apart from the next request).
    public static let maxLineBytes = 1 << 20
    public static let maxStopSequences = 16
    public static let maxStopSequenceBytes = 256
    public static let maxListLimit = 500
    /// The store's own limit on a search query (`ConversationStore.maxSearchQueryBytes`).
    public static let maxSearchQueryBytes = 1024
}

/// A request's `id`: whatever string or number the client chose, echoed in every reply.
public enum RequestID: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case number(Double)

    public var json: JSONValue {
        switch self {
        case .string(let s): return .string(s)
        case .number(let n): return .number(n)
        }
    }

    public var description: String { json.serialized }
}

/// The generation fields of `generate` and `chat`. The sampling settings are passed on as sent:
/// SLMCore's `SamplingParameters(json:)` reads and checks them (and refuses unknown keys), so a
/// new sampling setting needs no change here.
public struct SamplingFields: Sendable, Equatable {
    /// Every key of the request that is not one of the protocol's own (`temperature`, `top_k`, …).
    public var sampling: JSONValue = .object([])
    /// The served model to run on; nil = the daemon's default (the first `-m`).
    public var model: String?
    /// nil = until end of text or a full context.
    public var maxTokens: Int?
    public var stop: [String] = []
    /// `generate` only: llama.cpp's context shift when the context fills (`context_shift`), and
    /// the prompt tokens after the first it keeps (`keep`; nil = 0, -1 = the whole prompt).
    public var contextShift = false
    public var keep: Int?

    public init() {}

    /// An array of 1…`maxStopSequenceBytes`-byte strings, at most `maxStopSequences` of them.
    public static func stopSequences(_ value: JSONValue, field: String) throws(ProtocolError) -> [String] {
        guard case .array(let items) = value else { throw .wrongType(field: field, expected: "an array of strings") }
        guard items.count <= ProtocolLimits.maxStopSequences else {
            throw .invalidValue(field: field, reason: "at most \(ProtocolLimits.maxStopSequences) stop sequences")
        }
        var stops: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw .wrongType(field: field, expected: "an array of strings") }
            guard !text.isEmpty, text.utf8.count <= ProtocolLimits.maxStopSequenceBytes else {
                throw .invalidValue(
                    field: field, reason: "each stop sequence must be 1 to \(ProtocolLimits.maxStopSequenceBytes) bytes")
            }
            stops.append(text)
        }
        return stops
    }

    /// The keys of `generate` and `chat` the protocol reads itself; the others are sampling.
    static let protocolKeys: Set<String> = [
        "id", "op", "prompt", "message", "conversation", "max_tokens", "stop", "model", "context_shift", "keep",
    ]

    /// The fields of `generate` a `chat` refuses: a chat leaves out its oldest turns instead.
    static let generateOnlyKeys: Set<String> = ["context_shift", "keep"]
}

public enum Operation: Sendable, Equatable {
    case info
    case stats
    /// The served models and their state.
    case models
    case generate(prompt: String, SamplingFields)
    /// `conversation` nil: start a new one.
    case chat(conversation: Int64?, message: String, SamplingFields)
    case cancel(target: RequestID)
    case listConversations(limit: Int, offset: Int)
    case getConversation(Int64)
    case deleteConversation(Int64)
    /// Full-text search over the caller's messages, or by meaning (`semantic`) through the
    /// daemon's embedding model.
    case searchConversations(query: String, limit: Int, semantic: Bool)
    case embed(EmbedRequest)

    public var name: String {
        switch self {
        case .info: return "info"
        case .stats: return "stats"
        case .models: return "models"
        case .generate: return "generate"
        case .chat: return "chat"
        case .cancel: return "cancel"
        case .listConversations: return "conversations.list"
        case .getConversation: return "conversations.get"
        case .deleteConversation: return "conversations.delete"
        case .searchConversations: return "conversations.search"
        case .embed: return "embed"
        }
    }
}

public struct Request: Sendable, Equatable {
    public var id: RequestID
    public var op: Operation

    public init(id: RequestID, op: Operation) {
        self.id = id
        self.op = op
    }

    /// Decodes one request line (without its newline).
    public static func decode(_ line: [UInt8]) throws(RequestError) -> Request {
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch { throw RequestError(id: nil, error: ProtocolError(error)) }
        guard case .object = value else { throw RequestError(id: nil, error: .notAnObject) }
        var id: RequestID? = nil
        do {
            let fields = FieldReader(value)
            id = try fields.requestID("id")
            return Request(id: id!, op: try decodeOperation(fields))
        } catch {
            throw RequestError(id: id, error: error)
        }
    }

    private static func decodeOperation(_ f: FieldReader) throws(ProtocolError) -> Operation {
        let op = try f.string("op")
        let allowed: Set<String>
        let operation: Operation
        switch op {
        case "info":
            allowed = []
            operation = .info
        case "stats":
            allowed = []
            operation = .stats
        case "models":
            allowed = []
            operation = .models
        case "generate":
            allowed = Set(f.keys).subtracting(["message", "conversation"])
            operation = .generate(prompt: try f.string("prompt"), try sampling(f))
        case "chat":
            for key in SamplingFields.generateOnlyKeys where f[key] != nil {
                throw .invalidValue(
                    field: key, reason: "applies to generate only: a chat leaves its oldest turns out of the prompt instead")
            }
            allowed = Set(f.keys).subtracting(["prompt"])
            operation = .chat(
                conversation: try f.optionalConversation("conversation"), message: try f.string("message"),
                try sampling(f))
        case "cancel":
            allowed = ["target"]
            operation = .cancel(target: try f.requestID("target"))
        case "conversations.list":
            allowed = ["limit", "offset"]
            let limit = try f.optionalInt("limit", in: 1...ProtocolLimits.maxListLimit) ?? 50
            let offset = try f.optionalInt("offset", in: 0...Int(Int32.max)) ?? 0
            operation = .listConversations(limit: limit, offset: offset)
        case "conversations.get":
            allowed = ["conversation"]
            operation = .getConversation(try f.conversation("conversation"))
        case "conversations.delete":
            allowed = ["conversation"]
            operation = .deleteConversation(try f.conversation("conversation"))
        case "conversations.search":
            allowed = ["query", "limit", "semantic"]
            let query = try f.string("query")
            guard !query.isEmpty, query.utf8.count <= ProtocolLimits.maxSearchQueryBytes else {
                throw .invalidValue(field: "query", reason: "must be 1 to \(ProtocolLimits.maxSearchQueryBytes) bytes")
            }
            operation = .searchConversations(
                query: query, limit: try f.optionalInt("limit", in: 1...ProtocolLimits.maxListLimit) ?? 10,
                semantic: try f.optionalBool("semantic") ?? false)
        case "embed":
            allowed = EmbedRequest.keys
            operation = .embed(try embedRequest(f))
        default:
            throw .unknownOp(op)
        }
        for key in f.keys where key != "id" && key != "op" && !allowed.contains(key) {
            throw .unknownField(key)
        }
        return operation
    }

    private static func embedRequest(_ f: FieldReader) throws(ProtocolError) -> EmbedRequest {
        var r = EmbedRequest(inputs: .texts(try EmbedRequest.texts(f["input"], field: "input")))
        r.model = try f.optionalString("model")
        r.pooling = try f.optionalString("pooling")
        r.normalize = try f.optionalBool("normalize") ?? true
        r.dimensions = try f.optionalInt("dims", in: 1...65536)
        r.binary = try f.optionalBool("binary") ?? false
        r.truncate = try f.optionalBool("truncate") ?? false
        return r
    }

    private static func sampling(_ f: FieldReader) throws(ProtocolError) -> SamplingFields {
        var s = SamplingFields()
        s.sampling = .object(f.fields.filter { !SamplingFields.protocolKeys.contains($0.0) })
        s.maxTokens = try f.optionalInt("max_tokens", in: 0...Int(Int32.max))
        if let model = f["model"], model != .null {
            guard let name = model.stringValue else { throw .wrongType(field: "model", expected: "a string") }
            s.model = name
        }
        if let stops = f["stop"] { s.stop = try SamplingFields.stopSequences(stops, field: "stop") }
        s.contextShift = try f.optionalBool("context_shift") ?? false
        s.keep = try f.optionalInt("keep", in: -1...Int(Int32.max))
        if s.keep != nil && !s.contextShift {
            throw .invalidValue(field: "keep", reason: "applies only with \"context_shift\":true")
        }
        return s
    }
}

/// Typed access to a request object's fields, each failure naming the field.
struct FieldReader {
    let fields: [(String, JSONValue)]

    init(_ value: JSONValue) { fields = value.objectValue ?? [] }

    var keys: [String] { fields.map(\.0) }
    subscript(key: String) -> JSONValue? { fields.first { $0.0 == key }?.1 }

    func requestID(_ key: String) throws(ProtocolError) -> RequestID {
        switch self[key] {
        case nil: throw .missingField(key)
        case .string(let s)?: return .string(s)
        case let number? where number.numberValue != nil: return .number(number.numberValue!)
        default: throw .wrongType(field: key, expected: "a string or a number")
        }
    }

    func string(_ key: String) throws(ProtocolError) -> String {
        guard let value = self[key] else { throw .missingField(key) }
        guard case .string(let s) = value else { throw .wrongType(field: key, expected: "a string") }
        return s
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(ProtocolError) -> Int? {
        guard let value = self[key], value != .null else { return nil }
        guard let n = value.integerValue else { throw .wrongType(field: key, expected: "an integer") }
        guard n >= Int64(range.lowerBound) && n <= Int64(range.upperBound) else {
            throw .invalidValue(field: key, reason: "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(n)
    }

    func optionalString(_ key: String) throws(ProtocolError) -> String? {
        guard let value = self[key], value != .null else { return nil }
        guard case .string(let s) = value else { throw .wrongType(field: key, expected: "a string") }
        return s
    }

    func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let value = self[key], value != .null else { return nil }
        guard let b = value.boolValue else { throw .wrongType(field: key, expected: "true or false") }
        return b
    }

    func conversation(_ key: String) throws(ProtocolError) -> Int64 {
        guard let value = self[key] else { throw .missingField(key) }
        guard let n = value.integerValue, n >= 1 else { throw .wrongType(field: key, expected: "a positive integer conversation id") }
        return n
    }

    func optionalConversation(_ key: String) throws(ProtocolError) -> Int64? {
        guard let value = self[key], value != .null else { return nil }
        guard let n = value.integerValue, n >= 1 else { throw .wrongType(field: key, expected: "a positive integer conversation id") }
        return n
    }
}
