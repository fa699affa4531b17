import SLMCompute

/// Gemma 2: as Gemma 3 (√dim embedding scale, pre- and post-norms around both sublayers with the
/// converter's already-(1 + w) RMSNorm weights, NEOX RoPE, GeGLU, queries scaled by
/// 1/√head_dim — 1/√(dim/heads) for the 46-layer 27B, as llama.cpp does) but without QK-norm,
/// with attention-logit soft-capping (`attn_logit_softcapping`, default 50) and final-logit
/// soft-capping (`final_logit_softcapping`, default 30), and sliding-window layers every other
/// layer from the first (`attention.sliding_window`, default 4096) sharing the global RoPE base
/// unless `rope.freq_base_swa` is set.
enum Gemma2 {
    static let architecture = "gemma2"
    static let defaultSlidingWindow = 4096
    static let defaultSlidingWindowPeriod = 2
    static let defaultAttentionSoftcap: Float = 50
    static let defaultFinalLogitSoftcap: Float = 30
    /// Layer count of Gemma 2 27B, whose query scale llama.cpp derives from dim / heads.
    static let layersOf27B = 46

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let keys = ArchitectureKeys(file: file, architecture: architecture)
        try keys.requireDense()
        let dim = try keys.positive("embedding_length")
        let blocks = try keys.positive("block_count")
        let (heads, kvHeads) = try keys.headCounts()
        let headDim = try keys.positive("attention.key_length", default: dim / heads)
        let window = try keys.positive("attention.sliding_window", default: defaultSlidingWindow)
        let local = try Gemma3.slidingWindowLayers(keys, blocks: blocks, window: window,
                                                   defaultPeriod: defaultSlidingWindowPeriod)
        let base = keys.float("rope.freq_base") ?? 10000
        let scale = try keys.linearRopeFrequencyScale()
        let queryScaleBase = blocks == layersOf27B ? dim / heads : headDim
        let attentionCap = keys.float("attn_logit_softcapping") ?? defaultAttentionSoftcap
        let finalCap = keys.float("final_logit_softcapping") ?? defaultFinalLogitSoftcap
        let config = DecoderConfig(
            architecture: architecture, embeddingLength: dim,
            feedForwardLength: try keys.positive("feed_forward_length"),
            heads: heads, kvHeads: kvHeads, headDim: headDim,
            rotaryDims: try keys.rotaryDimensions(headDim: headDim), ropeStyle: .neox,
            ropeTables: [RopeTable(base: base, frequencyScale: scale),
                         RopeTable(base: keys.float("rope.freq_base_swa") ?? base, frequencyScale: scale)],
            activation: .gelu, embeddingScale: Float(dim).squareRoot(),
            queryScale: 1 / Float(queryScaleBase).squareRoot(), attentionScale: 1,
            attentionSoftcap: attentionCap > 0 ? attentionCap : nil, finalLogitSoftcap: finalCap > 0 ? finalCap : nil,
            parallelBlock: false, contextLength: try keys.positive("context_length"),
            vocabularySize: try keys.vocabularySize())
        let eps = keys.float("attention.layer_norm_rms_epsilon") ?? 1e-6

        let w = WeightLoader(file: file)
        let ffn = config.feedForwardLength
        let embedding = try w.matrix("token_embd.weight", rows: config.vocabularySize, columns: dim)
        let output = w.has("output.weight")
            ? try w.projection("output", rows: config.vocabularySize, columns: dim)
            : Projection(weight: embedding, bias: nil)
        var layers: [DecoderLayer] = []
        for i in 0..<blocks {
            let p = "blk.\(i)."
            layers.append(DecoderLayer(
                attentionNorm: try w.norm(p + "attn_norm", .rms, count: dim, epsilon: eps),
                qkv: try w.qkv(p, config: config), queryNorm: nil, keyNorm: nil,
                attentionOutput: try w.projection(p + "attn_output", rows: dim, columns: config.queryWidth),
                postAttentionNorm: try w.norm(p + "post_attention_norm", .rms, count: dim, epsilon: eps),
                ffnNorm: try w.norm(p + "ffn_norm", .rms, count: dim, epsilon: eps),
                gate: try w.projection(p + "ffn_gate", rows: ffn, columns: dim),
                up: try w.projection(p + "ffn_up", rows: ffn, columns: dim), fusedGateUp: false,
                down: try w.projection(p + "ffn_down", rows: dim, columns: ffn),
                postFFNNorm: try w.norm(p + "post_ffw_norm", .rms, count: dim, epsilon: eps),
                window: local[i] ? window : 0, ropeTable: local[i] ? 1 : 0))
        }
        return DecoderModel(config: config, file: file, tokenEmbedding: embedding,
                            outputNorm: try w.norm("output_norm", .rms, count: dim, epsilon: eps),
                            output: output, layers: layers)
    }
}
