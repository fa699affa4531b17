import SLMCompute

/// The llama architecture (Llama 2/3.x, TinyLlama, Mistral, SmolLM): pre-RMSNorm blocks,
/// RoPE on adjacent pairs, grouped-query attention, SwiGLU feed-forward, tied or separate output.
public final class LlamaModel: LanguageModel, @unchecked Sendable {
    public struct Hyperparameters: Sendable, Equatable {
        public var layers: Int
        public var embeddingLength: Int        // dim
        public var feedForwardLength: Int
        public var heads: Int
        public var kvHeads: Int
        public var headDim: Int                // attention.key_length, default dim / heads
        public var rotaryDims: Int             // rope.dimension_count, default headDim
        public var ropeBase: Float             // rope.freq_base, default 10000
        public var ropeFrequencyScale: Float   // 1 / rope.scaling.factor for linear scaling, else 1
        public var rmsEpsilon: Float
        public var contextLength: Int
        public var vocabularySize: Int
    }

    public struct Layer: Sendable {
        let attentionNorm: WeightVector     // (dim)
        let query: WeightMatrix             // (heads*headDim, dim)
        let key: WeightMatrix               // (kvHeads*headDim, dim)
        let value: WeightMatrix             // (kvHeads*headDim, dim)
        let attentionOutput: WeightMatrix   // (dim, heads*headDim)
        let ffnNorm: WeightVector           // (dim)
        let gate: WeightMatrix              // (ffn, dim)
        let up: WeightMatrix                // (ffn, dim)
        let down: WeightMatrix              // (dim, ffn)
    }

    public let architecture = "llama"
    public let file: GGUFFile
    public let hyper: Hyperparameters
    let tokenEmbedding: WeightMatrix        // (vocab, dim)
    let outputNorm: WeightVector            // (dim)
    let output: WeightMatrix                // (vocab, dim); the embedding itself when tied
    let layers: [Layer]
    /// Llama 3.1+ long-context frequency divisors (`rope_freqs.weight`, rotaryDims/2), if present.
    let ropeFrequencyFactors: WeightVector?

    public var vocabularySize: Int { hyper.vocabularySize }
    public var trainedContextLength: Int { hyper.contextLength }

