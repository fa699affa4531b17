import SLMCompute
import SLMModels

/// What happened during one generation, for the stats line and for callers.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var promptSeconds = 0.0
    /// From the start of prompt processing to the first generated token's text being available.
    public var timeToFirstToken = 0.0
    public var generationSeconds = 0.0
    public var stopReason: StopReason = .maxTokens
    /// Turns of a chat's history left out of the prompt to fit the context (`ChatWindow`).
    public var truncatedTurns = 0
    /// Context shifts made during the generation (`ContextShift`).
    public var contextShifts = 0

    public enum StopReason: String, Sendable {
        case endOfGeneration = "eog"
        case maxTokens = "max-tokens"
        case contextFull = "context-full"
        case cancelled
        case stopSequence = "stop"
    }

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Decode speed over the tokens after the first (whose time belongs to the prompt).
    public var generationTokensPerSecond: Double {
        generationSeconds > 0 && generatedTokens > 1 ? Double(generatedTokens - 1) / generationSeconds : 0
    }
}

public struct GenerationRequest: Sendable {
    public var prompt: String
    /// nil: until end of generation or a full context.
    public var maxTokens: Int? = nil
    public var sampling = SamplingParameters()
    /// Add BOS/EOS as the GGUF says (llama.cpp's add_special for a first prompt).
    public var addSpecial = true
    /// Turn control-token text such as `<|im_start|>` into the token (llama.cpp's CLI does).
    public var parseSpecial = true
    /// Generation stops before any of these texts; see `GenerationOptions.stopSequences`.
    public var stopSequences: [String] = []
    /// llama.cpp's context shift when the context fills; see `GenerationOptions.contextShift`.
    public var contextShift: ContextShift? = nil

    public init(prompt: String) { self.prompt = prompt }
}

extension Engine {
    /// Tokenizes `request.prompt` as the request says.
    public func promptTokens(for request: GenerationRequest) -> [Int32] {
        tokenizer.encode(request.prompt, addSpecial: request.addSpecial, parseSpecial: request.parseSpecial)
    }

    /// Generates a continuation of `request.prompt` from an empty `state`, streaming complete UTF-8
    /// text through `onText`; returning false from it stops generation (`.cancelled`).
    public func generate(
        _ request: GenerationRequest, state: InferenceState,
        onText: (String) -> Bool
    ) throws -> GenerationStats {
        var options = GenerationOptions()
        options.sampling = request.sampling
        options.maxTokens = request.maxTokens
        options.stopSequences = request.stopSequences
        options.contextShift = request.contextShift
        let session = Session(engine: self, state: state)
        return try session.startGeneration(promptTokens: promptTokens(for: request), options: options).run(onText: onText)
    }
}
