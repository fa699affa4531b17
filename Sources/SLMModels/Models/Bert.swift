import SLMCompute

/// The BERT encoder (`bert`: all-MiniLM, bge, e5 and the other sentence-transformers models), as
/// llama.cpp builds it: token + absolute position + token-type embeddings and a LayerNorm, then
/// post-norm blocks — bidirectional multi-head attention with biases, residual, LayerNorm; GELU
/// MLP, residual, LayerNorm. It gives hidden states for embeddings and generates no text.
enum Bert {
    static let architecture = "bert"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let keys = ArchitectureKeys(file: file, architecture: architecture)
        if let causal = file.value(keys.name("attention.causal"))?.asBool, causal {
            throw ModelError.unsupportedFeature("a causal BERT (\(keys.name("attention.causal")) = true)")
        }
        return try EncoderModel(file: file, config: EncoderConfig(reading: keys))
    }
}

/// Hyperparameters of a BERT-style encoder.
struct EncoderConfig: Sendable {
    var architecture: String
    var blockCount: Int
    var embeddingLength: Int  // dim
    var feedForwardLength: Int
    var heads: Int
    var headDim: Int
    /// Rows of the position embedding: the longest input.
    var contextLength: Int
    var vocabularySize: Int
    var normEpsilon: Float
    var pooling: Pooling?

    init(reading keys: ArchitectureKeys) throws {
        try keys.requireDense()
        architecture = keys.architecture
        embeddingLength = try keys.positive("embedding_length")
        heads = try keys.positive("attention.head_count")
        guard embeddingLength % heads == 0 else {
            throw ModelError.invalidHyperparameter(
                key: keys.name("attention.head_count"), value: "\(heads)",
                reason: "must divide embedding_length (\(embeddingLength))")
        }
        headDim = embeddingLength / heads
        blockCount = try keys.positive("block_count")
        feedForwardLength = try keys.positive("feed_forward_length")
        contextLength = try keys.positive("context_length")
        vocabularySize = try keys.vocabularySize()
        normEpsilon = keys.float("attention.layer_norm_epsilon") ?? 1e-12
        pooling = try keys.pooling()
    }
}

/// One post-norm encoder block's weights.
struct EncoderLayer: Sendable {
    let query: Projection  // (dim, dim)
    let key: Projection
    let value: Projection
    let attentionOutput: Projection  // (dim, dim)
    let attentionOutputNorm: Norm  // after the attention residual
    let up: Projection  // (ffn, dim)
    let down: Projection  // (dim, ffn)
    let outputNorm: Norm  // after the feed-forward residual
}

final class EncoderModel: LanguageModel, @unchecked Sendable {
    let config: EncoderConfig
    /// Never read: holding it keeps the mapping that every weight points into alive.
    let file: GGUFFile
    let tokenEmbedding: WeightMatrix  // (vocab, dim)
    let positionEmbedding: WeightMatrix  // (contextLength, dim)
    let tokenTypeEmbedding: WeightMatrix?  // (types, dim); every input is type 0
    let embeddingNorm: Norm
    let layers: [EncoderLayer]

    var architecture: String { config.architecture }
    var vocabularySize: Int { config.vocabularySize }
    var trainedContextLength: Int { config.contextLength }
    var generatesText: Bool { false }
    var embeddingLength: Int { config.embeddingLength }
    var filePooling: Pooling? { config.pooling }
    var contextShiftUnsupportedReason: String? { "'\(architecture)' is an encoder: it keeps no cache to shift" }

    func shiftPositions(state: InferenceState, range: Range<Int>, by delta: Int) throws {
        throw ModelError.unsupportedFeature("context shift: \(contextShiftUnsupportedReason!)")
    }