    public init(file: GGUFFile) throws {
        self.file = file
        let arch = "llama"
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func positive(_ k: String, _ v: Int) throws -> Int {
            guard v > 0 else { throw ModelError.invalidHyperparameter(key: k, value: "\(v)", reason: "must be positive") }
            return v
        }

        if let experts = file.int(key("expert_count")), experts > 0 {
            throw ModelError.unsupportedFeature("mixture of experts (\(key("expert_count")) = \(experts))")
        }
        let dim = try positive(key("embedding_length"), file.requireInt(key("embedding_length")))
        let heads = try positive(key("attention.head_count"), file.requireInt(key("attention.head_count")))
        let kvHeads = try positive(key("attention.head_count_kv"), file.int(key("attention.head_count_kv")) ?? heads)
        guard heads % kvHeads == 0 else {
            throw ModelError.invalidHyperparameter(key: key("attention.head_count_kv"), value: "\(kvHeads)",
                                                   reason: "must divide attention.head_count (\(heads))")
        }
        let headDim = try positive(key("attention.key_length"), file.int(key("attention.key_length")) ?? dim / heads)
        if let valueLength = file.int(key("attention.value_length")), valueLength != headDim {
            throw ModelError.unsupportedFeature("attention.value_length \(valueLength) ≠ key_length \(headDim)")
        }
        let rotary = file.int(key("rope.dimension_count")) ?? headDim
        guard rotary > 0, rotary <= headDim, rotary % 2 == 0 else {
            throw ModelError.invalidHyperparameter(key: key("rope.dimension_count"), value: "\(rotary)",
                                                   reason: "must be even and at most the head size \(headDim)")
        }
        var frequencyScale: Float = 1
        if let scaling = file.string(key("rope.scaling.type")), scaling != "none" {
            guard scaling == "linear" else { throw ModelError.unsupportedFeature("rope scaling '\(scaling)'") }
            let factor = file.float(key("rope.scaling.factor")) ?? 1
            guard factor > 0 else {
                throw ModelError.invalidHyperparameter(key: key("rope.scaling.factor"), value: "\(factor)", reason: "must be positive")
            }
            frequencyScale = Float(1 / factor)
        }

        // The vocabulary size comes from the embedding tensor: `llama.vocab_size` is optional
        // and some writers omit it.
        guard let embeddingInfo = file.tensor(named: "token_embd.weight") else {
            throw GGUFError.missingTensor(path: file.path, tensor: "token_embd.weight")
        }
        let vocab = embeddingInfo.rowCount
        hyper = Hyperparameters(
            layers: try positive(key("block_count"), file.requireInt(key("block_count"))),
            embeddingLength: dim,
            feedForwardLength: try positive(key("feed_forward_length"), file.requireInt(key("feed_forward_length"))),
            heads: heads, kvHeads: kvHeads, headDim: headDim, rotaryDims: rotary,
            ropeBase: Float(file.float(key("rope.freq_base")) ?? 10000),
            ropeFrequencyScale: frequencyScale,
            rmsEpsilon: Float(file.float(key("attention.layer_norm_rms_epsilon")) ?? 1e-5),
            contextLength: try positive(key("context_length"), file.requireInt(key("context_length"))),
            vocabularySize: vocab)

        let w = WeightLoader(file: file)
        let h = hyper
        tokenEmbedding = try w.matrix("token_embd.weight", rows: vocab, columns: dim)
        outputNorm = try w.vector("output_norm.weight", count: dim)
        output = w.has("output.weight") ? try w.matrix("output.weight", rows: vocab, columns: dim) : tokenEmbedding
        ropeFrequencyFactors = try w.optionalVector("rope_freqs.weight", count: rotary / 2)
        var layers: [Layer] = []
        for i in 0..<h.layers {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try w.vector(p + "attn_norm.weight", count: dim),
                query: try w.matrix(p + "attn_q.weight", rows: heads * headDim, columns: dim),
                key: try w.matrix(p + "attn_k.weight", rows: kvHeads * headDim, columns: dim),
                value: try w.matrix(p + "attn_v.weight", rows: kvHeads * headDim, columns: dim),
                attentionOutput: try w.matrix(p + "attn_output.weight", rows: dim, columns: heads * headDim),
                ffnNorm: try w.vector(p + "ffn_norm.weight", count: dim),
                gate: try w.matrix(p + "ffn_gate.weight", rows: h.feedForwardLength, columns: dim),
                up: try w.matrix(p + "ffn_up.weight", rows: h.feedForwardLength, columns: dim),
                down: try w.matrix(p + "ffn_down.weight", rows: dim, columns: h.feedForwardLength)))
        }
        self.layers = layers
    }

    public func makeState(contextLength: Int, maxBatch: Int) throws -> InferenceState {
        let h = hyper
        let qWidth = h.heads * h.headDim, kvWidth = h.kvHeads * h.headDim
        let shape = StateShape(
            layers: h.layers, keyWidth: kvWidth, valueWidth: kvWidth,
            scratchWidths: ["x": h.embeddingLength, "xn": h.embeddingLength, "q": qWidth, "k": kvWidth, "v": kvWidth,
                            "att": qWidth, "gate": h.feedForwardLength, "up": h.feedForwardLength,
                            "rope": h.rotaryDims, "last": h.embeddingLength],
            maxActivationColumns: max(h.embeddingLength, h.feedForwardLength, qWidth),
            heads: h.heads, headDim: h.headDim)
        return try InferenceState(shape: shape, contextLength: contextLength, maxBatch: maxBatch)
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, state: InferenceState, pool: ThreadPool,
                        allLogits: Bool, logits: UnsafeMutablePointer<Float>) throws {
        let h = hyper
        let n = tokens.count
        guard n > 0 else { throw ModelError.emptyInput }
        guard n <= state.maxBatch else { throw ModelError.unsupportedFeature("batch of \(n) > \(state.maxBatch)") }
        let start = state.position
        guard start + n <= state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: start + n)
        }
        for t in tokens where t < 0 || Int(t) >= h.vocabularySize {
            throw ModelError.tokenOutOfRange(token: t, vocabularySize: h.vocabularySize)
        }

        let dim = h.embeddingLength, ffn = h.feedForwardLength
        let qWidth = h.heads * h.headDim, kvWidth = h.kvHeads * h.headDim
        let x = state.buffer("x")        // (n, dim) residual stream
        let xn = state.buffer("xn")      // (n, dim) normed input of a sublayer
        let q = state.buffer("q")        // (n, qWidth)
        let k = state.buffer("k")        // (n, kvWidth)
        let v = state.buffer("v")        // (n, kvWidth)
        let att = state.buffer("att")    // (n, qWidth) attention output before projection
        let gate = state.buffer("gate")  // (n, ffn)
        let up = state.buffer("up")      // (n, ffn)
        let angles = state.buffer("rope") // (n, rotaryDims): cos then sin halves per token
        let scale = 1 / Float(h.headDim).squareRoot()

        for t in 0..<n { tokenEmbedding.dequantizeRow(Int(tokens[t]), into: x + t * dim) }
        for t in 0..<n {
            let row = angles + t * h.rotaryDims
            Ops.ropeAngles(position: start + t, dimensions: h.rotaryDims, base: h.ropeBase,
                           frequencyScale: h.ropeFrequencyScale,
                           frequencyFactors: ropeFrequencyFactors?.values.baseAddress,
                           cos: row, sin: row + h.rotaryDims / 2)
        }

        for (index, layer) in layers.enumerated() {
            // Attention sublayer.
            for t in 0..<n {
                Ops.rmsNorm(x + t * dim, weight: layer.attentionNorm.values.baseAddress, eps: h.rmsEpsilon,
                            count: dim, into: xn + t * dim)
            }
            Ops.linearFused(.init(weight: layer.query, output: q, outputStride: qWidth),
                            .init(weight: layer.key, output: k, outputStride: kvWidth),
                            .init(weight: layer.value, output: v, outputStride: kvWidth),
                            input: xn, inputStride: dim, tokens: n, state: state, pool: pool)
            for t in 0..<n {
                let row = angles + t * h.rotaryDims
                Ops.ropeAdjacentPairs(q + t * qWidth, heads: h.heads, headDim: h.headDim, rotaryDims: h.rotaryDims,
                                      cos: row, sin: row + h.rotaryDims / 2)
                Ops.ropeAdjacentPairs(k + t * kvWidth, heads: h.kvHeads, headDim: h.headDim, rotaryDims: h.rotaryDims,
                                      cos: row, sin: row + h.rotaryDims / 2)
                state.storeKeyValue(layer: index, position: start + t, key: k + t * kvWidth, value: v + t * kvWidth)
            }
            Ops.attention(layer: index, query: q, output: att, tokens: n, start: start, heads: h.heads,
                          kvHeads: h.kvHeads, headDim: h.headDim, scale: scale, state: state, pool: pool)
            Ops.linear(layer.attentionOutput, input: att, inputStride: qWidth, tokens: n,
                       output: xn, outputStride: dim, state: state, pool: pool)
            for i in 0..<(n * dim) { x[i] += xn[i] }

            // Feed-forward sublayer.
            for t in 0..<n {
                Ops.rmsNorm(x + t * dim, weight: layer.ffnNorm.values.baseAddress, eps: h.rmsEpsilon,
                            count: dim, into: xn + t * dim)
            }
            Ops.linearFused(.init(weight: layer.gate, output: gate, outputStride: ffn),
                            .init(weight: layer.up, output: up, outputStride: ffn),
                            input: xn, inputStride: dim, tokens: n, state: state, pool: pool)
            for t in 0..<n { Ops.swiglu(gate + t * ffn, up + t * ffn, count: ffn) }
            Ops.linear(layer.down, input: gate, inputStride: ffn, tokens: n, output: xn, outputStride: dim,
                       state: state, pool: pool)
            for i in 0..<(n * dim) { x[i] += xn[i] }
        }

        // Only the rows whose logits are wanted go through the final norm and the output matrix.
        if !allLogits && !state.logitsNeeded {
            state.position = start + n
            return
        }
        let firstOut = allLogits ? 0 : n - 1
        let outRows = n - firstOut
        // llama.cpp, too, multiplies only the rows it outputs, as a batch of their own.
        if !allLogits { state.batchPlacement = nil }
        for t in firstOut..<n {
            Ops.rmsNorm(x + t * dim, weight: outputNorm.values.baseAddress, eps: h.rmsEpsilon,
                        count: dim, into: xn + (t - firstOut) * dim)
        }
        Ops.linear(output, input: xn, inputStride: dim, tokens: outRows, output: logits,
                   outputStride: h.vocabularySize, state: state, pool: pool)
        state.position = start + n
    }
}
