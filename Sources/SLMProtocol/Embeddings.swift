import SLMJSON

/// An embedding request from any front end (NDJSON `embed`, OpenAI `/v1/embeddings`, Ollama
/// `/api/embed` and `/api/embeddings`), in wire terms; the daemon turns it into engine options.
public struct EmbedRequest: Sendable, Equatable {
    public enum Inputs: Sendable, Equatable {
        case texts([String])
        /// OpenAI also takes token ids.
        case tokens([[Int32]])
    }

    public var inputs: Inputs
    /// nil: the daemon's default model.
    public var model: String?
    /// "mean", "cls", "last" or "none"; nil: the model's own.
    public var pooling: String?
    public var normalize = true
    /// Matryoshka truncation.
    public var dimensions: Int?
    public var binary = false
    /// Cut inputs longer than the model takes instead of refusing them (Ollama's default).
    public var truncate = false
    public var keepAlive: KeepAlive?

    public init(inputs: Inputs) { self.inputs = inputs }

    public var count: Int {
        switch inputs {
        case .texts(let t): return t.count
        case .tokens(let t): return t.count
        }
    }

    /// NDJSON `embed`'s own keys.
    static let keys: Set<String> = ["input", "model", "pooling", "normalize", "dims", "binary", "truncate"]

    /// `input`: a string or an array of strings.
    static func texts(_ value: JSONValue?, field: String) throws(ProtocolError) -> [String] {
        guard let value else { throw .missingField(field) }
        if let text = value.stringValue { return [text] }
        guard case .array(let items) = value else { throw .wrongType(field: field, expected: "a string or an array of strings") }
        guard !items.isEmpty else { throw .invalidValue(field: field, reason: "must not be empty") }
        var texts: [String] = []
        texts.reserveCapacity(items.count)
        for item in items {
            guard let text = item.stringValue else { throw .wrongType(field: field, expected: "a string or an array of strings") }
            texts.append(text)
        }
        return texts
    }
}

/// A finished embedding request, for the replies of every front end.
public struct EmbeddingsResult: Sendable {
    public var model: String
    /// Each input's embedding in its JSON form (`Embedding.jsonValue`).
    public var json: [JSONValue]
    /// Each input's float vector, when each has exactly one (for OpenAI's base64 encoding).
    public var floats: [[Float]]
    public var promptTokens: Int
    public var seconds: Double

    public init(model: String, json: [JSONValue], floats: [[Float]], promptTokens: Int, seconds: Double) {
        self.model = model
        self.json = json
        self.floats = floats
        self.promptTokens = promptTokens
        self.seconds = seconds
    }
}

extension NDJSONReplies {
    /// The `embeddings` event: every vector in one line.
    public func embeddings(_ r: EmbeddingsResult) -> String {
        Reply.line(
            id: id, event: "embeddings",
            [("model", .string(r.model)), ("embeddings", .array(r.json)), ("prompt_tokens", .integer(r.promptTokens))])
    }
}

/// An embedding request over HTTP and how its vectors are to be written.
public struct APIEmbedding: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        /// OpenAI `/v1/embeddings`; `base64`: little-endian float32 bytes, base64-encoded (what
        /// OpenAI's SDKs ask for by default).
        case openAI(base64: Bool)
        /// Ollama `/api/embed`.
        case ollama
        /// Ollama's older `/api/embeddings`: one `prompt`, one `embedding`.
        case ollamaLegacy
    }

    public var request: EmbedRequest
    public var endpoint: Endpoint
}

extension OpenAI {
    /// `POST /v1/embeddings`: `input` is a string, an array of strings, an array of token ids or
    /// an array of such arrays; `dimensions` keeps a prefix of each vector (renormalised).
    public static func decodeEmbeddings(_ body: [UInt8]) throws(APIError) -> APIEmbedding {
        var f = try APIFields(body: body)
        let model = try f.string("model")
        var request: EmbedRequest
        switch f.value("input") {
        case nil: throw .badField("input", "is required")
        case .string(let text)?: request = EmbedRequest(inputs: .texts([text]))
        case .array(let items)?:
            guard !items.isEmpty else { throw .badField("input", "must not be empty") }
            if items.allSatisfy({ $0.stringValue != nil }) {
                request = EmbedRequest(inputs: .texts(items.map { $0.stringValue! }))
            } else if items.allSatisfy({ $0.integerValue != nil }) {
                request = EmbedRequest(inputs: .tokens([try tokenIDs(items)]))
            } else {
                var lists: [[Int32]] = []
                for item in items {
                    guard case .array(let ids) = item, !ids.isEmpty else {
                        throw .badField("input", "must be a string, an array of strings, or token ids")
                    }
                    lists.append(try tokenIDs(ids))
                }
                request = EmbedRequest(inputs: .tokens(lists))
            }
        default: throw .badField("input", "must be a string, an array of strings, or token ids")
        }
        request.model = model
        request.dimensions = try f.integer("dimensions", in: 1...65536)
        var base64 = false
        switch try f.string("encoding_format") {
        case nil, "float"?: break
        case "base64"?: base64 = true
        default: throw .badField("encoding_format", "must be \"float\" or \"base64\"")
        }
        try f.refuseUnknown(ignoring: ignoredFields)
        return APIEmbedding(request: request, endpoint: .openAI(base64: base64))
    }

