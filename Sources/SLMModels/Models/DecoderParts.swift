import SLMCompute

/// Building blocks of the one decoder: a normalization with its weights, a projection with its
/// optional bias, the configuration that says how a family wires its block, and the loading of a
/// block's tensors under their GGUF names. The architecture files (Llama.swift, Qwen2.swift, ...)
/// state only how their block differs from llama's; `DecoderModel` runs them all.

/// A normalization layer: RMSNorm (weight) or LayerNorm (weight and optional bias).
struct Norm: Sendable {
    enum Kind: Sendable { case rms, layer }
    let kind: Kind
    let weight: WeightVector  // (count)
    let bias: WeightVector?  // (count), LayerNorm only
    let epsilon: Float

    /// Normalizes one row of `count` floats from `x` into `y` (in-place safe).
    func apply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        switch kind {
        case .rms:
            Ops.rmsNorm(x, weight: weight.values.baseAddress, eps: epsilon, count: count, into: y)
        case .layer:
            Ops.layerNorm(
                x, weight: weight.values.baseAddress, bias: bias?.values.baseAddress, eps: epsilon,
                count: count, into: y)
        }
    }

    /// Normalizes `rows` rows of `count` floats, `stride` apart in both buffers.
    func apply(rows: Int, _ x: UnsafePointer<Float>, count: Int, stride: Int, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { apply(x + r * stride, count: count, into: y + r * stride) }
    }
}

/// y = W x (+ b): a weight matrix and the bias ggml adds after the matmul, if the file has one.
struct Projection: Sendable {
    let weight: WeightMatrix  // (outputs, inputs)
    let bias: WeightVector?  // (outputs)

    var outputs: Int { weight.rows }

    /// Adds the bias to `tokens` rows of output, `stride` floats apart.
    func addBias(_ y: UnsafeMutablePointer<Float>, tokens: Int, stride: Int) {
        guard let b = bias?.values.baseAddress else { return }
        for t in 0..<tokens {
            let row = y + t * stride
            for i in 0..<weight.rows { row[i] += b[i] }
        }
    }
}

/// How queries, keys and values are projected: three matrices, or one fused (q | k | v) matrix.
enum QKVProjection: Sendable {
    case separate(query: Projection, key: Projection, value: Projection)
    case fused(Projection)  // (qWidth + 2 kvWidth, dim)
}

/// One rotary-embedding table: frequency base, linear scale, optional per-frequency divisors
/// and a magnitude factor applied to cos/sin (ggml's attn_factor). LongRoPE files carry two sets
/// of divisors: the long ones apply when the context exceeds the original training context, as
/// llama.cpp chooses them.
struct RopeTable: Sendable, Equatable {
    var base: Float
    var frequencyScale: Float = 1
    var factors: [Float]? = nil  // (rotaryDims / 2)
    var longFactors: [Float]? = nil  // (rotaryDims / 2)
    var originalContext = 0
    var magnitude: Float = 1

    /// The divisors for a state of `contextLength` positions.
    func factors(contextLength: Int) -> [Float]? {
        if let longFactors, contextLength > originalContext { return longFactors }
        return factors
    }
}

/// Which pairs RoPE rotates: adjacent (llama's "normal" mode) or split halves (NEOX mode).
enum RopeStyle: Sendable { case adjacent, neox }

/// The feed-forward activation.
enum FeedForwardActivation: Sendable {
    case silu  // SwiGLU with a gate
    case gelu  // GeGLU with a gate, plain GELU without
}

/// Which feed-forward tensors a block has.
enum FeedForwardWiring: Sendable {
    case gated  // ffn_gate and ffn_up, both (ffn, dim)
    /// As `gated`, or, when the file has no ffn_gate, one (2 ffn, dim) ffn_up holding gate | up (Phi-3).
    case gatedOrFused
    case plain  // ffn_up → GELU → ffn_down, no gate (Phi-2)
}

/// One decoder block's weights and per-layer settings.
struct DecoderLayer: Sendable {
    let attentionNorm: Norm
    let qkv: QKVProjection
    let queryNorm: Norm?  // (headDim) per head, applied before RoPE (Gemma 3)
    let keyNorm: Norm?
    let attentionOutput: Projection  // (dim, qWidth)
    let postAttentionNorm: Norm?  // on the attention output before the residual add (Gemma)
    /// Nil for a parallel block (Phi-2), whose feed-forward reads the attention norm's output.
    let ffnNorm: Norm?
    /// Gate and up, or a fused (gate | up) matrix (Phi-3), or no gate for a plain MLP.
    let gate: Projection?
    let up: Projection  // (ffn, dim), or (2 ffn, dim) when `fusedGateUp`
    let fusedGateUp: Bool
    let down: Projection  // (dim, ffn)
    let postFFNNorm: Norm?
    /// Sliding-window size for this layer, 0 for global attention.
    let window: Int
    /// Index into `DecoderConfig.ropeTables`.
    let ropeTable: Int
}

/// Hyperparameters and wiring of a decoder-only transformer. `init(reading:)` (ArchitectureKeys.swift)
/// reads the first group from the keys every architecture shares and sets the rest to the llama
/// block; each family's file then changes what its block does differently.
struct DecoderConfig: Sendable {
    var architecture: String
    var blockCount: Int
    var embeddingLength: Int  // dim
    var feedForwardLength: Int
    var heads: Int
    var kvHeads: Int
    var headDim: Int
    var rotaryDims: Int
    /// The global table, then (Gemma) the one the sliding-window layers use.
    var ropeTables: [RopeTable]
    var contextLength: Int
    var vocabularySize: Int
    var norm: Norm.Kind
    var normEpsilon: Float
    /// Scales the scores in the attention kernel: 1/√headDim, or 1 where the queries are scaled
    /// instead (`queryScale`), as llama.cpp splits the two.
    var attentionScale: Float

