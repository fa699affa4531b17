import SLMCompute
import SLMJSON
import SLMModels

/// What to make of the hidden states: which pooling, whether to L2-normalise, how many leading
/// dimensions to keep (Matryoshka truncation) and whether to pack signs into bits.
public struct EmbeddingOptions: Sendable, Equatable {
    /// nil: the file's `<arch>.pooling_type`, else mean.
    public var pooling: Pooling?
    /// L2-normalise each vector (after truncation), as sentence-transformers and llama.cpp's
    /// `--embd-normalize 2` do.
    public var normalize: Bool
    /// Keep the first `dimensions` values (Matryoshka models are trained so that a prefix is an
    /// embedding of its own); nil keeps all.
    public var dimensions: Int?
    /// One bit per dimension, set when the value is > 0, packed most significant bit first.
    public var binary: Bool
    /// Cut an input longer than the model takes (keeping its last special token) instead of
    /// refusing it, as Ollama does by default.
    public var truncate: Bool

    public init(
        pooling: Pooling? = nil, normalize: Bool = true, dimensions: Int? = nil, binary: Bool = false, truncate: Bool = false
    ) {
        self.pooling = pooling
        self.normalize = normalize
        self.dimensions = dimensions
        self.binary = binary
        self.truncate = truncate
    }
}

/// One input's embedding.
public struct Embedding: Sendable, Equatable {
    /// One vector, or one per token for `Pooling.none`; empty when `binary`.
    public var vectors: [[Float]]
    /// Sign bits, (dimensions + 7) / 8 bytes per vector, most significant bit = first dimension.
    public var bits: [[UInt8]]
    /// Tokens the input took, special tokens included.
    public var tokenCount: Int
    /// One vector per token (`Pooling.none`), even when there is only one.
    public var perToken: Bool

    /// The JSON form every interface prints: an array of numbers (each float in its shortest
    /// round-trip form), or for binary vectors a string of hex digits; with one vector per token
    /// (`Pooling.none`), an array of those.
    public var jsonValue: JSONValue {
        let items: [JSONValue] =
            bits.isEmpty
            ? vectors.map { v in .array(v.map { .double(Double(String(describing: $0)) ?? 0) }) }
            : bits.map { .string(Self.hex($0)) }
        return perToken ? .array(items) : items[0]
    }

    /// Lower-case hex digits, two per byte, first byte first.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public enum EmbeddingError: Error, Equatable, CustomStringConvertible {
    case noInputs
    case tooManyInputs(count: Int, limit: Int)
    case inputTooLong(index: Int, tokens: Int, limit: Int)
    case emptyInput(index: Int)
    case invalidDimensions(requested: Int, available: Int)

    public var description: String {
        switch self {
        case .noInputs: return "no input to embed"
        case .tooManyInputs(let n, let limit): return "\(n) inputs, at most \(limit) per request"
        case .inputTooLong(let i, let n, let limit):
            return "input \(i) is \(n) tokens, the model takes at most \(limit)"
        case .emptyInput(let i): return "input \(i) has no tokens"
        case .invalidDimensions(let d, let available):
            return "dims must be between 1 and the model's \(available), got \(d)"
        }
    }
}

/// Limits of one embedding call, so a request's cost is bounded before any work starts.
public enum EmbeddingLimits {
    /// Inputs in one call.
    public static let maxInputs = 2048
    /// Tokens of one encoder pass (several inputs packed together): bounds the scratch and
    /// cache of a call at a few tens of MB for a small encoder.
    public static let batchTokens = 2048
    /// The longest input of a decoder model, whatever its trained context: the default context
    /// of a generation, so an embedding's cache is never larger than a conversation's.
    public static let maxDecoderInputTokens = Engine.defaultMaxContext
}

extension Engine {
    /// The longest input this model embeds, in tokens.
    public var maxEmbeddingInputTokens: Int {
        model.generatesText
            ? min(model.trainedContextLength, EmbeddingLimits.maxDecoderInputTokens)
            : min(model.trainedContextLength, EmbeddingLimits.batchTokens)
    }

    /// The pooling `options` ask for, or the model's.
    public func embeddingPooling(_ options: EmbeddingOptions) -> Pooling {
        options.pooling ?? model.filePooling ?? .mean
    }

