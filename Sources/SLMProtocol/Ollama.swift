import SLMJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Ollama's API (docs/http.md lists what is taken and what refused).
public enum Ollama {
    /// `options` slm reads, under Ollama's names.
    static let samplingOptions: [(api: String, slm: String)] = [
        ("temperature", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"), ("min_p", "min_p"),
        ("repeat_penalty", "repeat_penalty"), ("repeat_last_n", "repeat_last_n"), ("seed", "seed"),
    ]
    /// `options` about how Ollama's runner loads and runs a model: slm decides those itself
    /// (threads are the daemon's, the weights are always mapped), so they change no output.
    static let runnerOptions: Set<String> = [
        "num_keep", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap", "use_mlock", "numa", "low_vram", "vocab_only",
    ]

    /// `POST /api/generate`. An empty prompt only loads (or, with `keep_alive` 0, unloads) the model.
    public static func decodeGenerate(_ body: [UInt8]) throws(APIError) -> APIGeneration {
        var f = try APIFields(body: body)
        let model = try f.string("model")
        let prompt = try f.string("prompt") ?? ""
        let raw = try f.bool("raw") ?? false
        let system = try f.string("system")
        var generation = APIGeneration(model: model, input: .prompt(prompt), stream: true)
        if !raw && !prompt.isEmpty {
            let user = APIMessage(role: "user", content: prompt)
            generation.input = .messages(system.map { [APIMessage(role: "system", content: $0), user] } ?? [user])
        }
        if let template = try f.string("template"), !template.isEmpty {
            throw .unsupported("template", "the model's own chat template is used")
        }
        if let suffix = try f.string("suffix"), !suffix.isEmpty { throw .unsupported("suffix", "fill-in-the-middle is not supported") }
        if let context = f.value("context"), context != .array([]) {
            throw .unsupported("context", "send the conversation to /api/chat instead")
        }
        try decodeCommon(&f, into: &generation)
        try f.refuseUnknown()
        return generation
    }

    /// `POST /api/chat`.
    public static func decodeChat(_ body: [UInt8]) throws(APIError) -> APIGeneration {
        var f = try APIFields(body: body)
        let model = try f.string("model")
        let messages = try APIMessage.decodeList(f.value("messages"))
        var generation = APIGeneration(model: model, input: .messages(messages), stream: true)
        if let tools = f.value("tools"), tools != .array([]) { throw .unsupported("tools", "tool calls are not supported") }
        try decodeCommon(&f, into: &generation)
        try f.refuseUnknown()
        return generation
    }

    /// `format`: "" for none, "json" for any JSON object, or a JSON Schema.
    static func format(_ value: JSONValue) throws(APIError) -> JSONValue? {
        switch value {
        case .string(""): return nil
        case .string("json"): return StructuredOutput.anyObject
        case .object: return value
        default: throw .badField("format", "must be \"json\" or a JSON Schema object")
        }
    }

    private static func decodeCommon(_ f: inout APIFields, into g: inout APIGeneration) throws(APIError) {
        g.stream = try f.bool("stream") ?? true
        if let keepAlive = f.value("keep_alive") { g.keepAlive = try KeepAlive(json: keepAlive) }
        let schema = try f.value("format").flatMap(Self.format)
        if let images = f.value("images"), images != .array([]) { throw .unsupported("images", "slm models read text only") }
        _ = f.value("think")  // reasoning switch of newer Ollama: these models do not reason apart
        if let schema { g.fields.sampling = .object([("json_schema", schema)]) }
        guard let options = f.value("options") else { return }
        var o = try APIFields(options, name: "options")
        var sampling: [(String, JSONValue)] = []
        o.sampling(samplingOptions, into: &sampling)
        if let schema { sampling.append(("json_schema", schema)) }
        g.fields.sampling = .object(sampling)
        // -1: no limit; -2: until the context is full (the same here: a full context ends it).
        if let n = try o.integer("num_predict", in: -2...Int(Int32.max)) { g.fields.maxTokens = n < 0 ? nil : n }
        g.fields.stop = try o.stop("stop")
        g.requestedContext = try o.integer("num_ctx", in: 1...Int(Int32.max))
        try o.onlyNeutral("presence_penalty", .int(0), "use repeat_penalty")
        try o.onlyNeutral("frequency_penalty", .int(0), "use repeat_penalty")
        try o.onlyNeutral("mirostat", .int(0), "mirostat sampling is not implemented")
        try o.onlyNeutral("typical_p", .int(1), "typical sampling is not implemented")
        try o.onlyNeutral("tfs_z", .int(1), "tail-free sampling is not implemented")
        _ = o.value("penalize_newline")
        _ = o.value("mirostat_tau")
        _ = o.value("mirostat_eta")
        try o.refuseUnknown(ignoring: runnerOptions)
    }

    /// `{"error": "…"}`.
    public static func errorBody(_ error: APIError) -> JSONValue { .object([("error", .string(error.message))]) }

    static func doneReason(_ reason: WireStopReason) -> String { reason == .length ? "length" : "stop" }

    /// Now as RFC 3339 in UTC with nanoseconds, as Ollama writes `created_at`.
    public static func timestamp() -> String { timestamp(unixNanoseconds: nowNanoseconds()) }

    public static func timestamp(unixNanoseconds: Int64) -> String {
        var seconds = time_t(unixNanoseconds / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ n: Int32, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let nanos = String(unixNanoseconds % 1_000_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 9 - nanos.count) + nanos + "Z"
    }

    static func nowNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

/// An Ollama response: one JSON object, or NDJSON lines ending with one whose `done` is true.
public final class OllamaReplies: HTTPGenerationReplies, @unchecked Sendable {
    public enum Endpoint: Sendable { case generate, chat }

    let endpoint: Endpoint
    let model: String
    /// Seconds since the request arrived, for `total_duration`.
    let elapsed: @Sendable () -> Double
    /// Seconds spent mapping the model for this request (set by the daemon before it runs).
    public var loadSeconds = 0.0
    private var reply = ""

    public init(
        endpoint: Endpoint, model: String, stream: Bool, keepAlive: Bool, elapsed: @escaping @Sendable () -> Double
    ) {
        self.endpoint = endpoint
        self.model = model
        self.elapsed = elapsed
        super.init(stream: stream, keepAlive: keepAlive, contentType: "application/x-ndjson")
    }

    public override func text(_ piece: String) -> String {
        guard stream else {
            reply += piece
            return ""
        }
        var out = headSent ? "" : streamHead()
        if !piece.isEmpty { out += line(object(piece, done: false)) }
        return out
    }

    public override func done(_ summary: GenerationSummary) -> String {
        var final = object(stream ? "" : reply, done: true)
        func ns(_ seconds: Double) -> JSONValue { .integer(Int64((seconds * 1e9).rounded())) }
        final += [
            ("done_reason", .string(Ollama.doneReason(summary.stopReason))),
            ("total_duration", ns(elapsed())), ("load_duration", ns(loadSeconds)),
            ("prompt_eval_count", .integer(summary.promptTokens)), ("prompt_eval_duration", ns(summary.promptSeconds)),
            ("eval_count", .integer(summary.generatedTokens)), ("eval_duration", ns(summary.generationSeconds)),
        ]
        if let conversation = summary.conversation { final.append(("conversation", .integer(conversation))) }
        guard stream else { return whole(status: 200, json: .object(final)) }
        return (headSent ? "" : streamHead()) + line(final) + HTTPStatus.lastChunkText
    }

    public override func failed(_ code: ErrorCode, _ message: String) -> String {
        let error = APIError(status: APIError.status(for: code), message)
        guard headSent else { return whole(status: error.status, json: Ollama.errorBody(error)) }
        return line(Ollama.errorBody(error).objectValue!) + HTTPStatus.lastChunkText
    }

    private func object(_ text: String, done: Bool) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [("model", .string(model)), ("created_at", .string(Ollama.timestamp()))]
        switch endpoint {
        case .generate: fields.append(("response", .string(text)))
        case .chat: fields.append(("message", .object([("role", .string("assistant")), ("content", .string(text))])))
        }
        fields.append(("done", .bool(done)))
        return fields
    }

    private func line(_ fields: [(String, JSONValue)]) -> String { HTTPStatus.chunk(JSONValue.object(fields).serialized + "\n") }
}
