import SLMCompute
import SLMGrammar
import SLMJSON
import SLMModels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sampling settings, with llama.cpp's defaults so users get the behaviour they know. Every front
/// end (`slm`'s options, slmd's requests, `slm_sampling_params`) fills this one type and relies on
/// its `validate()`; the field names in errors and in the JSON form are the protocol's and slm.h's.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy: always the most likely token.
    public var temperature: Float = 0.8
    /// 0 disables top-k.
    public var topK: Int = 40
    /// 1 disables top-p.
    public var topP: Float = 0.95
    /// 0 disables min-p.
    public var minP: Float = 0.05
    /// 1 disables the repetition penalty.
    public var repeatPenalty: Float = 1.0
    /// How many of the most recent tokens the repetition penalty looks at (llama.cpp's
    /// `--repeat-last-n`): 0 = none, -1 = the whole context (prompt and reply so far).
    public var repeatLastN: Int = 64
    /// The same seed gives the same text. Front ends draw `randomSeed()` when none is given.
    public var seed: UInt64 = 0
    /// GBNF text (llama.cpp's grammar syntax, start rule `root`) the output must match; nil = none.
    public var grammar: String? = nil
    /// A JSON Schema the output must be a valid document of (`{}` or `true`: any JSON value);
    /// nil = none. At most one of `grammar` and `jsonSchema`.
    public var jsonSchema: JSONValue? = nil

    public init() {}

    public static var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }

    /// The seed of a request that gives none. Below 2^53, so every seed slm draws (and prints)
    /// survives a JSON number and can be sent back to slmd to repeat a generation.
    public static func randomSeed() -> UInt64 { UInt64.random(in: 0...maxJSONSeed) }

    /// The largest seed a JSON number holds exactly (2^53).
    public static let maxJSONSeed: UInt64 = 1 << 53

    /// Throws the first setting that is out of range. Float settings must also be finite and not
    /// subnormal: dividing a logit by 1e-40 overflows to infinity and the probabilities to NaN.
    public func validate() throws(SamplingError) {
        try Self.check(temperature, "temperature", "a finite number >= 0 (0 = greedy)") { $0 >= 0 }
        try Self.check(topK, "top_k", in: 0...Int(Int32.max), "(0 = off)")
        try Self.check(topP, "top_p", "a number in (0, 1] (1 = off)") { $0 > 0 && $0 <= 1 }
        try Self.check(minP, "min_p", "a number in [0, 1] (0 = off)") { $0 >= 0 && $0 <= 1 }
        try Self.check(repeatPenalty, "repeat_penalty", "a finite number > 0 (1 = off)") { $0 > 0 }
        try Self.check(repeatLastN, "repeat_last_n", in: -1...Int(Int32.max), "(-1 = the whole context, 0 = off)")
        if grammar != nil && jsonSchema != nil {
            throw .invalidValue(field: "grammar", requirement: "absent when json_schema is given (one constraint at a time)", got: "both")
        }
    }

    /// The output constraint as GBNF text (a schema converted), nil when there is none. The
    /// errors name the field and say what is wrong and where.
    public func constraintGrammar() throws(SamplingError) -> String? {
        if let grammar { return grammar }
        guard let schema = jsonSchema else { return nil }
        do throws(JSONSchemaError) {
            return try JSONSchemaGrammar.grammar(for: schema)
        } catch {
            throw .invalidGrammar(field: "json_schema", message: "\(error)")
        }
    }

    private static func check(
        _ value: Float, _ field: String, _ requirement: String,
        _ inRange: (Float) -> Bool
    ) throws(SamplingError) {
        // NaN fails every range test.
        guard value.isFinite, inRange(value) else { throw .invalidValue(field: field, requirement: requirement, got: "\(value)") }
        guard value == 0 || value.isNormal else { throw .invalidValue(field: field, requirement: normalFloat, got: "\(value)") }
    }

    private static let normalFloat = "0 or a normal float (magnitude >= \(Float.leastNormalMagnitude))"

    private static func check(_ value: Int, _ field: String, in range: ClosedRange<Int>, _ meaning: String) throws(SamplingError) {
        guard range.contains(value) else {
            throw .invalidValue(
                field: field, requirement: "between \(range.lowerBound) and \(range.upperBound) \(meaning)", got: "\(value)")
        }
    }

    /// A number from JSON or the command line (a Double) as the Float a setting holds. A nonzero
    /// value too small for a normal Float is refused rather than rounded to 0, which would
    /// silently mean greedy (temperature) or off (min_p).
    public static func float(_ value: Double, field: String) throws(SamplingError) -> Float {
        let narrowed = Float(value)
        if value != 0, value.isFinite, !narrowed.isNormal, narrowed.isFinite {
            throw .invalidValue(field: field, requirement: normalFloat, got: "\(value)")
        }
        return narrowed
    }
}

