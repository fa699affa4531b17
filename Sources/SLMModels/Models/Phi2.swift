import SLMCompute

/// Phi-2: one LayerNorm (with bias) feeds both the attention and the MLP, which run in parallel
/// (x += attn + mlp); fused or separate Q/K/V with biases; partial rotary on NEOX halves; queries
/// scaled by 1/√head_dim before attention; GELU MLP with biases; output matrix with bias.
enum Phi2 {
    static let architecture = "phi2"

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
            activation: .gelu, embeddingScale: nil, queryScale: 1 / Float(headDim).squareRoot(),
            attentionScale: 1, attentionSoftcap: nil, finalLogitSoftcap: nil,
            parallelBlock: true, contextLength: try keys.positive("context_length"),
            vocabularySize: try keys.vocabularySize())
        let eps = keys.float("attention.layer_norm_epsilon") ?? 1e-5
        let w = WeightLoader(file: file)
        let ffn = config.feedForwardLength
        let embedding = try w.matrix("token_embd.weight", rows: config.vocabularySize, columns: dim)
        var layers: [DecoderLayer] = []
        for i in 0..<(try keys.positive("block_count")) {
            let p = "blk.\(i)."
            layers.append(DecoderLayer(
                attentionNorm: try w.norm(p + "attn_norm", .layer, count: dim, epsilon: eps),
                qkv: try w.qkv(p, config: config), queryNorm: nil, keyNorm: nil,
                attentionOutput: try w.projection(p + "attn_output", rows: dim, columns: config.queryWidth),
                postAttentionNorm: nil, ffnNorm: nil, gate: nil,
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
