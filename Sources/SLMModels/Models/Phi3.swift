import SLMCompute

/// Phi-3 / Phi-3.5 (dense): RMSNorm pre-norm blocks, fused Q/K/V and fused gate|up (SwiGLU on
/// the two halves), RoPE on NEOX halves with LongRoPE per-frequency factors when the file has
/// them (`rope_factors_short` / `rope_factors_long`, the long ones above
/// `rope.scaling.original_context_length`) and the magnitude `rope.scaling.attn_factor`; queries
/// scaled by 1/√head_dim before attention.
///
/// `attention.sliding_window` is read but not applied: llama.cpp disables Phi-3's sliding window
/// (it warns "Phi SWA is currently disabled"), and slm follows its reference.
enum Phi3 {
    static let architecture = "phi3"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let keys = ArchitectureKeys(file: file, architecture: architecture)
        try keys.requireDense()
        let w = WeightLoader(file: file)
        let dim = try keys.positive("embedding_length")
        let (heads, kvHeads) = try keys.headCounts()
        let headDim = try keys.positive("attention.key_length", default: dim / heads)
        let rotary = try keys.rotaryDimensions(headDim: headDim)
        let contextLength = try keys.positive("context_length")
        var rope = RopeTable(base: keys.float("rope.freq_base") ?? 10000,
                             frequencyScale: try keys.linearRopeFrequencyScale())
        rope.factors = try w.optionalVector("rope_factors_short.weight", count: rotary / 2).map { Array($0.values) }
        rope.longFactors = try w.optionalVector("rope_factors_long.weight", count: rotary / 2).map { Array($0.values) }
        rope.originalContext = try keys.positive("rope.scaling.original_context_length", default: contextLength)
        rope.magnitude = keys.float("rope.scaling.attn_factor") ?? 1
        let config = DecoderConfig(
            architecture: architecture, embeddingLength: dim,
            feedForwardLength: try keys.positive("feed_forward_length"),
            heads: heads, kvHeads: kvHeads, headDim: headDim, rotaryDims: rotary, ropeStyle: .neox,
            ropeTables: [rope], activation: .silu, embeddingScale: nil,
            queryScale: 1 / Float(headDim).squareRoot(), attentionScale: 1,
            attentionSoftcap: nil, finalLogitSoftcap: nil, parallelBlock: false,
            contextLength: contextLength, vocabularySize: try keys.vocabularySize())
        let eps = keys.float("attention.layer_norm_rms_epsilon") ?? 1e-5
        let ffn = config.feedForwardLength
        let embedding = try w.matrix("token_embd.weight", rows: config.vocabularySize, columns: dim)
        let output = w.has("output.weight")
            ? try w.projection("output", rows: config.vocabularySize, columns: dim)
            : Projection(weight: embedding, bias: nil)
        var layers: [DecoderLayer] = []
        for i in 0..<(try keys.positive("block_count")) {
            let p = "blk.\(i)."
            let fused = !w.has(p + "ffn_gate.weight")
            layers.append(DecoderLayer(
                attentionNorm: try w.norm(p + "attn_norm", .rms, count: dim, epsilon: eps),
                qkv: try w.qkv(p, config: config), queryNorm: nil, keyNorm: nil,
                attentionOutput: try w.projection(p + "attn_output", rows: dim, columns: config.queryWidth),
                postAttentionNorm: nil,
                ffnNorm: try w.norm(p + "ffn_norm", .rms, count: dim, epsilon: eps),
                gate: fused ? nil : try w.projection(p + "ffn_gate", rows: ffn, columns: dim),
                up: try w.projection(p + "ffn_up", rows: fused ? 2 * ffn : ffn, columns: dim), fusedGateUp: fused,
                down: try w.projection(p + "ffn_down", rows: dim, columns: ffn),
                postFFNNorm: nil, window: 0, ropeTable: 0))
        }
        return DecoderModel(config: config, file: file, tokenEmbedding: embedding,
                            outputNorm: try w.norm("output_norm", .rms, count: dim, epsilon: eps),
                            output: output, layers: layers)
    }
}