/// A sampling setting that is out of range or, in the JSON form, of the wrong type or unknown.
/// Every case names the field as the protocol and slm.h spell it.
public enum SamplingError: Error, Equatable, CustomStringConvertible {
    case invalidValue(field: String, requirement: String, got: String)
    case wrongType(field: String, expected: String)
    case unknownField(String)
    /// A grammar or schema that cannot be used, with the parser's or converter's message.
    case invalidGrammar(field: String, message: String)
    /// Nothing in the vocabulary can continue the grammar, and it cannot end here.
    case grammarDeadEnd

    public var description: String {
        switch self {
        case .invalidGrammar(let field, let message): return "\(field): \(message)"
        case .grammarDeadEnd: return "no token of the model's vocabulary can continue the grammar here, and it cannot end here"
        case .invalidValue(let field, let requirement, let got): return "\(field) must be \(requirement), got \(got)"
        case .wrongType(let field, let expected): return "\(field) must be \(expected)"
        case .unknownField(let field): return "unknown field \"\(field)\""
        }
    }
}

// MARK: - The JSON form

/// The protocol's form of the settings (docs/protocol.md, `generate` and `chat`): what slmd reads
/// from a request and what `slm ask` and `slm chat --socket` send.
extension SamplingParameters {
    /// Reads a JSON object with the protocol's field names. Absent and null fields keep their
    /// defaults; an absent seed is a fresh random one (`randomSeed()`). The result is validated;
    /// a key that is not a sampling field is `unknownField`.
    public init(json: JSONValue) throws(SamplingError) {
        guard let fields = json.objectValue else { throw .wrongType(field: "sampling", expected: "an object") }
        self.init()
        var givenSeed: UInt64? = nil
        for (key, value) in fields where value != .null {
            switch key {
            case "temperature": temperature = try Self.float(json: value, field: key)
            case "top_k": topK = try Self.integer(json: value, field: key)
            case "top_p": topP = try Self.float(json: value, field: key)
            case "min_p": minP = try Self.float(json: value, field: key)
            case "repeat_penalty": repeatPenalty = try Self.float(json: value, field: key)
            case "repeat_last_n": repeatLastN = try Self.integer(json: value, field: key)
            case "seed":
                let seed = try Self.integer(json: value, field: key)
                guard seed >= 0, UInt64(seed) <= Self.maxJSONSeed else {
                    throw .invalidValue(field: key, requirement: "between 0 and \(Self.maxJSONSeed)", got: "\(seed)")
                }
                givenSeed = UInt64(seed)
            case "grammar":
                guard case .string(let text) = value else { throw .wrongType(field: key, expected: "a string (GBNF)") }
                grammar = text
            case "json_schema":
                switch value {
                case .object, .bool: jsonSchema = value
                default: throw .wrongType(field: key, expected: "a JSON Schema (an object, or true)")
                }
            default:
                throw .unknownField(key)
            }
        }
        seed = givenSeed ?? Self.randomSeed()
        try validate()
    }