    private static func tokenIDs(_ items: [JSONValue]) throws(APIError) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(items.count)
        for item in items {
            guard let n = item.integerValue, n >= 0, n <= Int64(Int32.max) else {
                throw .badField("input", "token ids must be integers from 0 to \(Int32.max)")
            }
            ids.append(Int32(n))
        }
        return ids
    }
}

extension Ollama {
    /// `POST /api/embed` (`input`: a string or strings; `truncate` defaults to true) and the older
    /// `POST /api/embeddings` (`prompt`: one string, vectors not normalised, as Ollama gives them).
    public static func decodeEmbed(_ body: [UInt8], legacy: Bool) throws(APIError) -> APIEmbedding {
        var f = try APIFields(body: body)
        let model = try f.string("model")
        var request: EmbedRequest
        if legacy {
            guard let prompt = try f.string("prompt") else { throw .badField("prompt", "is required") }
            request = EmbedRequest(inputs: .texts([prompt]))
            request.normalize = false
            request.truncate = true
        } else {
            do {
                request = EmbedRequest(inputs: .texts(try EmbedRequest.texts(f.value("input"), field: "input")))
            } catch {
                throw APIError(error)
            }
            request.truncate = try f.bool("truncate") ?? true
            request.dimensions = try f.integer("dimensions", in: 1...65536)
        }
        request.model = model
        if let keepAlive = f.value("keep_alive") { request.keepAlive = try KeepAlive(json: keepAlive) }
        // Model options (num_ctx, num_thread, …) tune Ollama's runner; nothing here reads them.
        if let options = f.value("options"), options.objectValue == nil { throw .badField("options", "must be an object") }
        try f.refuseUnknown()
        return APIEmbedding(request: request, endpoint: legacy ? .ollamaLegacy : .ollama)
    }
}

/// The reply of an HTTP embedding request: one JSON object, in the endpoint's shape.
public final class EmbeddingReplies: HTTPGenerationReplies, @unchecked Sendable {
    let endpoint: APIEmbedding.Endpoint
    /// Seconds since the request arrived, for Ollama's `total_duration`.
    let elapsed: @Sendable () -> Double
    /// Seconds spent mapping the model for this request (set by the daemon before it runs).
    public var loadSeconds = 0.0

    public init(endpoint: APIEmbedding.Endpoint, keepAlive: Bool, elapsed: @escaping @Sendable () -> Double) {
        self.endpoint = endpoint
        self.elapsed = elapsed
        super.init(stream: false, keepAlive: keepAlive, contentType: "application/json")
    }

    public override func embeddings(_ r: EmbeddingsResult) -> String {
        func ns(_ seconds: Double) -> JSONValue { .integer(Int64((seconds * 1e9).rounded())) }
        switch endpoint {
        case .openAI(let base64):
            let data: [JSONValue] = r.json.enumerated().map { i, vector in
                let embedding: JSONValue =
                    base64 && i < r.floats.count ? .string(Self.base64(littleEndian: r.floats[i])) : vector
                return .object([("object", .string("embedding")), ("index", .integer(i)), ("embedding", embedding)])
            }
            return whole(
                status: 200,
                json: .object([
                    ("object", .string("list")), ("data", .array(data)), ("model", .string(r.model)),
                    ("usage", .object([("prompt_tokens", .integer(r.promptTokens)), ("total_tokens", .integer(r.promptTokens))])),
                ]))
        case .ollama:
            return whole(
                status: 200,
                json: .object([
                    ("model", .string(r.model)), ("embeddings", .array(r.json)), ("total_duration", ns(elapsed())),
                    ("load_duration", ns(loadSeconds)), ("prompt_eval_count", .integer(r.promptTokens)),
                ]))
        case .ollamaLegacy:
            return whole(status: 200, json: .object([("embedding", r.json.first ?? .array([]))]))
        }
    }

    public override func failed(_ code: ErrorCode, _ message: String) -> String {
        switch endpoint {
        case .openAI:
            let error = APIError(status: APIError.status(for: code), message, code: code.rawValue)
            return whole(status: error.status, json: OpenAI.errorBody(error))
        case .ollama, .ollamaLegacy:
            let error = APIError(status: APIError.status(for: code), message)
            return whole(status: error.status, json: Ollama.errorBody(error))
        }
    }

    /// The floats as little-endian IEEE 754 bytes, in standard base64 with padding.
    static func base64(littleEndian floats: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(floats.count * 4)
        for f in floats {
            let bits = f.bitPattern.littleEndian
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
