import SLMCompute

/// Gemma 3 (text): embeddings scaled by √dim; RMSNorm before and after both sublayers (the
/// converter stores Gemma's (1 + w) norm weights with the 1 already added, so they are plain
/// RMSNorm weights here); RMS QK-norm per head; RoPE on split halves with one base for global
/// layers and another (`rope.freq_base_swa`, default 10000) for sliding-window layers; queries
/// scaled by 1/√head_dim (llama.cpp's choice for every size but 27B, which uses
/// 1/√(dim/heads)); GeGLU feed-forward; optional final-logit soft-capping.
///
/// Sliding-window layers: `attention.sliding_window_pattern` as a per-layer bool array, or as a
/// period n (layer i is local unless i % n == n - 1), default 6 — as llama.cpp reads them.
enum Gemma3 {
    static let architecture = "gemma3"
    /// llama.cpp's default when the file gives no pattern: five local layers, then one global.
    static let defaultSlidingWindowPeriod = 6
    static let defaultLocalRopeBase: Float = 10000
    /// Layer count of Gemma 3 27B, the one size whose query scale llama.cpp derives from dim / heads.
    static let layersOf27B = 62

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let keys = ArchitectureKeys(file: file, architecture: architecture)
        try keys.requireDense()
        let dim = try keys.positive("embedding_length")
        let blocks = try keys.positive("block_count")
        let (heads, kvHeads) = try keys.headCounts()
        let headDim = try keys.positive("attention.key_length", default: dim / heads)
        if let valueLength = keys.int("attention.value_length"), valueLength != headDim {
            throw ModelError.unsupportedFeature("attention.value_length \(valueLength) ≠ key_length \(headDim)")
        }
        let window = keys.int("attention.sliding_window") ?? 0
        let local = try slidingWindowLayers(keys, blocks: blocks, window: window)
        let queryScaleBase = blocks == layersOf27B ? dim / heads : headDim
        let config = DecoderConfig(
            architecture: architecture, embeddingLength: dim,
            feedForwardLength: try keys.positive("feed_forward_length"),
            heads: heads, kvHeads: kvHeads, headDim: headDim,
            rotaryDims: try keys.rotaryDimensions(headDim: headDim), ropeStyle: .neox,
            ropeTables: [RopeTable(base: keys.float("rope.freq_base") ?? 10000,
                                   frequencyScale: try keys.linearRopeFrequencyScale()),
                         RopeTable(base: keys.float("rope.freq_base_swa") ?? defaultLocalRopeBase)],
            activation: .gelu, embeddingScale: Float(dim).squareRoot(),
            queryScale: 1 / Float(queryScaleBase).squareRoot(), attentionScale: 1,
            attentionSoftcap: nil, finalLogitSoftcap: keys.float("final_logit_softcapping").flatMap { $0 > 0 ? $0 : nil },
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
                qkv: try w.qkv(p, config: config),
                queryNorm: try w.norm(p + "attn_q_norm", .rms, count: headDim, epsilon: eps),
                keyNorm: try w.norm(p + "attn_k_norm", .rms, count: headDim, epsilon: eps),
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

    /// Which layers use the sliding window (all false when the file sets no window).
    static func slidingWindowLayers(_ keys: ArchitectureKeys, blocks: Int, window: Int,
                                    defaultPeriod: Int = defaultSlidingWindowPeriod) throws -> [Bool] {
        guard window > 0 else { return Array(repeating: false, count: blocks) }
        let patternKey = "attention.sliding_window_pattern"
        if let flags = keys.file.array(keys.name(patternKey)) {
            let values = flags.compactMap(\.asBool)
            guard values.count == flags.count, values.count >= blocks else {
                throw ModelError.invalidHyperparameter(key: keys.name(patternKey), value: "\(flags.count) entries",
                                                       reason: "needs one bool per layer (\(blocks))")
            }
            return Array(values.prefix(blocks))
        }
        let period = keys.int(patternKey) ?? defaultPeriod
        guard period >= 0 else {
            throw ModelError.invalidHyperparameter(key: keys.name(patternKey), value: "\(period)", reason: "must not be negative")
        }
        return (0..<blocks).map { period == 0 || $0 % period < period - 1 }
    }
}
