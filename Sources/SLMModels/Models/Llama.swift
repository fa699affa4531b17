import SLMCompute

/// The llama architecture (Llama 2/3.x, TinyLlama, Mistral, SmolLM): the decoder's default block —
/// pre-RMSNorm, RoPE on adjacent pairs, grouped-query attention, SwiGLU feed-forward, tied or
/// separate output — plus Llama 3.1+'s long-context frequency divisors (`rope_freqs.weight`) when
/// the file has them.
enum Llama {
    static let architecture = "llama"

    static func load(_ file: GGUFFile) throws -> any LanguageModel {
        var config = try DecoderConfig(reading: ArchitectureKeys(file: file, architecture: architecture))
        config.ropeTables[0].factors = try WeightLoader(file: file).ropeFactors("rope_freqs.weight", config: config)
        return try DecoderModel(file: file, config: config)
    }
}
