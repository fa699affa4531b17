import SLMCompute
import SLMModels

/// One benchmark test with llama-bench's meaning: `pp` processes a prompt of `tokens` tokens
/// from an empty context, `tg` generates `tokens` tokens one at a time from an empty context.
public struct BenchmarkTest: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case prompt = "pp"
        case generation = "tg"
    }
    public var kind: Kind
    public var tokens: Int
    /// Tokens already in the context when the test starts (llama-bench's `-d`), filled untimed
    /// before every repeat.
    public var depth: Int

    public init(_ kind: Kind, tokens: Int, depth: Int = 0) {
        self.kind = kind
        self.tokens = tokens
        self.depth = depth
    }

    /// llama-bench's name for the test: "pp512", "tg128", "tg128 @ d2048".
    public var name: String { kind.rawValue + "\(tokens)" + (depth > 0 ? " @ d\(depth)" : "") }
}

/// Tokens per second of every repeat of one test, with llama-bench's statistics.
public struct BenchmarkResult: Sendable {
    public var test: BenchmarkTest
    public var threads: Int
    public var tokensPerSecond: [Double]

    public init(test: BenchmarkTest, threads: Int, tokensPerSecond: [Double]) {
        self.test = test
        self.threads = threads
        self.tokensPerSecond = tokensPerSecond
    }

    public var mean: Double { tokensPerSecond.isEmpty ? 0 : tokensPerSecond.reduce(0, +) / Double(tokensPerSecond.count) }
    /// Sample standard deviation (n - 1), 0 for a single repeat, as llama-bench reports it.
    public var standardDeviation: Double {
        guard tokensPerSecond.count > 1 else { return 0 }
        let m = mean
        let squares = tokensPerSecond.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        return (squares / Double(tokensPerSecond.count - 1)).squareRoot()
    }
}

extension Engine {
    /// Largest N accepted for ppN or tgN.
    public static let maxBenchmarkTokens = 1 << 16

    /// Runs `test` once untimed (the warm-up: first-touch page faults, caches, thread wake-up,
    /// like llama-bench's), then `repeats` timed times, each from an empty context.
    /// The input tokens are pseudo-random ids from a fixed seed, starting with BOS when the
    /// vocabulary adds one; the engine's output does not depend on which tokens they are.
    public func benchmark(_ test: BenchmarkTest, repeats: Int, cacheTypes: KVCacheTypes = .f16) throws -> BenchmarkResult {
        guard test.tokens >= 1, test.tokens <= Self.maxBenchmarkTokens, test.depth >= 0, test.depth <= Self.maxBenchmarkTokens
        else {
            throw ModelError.unsupportedFeature(
                "benchmark size \(test.tokens) at depth \(test.depth) (allowed 1...\(Self.maxBenchmarkTokens), depth 0...\(Self.maxBenchmarkTokens))"
            )
        }
        let state = try makeState(contextLength: max(test.depth + test.tokens, 8), cacheTypes: cacheTypes)
        var generator = SplitMix64(seed: 0x5eed_0f_be_4c)
        let vocab = UInt64(tokenizer.vocabularySize)
        var all = (0..<(test.depth + test.tokens)).map { _ in Int32(truncatingIfNeeded: generator.next() % vocab) }
        if tokenizer.vocabulary.addBOS, let bos = tokenizer.bos { all[0] = bos }
        let prefix = Array(all[..<test.depth])
        let tokens = Array(all[test.depth...])
        var logits = [Float](repeating: 0, count: model.vocabularySize)

        func once() throws -> Double {
            state.reset()
            if !prefix.isEmpty { try evaluate(prefix, state: state, into: &logits) }
            let started = MonotonicClock.now()
            switch test.kind {
            case .prompt:
                try evaluate(tokens, state: state, into: &logits)
            case .generation:
                var single: [Int32] = [0]
                for token in tokens {
                    single[0] = token
                    try evaluate(single, state: state, into: &logits)
                }
            }
            return Double(test.tokens) / max(MonotonicClock.now() - started, 1e-9)
        }

        _ = try once()
        var samples: [Double] = []
        for _ in 0..<max(1, repeats) { samples.append(try once()) }
        return BenchmarkResult(test: test, threads: pool.effectiveCount, tokensPerSecond: samples)
    }
}

/// A tiny deterministic generator for benchmark inputs (Steele, Lea & Flood's SplitMix64).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension Engine {
    /// Bytes of weights one decode step reads: every tensor once, except that a token embedding
    /// with a separate output matrix contributes a single row (it is only indexed, not multiplied).
    public var weightBytesPerToken: Int {
        let hasOutput = file.tensor(named: "output.weight") != nil
        return file.tensors.reduce(0) { total, t in
            if hasOutput && t.name == "token_embd.weight" { return total + t.byteCount / max(t.rowCount, 1) }
            return total + t.byteCount
        }
    }
}