    /// Embeds each of `texts` in one call; see `EmbeddingRun`.
    public func embed(_ texts: [String], options: EmbeddingOptions = EmbeddingOptions()) throws -> [Embedding] {
        let run = try EmbeddingRun(engine: self, texts: texts, options: options)
        while try !run.step() {}
        return run.results
    }
}

/// One embedding request, run a pass at a time so that a scheduler can interleave it with other
/// work: texts are tokenized (special tokens added as the vocabulary says: [CLS] … [SEP] for
/// BERT, BOS for most decoders) and checked when it is made; encoder inputs are then packed into
/// passes of up to `EmbeddingLimits.batchTokens` tokens, decoder inputs run one per pass.
public final class EmbeddingRun {
    public let engine: Engine
    public let options: EmbeddingOptions
    public let pooling: Pooling
    private let inputs: [[Int32]]
    private let passes: [Range<Int>]
    private var nextPass = 0
    private var state: InferenceState?
    private var hidden: [Float] = []
    /// One per input, in order, as passes finish.
    public private(set) var results: [Embedding] = []
    /// Tokens of all inputs, special tokens included.
    public let tokenCount: Int

    public var isFinished: Bool { nextPass == passes.count }

    public convenience init(engine: Engine, texts: [String], options: EmbeddingOptions) throws {
        guard !texts.isEmpty else { throw EmbeddingError.noInputs }
        guard texts.count <= EmbeddingLimits.maxInputs else {
            throw EmbeddingError.tooManyInputs(count: texts.count, limit: EmbeddingLimits.maxInputs)
        }
        let limit = engine.maxEmbeddingInputTokens
        var inputs: [[Int32]] = []
        inputs.reserveCapacity(texts.count)
        // What truncation keeps of a text before tokenizing: twice the bytes of `limit` of the
        // longest tokens, so the tokens kept are those of the whole text and the work is bounded.
        let keptBytes = 2 * limit * engine.tokenizer.longestTokenBytes + 64
        for (i, text) in texts.enumerated() {
            // A text that cannot fit is refused before it is tokenized (or cut first).
            let fewest = engine.tokenizer.fewestTokens(forBytes: text.utf8.count)
            if fewest > limit && !options.truncate { throw EmbeddingError.inputTooLong(index: i, tokens: fewest, limit: limit) }
            let kept = text.utf8.count > keptBytes ? String(decoding: text.utf8.prefix(keptBytes), as: UTF8.self) : text
            // Special-token texts ("[SEP]") become those tokens, as in sentence-transformers
            // and llama-embedding.
            inputs.append(engine.tokenizer.encode(kept, addSpecial: true, parseSpecial: true))
        }
        try self.init(engine: engine, tokens: inputs, options: options)
    }

    /// For inputs already tokenized.
    public init(engine: Engine, tokens inputs: [[Int32]], options: EmbeddingOptions) throws {
        guard !inputs.isEmpty else { throw EmbeddingError.noInputs }
        guard inputs.count <= EmbeddingLimits.maxInputs else {
            throw EmbeddingError.tooManyInputs(count: inputs.count, limit: EmbeddingLimits.maxInputs)
        }
        let width = engine.model.embeddingLength
        if let d = options.dimensions, d < 1 || d > width {
            throw EmbeddingError.invalidDimensions(requested: d, available: width)
        }
        let limit = engine.maxEmbeddingInputTokens
        var inputs = inputs
        if options.truncate {
            // The last token stays when the vocabulary ends every input with one ([SEP]).
            let endsWithSpecial = engine.tokenizer.vocabulary.addSEP || engine.tokenizer.vocabulary.addEOS
            for i in inputs.indices where inputs[i].count > limit {
                let last = inputs[i].last!
                inputs[i].removeSubrange(limit...)
                if endsWithSpecial { inputs[i][limit - 1] = last }
            }
        }
        for (i, ids) in inputs.enumerated() {
            guard !ids.isEmpty else { throw EmbeddingError.emptyInput(index: i) }
            guard ids.count <= limit else { throw EmbeddingError.inputTooLong(index: i, tokens: ids.count, limit: limit) }
            try engine.tokenizer.validate(ids)
        }
        var passes: [Range<Int>] = []
        var first = 0
        var tokens = 0
        for (i, ids) in inputs.enumerated() {
            if i > first && (engine.model.generatesText || tokens + ids.count > EmbeddingLimits.batchTokens) {
                passes.append(first..<i)
                (first, tokens) = (i, 0)
            }
            tokens += ids.count
        }
        passes.append(first..<inputs.count)
        self.engine = engine
        self.options = options
        self.pooling = engine.embeddingPooling(options)
        self.inputs = inputs
        self.passes = passes
        tokenCount = inputs.reduce(0) { $0 + $1.count }
        results.reserveCapacity(inputs.count)
    }

