import SLMCompute

/// Reads `<architecture>.<key>` hyperparameters from a GGUF with named errors, so each
/// architecture's loader states only which keys it needs and their defaults.
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
            throw ModelError.invalidHyperparameter(key: name("attention.head_count_kv"), value: "\(kvHeads)",
                                                   reason: "must divide attention.head_count (\(heads))")
        }
        return (heads, kvHeads)
    }

    /// Rotated dimensions per head (`rope.dimension_count`, default the whole head): even, ≤ head size.
    func rotaryDimensions(headDim: Int) throws -> Int {
        let rotary = int("rope.dimension_count") ?? headDim
        guard rotary > 0, rotary <= headDim, rotary % 2 == 0 else {
            throw ModelError.invalidHyperparameter(key: name("rope.dimension_count"), value: "\(rotary)",
                                                   reason: "must be even and at most the head size \(headDim)")
        }
        return rotary
    }

    /// 1 / factor for linear RoPE scaling, 1 when there is none; other scalings are refused.
    func linearRopeFrequencyScale() throws -> Float {
        guard let scaling = string("rope.scaling.type"), scaling != "none" else { return 1 }
        guard scaling == "linear" else { throw ModelError.unsupportedFeature("rope scaling '\(scaling)'") }
        let factor = float("rope.scaling.factor") ?? 1
        guard factor > 0 else {
            throw ModelError.invalidHyperparameter(key: name("rope.scaling.factor"), value: "\(factor)",
                                                   reason: "must be positive")
        }
        return 1 / factor
    }
}
