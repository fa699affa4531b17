/// What happened during one generation, for the stats line and for callers.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var promptSeconds = 0.0
    /// From the start of prompt processing to the first generated token's text being available.
    public var timeToFirstToken = 0.0
    public var generationSeconds = 0.0
    public var stopReason: StopReason = .maxTokens

    public enum StopReason: String, Sendable { case endOfGeneration = "eog", maxTokens = "max-tokens", contextFull = "context-full", cancelled }

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

    public init(prompt: String) { self.prompt = prompt }
}

extension Engine {
    /// Generates a continuation of `request.prompt` from an empty `state`, streaming complete UTF-8
    /// text through `onText`; returning false from it stops generation (`.cancelled`).
    /// Also reports each generated token id through `onToken` if given.
    public func generate(_ request: GenerationRequest, state: InferenceState,
                         onToken: ((Int32) -> Void)? = nil,
                         onText: (String) -> Bool) throws -> GenerationStats {
        if let problem = request.sampling.validationError() { throw ModelError.unsupportedFeature(problem) }
        var stats = GenerationStats()
        let promptTokens = tokenizer.encode(request.prompt, addSpecial: request.addSpecial, parseSpecial: request.parseSpecial)
        guard !promptTokens.isEmpty else { throw ModelError.emptyInput }
        stats.promptTokens = promptTokens.count
        state.reset()
        guard promptTokens.count < state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: promptTokens.count + 1)
        }

        var sampler = Sampler(parameters: request.sampling)
        for t in promptTokens { sampler.accept(t) }
        var logits = [Float](repeating: 0, count: model.vocabularySize)
        let started = MonotonicClock.now()
        try evaluate(promptTokens, state: state, into: &logits)
        stats.promptSeconds = MonotonicClock.now() - started

        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var firstTokenAt: Double? = nil
        let limit = request.maxTokens ?? Int.max
        stats.stopReason = .maxTokens
        while stats.generatedTokens < limit {
            let token = logits.withUnsafeMutableBufferPointer { sampler.sample(logits: $0) }
            if firstTokenAt == nil { firstTokenAt = MonotonicClock.now() }
            if tokenizer.isEndOfGeneration(token) {
                stats.stopReason = .endOfGeneration
                break
            }
            stats.generatedTokens += 1
            sampler.accept(token)
            onToken?(token)
            let text = decoder.push(token)
            if !text.isEmpty, !onText(text) {
                stats.stopReason = .cancelled
                break
            }
            if stats.generatedTokens >= limit { break }
            if state.position >= state.contextLength {
                stats.stopReason = .contextFull
                break
            }
            try evaluate([token], state: state, into: &logits)
        }
        let tail = decoder.finish()
        if !tail.isEmpty { _ = onText(tail) }
        let finished = MonotonicClock.now()
        stats.timeToFirstToken = (firstTokenAt ?? finished) - started
        stats.generationSeconds = finished - (firstTokenAt ?? finished)
        return stats
    }
}