    /// Runs the next pass; true when every input has its embedding.
    public func step() throws -> Bool {
        guard nextPass < passes.count else { return true }
        let model = engine.model
        let width = model.embeddingLength
        let state = try self.state ?? makeState()
        self.state = state
        var packed: [Int32] = []
        var sequences: [Range<Int>] = []
        for i in passes[nextPass] {
            sequences.append(packed.count..<(packed.count + inputs[i].count))
            packed.append(contentsOf: inputs[i])
        }
        if hidden.count < packed.count * width { hidden = [Float](repeating: 0, count: packed.count * width) }
        try packed.withUnsafeBufferPointer { ids in
            try hidden.withUnsafeMutableBufferPointer { out in
                try model.hiddenStates(ids, sequences: sequences, state: state, pool: engine.pool, into: out.baseAddress!)
            }
        }
        for s in sequences {
            let rows = Self.pool(hidden, rows: s, width: width, pooling: pooling)
            results.append(Self.finish(rows, tokenCount: s.count, perToken: pooling == .none, options: options))
        }
        nextPass += 1
        if isFinished {
            self.state = nil
            hidden = []
        }
        return isFinished
    }

    private func makeState() throws -> InferenceState {
        let model = engine.model
        if model.generatesText {
            let longest = inputs.map(\.count).max() ?? 1
            return try model.makeState(contextLength: max(longest, 8), maxBatch: Engine.promptBatch, cacheTypes: .f16)
        }
        let largest = passes.map { p in p.reduce(0) { $0 + inputs[$1].count } }.max() ?? 1
        return try model.makeState(contextLength: largest, maxBatch: largest, cacheTypes: .f16)
    }

    /// The pooled vector(s) of the hidden-state rows `rows` ((tokens, width) floats).
    static func pool(_ hidden: [Float], rows: Range<Int>, width: Int, pooling: Pooling) -> [[Float]] {
        func row(_ t: Int) -> [Float] { Array(hidden[(t * width)..<((t + 1) * width)]) }
        switch pooling {
        case .none: return rows.map(row)
        case .cls: return [row(rows.lowerBound)]
        case .last: return [row(rows.upperBound - 1)]
        case .mean:
            // Summed in Double: the mean of a long input does not depend on the order.
            var sum = [Double](repeating: 0, count: width)
            for t in rows {
                for i in 0..<width { sum[i] += Double(hidden[t * width + i]) }
            }
            return [sum.map { Float($0 / Double(rows.count)) }]
        }
    }

    /// Truncation, normalisation and binarisation of pooled vectors.
    static func finish(_ vectors: [[Float]], tokenCount: Int, perToken: Bool, options: EmbeddingOptions) -> Embedding {
        var out = vectors.map { v in options.dimensions.map { Array(v.prefix($0)) } ?? v }
        if options.normalize {
            out = out.map { v in
                let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                return norm > 0 ? v.map { Float(Double($0) / norm) } : v
            }
        }
        guard options.binary else { return Embedding(vectors: out, bits: [], tokenCount: tokenCount, perToken: perToken) }
        return Embedding(vectors: [], bits: out.map(packSigns), tokenCount: tokenCount, perToken: perToken)
    }

    /// Bit i (most significant first) of byte i / 8 is set when v[i] > 0.
    public static func packSigns(_ v: [Float]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (v.count + 7) / 8)
        for (i, x) in v.enumerated() where x > 0 { bytes[i / 8] |= 0x80 >> UInt8(i % 8) }
        return bytes
    }
}