    init(file: GGUFFile, config c: EncoderConfig) throws {
        let w = WeightLoader(file: file)
        let dim = c.embeddingLength
        let ffn = c.feedForwardLength
        func norm(_ prefix: String) throws -> Norm { try w.norm(prefix, .layer, count: dim, epsilon: c.normEpsilon) }
        self.config = c
        self.file = file
        tokenEmbedding = try w.matrix("token_embd.weight", rows: c.vocabularySize, columns: dim)
        positionEmbedding = try w.matrix("position_embd.weight", rows: c.contextLength, columns: dim)
        if let types = file.tensor(named: "token_types.weight") {
            tokenTypeEmbedding = try w.matrix("token_types.weight", rows: max(1, types.rowCount), columns: dim)
        } else {
            tokenTypeEmbedding = nil
        }
        embeddingNorm = try norm("token_embd_norm")
        layers = try (0..<c.blockCount).map { i in
            let p = "blk.\(i)."
            return EncoderLayer(
                query: try w.projection(p + "attn_q", rows: dim, columns: dim),
                key: try w.projection(p + "attn_k", rows: dim, columns: dim),
                value: try w.projection(p + "attn_v", rows: dim, columns: dim),
                attentionOutput: try w.projection(p + "attn_output", rows: dim, columns: dim),
                attentionOutputNorm: try norm(p + "attn_output_norm"),
                up: try w.projection(p + "ffn_up", rows: ffn, columns: dim),
                down: try w.projection(p + "ffn_down", rows: dim, columns: ffn),
                outputNorm: try norm(p + "layer_output_norm"))
        }
    }

    var stateShape: StateShape {
        let c = config
        // One layer's keys and values at a time: every layer runs over the whole batch before
        // the next, so the cache of one layer is all an encoder needs.
        return StateShape(
            layers: 1, keyWidth: c.embeddingLength, valueWidth: c.embeddingLength,
            scratchWidths: EncoderScratch.widths(for: c),
            maxActivationColumns: max(c.embeddingLength, c.feedForwardLength),
            heads: c.heads, headDim: c.headDim)
    }

    /// The encoder's cache is scratch, not a context kept between calls, so it stays F16
    /// whatever `cacheTypes` asks.
    func makeState(contextLength: Int, maxBatch: Int, cacheTypes: KVCacheTypes) throws -> InferenceState {
        try InferenceState(shape: stateShape, contextLength: contextLength, maxBatch: maxBatch)
    }

    func forward(
        _ tokens: UnsafeBufferPointer<Int32>, state: InferenceState, pool: ThreadPool,
        allLogits: Bool, logits: UnsafeMutablePointer<Float>
    ) throws {
        throw ModelError.unsupportedFeature("text generation: '\(architecture)' is an encoder (use it for embeddings)")
    }

