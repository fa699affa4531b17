import SLMCompute
import SLMModels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How well the model predicts a text: the mean negative log-likelihood of each token given the
/// ones before it (perplexity = e^nll), over one context from empty, the way llama-perplexity
/// scores a chunk. Used to weigh a setting's cost in quality (a quantized KV cache against F16).
public struct LikelihoodResult: Sendable {
    /// Tokens scored: every token after the first.
    public var scoredTokens: Int
    public var meanNegativeLogLikelihood: Double
    public var perplexity: Double { exp(meanNegativeLogLikelihood) }
}

extension Engine {
    /// Scores `tokens` (at most the state's context) from an empty cache, in chunks placed as
    /// llama.cpp places one prompt; log-probabilities in Double from the F32 logits.
    public func likelihood(of tokens: [Int32], state: InferenceState) throws -> LikelihoodResult {
        guard tokens.count >= 2 else { throw ModelError.emptyInput }
        guard tokens.count <= state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: tokens.count)
        }
        try tokenizer.validate(tokens)
        state.reset()
        defer { state.batchPlacement = nil }
        let vocab = model.vocabularySize
        var chunk = [Float](repeating: 0, count: Self.promptBatch * vocab)
        var total = 0.0
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + Self.promptBatch)
            state.prepareChunk(at: start, ofRequest: tokens.count)
            try tokens.withUnsafeBufferPointer { all in
                try chunk.withUnsafeMutableBufferPointer { out in
                    try model.forward(
                        UnsafeBufferPointer(rebasing: all[start..<end]), state: state, pool: pool,
                        allLogits: true, logits: out.baseAddress!)
                }
            }
            // Row t predicts token start + t + 1.
            for t in 0..<(end - start) where start + t + 1 < tokens.count {
                let row = chunk[(t * vocab)..<((t + 1) * vocab)]
                let top = Double(row.max()!)
                let sum = row.reduce(0.0) { $0 + exp(Double($1) - top) }
                total += top + log(sum) - Double(row[row.startIndex + Int(tokens[start + t + 1])])
            }
            start = end
        }
        return LikelihoodResult(scoredTokens: tokens.count - 1, meanNegativeLogLikelihood: total / Double(tokens.count - 1))
    }
}
