import SLMJSON

/// OpenAI's chat and legacy completions API (docs/http.md lists what is taken and what refused).
public enum OpenAI {
    /// The sampling fields OpenAI names as slm does, and slm's extensions.
    static let samplingNames: [(api: String, slm: String)] = [
        ("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed"),
        ("top_k", "top_k"), ("min_p", "min_p"), ("repeat_penalty", "repeat_penalty"), ("repeat_last_n", "repeat_last_n"),
    ]
    /// Fields that describe the caller or ask for storage on OpenAI's side: nothing to do here.
    static let ignoredFields: Set<String> = ["user", "store", "metadata", "service_tier", "parallel_tool_calls"]
    /// OpenAI's default for legacy completions.
    public static let defaultCompletionMaxTokens = 16

    /// `POST /v1/chat/completions`.
    public static func decodeChat(_ body: [UInt8]) throws(APIError) -> APIGeneration {
        var f = try APIFields(body: body)
        let messages = try APIMessage.decodeList(f.value("messages"))
        var generation = APIGeneration(model: try f.string("model"), input: .messages(messages), stream: false)
        if let conversation = f.value("conversation") {
            // slm's extension: the history is stored, so the request carries only the new turn.
            guard let id = conversation.integerValue, id >= 0 else {
                throw .badField("conversation", "must be a stored conversation's id, or 0 to start one")
            }
            guard messages.count == 1, messages[0].role == "user" else {
                throw .badField("messages", "must be the one new user message when \"conversation\" is given (the history is stored)")
            }
            generation.input = .conversation(id == 0 ? nil : id, message: messages[0].content)
        }
        try decodeCommon(&f, into: &generation, maxTokenFields: ["max_completion_tokens", "max_tokens"])
        if let tools = f.value("tools"), tools != .array([]) { throw .unsupported("tools", "tool calls are not supported") }
        if let choice = f.value("tool_choice"), choice != .string("none") {
            throw .unsupported("tool_choice", "tool calls are not supported")
        }
        if f.value("functions") != nil { throw .unsupported("functions", "tool calls are not supported") }
        if f.value("function_call") != nil { throw .unsupported("function_call", "tool calls are not supported") }
        try f.onlyNeutral("logprobs", .bool(false), "log probabilities are not reported")
        if f.value("top_logprobs") != nil { throw .unsupported("top_logprobs", "log probabilities are not reported") }
        if let modalities = f.value("modalities"), modalities != .array([.string("text")]) {
            throw .unsupported("modalities", "slm models write text only")
        }
        try f.refuseUnknown(ignoring: ignoredFields)
        return generation
    }

    /// `POST /v1/completions`.
    public static func decodeCompletion(_ body: [UInt8]) throws(APIError) -> APIGeneration {
        var f = try APIFields(body: body)
        let prompt: String
        switch f.value("prompt") {
        case nil: throw .badField("prompt", "is required")
        case .string(let text)?: prompt = text
        case .array(let items)? where items.count == 1 && items[0].stringValue != nil: prompt = items[0].stringValue!
        case .array?: throw .unsupported("prompt", "give one string (several prompts or token arrays are not taken)")
        default: throw .badField("prompt", "must be a string")
        }
        var generation = APIGeneration(model: try f.string("model"), input: .prompt(prompt), stream: false)
        generation.fields.maxTokens = defaultCompletionMaxTokens
        try decodeCommon(&f, into: &generation, maxTokenFields: ["max_tokens"])
        try f.onlyNeutral("echo", .bool(false), "the prompt is not echoed")
        try f.onlyNeutral("best_of", .int(1), "one completion is made per request")
        if f.value("suffix") != nil { throw .unsupported("suffix", "fill-in-the-middle is not supported") }
        if f.value("logprobs") != nil { throw .unsupported("logprobs", "log probabilities are not reported") }
        try f.refuseUnknown(ignoring: ignoredFields)
        return generation
    }

