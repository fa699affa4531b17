import SLMCompute
import SLMModels
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sampling settings, with llama.cpp's defaults so users get the behaviour they know.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 (or less) means greedy: always the most likely token.
    public var temperature: Float = 0.8
    /// 0 disables top-k.
    public var topK: Int = 40
    /// 1 disables top-p.
    public var topP: Float = 0.95
    /// 0 disables min-p.
    public var minP: Float = 0.05
    /// 1 disables the repetition penalty.
    public var repeatPenalty: Float = 1.0
    /// How many of the most recent tokens the repetition penalty looks at.
    public var repeatLastN: Int = 64
    public var seed: UInt64 = 0

    public init() {}

    public static var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }

    /// A description of what is wrong, or nil when the parameters make sense.
    public func validationError() -> String? {
        if !temperature.isFinite { return "temperature must be a finite number" }
        if topK < 0 { return "top-k must be ≥ 0" }
        if !(topP > 0 && topP <= 1) { return "top-p must be in (0, 1]" }
        if !(minP >= 0 && minP <= 1) { return "min-p must be in [0, 1]" }
        if !(repeatPenalty > 0) || !repeatPenalty.isFinite { return "repeat penalty must be > 0" }
        if repeatLastN < 0 { return "repeat-last-n must be ≥ 0" }
        return nil
    }
}

/// A small, fast, seedable generator (xoshiro256**), so the same seed gives the same text on
/// every machine and in every build.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        // SplitMix64 spreads any seed (even 0) over the whole state.
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// Picks the next token from logits. The chain follows llama.cpp's default order: repetition
/// penalty → top-k → top-p → min-p → temperature → draw.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededGenerator
    private var recent: [Int32] = []
    private var candidates: [(id: Int32, logit: Float)] = []

    public init(parameters: SamplingParameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed)
    }

    /// Remembers tokens (prompt and generated) for the repetition penalty.
    public mutating func accept(_ token: Int32) {
        guard parameters.repeatLastN > 0 else { return }
        recent.append(token)
        if recent.count > parameters.repeatLastN * 2 { recent.removeFirst(recent.count - parameters.repeatLastN) }
    }

    public mutating func sample(logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        applyRepeatPenalty(logits)
        if parameters.temperature <= 0 { return Self.argmax(UnsafeBufferPointer(logits)) }

        // Top-k first, on the full vocabulary, with a partial selection rather than a full sort.
        let k = parameters.topK > 0 ? min(parameters.topK, logits.count) : logits.count
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(logits.count)
        for i in 0..<logits.count where !logits[i].isNaN { candidates.append((Int32(i), logits[i])) }
        if candidates.isEmpty { return 0 }
        if k < candidates.count {
            candidates.sort { $0.logit > $1.logit }  // n log n over 50k floats is ~1 ms; fine per token
            candidates.removeLast(candidates.count - k)
        } else {
            candidates.sort { $0.logit > $1.logit }
        }

        // Probabilities before temperature (as llama.cpp's top-p and min-p see them).
        var probs = Self.softmax(candidates.map(\.logit))
        if parameters.topP < 1 {
            var cumulative: Double = 0
            var keep = candidates.count
            for (i, p) in probs.enumerated() {
                cumulative += Double(p)
                if cumulative >= Double(parameters.topP) { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - keep)
            probs.removeLast(probs.count - keep)
        }
        if parameters.minP > 0, let top = probs.first {
            let threshold = top * parameters.minP
            let keep = max(1, probs.prefix { $0 >= threshold }.count)
            candidates.removeLast(candidates.count - keep)
        }

        let scaled = Self.softmax(candidates.map { $0.logit / parameters.temperature })
        let u = random.nextUnit()
        var cumulative: Double = 0
        for (i, p) in scaled.enumerated() {
            cumulative += Double(p)
            if u < cumulative { return candidates[i].id }
        }
        return candidates[candidates.count - 1].id
    }

    private func applyRepeatPenalty(_ logits: UnsafeMutableBufferPointer<Float>) {
        let penalty = parameters.repeatPenalty
        guard penalty != 1, parameters.repeatLastN > 0, !recent.isEmpty else { return }
        // Each distinct recent token is penalised once, however often it occurred (as llama.cpp).
        var seen = Set<Int32>()
        for token in recent.suffix(parameters.repeatLastN) where seen.insert(token).inserted {
            let i = Int(token)
            guard i >= 0, i < logits.count else { continue }
            logits[i] = logits[i] > 0 ? logits[i] / penalty : logits[i] * penalty
        }
    }

    /// Index of the largest logit; the lowest index wins a tie, as in llama.cpp's greedy sampler.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            bestValue = logits[i]
            best = i
        }
        return Int32(best)
    }

    static func softmax(_ values: [Float]) -> [Float] {
        guard let maximum = values.max() else { return [] }
        var exps = values.map { expf($0 - maximum) }
        let sum = exps.reduce(0, +)
        for i in exps.indices { exps[i] /= sum }
        return exps
    }
}
