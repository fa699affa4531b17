import SLMCompute

/// Qwen2 / Qwen2.5: the llama block with RoPE on split halves (NEOX mode); the Q, K and V biases
/// its files carry are loaded as every projection's optional bias. RMSNorm epsilon defaults to 1e-6.
enum Qwen2 {
    static let architecture = "qwen2"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        var config = try DecoderConfig(
            reading: ArchitectureKeys(file: file, architecture: architecture),
            defaultEpsilon: 1e-6)
        config.ropeStyle = .neox
        return try DecoderModel(file: file, config: config)
    }
}