    private static func decodeCommon(_ f: inout APIFields, into g: inout APIGeneration, maxTokenFields: [String]) throws(APIError) {
        for key in maxTokenFields {
            if let n = try f.integer(key, in: 0...Int(Int32.max)) { g.fields.maxTokens = n }
        }
        var sampling: [(String, JSONValue)] = []
        f.sampling(samplingNames, into: &sampling)
        // llama.cpp server's extensions, then OpenAI's own way; one constraint at most.
        f.sampling([("grammar", "grammar"), ("json_schema", "json_schema")], into: &sampling)
        if let format = f.value("response_format"), let schema = try responseFormat(format) {
            guard !sampling.contains(where: { $0.0 == "grammar" || $0.0 == "json_schema" }) else {
                throw .badField("response_format", "cannot be combined with grammar or json_schema")
            }
            sampling.append(("json_schema", schema))
        }
        g.fields.sampling = .object(sampling)
        g.fields.stop = try f.stop("stop")
        g.stream = try f.bool("stream") ?? false
        if let options = f.value("stream_options") {
            var o = try APIFields(options, name: "stream_options")
            g.includeUsage = try o.bool("include_usage") ?? false
            try o.refuseUnknown()
        }
        try f.onlyNeutral("n", .int(1), "one choice is made per request")
        try f.onlyNeutral("presence_penalty", .int(0), "use the repeat_penalty extension")
        try f.onlyNeutral("frequency_penalty", .int(0), "use the repeat_penalty extension")
        if let bias = f.value("logit_bias"), bias != .object([]) { throw .unsupported("logit_bias", "token biases are not supported") }
    }

    /// `response_format` as the JSON Schema it asks for: nil for `text`, any JSON object for
    /// `json_object`, the given schema for `json_schema` (no schema: any JSON value).
    static func responseFormat(_ format: JSONValue) throws(APIError) -> JSONValue? {
        var f = try APIFields(format, name: "response_format")
        switch try f.string("type") {
        case "text"?:
            try f.refuseUnknown()
            return nil
        case "json_object"?:
            try f.refuseUnknown()
            return StructuredOutput.anyObject
        case "json_schema"?:
            guard let spec = f.value("json_schema") else {
                throw .badField("response_format.json_schema", "is required for type json_schema")
            }
            try f.refuseUnknown()
            var s = try APIFields(spec, name: "response_format.json_schema")
            _ = try s.string("name")
            _ = try s.string("description")
            _ = try s.bool("strict")  // slm's grammar is always strict
            let schema = s.value("schema") ?? .object([])
            guard schema.objectValue != nil || schema.boolValue == true else {
                throw .badField("response_format.json_schema.schema", "must be a JSON Schema object")
            }
            try s.refuseUnknown()
            return schema
        default:
            throw .badField("response_format.type", "must be \"text\", \"json_object\" or \"json_schema\"")
        }
    }

    /// `{"error": {"message", "type", "param", "code"}}`.
    public static func errorBody(_ error: APIError) -> JSONValue {
        let type: String
        switch error.status {
        case 401: type = "authentication_error"
        case 404: type = "not_found_error"
        case 429: type = "rate_limit_error"
        case 500...: type = "server_error"
        default: type = "invalid_request_error"
        }
        return .object([
            (
                "error",
                .object([
                    ("message", .string(error.message)), ("type", .string(type)),
                    ("param", error.param.map(JSONValue.string) ?? .null), ("code", error.code.map(JSONValue.string) ?? .null),
                ])
            )
        ])
    }

    /// One entry of `GET /v1/models`.
    public static func model(name: String, created: Int) -> JSONValue {
        .object([("id", .string(name)), ("object", .string("model")), ("created", .integer(created)), ("owned_by", .string("slm"))])
    }

    static func finishReason(_ reason: WireStopReason) -> JSONValue {
        reason == .length ? .string("length") : .string("stop")
    }

    static func usage(_ s: GenerationSummary) -> JSONValue {
        .object([
            ("prompt_tokens", .integer(s.promptTokens)), ("completion_tokens", .integer(s.generatedTokens)),
            ("total_tokens", .integer(s.promptTokens + s.generatedTokens)),
            ("prompt_tokens_details", .object([("cached_tokens", .integer(s.cachedTokens))])),
        ])
    }
}

/// An OpenAI response: one JSON object, or a `text/event-stream` of chunks ending in `[DONE]`.
public final class OpenAIReplies: HTTPGenerationReplies, @unchecked Sendable {
    public enum Endpoint: Sendable { case chat, completion }