    // The llama block unless a family says otherwise.
    var ropeStyle = RopeStyle.adjacent
    var activation = FeedForwardActivation.silu
    var feedForward = FeedForwardWiring.gated
    /// Per-head norms on queries and keys before RoPE (`attn_q_norm`, `attn_k_norm`: Gemma 3).
    var queryKeyNorms = false
    /// Norms on each sublayer's output before its residual add (`post_attention_norm`,
    /// `post_ffw_norm`: Gemma).
    var postNorms = false
    /// Phi-2 style: attention and feed-forward both read the attention norm's output (there is no
    /// ffn_norm), x += attn + ffn.
    var parallelBlock = false
    /// Multiplies the token embeddings (Gemma: √dim).
    var embeddingScale: Float?
    /// Multiplies the queries after RoPE (Gemma, Phi).
    var queryScale: Float?
    /// Attention-score soft-capping c: s → c·tanh(s / c) (Gemma 2).
    var attentionSoftcap: Float?
    /// Final-logit soft-capping (Gemma 2, optional in Gemma 3).
    var finalLogitSoftcap: Float?
    /// The window of the sliding-window layers, and which layers those are (empty: none).
    var slidingWindow = 0
    var slidingWindowLayers: [Bool] = []
    /// Whether a file without `output.weight` uses the token embedding as its output matrix.
    var outputMayBeTied = true
    /// `<arch>.pooling_type`, for embeddings (nil: the file names none).
    var pooling: Pooling?

    var queryWidth: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
}

extension WeightLoader {
    func norm(_ prefix: String, _ kind: Norm.Kind, count: Int, epsilon: Float) throws -> Norm {
        Norm(
            kind: kind, weight: try vector(prefix + ".weight", count: count),
            bias: kind == .layer ? try optionalVector(prefix + ".bias", count: count) : nil, epsilon: epsilon)
    }

    /// `<prefix>.weight` of shape (rows, columns) and `<prefix>.bias` if present.
    func projection(_ prefix: String, rows: Int, columns: Int) throws -> Projection {
        Projection(
            weight: try matrix(prefix + ".weight", rows: rows, columns: columns),
            bias: try optionalVector(prefix + ".bias", count: rows))
    }

    /// `attn_qkv` when the file fuses the projections, else `attn_q`, `attn_k`, `attn_v`.
    private func qkv(_ p: String, config c: DecoderConfig) throws -> QKVProjection {
        let dim = c.embeddingLength
        if has(p + "attn_qkv.weight") {
            return .fused(try projection(p + "attn_qkv", rows: c.queryWidth + 2 * c.kvWidth, columns: dim))
        }
        return .separate(
            query: try projection(p + "attn_q", rows: c.queryWidth, columns: dim),
            key: try projection(p + "attn_k", rows: c.kvWidth, columns: dim),
            value: try projection(p + "attn_v", rows: c.kvWidth, columns: dim))
    }

    /// Per-frequency RoPE divisors (rotaryDims / 2), if the file has the tensor.
    func ropeFactors(_ name: String, config c: DecoderConfig) throws -> [Float]? {
        try optionalVector(name, count: c.rotaryDims / 2).map { Array($0.values) }
    }

    /// The tensors of block `index` under their GGUF names, as `config` wires the block.
    func decoderLayer(_ index: Int, config c: DecoderConfig) throws -> DecoderLayer {
        let p = "blk.\(index)."
        let dim = c.embeddingLength
        let ffn = c.feedForwardLength
        func norm(_ name: String, count: Int = dim) throws -> Norm {
            try self.norm(p + name, c.norm, count: count, epsilon: c.normEpsilon)
        }
        let fusedGateUp = c.feedForward == .gatedOrFused && !has(p + "ffn_gate.weight")
        let gated = c.feedForward != .plain && !fusedGateUp
        let local = index < c.slidingWindowLayers.count && c.slidingWindowLayers[index]
        return DecoderLayer(
            attentionNorm: try norm("attn_norm"),
            qkv: try qkv(p, config: c),
            queryNorm: c.queryKeyNorms ? try norm("attn_q_norm", count: c.headDim) : nil,
            keyNorm: c.queryKeyNorms ? try norm("attn_k_norm", count: c.headDim) : nil,
            attentionOutput: try projection(p + "attn_output", rows: dim, columns: c.queryWidth),
            postAttentionNorm: c.postNorms ? try norm("post_attention_norm") : nil,
            ffnNorm: c.parallelBlock ? nil : try norm("ffn_norm"),
            gate: gated ? try projection(p + "ffn_gate", rows: ffn, columns: dim) : nil,
            up: try projection(p + "ffn_up", rows: fusedGateUp ? 2 * ffn : ffn, columns: dim),
            fusedGateUp: fusedGateUp,
            down: try projection(p + "ffn_down", rows: dim, columns: ffn),
            postFFNNorm: c.postNorms ? try norm("post_ffw_norm") : nil,
            window: local ? c.slidingWindow : 0,
            ropeTable: local && c.ropeTables.count > 1 ? 1 : 0)
    }
}
