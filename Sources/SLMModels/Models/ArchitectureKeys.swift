import SLMCompute

/// Reads `<architecture>.<key>` hyperparameters from a GGUF with named errors: the keys every
/// architecture shares through `DecoderConfig(reading:)` below, a family's own keys through the
/// accessors here.
struct ArchitectureKeys {
    let file: GGUFFile
    let architecture: String

    func name(_ key: String) -> String { "\(architecture).\(key)" }

    func int(_ key: String) -> Int? { file.int(name(key)) }
    func float(_ key: String) -> Float? { file.float(name(key)).map { Float($0) } }
    func string(_ key: String) -> String? { file.string(name(key)) }

    /// A required key that must be positive.
    func positive(_ key: String) throws -> Int {
        try positive(key, file.requireInt(name(key)))
    }

    /// An optional key with a default; the value found must be positive.
    func positive(_ key: String, default value: Int) throws -> Int {
        try positive(key, int(key) ?? value)
    }

    private func positive(_ key: String, _ value: Int) throws -> Int {
        guard value > 0 else {
            throw ModelError.invalidHyperparameter(key: name(key), value: "\(value)", reason: "must be positive")
        }
        return value
    }

    /// Rejects mixture-of-experts files, which no dense architecture here can run.
    func requireDense() throws {
        if let experts = int("expert_count"), experts > 0 {
            throw ModelError.unsupportedFeature("mixture of experts (\(name("expert_count")) = \(experts))")
        }
    }

    /// Rows of the token embedding: the vocabulary size (`<arch>.vocab_size` is optional).
    func vocabularySize() throws -> Int {
        guard let info = file.tensor(named: "token_embd.weight") else {
            throw GGUFError.missingTensor(path: file.path, tensor: "token_embd.weight")
        }
        return info.rowCount
    }

    /// Head counts: query heads and KV heads, the latter dividing the former.
    func headCounts() throws -> (heads: Int, kvHeads: Int) {
        let heads = try positive("attention.head_count")
        let kvHeads = try positive("attention.head_count_kv", default: heads)
        guard heads % kvHeads == 0 else {
            throw ModelError.invalidHyperparameter(
                key: name("attention.head_count_kv"), value: "\(kvHeads)",
                reason: "must divide attention.head_count (\(heads))")
        }
        return (heads, kvHeads)
    }

    /// Rotated dimensions per head (`rope.dimension_count`, default the whole head): even, ≤ head size.
    func rotaryDimensions(headDim: Int) throws -> Int {
        let rotary = int("rope.dimension_count") ?? headDim
        guard rotary > 0, rotary <= headDim, rotary % 2 == 0 else {
            throw ModelError.invalidHyperparameter(
                key: name("rope.dimension_count"), value: "\(rotary)",
                reason: "must be even and at most the head size \(headDim)")
        }
        return rotary
    }

    /// `pooling_type` (llama.cpp's numbers), nil when absent or "unspecified" (-1).
    func pooling() throws -> Pooling? {
        guard let value = int("pooling_type"), value != -1 else { return nil }
        guard let pooling = Pooling(ggufValue: value) else {
            throw ModelError.invalidHyperparameter(
                key: name("pooling_type"), value: "\(value)", reason: "not 0 (none), 1 (mean), 2 (cls) or 3 (last)")
        }
        return pooling
    }

    /// 1 / factor for linear RoPE scaling, 1 when there is none; other scalings are refused.
    func linearRopeFrequencyScale() throws -> Float {
        guard let scaling = string("rope.scaling.type"), scaling != "none" else { return 1 }
        guard scaling == "linear" else { throw ModelError.unsupportedFeature("rope scaling '\(scaling)'") }
        let factor = float("rope.scaling.factor") ?? 1
        guard factor > 0 else {
            throw ModelError.invalidHyperparameter(
                key: name("rope.scaling.factor"), value: "\(factor)",
                reason: "must be positive")
        }
        return 1 / factor
    }
}

extension DecoderConfig {
    /// llama.cpp's RoPE base when the file gives none.
    static let defaultRopeBase: Float = 10000

    /// Reads the keys every architecture here shares, with named errors and explicit defaults, and
    /// wires the llama block; a family then changes what its block does differently and reads its
    /// own keys. The epsilon key follows the norm: `attention.layer_norm_rms_epsilon` for RMSNorm,
    /// `attention.layer_norm_epsilon` for LayerNorm; `defaultEpsilon` applies when it is absent.
    /// The vocabulary size is the token embedding's row count (`<arch>.vocab_size` is optional).
    init(reading keys: ArchitectureKeys, norm: Norm.Kind = .rms, defaultEpsilon: Float = 1e-5) throws {
        try keys.requireDense()
        let dim = try keys.positive("embedding_length")
        let (heads, kvHeads) = try keys.headCounts()
        let headDim = try keys.positive("attention.key_length", default: dim / heads)
        // One width serves keys and values in the cache and the projections.
        if let valueLength = keys.int("attention.value_length"), valueLength != headDim {
            throw ModelError.unsupportedFeature("attention.value_length \(valueLength) ≠ key_length \(headDim)")
        }
        architecture = keys.architecture
        blockCount = try keys.positive("block_count")
        embeddingLength = dim
        feedForwardLength = try keys.positive("feed_forward_length")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        rotaryDims = try keys.rotaryDimensions(headDim: headDim)
        ropeTables = [
            RopeTable(
                base: keys.float("rope.freq_base") ?? Self.defaultRopeBase,
                frequencyScale: try keys.linearRopeFrequencyScale())
        ]
        contextLength = try keys.positive("context_length")
        vocabularySize = try keys.vocabularySize()
        self.norm = norm
        let epsilonKey = norm == .rms ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon"
        normEpsilon = keys.float(epsilonKey) ?? defaultEpsilon
        attentionScale = 1 / Float(headDim).squareRoot()
        pooling = try keys.pooling()
    }
}
