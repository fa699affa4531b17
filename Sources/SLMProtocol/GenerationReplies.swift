import SLMJSON

/// How a generation ended, in numbers: what every front end's last message reports.
public struct GenerationSummary: Sendable, Equatable {
    public var stopReason: WireStopReason
    public var promptTokens = 0
    /// Prompt tokens whose cache entries were reused (a chat's earlier turns), not run again.
    public var cachedTokens = 0
    public var generatedTokens = 0
    public var promptSeconds = 0.0
    public var timeToFirstToken = 0.0
    /// Decoding time after the first token (whose time belongs to the prompt).
    public var generationSeconds = 0.0
    /// The stored conversation a chat turn went to.
    public var conversation: Int64?
    /// Turns of a chat's history left out of the prompt to fit the context; sent when not 0.
    public var truncatedTurns = 0

    public init(stopReason: WireStopReason) { self.stopReason = stopReason }

    public var tokensPerSecond: Double {
        generationSeconds > 0 && generatedTokens > 1 ? Double(generatedTokens - 1) / generationSeconds : 0
    }
}

/// The bytes a client is sent for one generation, in its protocol: NDJSON events, an OpenAI
/// response or SSE stream, an Ollama response or NDJSON stream. One object per request; the
/// inference thread calls it (text pieces in order, then exactly one of `done` or `failed`), so
/// it may keep state, such as the text of a response that is not streamed.
public protocol GenerationReplies: AnyObject, Sendable {
    /// What to send for a piece of generated text ("" to send nothing yet).
    func text(_ piece: String) -> String
    /// The last bytes of a generation that finished.
    func done(_ summary: GenerationSummary) -> String
    /// The last bytes of a generation that failed (before or after its first piece).
    func failed(_ code: ErrorCode, _ message: String) -> String
    /// The whole reply of an embedding request that finished.
    func embeddings(_ result: EmbeddingsResult) -> String
}

/// Protocol v1's events: a `token` line per piece, then `done` or `error`.
public final class NDJSONReplies: GenerationReplies, @unchecked Sendable {
    public let id: RequestID

    public init(id: RequestID) { self.id = id }

    public func text(_ piece: String) -> String { piece.isEmpty ? "" : Reply.token(id: id, text: piece) }
    public func done(_ summary: GenerationSummary) -> String { Reply.done(id: id, summary) }
    public func failed(_ code: ErrorCode, _ message: String) -> String { Reply.error(id: id, code: code, message: message) }
}

extension Reply {
    /// The `done` event (docs/protocol.md), times rounded to 0.01.
    public static func done(id: RequestID, _ summary: GenerationSummary) -> String {
        func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        var fields: [(String, JSONValue)] = [
            ("stop_reason", .string(summary.stopReason.rawValue)),
            ("prompt_tokens", .integer(summary.promptTokens)),
            ("cached_tokens", .integer(summary.cachedTokens)),
            ("generated_tokens", .integer(summary.generatedTokens)),
            ("ttft_ms", .number(rounded(summary.timeToFirstToken * 1000))),
            ("tokens_per_second", .number(rounded(summary.tokensPerSecond))),
        ]
        if let conversation = summary.conversation { fields.append(("conversation", .integer(conversation))) }
        if summary.truncatedTurns > 0 { fields.append(("truncated_turns", .integer(summary.truncatedTurns))) }
        return line(id: id, event: "done", fields)
    }
}
