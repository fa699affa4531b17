import SLMCompute

/// Qwen2 / Qwen2.5: the llama block with biases on the Q, K and V projections, RoPE on split
/// halves (NEOX mode) with the file's base, and a separate output matrix unless tied.
enum Qwen2 {
    static let architecture = "qwen2"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let keys = ArchitectureKeys(file: file, architecture: architecture)
        try keys.requireDense()
        let dim = try keys.positive("embedding_length")
        let (heads, kvHeads) = try keys.headCounts()
        let headDim = try keys.positive("attention.key_length", default: dim / heads)
        let config = DecoderConfig(
            architecture: architecture, embeddingLength: dim,
            feedForwardLength: try keys.positive("feed_forward_length"),
            heads: heads, kvHeads: kvHeads, headDim: headDim,
            rotaryDims: try keys.rotaryDimensions(headDim: headDim), ropeStyle: .neox,
            ropeTables: [RopeTable(base: keys.float("rope.freq_base") ?? 10000,
                                   frequencyScale: try keys.linearRopeFrequencyScale())],
            activation: .silu, embeddingScale: nil, queryScale: nil,
            attentionScale: 1 / Float(headDim).squareRoot(), attentionSoftcap: nil, finalLogitSoftcap: nil,
            parallelBlock: false, contextLength: try keys.positive("context_length"),
            vocabularySize: try keys.vocabularySize())
        let eps = keys.float("attention.layer_norm_rms_epsilon") ?? 1e-6
        return try LlamaLikeLoader(file: file, config: config, epsilon: eps).load()
    }
}

/// Tensors of a pre-norm block with RMSNorm, separate or fused Q/K/V (optional biases) and a
/// gated feed-forward: the layout Qwen2 shares with the llama family.
struct LlamaLikeLoader {
    let file: GGUFFile
    let config: DecoderConfig
    let epsilon: Float

    func load() throws -> DecoderModel {
        let c = config
        let w = WeightLoader(file: file)
        let dim = c.embeddingLength, ffn = c.feedForwardLength
        let embedding = try w.matrix("token_embd.weight", rows: c.vocabularySize, columns: dim)
        let output = w.has("output.weight")
            ? try w.projection("output", rows: c.vocabularySize, columns: dim)
            : Projection(weight: embedding, bias: nil)
        var layers: [DecoderLayer] = []
        for i in 0..<(try ArchitectureKeys(file: file, architecture: c.architecture).positive("block_count")) {
            let p = "blk.\(i)."
            layers.append(DecoderLayer(
                attentionNorm: try w.norm(p + "attn_norm", .rms, count: dim, epsilon: epsilon),
                qkv: try w.qkv(p, config: c), queryNorm: nil, keyNorm: nil,
                attentionOutput: try w.projection(p + "attn_output", rows: dim, columns: c.queryWidth),
                postAttentionNorm: nil,
                ffnNorm: try w.norm(p + "ffn_norm", .rms, count: dim, epsilon: epsilon),
                gate: try w.projection(p + "ffn_gate", rows: ffn, columns: dim),
                up: try w.projection(p + "ffn_up", rows: ffn, columns: dim), fusedGateUp: false,
                down: try w.projection(p + "ffn_down", rows: dim, columns: ffn),
                postFFNNorm: nil, window: 0, ropeTable: 0))
        }
        return DecoderModel(config: c, file: file, tokenEmbedding: embedding,
                            outputNorm: try w.norm("output_norm", .rms, count: dim, epsilon: epsilon),
                            output: output, layers: layers)
    }
}
