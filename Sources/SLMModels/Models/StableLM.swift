import SLMCompute

/// StableLM 2: LayerNorm with bias before each sublayer, partial rotary (`rope.dimension_count`,
/// NEOX halves), optional Q/K/V biases, SwiGLU feed-forward, separate output matrix. Files without
/// FFN norms (StableLM 2 12B's parallel residual) and with per-head QK LayerNorms are refused.
enum StableLM {
    static let architecture = "stablelm"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let keys = ArchitectureKeys(file: file, architecture: architecture)
        try keys.requireDense()
        let w = WeightLoader(file: file)
        if !w.has("blk.0.ffn_norm.weight") || w.has("blk.0.attn_q_norm.weight") {
            throw ModelError.unsupportedFeature("StableLM parallel residual / QK-norm variant (StableLM 2 12B)")
        }
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
        let eps = keys.float("attention.layer_norm_epsilon") ?? 1e-5
        let ffn = config.feedForwardLength
        let embedding = try w.matrix("token_embd.weight", rows: config.vocabularySize, columns: dim)
        var layers: [DecoderLayer] = []
        for i in 0..<(try keys.positive("block_count")) {
            let p = "blk.\(i)."
            layers.append(DecoderLayer(
                attentionNorm: try w.norm(p + "attn_norm", .layer, count: dim, epsilon: eps),
                qkv: try w.qkv(p, config: config), queryNorm: nil, keyNorm: nil,
                attentionOutput: try w.projection(p + "attn_output", rows: dim, columns: config.queryWidth),
                postAttentionNorm: nil,
                ffnNorm: try w.norm(p + "ffn_norm", .layer, count: dim, epsilon: eps),
                gate: try w.projection(p + "ffn_gate", rows: ffn, columns: dim),
                up: try w.projection(p + "ffn_up", rows: ffn, columns: dim), fusedGateUp: false,
                down: try w.projection(p + "ffn_down", rows: dim, columns: ffn),
                postFFNNorm: nil, window: 0, ropeTable: 0))
        }
        return DecoderModel(config: config, file: file, tokenEmbedding: embedding,
                            outputNorm: try w.norm("output_norm", .layer, count: dim, epsilon: eps),
                            output: try w.projection("output", rows: config.vocabularySize, columns: dim),
                            layers: layers)
    }
}