    func hiddenStates(
        _ tokens: UnsafeBufferPointer<Int32>, sequences: [Range<Int>], state: InferenceState, pool: ThreadPool,
        into output: UnsafeMutablePointer<Float>
    ) throws {
        let c = config
        let n = tokens.count
        guard n > 0 else { throw ModelError.emptyInput }
        guard n <= state.maxBatch, n <= state.contextLength else {
            throw ModelError.unsupportedFeature("batch of \(n) > \(min(state.maxBatch, state.contextLength))")
        }
        guard sequences.first?.lowerBound == 0, sequences.last?.upperBound == n,
            zip(sequences, sequences.dropFirst()).allSatisfy({ $0.upperBound == $1.lowerBound })
        else { throw ModelError.unsupportedFeature("sequences that do not tile the batch") }
        for s in sequences where s.count > c.contextLength {
            throw ModelError.contextFull(contextLength: c.contextLength, needed: s.count)
        }
        for t in tokens where t < 0 || Int(t) >= c.vocabularySize {
            throw ModelError.tokenOutOfRange(token: t, vocabularySize: c.vocabularySize)
        }
        let dim = c.embeddingLength
        let ffn = c.feedForwardLength
        let scratch = EncoderScratch(state)
        let x = scratch.x
        let q = scratch.q
        let k = scratch.k
        let v = scratch.v
        let att = scratch.att
        let sub = scratch.sublayer
        let up = scratch.up

        // Embeddings: token + type 0 + position within the sequence, then LayerNorm.
        let row = sub  // one row of scratch while x is being filled
        for s in sequences {
            for t in s {
                tokenEmbedding.dequantizeRow(Int(tokens[t]), into: x + t * dim)
                if let types = tokenTypeEmbedding {
                    types.dequantizeRow(0, into: row)
                    for i in 0..<dim { x[t * dim + i] += row[i] }
                }
                positionEmbedding.dequantizeRow(t - s.lowerBound, into: row)
                for i in 0..<dim { x[t * dim + i] += row[i] }
            }
        }
        embeddingNorm.apply(rows: n, x, count: dim, stride: dim, into: x)

        state.attentionMode = .f32
        state.batchPlacement = nil
        for layer in layers {
            Ops.linearFused(
                .init(weight: layer.query.weight, output: q, outputStride: dim),
                .init(weight: layer.key.weight, output: k, outputStride: dim),
                .init(weight: layer.value.weight, output: v, outputStride: dim),
                input: x, inputStride: dim, tokens: n, state: state, pool: pool)
            layer.query.addBias(q, tokens: n, stride: dim)
            layer.key.addBias(k, tokens: n, stride: dim)
            layer.value.addBias(v, tokens: n, stride: dim)
            for t in 0..<n { state.storeKeyValue(layer: 0, position: t, key: k + t * dim, value: v + t * dim) }
            Ops.packedBidirectionalAttention(
                layer: 0, query: q, output: att, sequences: sequences, heads: c.heads, kvHeads: c.heads,
                headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot(), state: state, pool: pool)
            Ops.linear(
                layer.attentionOutput.weight, input: att, inputStride: dim, tokens: n, output: sub,
                outputStride: dim, state: state, pool: pool)
            layer.attentionOutput.addBias(sub, tokens: n, stride: dim)
            for i in 0..<(n * dim) { x[i] += sub[i] }
            layer.attentionOutputNorm.apply(rows: n, x, count: dim, stride: dim, into: x)

            Ops.linear(
                layer.up.weight, input: x, inputStride: dim, tokens: n, output: up, outputStride: ffn,
                state: state, pool: pool)
            layer.up.addBias(up, tokens: n, stride: ffn)
            Ops.gelu(up, count: n * ffn)
            Ops.linear(
                layer.down.weight, input: up, inputStride: ffn, tokens: n, output: sub, outputStride: dim,
                state: state, pool: pool)
            layer.down.addBias(sub, tokens: n, stride: dim)
            for i in 0..<(n * dim) { x[i] += sub[i] }
            layer.outputNorm.apply(rows: n, x, count: dim, stride: dim, into: x)
        }
        output.update(from: x, count: n * dim)
    }
}

/// The scratch of an encoder pass, typed views of the state's buffers; (n, width) for the n
/// tokens of the batch.
struct EncoderScratch {
    let x: UnsafeMutablePointer<Float>  // (n, dim) residual stream
    let q: UnsafeMutablePointer<Float>  // (n, dim)
    let k: UnsafeMutablePointer<Float>  // (n, dim)
    let v: UnsafeMutablePointer<Float>  // (n, dim)
    let att: UnsafeMutablePointer<Float>  // (n, dim) attention output before its projection
    let sublayer: UnsafeMutablePointer<Float>  // (n, dim) a sublayer's output before its residual add
    let up: UnsafeMutablePointer<Float>  // (n, ffn)

    private enum Buffer: Int, CaseIterable {
        case x, q, k, v, att, sublayer, up

        func width(_ c: EncoderConfig) -> Int { self == .up ? c.feedForwardLength : c.embeddingLength }
    }

    static func widths(for config: EncoderConfig) -> [Int] { Buffer.allCases.map { $0.width(config) } }

    init(_ state: InferenceState) {
        func buffer(_ b: Buffer) -> UnsafeMutablePointer<Float> { state.scratch(b.rawValue) }
        x = buffer(.x)
        q = buffer(.q)
        k = buffer(.k)
        v = buffer(.v)
        att = buffer(.att)
        sublayer = buffer(.sublayer)
        up = buffer(.up)
    }
}
