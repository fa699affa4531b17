import SLMCompute

/// Phi-2: one LayerNorm (with bias) feeds both the attention and the MLP, which run in parallel
/// (x += attn + mlp); fused or separate Q/K/V with biases; partial rotary on NEOX halves; queries
/// scaled by 1/√head_dim before attention; GELU MLP with biases; output matrix with bias.
enum Phi2 {
    static let architecture = "phi2"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        var config = try DecoderConfig(reading: ArchitectureKeys(file: file, architecture: architecture), norm: .layer)
        config.ropeStyle = .neox
        config.parallelBlock = true
        config.feedForward = .plain
        config.activation = .gelu
        config.queryScale = 1 / Float(config.headDim).squareRoot()
        config.attentionScale = 1
        config.outputMayBeTied = false
        return try DecoderModel(file: file, config: config)
    }
}