    /// Every field, as `init(json:)` reads it back. A seed above 2^53 (possible from the C API
    /// only) does not survive a JSON number and is refused by `init(json:)`.
    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("temperature", .number(Self.shortest(temperature))),
            ("top_k", .integer(topK)),
            ("top_p", .number(Self.shortest(topP))),
            ("min_p", .number(Self.shortest(minP))),
            ("repeat_penalty", .number(Self.shortest(repeatPenalty))),
            ("repeat_last_n", .integer(repeatLastN)),
            ("seed", .integer(seed)),
        ]
        if let grammar { fields.append(("grammar", .string(grammar))) }
        if let jsonSchema { fields.append(("json_schema", jsonSchema)) }
        return .object(fields)
    }

    /// The Float as the Double its shortest decimal form says (0.8, not 0.800000011920929), so
    /// the JSON shows the number the user typed and reads back as the same Float.
    private static func shortest(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    private static func float(json value: JSONValue, field: String) throws(SamplingError) -> Float {
        guard let number = value.numberValue else { throw .wrongType(field: field, expected: "a number") }
        return try float(number, field: field)
    }

    private static func integer(json value: JSONValue, field: String) throws(SamplingError) -> Int {
        guard let number = value.integerValue else { throw .wrongType(field: field, expected: "an integer") }
        return Int(number)
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
    /// The allowed candidates found one by one under a grammar (see `keepAllowed`).
    private var allowedTop: [(id: Int32, logit: Float)] = []

    public init(parameters: SamplingParameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed)
    }

    /// Remembers tokens (prompt and generated) for the repetition penalty.
    public mutating func accept(_ token: Int32) {
        let window = parameters.repeatLastN
        guard window != 0 else { return }
        recent.append(token)
        // Trimmed to the window once it is twice as long, not shifted every token; -1 keeps the
        // whole context.
        if window > 0, recent.count > window * 2 { recent.removeFirst(recent.count - window) }
    }

    /// Picks a token from all of them.
    public mutating func sample(logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        // Only a constraint's checks can fail.
        try! sample(logits: logits, constraint: nil)
    }

    /// Picks a token. With a `constraint`, only tokens it allows are candidates (end of
    /// generation only where the grammar may end), and every setting applies to those as if the
    /// others had no probability: top-k keeps the k most likely allowed tokens.
    public mutating func sample(
        logits: UnsafeMutableBufferPointer<Float>, constraint: TokenConstraint?
    ) throws(SamplingError) -> Int32 {
        applyRepeatPenalty(logits)
        if parameters.temperature <= 0 {
            let best = Self.argmax(UnsafeBufferPointer(logits))
            guard let constraint, !constraint.allows(best) else { return best }
            return try Self.argmax(UnsafeBufferPointer(logits), allowed: Self.mask(constraint))
        }

        // Candidates by logit, highest first; top-k keeps the first k (of the allowed ones, under a
        // grammar).
        let k = parameters.topK > 0 ? min(parameters.topK, logits.count) : logits.count
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(logits.count)
        for i in 0..<logits.count where !logits[i].isNaN { candidates.append((Int32(i), logits[i])) }
        // A full sort: about 4 ms per token over 49k logits on a Zen 3 core (measured beside
        // greedy decoding); a partial selection would be cheaper.
        candidates.sort { $0.logit > $1.logit }
        if let constraint { try keepAllowed(k, constraint) }
        if candidates.isEmpty { return 0 }
        if k < candidates.count { candidates.removeLast(candidates.count - k) }

        // Probabilities before temperature (as llama.cpp's top-p and min-p see them).
        var probs = Self.softmax(candidates.map(\.logit))
        if parameters.topP < 1 {
            var cumulative: Double = 0
            var keep = candidates.count
            for (i, p) in probs.enumerated() {
                cumulative += Double(p)
                if cumulative >= Double(parameters.topP) {
                    keep = i + 1
                    break
                }
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

    /// How many of the most likely candidates are checked one by one before the whole
    /// vocabulary's mask is computed instead (cheaper where the grammar allows few tokens).
    static let candidatesCheckedOneByOne = 256

    /// Narrows the sorted candidates to the allowed ones, keeping their order. When only the
    /// `k` most likely matter, the top of the list is checked token by token (each check is one
    /// cached step per byte); otherwise, or if the top holds too few allowed tokens, the mask
    /// of the whole vocabulary decides.
    private mutating func keepAllowed(_ k: Int, _ constraint: TokenConstraint) throws(SamplingError) {
        if k < candidates.count {
            allowedTop.removeAll(keepingCapacity: true)
            for c in candidates.prefix(Self.candidatesCheckedOneByOne) where allowedTop.count < k && constraint.allows(c.id) {
                allowedTop.append(c)
            }
            do { try constraint.checkLimits() } catch { throw .invalidGrammar(field: "grammar", message: "\(error)") }
            if allowedTop.count == k {
                swap(&candidates, &allowedTop)
                return
            }
        }
        let mask = try Self.mask(constraint)
        var kept = 0
        for i in candidates.indices where Self.isSet(mask, candidates[i].id) {
            candidates[kept] = candidates[i]  // kept <= i: a compaction in place, order kept
            kept += 1
        }
        candidates.removeLast(candidates.count - kept)
        if candidates.isEmpty { throw .grammarDeadEnd }
    }

    private static func mask(_ constraint: TokenConstraint) throws(SamplingError) -> [UInt64] {
        do {
            return try constraint.allowedMask()
        } catch {
            throw .invalidGrammar(field: "grammar", message: "\(error)")
        }
    }

    private static func isSet(_ mask: [UInt64], _ id: Int32) -> Bool {
        Int(id >> 6) < mask.count && mask[Int(id >> 6)] >> UInt64(id & 63) & 1 == 1
    }

    /// The largest logit among the tokens `allowed` marks (the lowest index wins a tie).
    static func argmax(_ logits: UnsafeBufferPointer<Float>, allowed: [UInt64]) throws(SamplingError) -> Int32 {
        var best = -1
        var bestValue = -Float.infinity
        for (w, word) in allowed.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let i = w << 6 | bits.trailingZeroBitCount
                bits &= bits - 1
                if i < logits.count, best < 0 || logits[i] > bestValue {
                    bestValue = logits[i]
                    best = i
                }
            }
        }
        guard best >= 0 else { throw .grammarDeadEnd }
        return Int32(best)
    }

    private func applyRepeatPenalty(_ logits: UnsafeMutableBufferPointer<Float>) {
        let penalty = parameters.repeatPenalty
        guard penalty != 1, parameters.repeatLastN != 0, !recent.isEmpty else { return }
        let window = parameters.repeatLastN < 0 ? recent[...] : recent.suffix(parameters.repeatLastN)
        // Each distinct recent token is penalised once, however often it occurred (as llama.cpp).
        var seen = Set<Int32>()
        for token in window where seen.insert(token).inserted {
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
        // A logit divided by a tiny temperature can overflow to infinity, and inf - inf is NaN:
        // the largest values then share all the probability.
        guard maximum.isFinite else {
            let winners = Float(values.filter { $0 == maximum }.count)
            return values.map { $0 == maximum ? 1 / winners : 0 }
        }
        var exps = values.map { expf($0 - maximum) }
        let sum = exps.reduce(0, +)
        for i in exps.indices { exps[i] /= sum }
        return exps
    }
}
