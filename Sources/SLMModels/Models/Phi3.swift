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
        var config = try DecoderConfig(reading: keys)
        config.ropeStyle = .neox
        config.feedForward = .gatedOrFused
        config.queryScale = 1 / Float(config.headDim).squareRoot()
        config.attentionScale = 1
        let w = WeightLoader(file: file)
        config.ropeTables[0].factors = try w.ropeFactors("rope_factors_short.weight", config: config)
        config.ropeTables[0].longFactors = try w.ropeFactors("rope_factors_long.weight", config: config)
        config.ropeTables[0].originalContext = try keys.positive(
            "rope.scaling.original_context_length",
            default: config.contextLength)
        config.ropeTables[0].magnitude = keys.float("rope.scaling.attn_factor") ?? 1
        return try DecoderModel(file: file, config: config)
    }
}