    let endpoint: Endpoint
    let responseID: String
    let created: Int
    let model: String
    let includeUsage: Bool
    private var reply = ""

    public init(endpoint: Endpoint, serial: UInt64, created: Int, model: String, stream: Bool, includeUsage: Bool, keepAlive: Bool) {
        self.endpoint = endpoint
        responseID = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + String(serial)
        self.created = created
        self.model = model
        self.includeUsage = includeUsage
        super.init(stream: stream, keepAlive: keepAlive, contentType: "text/event-stream")
    }

    public override func text(_ piece: String) -> String {
        guard stream else {
            reply += piece
            return ""
        }
        var out = ""
        if !headSent {
            out += streamHead()
            // OpenAI's first chunk names the role, with empty content.
            if endpoint == .chat { out += event(chunk(delta: [("role", .string("assistant")), ("content", .string(""))], finish: .null)) }
        }
        if !piece.isEmpty { out += event(chunk(delta: [("content", .string(piece))], finish: .null)) }
        return out
    }

    public override func done(_ summary: GenerationSummary) -> String {
        guard stream else {
            var body: [(String, JSONValue)] = [
                ("id", .string(responseID)), ("object", .string(endpoint == .chat ? "chat.completion" : "text_completion")),
                ("created", .integer(created)), ("model", .string(model)), ("system_fingerprint", .string(OpenAI.fingerprint)),
            ]
            let choice: [(String, JSONValue)] =
                endpoint == .chat
                ? [
                    ("index", .int(0)), ("message", .object([("role", .string("assistant")), ("content", .string(reply))])),
                    ("logprobs", .null), ("finish_reason", OpenAI.finishReason(summary.stopReason)),
                ]
                : [
                    ("text", .string(reply)), ("index", .int(0)), ("logprobs", .null),
                    ("finish_reason", OpenAI.finishReason(summary.stopReason)),
                ]
            body.append(("choices", .array([.object(choice)])))
            body.append(("usage", OpenAI.usage(summary)))
            if let conversation = summary.conversation { body.append(("conversation", .integer(conversation))) }
            return whole(status: 200, json: .object(body))
        }
        var out = headSent ? "" : text("")
        out += event(chunk(delta: [], finish: OpenAI.finishReason(summary.stopReason), conversation: summary.conversation))
        if includeUsage {
            out += event(
                .object(
                    envelope() + [("choices", .array([])), ("usage", OpenAI.usage(summary))]))
        }
        out += HTTPStatus.chunk("data: [DONE]\n\n") + HTTPStatus.lastChunkText
        return out
    }

    public override func failed(_ code: ErrorCode, _ message: String) -> String {
        let error = APIError(status: APIError.status(for: code), message, code: code.rawValue)
        guard headSent else { return whole(status: error.status, json: OpenAI.errorBody(error)) }
        // Mid-stream: the status is sent already; the error is the stream's last event.
        return event(OpenAI.errorBody(error)) + HTTPStatus.lastChunkText
    }

    private func envelope() -> [(String, JSONValue)] {
        [
            ("id", .string(responseID)), ("object", .string(endpoint == .chat ? "chat.completion.chunk" : "text_completion")),
            ("created", .integer(created)), ("model", .string(model)), ("system_fingerprint", .string(OpenAI.fingerprint)),
        ]
    }

    private func chunk(delta: [(String, JSONValue)], finish: JSONValue, conversation: Int64? = nil) -> JSONValue {
        let choice: [(String, JSONValue)] =
            endpoint == .chat
            ? [("index", .int(0)), ("delta", .object(delta)), ("logprobs", .null), ("finish_reason", finish)]
            : [("text", delta.first?.1 ?? .string("")), ("index", .int(0)), ("logprobs", .null), ("finish_reason", finish)]
        var object = envelope() + [("choices", .array([.object(choice)]))]
        if includeUsage { object.append(("usage", .null)) }
        if let conversation { object.append(("conversation", .integer(conversation))) }
        return .object(object)
    }

    private func event(_ json: JSONValue) -> String { HTTPStatus.chunk("data: " + json.serialized + "\n\n") }
}

extension OpenAI {
    /// `system_fingerprint`: which engine build answered.
    public static let fingerprint = "slm"
}
