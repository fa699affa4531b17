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

    public init(pooling: Pooling? = nil, normalize: Bool = true, dimensions: Int? = nil, binary: Bool = false) {
        self.pooling = pooling
        self.normalize = normalize
        self.dimensions = dimensions
        self.binary = binary
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

    /// The JSON form every interface prints: an array of numbers (each float in its shortest
    /// round-trip form), or for binary vectors a string of hex digits; with one vector per token
    /// (`Pooling.none`), an array of those.
    public var jsonValue: JSONValue {
        let items: [JSONValue] =
            bits.isEmpty
            ? vectors.map { v in .array(v.map { .double(Double(String(describing: $0)) ?? 0) }) }
            : bits.map { .string(Self.hex($0)) }
        return items.count == 1 ? items[0] : .array(items)
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
    /// The longest input of a decoder model, whatever its trained context.
    public static let maxDecoderInputTokens = 8192
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

    /// Embeds each of `texts` (special tokens added as the vocabulary says: [CLS] … [SEP] for
    /// BERT, BOS for most decoders). Encoder inputs are packed into passes of up to
    /// `EmbeddingLimits.batchTokens` tokens; decoder inputs run one at a time.
    public func embed(_ texts: [String], options: EmbeddingOptions = EmbeddingOptions()) throws -> [Embedding] {
        guard !texts.isEmpty else { throw EmbeddingError.noInputs }
        guard texts.count <= EmbeddingLimits.maxInputs else {
            throw EmbeddingError.tooManyInputs(count: texts.count, limit: EmbeddingLimits.maxInputs)
        }
        let width = model.embeddingLength
        if let d = options.dimensions, d < 1 || d > width {
            throw EmbeddingError.invalidDimensions(requested: d, available: width)
        }
        let limit = maxEmbeddingInputTokens
        var inputs: [[Int32]] = []
        inputs.reserveCapacity(texts.count)
        for (i, text) in texts.enumerated() {
            // A text longer than the limit can be refused before it is tokenized.
            if tokenizer.fewestTokens(forBytes: text.utf8.count) > limit {
                throw EmbeddingError.inputTooLong(index: i, tokens: tokenizer.fewestTokens(forBytes: text.utf8.count), limit: limit)
            }
            let ids = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            guard !ids.isEmpty else { throw EmbeddingError.emptyInput(index: i) }
            guard ids.count <= limit else { throw EmbeddingError.inputTooLong(index: i, tokens: ids.count, limit: limit) }
            inputs.append(ids)
        }
        return try embed(tokens: inputs, options: options)
    }

    /// `embed` for inputs already tokenized.
    public func embed(tokens inputs: [[Int32]], options: EmbeddingOptions) throws -> [Embedding] {
        let width = model.embeddingLength
        let pooling = embeddingPooling(options)
        let limit = maxEmbeddingInputTokens
        for (i, ids) in inputs.enumerated() {
            guard !ids.isEmpty else { throw EmbeddingError.emptyInput(index: i) }
            guard ids.count <= limit else { throw EmbeddingError.inputTooLong(index: i, tokens: ids.count, limit: limit) }
        }
        // Passes: consecutive inputs up to the batch budget for an encoder, one each for a decoder.
        var passes: [Range<Int>] = []
        var first = 0
        var tokens = 0
        for (i, ids) in inputs.enumerated() {
            if i > first && (model.generatesText || tokens + ids.count > EmbeddingLimits.batchTokens) {
                passes.append(first..<i)
                (first, tokens) = (i, 0)
            }
            tokens += ids.count
        }
        passes.append(first..<inputs.count)

        let longest = inputs.map(\.count).max() ?? 1
        let state =
            model.generatesText
            ? try model.makeState(contextLength: max(longest, 8), maxBatch: Self.promptBatch)
            : try model.makeState(
                contextLength: EmbeddingLimits.batchTokens, maxBatch: EmbeddingLimits.batchTokens)
        var hidden = [Float]()
        var results: [Embedding] = []
        results.reserveCapacity(inputs.count)
        for pass in passes {
            var packed: [Int32] = []
            var sequences: [Range<Int>] = []
            for i in pass {
                sequences.append(packed.count..<(packed.count + inputs[i].count))
                packed.append(contentsOf: inputs[i])
            }
            if hidden.count < packed.count * width { hidden = [Float](repeating: 0, count: packed.count * width) }
            try packed.withUnsafeBufferPointer { ids in
                try hidden.withUnsafeMutableBufferPointer { out in
                    try model.hiddenStates(ids, sequences: sequences, state: state, pool: pool, into: out.baseAddress!)
                }
            }
            for s in sequences {
                let rows = Self.pool(hidden, rows: s, width: width, pooling: pooling)
                results.append(Self.finish(rows, tokenCount: s.count, options: options))
            }
        }
        return results
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
    static func finish(_ vectors: [[Float]], tokenCount: Int, options: EmbeddingOptions) -> Embedding {
        var out = vectors.map { v in options.dimensions.map { Array(v.prefix($0)) } ?? v }
        if options.normalize {
            out = out.map { v in
                let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                return norm > 0 ? v.map { Float(Double($0) / norm) } : v
            }
        }
        guard options.binary else { return Embedding(vectors: out, bits: [], tokenCount: tokenCount) }
        return Embedding(vectors: [], bits: out.map(packSigns), tokenCount: tokenCount)
    }

    /// Bit i (most significant first) of byte i / 8 is set when v[i] > 0.
    public static func packSigns(_ v: [Float]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (v.count + 7) / 8)
        for (i, x) in v.enumerated() where x > 0 { bytes[i / 8] |= 0x80 >> UInt8(i % 8) }
        return bytes
    }
}
