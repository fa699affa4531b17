import SLMCompute

/// StableLM 2: LayerNorm with bias before each sublayer, partial rotary (`rope.dimension_count`,
/// NEOX halves), optional Q/K/V biases, SwiGLU feed-forward, separate output matrix. Files without
/// FFN norms (StableLM 2 12B's parallel residual) and with per-head QK LayerNorms are refused.
enum StableLM {
    static let architecture = "stablelm"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        var config = try DecoderConfig(reading: ArchitectureKeys(file: file, architecture: architecture), norm: .layer)
        let w = WeightLoader(file: file)
        if !w.has("blk.0.ffn_norm.weight") || w.has("blk.0.attn_q_norm.weight") {
            throw ModelError.unsupportedFeature("StableLM parallel residual / QK-norm variant (StableLM 2 12B)")
        }
        config.ropeStyle = .neox
        config.outputMayBeTied = false
        return try DecoderModel(file: file, config: config)
    }
}
