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
        var config = try Gemma3.gemmaBlock(
            keys, layersOf27B: layersOf27B,
            slidingWindow: try keys.positive("attention.sliding_window", default: defaultSlidingWindow),
            defaultPeriod: defaultSlidingWindowPeriod)
        var local = config.ropeTables[0]
        local.base = keys.float("rope.freq_base_swa") ?? local.base
        config.ropeTables.append(local)
        let attentionCap = keys.float("attn_logit_softcapping") ?? defaultAttentionSoftcap
        let finalCap = keys.float("final_logit_softcapping") ?? defaultFinalLogitSoftcap
        config.attentionSoftcap = attentionCap > 0 ? attentionCap : nil
        config.finalLogitSoftcap = finalCap > 0 ? finalCap : nil
        return try DecoderModel(file: file, config: config)
    }
}
