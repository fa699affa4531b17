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
        var config = try gemmaBlock(
            keys, layersOf27B: layersOf27B,
            slidingWindow: keys.int("attention.sliding_window") ?? 0)
        config.ropeTables.append(RopeTable(base: keys.float("rope.freq_base_swa") ?? defaultLocalRopeBase))
        config.queryKeyNorms = true
        config.finalLogitSoftcap = keys.float("final_logit_softcapping").flatMap { $0 > 0 ? $0 : nil }
        return try DecoderModel(file: file, config: config)
    }

    /// What Gemma 2 and 3 share: the common keys with RMSNorm epsilon 1e-6 by default, √dim
    /// embedding scale, NEOX RoPE, GeGLU, post-norms, queries scaled by 1/√head_dim (1/√(dim/heads)
    /// for the 27B, which has `layersOf27B` blocks) and the sliding-window layers.
    static func gemmaBlock(
        _ keys: ArchitectureKeys, layersOf27B: Int, slidingWindow: Int,
        defaultPeriod: Int = defaultSlidingWindowPeriod
    ) throws -> DecoderConfig {
        var config = try DecoderConfig(reading: keys, defaultEpsilon: 1e-6)
        config.embeddingScale = Float(config.embeddingLength).squareRoot()
        config.ropeStyle = .neox
        config.activation = .gelu
        config.postNorms = true
        let queryScaleBase = config.blockCount == layersOf27B ? config.embeddingLength / config.heads : config.headDim
        config.queryScale = 1 / Float(queryScaleBase).squareRoot()
        config.attentionScale = 1
        config.slidingWindow = slidingWindow
        config.slidingWindowLayers = try slidingWindowLayers(
            keys, blocks: config.blockCount, window: slidingWindow,
            defaultPeriod: defaultPeriod)
        return config
    }

    /// Which layers use the sliding window (all false when the file sets no window).
    static func slidingWindowLayers(
        _ keys: ArchitectureKeys, blocks: Int, window: Int,
        defaultPeriod: Int = defaultSlidingWindowPeriod
    ) throws -> [Bool] {
        guard window > 0 else { return Array(repeating: false, count: blocks) }
        let patternKey = "attention.sliding_window_pattern"
        if let flags = keys.file.array(keys.name(patternKey)) {
            let values = flags.compactMap(\.asBool)
            guard values.count == flags.count, values.count >= blocks else {
                throw ModelError.invalidHyperparameter(
                    key: keys.name(patternKey), value: "\(flags.count) entries",
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
