import SLMCompute

/// The one decoder-only transformer every architecture runs as (llama, Qwen2, Gemma 2/3, Phi-2/3,
/// StableLM): one block structure whose variations — norm kind, fused projections, biases,
/// QK-norm, post-norms, parallel attention + MLP, RoPE style and per-layer base, sliding windows,
/// activations, scaling and soft-capping — come from `DecoderConfig`, which each architecture's
/// file fills from the GGUF, and from the tensors the file has (`DecoderLayer`).
final class DecoderModel: LanguageModel, @unchecked Sendable {
    let config: DecoderConfig
    /// Never read: holding it keeps the mapping that every weight points into alive.
    let file: GGUFFile
    let tokenEmbedding: WeightMatrix  // (vocab, dim)
    let outputNorm: Norm  // (dim)
    let output: Projection  // (vocab, dim); the embedding itself when tied
    let layers: [DecoderLayer]

    var architecture: String { config.architecture }
    var vocabularySize: Int { config.vocabularySize }
    var trainedContextLength: Int { config.contextLength }
    var generatesText: Bool { true }
    var embeddingLength: Int { config.embeddingLength }
    var filePooling: Pooling? { config.pooling }

    init(
        config: DecoderConfig, file: GGUFFile, tokenEmbedding: WeightMatrix, outputNorm: Norm, output: Projection,
        layers: [DecoderLayer]
    ) {
        self.config = config
        self.file = file
        self.tokenEmbedding = tokenEmbedding
        self.outputNorm = outputNorm
        self.output = output
        self.layers = layers
    }

    /// Loads the tensors `config` describes: embedding, blocks, final norm and output (the
    /// embedding itself when the file has no output matrix and the family allows tying).
    convenience init(file: GGUFFile, config c: DecoderConfig) throws {
        let w = WeightLoader(file: file)
        let dim = c.embeddingLength
        let embedding = try w.matrix("token_embd.weight", rows: c.vocabularySize, columns: dim)
        let output =
            c.outputMayBeTied && !w.has("output.weight")
            ? Projection(weight: embedding, bias: nil)
            : try w.projection("output", rows: c.vocabularySize, columns: dim)
        self.init(
            config: c, file: file, tokenEmbedding: embedding,
            outputNorm: try w.norm("output_norm", c.norm, count: dim, epsilon: c.normEpsilon), output: output,
            layers: try (0..<c.blockCount).map { try w.decoderLayer($0, config: c) })
    }

    var contextShiftUnsupportedReason: String? {
        guard layers.contains(where: { $0.window > 0 }) else { return nil }
        return "'\(architecture)' has sliding-window attention layers, whose cache cannot be shifted"
    }

    /// Each moved key is rotated by the angle of `delta` with the RoPE of its layer (style, rotary
    /// dimensions, base, frequency scale and factors), as llama.cpp's K shift does. The magnitude
    /// factor (LongRoPE's attn_factor) is left out: it scaled the key once when it was computed,
    /// and a rotation must not scale it again.
    func shiftPositions(state: InferenceState, range: Range<Int>, by delta: Int) throws {
        if let reason = contextShiftUnsupportedReason { throw ModelError.unsupportedFeature("context shift: \(reason)") }
        precondition(range.lowerBound >= 0 && range.upperBound <= state.contextLength, "shift outside the cache")
        guard delta != 0, !range.isEmpty else { return }
        let c = config
        let r = c.rotaryDims
        // (tables, rotaryDims): cos then sin halves of the angle of `delta`, per table.
        var angles = [Float](repeating: 0, count: c.ropeTables.count * r)
        var key = [Float](repeating: 0, count: c.kvWidth)  // (kvHeads, headDim)
        angles.withUnsafeMutableBufferPointer { a in
            for (i, table) in c.ropeTables.enumerated() {
                let cos = a.baseAddress! + i * r
                let fill = { (factors: UnsafePointer<Float>?) in
                    Ops.ropeAngles(
                        position: delta, dimensions: r, base: table.base, frequencyScale: table.frequencyScale,
                        frequencyFactors: factors, cos: cos, sin: cos + r / 2)
                }
                if let factors = table.factors(contextLength: state.contextLength) {
                    factors.withUnsafeBufferPointer { fill($0.baseAddress) }
                } else {
                    fill(nil)
                }
            }
        }
        angles.withUnsafeBufferPointer { a in
            key.withUnsafeMutableBufferPointer { k in
                let row = k.baseAddress!
                for (index, layer) in layers.enumerated() {
                    let cos = a.baseAddress! + layer.ropeTable * r
                    let sin = cos + r / 2
                    for position in range {
                        state.loadKeyRow(layer: index, position: position, into: row)
                        switch c.ropeStyle {
                        case .neox:
                            Ops.ropeNeox(row, heads: c.kvHeads, headDim: c.headDim, rotaryDims: r, cos: cos, sin: sin)
                        case .adjacent:
                            Ops.ropeAdjacentPairs(row, heads: c.kvHeads, headDim: c.headDim, rotaryDims: r, cos: cos, sin: sin)
                        }
                        state.storeKeyRow(layer: index, position: position, from: row)
                    }
                }
            }
        }
    }

    var stateShape: StateShape {
        let c = config
        return StateShape(
            layers: layers.count, keyWidth: c.kvWidth, valueWidth: c.kvWidth,
            scratchWidths: DecoderScratch.widths(for: c),
            maxActivationColumns: max(c.embeddingLength, c.feedForwardLength, c.queryWidth),
            heads: c.heads, headDim: c.headDim)
    }

    func makeState(contextLength: Int, maxBatch: Int, cacheTypes: KVCacheTypes) throws -> InferenceState {
        try InferenceState(shape: stateShape, contextLength: contextLength, maxBatch: maxBatch, cacheTypes: cacheTypes)
    }

    func forward(
        _ tokens: UnsafeBufferPointer<Int32>, state: InferenceState, pool: ThreadPool,
        allLogits: Bool, logits: UnsafeMutablePointer<Float>
    ) throws {
        let c = config
        let n = tokens.count
        let start = state.position
        let scratch = try runBlocks(tokens, state: state, pool: pool)
        let dim = c.embeddingLength
        let x = scratch.x
        let xn = scratch.xn

        // Only the rows whose logits are wanted go through the final norm and the output matrix
        // (none for the first chunks of a long prompt); llama.cpp, too, multiplies only the rows
        // it outputs, as a batch of their own.
        if !allLogits && !state.logitsNeeded {
            state.position = start + n
            return
        }
        let firstOut = allLogits ? 0 : n - 1
        let outRows = n - firstOut
        if !allLogits { state.batchPlacement = nil }
        outputNorm.apply(rows: outRows, x + firstOut * dim, count: dim, stride: dim, into: xn)
        Ops.linear(
            output.weight, input: xn, inputStride: dim, tokens: outRows, output: logits,
            outputStride: c.vocabularySize, state: state, pool: pool)
        output.addBias(logits, tokens: outRows, stride: c.vocabularySize)
        if let cap = c.finalLogitSoftcap { Ops.softcap(logits, cap: cap, count: outRows * c.vocabularySize) }
        state.position = start + n
    }

    /// Each sequence from an empty cache, in chunks of the state's batch placed as llama.cpp
    /// places a prompt's; the final norm's output of every token is copied out.
    func hiddenStates(
        _ tokens: UnsafeBufferPointer<Int32>, sequences: [Range<Int>], state: InferenceState, pool: ThreadPool,
        into output: UnsafeMutablePointer<Float>
    ) throws {
        let dim = config.embeddingLength
        defer {
            state.batchPlacement = nil
            state.reset()
        }
        for sequence in sequences {
            state.reset()
            var start = sequence.lowerBound
            while start < sequence.upperBound {
                let end = min(sequence.upperBound, start + state.maxBatch)
                state.prepareChunk(at: start - sequence.lowerBound, ofRequest: sequence.count)
                let scratch = try runBlocks(UnsafeBufferPointer(rebasing: tokens[start..<end]), state: state, pool: pool)
                outputNorm.apply(rows: end - start, scratch.x, count: dim, stride: dim, into: output + start * dim)
                state.position += end - start
                start = end
            }
        }
    }

    /// Embeds `tokens` at positions `state.position ..<` and runs every block over them, leaving
    /// the residual stream in the scratch's `x`; the position is not advanced.
    private func runBlocks(
        _ tokens: UnsafeBufferPointer<Int32>, state: InferenceState, pool: ThreadPool
    ) throws -> DecoderScratch {
        let c = config
        let n = tokens.count
        guard n > 0 else { throw ModelError.emptyInput }
        guard n <= state.maxBatch else { throw ModelError.unsupportedFeature("batch of \(n) > \(state.maxBatch)") }
        let start = state.position
        guard start + n <= state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: start + n)
        }
        for t in tokens where t < 0 || Int(t) >= c.vocabularySize {
            throw ModelError.tokenOutOfRange(token: t, vocabularySize: c.vocabularySize)
        }

        let dim = c.embeddingLength
        let scratch = DecoderScratch(state, config: c)
        let x = scratch.x
        let xn = scratch.xn
        let attnOut = scratch.attnOut
        let ffnOut = scratch.ffnOut

        for t in 0..<n { tokenEmbedding.dequantizeRow(Int(tokens[t]), into: x + t * dim) }
        if let s = c.embeddingScale { Ops.scale(x, by: s, count: n * dim) }
        for (i, table) in c.ropeTables.enumerated() {
            let angles = scratch.ropeAngles(table: i)
            table.factors(contextLength: state.contextLength)?.withUnsafeBufferPointer { factors in
                fillAngles(angles, table: table, factors: factors.baseAddress, start: start, tokens: n)
            } ?? fillAngles(angles, table: table, factors: nil, start: start, tokens: n)
        }

        // The per-token work before a projection (norms, residual adds) is handed to the
        // projection as its `prepare` step, so a prompt's tokens go through it on all workers
        // inside the projection's parallel section instead of on one thread before it.
        for (index, layer) in layers.enumerated() {
            let normForAttention: (Range<Int>) -> Void = { rows in
                let at = rows.lowerBound * dim
                layer.attentionNorm.apply(rows: rows.count, x + at, count: dim, stride: dim, into: xn + at)
            }
            attention(
                layer, index: index, input: xn, output: attnOut, tokens: n, start: start, scratch: scratch,
                state: state, pool: pool, prepareInput: normForAttention)
            if c.parallelBlock {
                feedForward(layer, input: xn, output: ffnOut, tokens: n, scratch: scratch, state: state, pool: pool)
                for i in 0..<(n * dim) { x[i] += attnOut[i] + ffnOut[i] }
                continue
            }
            let ffnNorm = layer.ffnNorm ?? layer.attentionNorm
            let residualAndNorm: (Range<Int>) -> Void = { rows in
                let at = rows.lowerBound * dim
                layer.postAttentionNorm?.apply(rows: rows.count, attnOut + at, count: dim, stride: dim, into: attnOut + at)
                for i in at..<(at + rows.count * dim) { x[i] += attnOut[i] }
                ffnNorm.apply(rows: rows.count, x + at, count: dim, stride: dim, into: xn + at)
            }
            feedForward(
                layer, input: xn, output: ffnOut, tokens: n, scratch: scratch, state: state, pool: pool,
                prepareInput: residualAndNorm)
            layer.postFFNNorm?.apply(rows: n, ffnOut, count: dim, stride: dim, into: ffnOut)
            for i in 0..<(n * dim) { x[i] += ffnOut[i] }
        }
        return scratch
    }

    private func fillAngles(
        _ angles: UnsafeMutablePointer<Float>, table: RopeTable, factors: UnsafePointer<Float>?,
        start: Int, tokens: Int
    ) {
        let r = config.rotaryDims
        for t in 0..<tokens {
            Ops.ropeAngles(
                position: start + t, dimensions: r, table: table, factors: factors,
                cos: angles + t * r, sin: angles + t * r + r / 2)
        }
    }

    /// Self-attention of one layer: projections (+ biases), QK-norm, RoPE, query scaling, the KV
    /// cache write, attention (windowed on local layers) and the output projection.
    /// input: (n, dim) normed, or computed by `prepareInput` (the projections' prepare step);
    /// output: (n, dim).
    private func attention(
        _ layer: DecoderLayer, index: Int, input: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, tokens n: Int, start: Int, scratch: DecoderScratch,
        state: InferenceState, pool: ThreadPool, prepareInput: ((Range<Int>) -> Void)? = nil
    ) {
        let c = config
        let dim = c.embeddingLength
        let qWidth = c.queryWidth
        let kvWidth = c.kvWidth
        let q = scratch.q
        let k = scratch.k
        let v = scratch.v
        let att = scratch.att

        switch layer.qkv {
        case .separate(let query, let key, let value):
            // Q, K and V read the same input: one quantization and one parallel section.
            Ops.linearFused(
                .init(weight: query.weight, output: q, outputStride: qWidth),
                .init(weight: key.weight, output: k, outputStride: kvWidth),
                .init(weight: value.weight, output: v, outputStride: kvWidth),
                input: input, inputStride: dim, tokens: n, state: state, pool: pool, prepare: prepareInput)
            query.addBias(q, tokens: n, stride: qWidth)
            key.addBias(k, tokens: n, stride: kvWidth)
            value.addBias(v, tokens: n, stride: kvWidth)
        case .fused(let qkv):
            let fused = scratch.qkv
            let width = qkv.outputs
            Ops.linear(
                qkv.weight, input: input, inputStride: dim, tokens: n, output: fused, outputStride: width,
                state: state, pool: pool, prepare: prepareInput)
            qkv.addBias(fused, tokens: n, stride: width)
            for t in 0..<n {
                let row = fused + t * width
                (q + t * qWidth).update(from: row, count: qWidth)
                (k + t * kvWidth).update(from: row + qWidth, count: kvWidth)
                (v + t * kvWidth).update(from: row + qWidth + kvWidth, count: kvWidth)
            }
        }

        let r = c.rotaryDims
        let angles = scratch.ropeAngles(table: layer.ropeTable)
        // A quantized cache is written and read in a Hadamard-rotated basis, as llama.cpp does.
        let keyRotation = state.cacheTypes.keyRotationBlock(headDim: c.headDim)
        let valueRotation = state.cacheTypes.valueRotationBlock(headDim: c.headDim)
        for t in 0..<n {
            let qt = q + t * qWidth
            let kt = k + t * kvWidth
            if let norm = layer.queryNorm { norm.apply(rows: c.heads, qt, count: c.headDim, stride: c.headDim, into: qt) }
            if let norm = layer.keyNorm { norm.apply(rows: c.kvHeads, kt, count: c.headDim, stride: c.headDim, into: kt) }
            let cos = angles + t * r
            let sin = cos + r / 2
            switch c.ropeStyle {
            case .neox:
                Ops.ropeNeox(qt, heads: c.heads, headDim: c.headDim, rotaryDims: r, cos: cos, sin: sin)
                Ops.ropeNeox(kt, heads: c.kvHeads, headDim: c.headDim, rotaryDims: r, cos: cos, sin: sin)
            case .adjacent:
                Ops.ropeAdjacentPairs(qt, heads: c.heads, headDim: c.headDim, rotaryDims: r, cos: cos, sin: sin)
                Ops.ropeAdjacentPairs(kt, heads: c.kvHeads, headDim: c.headDim, rotaryDims: r, cos: cos, sin: sin)
            }
            if let s = c.queryScale { Ops.scale(qt, by: s, count: qWidth) }
            if let block = keyRotation {
                Ops.hadamardRotate(qt, count: qWidth, block: block)
                Ops.hadamardRotate(kt, count: kvWidth, block: block)
            }
            if let block = valueRotation { Ops.hadamardRotate(v + t * kvWidth, count: kvWidth, block: block) }
            state.storeKeyValue(layer: index, position: start + t, key: kt, value: v + t * kvWidth)
        }
        Ops.attention(
            layer: index, query: q, output: att, tokens: n, start: start, heads: c.heads,
            kvHeads: c.kvHeads, headDim: c.headDim,
            scale: c.attentionSoftcap.map { c.attentionScale / $0 } ?? c.attentionScale,
            window: layer.window, softcap: c.attentionSoftcap ?? 0, state: state, pool: pool)
        if let block = valueRotation {
            for t in 0..<n { Ops.hadamardRotate(att + t * qWidth, count: qWidth, block: block) }
        }
        Ops.linear(
            layer.attentionOutput.weight, input: att, inputStride: qWidth, tokens: n,
            output: output, outputStride: dim, state: state, pool: pool)
        layer.attentionOutput.addBias(output, tokens: n, stride: dim)
    }

    /// The feed-forward sublayer: gated (SwiGLU / GeGLU, separate or fused gate|up) or a plain
    /// up → GELU → down MLP, with biases where the file has them. input: (n, dim); output: (n, dim).
    private func feedForward(
        _ layer: DecoderLayer, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        tokens n: Int, scratch: DecoderScratch, state: InferenceState, pool: ThreadPool,
        prepareInput: ((Range<Int>) -> Void)? = nil
    ) {
        let dim = config.embeddingLength
        let ffn = config.feedForwardLength
        let gate = scratch.gate
        let up = scratch.up
        var hidden = gate  // what the down projection reads, (n, ffn) `hiddenStride` apart
        var hiddenStride = ffn
        // Biases and the activation, per token: the down projection's prepare step.
        let activateRows: (Range<Int>) -> Void

        if layer.fusedGateUp {
            // One (2 ffn, dim) matrix: the first ffn outputs are the gate, the rest are up.
            Ops.linear(
                layer.up.weight, input: input, inputStride: dim, tokens: n, output: gate,
                outputStride: 2 * ffn, state: state, pool: pool, prepare: prepareInput)
            activateRows = { rows in
                layer.up.addBias(gate + rows.lowerBound * 2 * ffn, tokens: rows.count, stride: 2 * ffn)
                for t in rows { self.activate(gate + t * 2 * ffn, up: gate + t * 2 * ffn + ffn, count: ffn) }
            }
            hiddenStride = 2 * ffn
        } else if let gateProjection = layer.gate {
            Ops.linearFused(
                .init(weight: gateProjection.weight, output: gate, outputStride: ffn),
                .init(weight: layer.up.weight, output: up, outputStride: ffn),
                input: input, inputStride: dim, tokens: n, state: state, pool: pool, prepare: prepareInput)
            activateRows = { rows in
                gateProjection.addBias(gate + rows.lowerBound * ffn, tokens: rows.count, stride: ffn)
                layer.up.addBias(up + rows.lowerBound * ffn, tokens: rows.count, stride: ffn)
                for t in rows { self.activate(gate + t * ffn, up: up + t * ffn, count: ffn) }
            }
        } else {
            Ops.linear(
                layer.up.weight, input: input, inputStride: dim, tokens: n, output: up, outputStride: ffn,
                state: state, pool: pool, prepare: prepareInput)
            activateRows = { rows in
                layer.up.addBias(up + rows.lowerBound * ffn, tokens: rows.count, stride: ffn)
                Ops.gelu(up + rows.lowerBound * ffn, count: rows.count * ffn)
            }
            hidden = up
        }
        Ops.linear(
            layer.down.weight, input: hidden, inputStride: hiddenStride, tokens: n, output: output,
            outputStride: dim, state: state, pool: pool, prepare: activateRows)
        layer.down.addBias(output, tokens: n, stride: dim)
    }

    /// gate = act(gate) * up for one token.
    private func activate(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        switch config.activation {
        case .silu: Ops.swiglu(gate, up, count: count)
        case .gelu: Ops.geglu(gate, up, count: count)
        }
    }
}

/// The scratch of a forward pass, typed views of the state's buffers in the manner of llama2.c's
/// RunState. Each buffer holds up to maxBatch rows; the shapes below are for the n tokens of one
/// pass, with qWidth = heads·headDim and kvWidth = kvHeads·headDim.
struct DecoderScratch {
    let x: UnsafeMutablePointer<Float>  // (n, dim) residual stream
    let xn: UnsafeMutablePointer<Float>  // (n, dim) normed input of a sublayer
    let q: UnsafeMutablePointer<Float>  // (n, qWidth)
    let k: UnsafeMutablePointer<Float>  // (n, kvWidth)
    let v: UnsafeMutablePointer<Float>  // (n, kvWidth)
    let qkv: UnsafeMutablePointer<Float>  // (n, qWidth + 2 kvWidth) fused projection output
    let att: UnsafeMutablePointer<Float>  // (n, qWidth) attention output before its projection
    let attnOut: UnsafeMutablePointer<Float>  // (n, dim) attention sublayer output
    let gate: UnsafeMutablePointer<Float>  // (n, ffn), or (n, 2 ffn) for a fused gate|up
    let up: UnsafeMutablePointer<Float>  // (n, ffn)
    let ffnOut: UnsafeMutablePointer<Float>  // (n, dim) feed-forward sublayer output
    /// (ropeTables, maxBatch, rotaryDims): per table and token, cos then sin halves.
    private let rope: UnsafeMutablePointer<Float>
    private let ropeTableStride: Int

    /// The buffers, by their index in the state's scratch.
    private enum Buffer: Int, CaseIterable {
        case x, xn, q, k, v, qkv, att, attnOut, gate, up, ffnOut, rope

        /// Floats per token.
        func width(_ c: DecoderConfig) -> Int {
            switch self {
            case .x, .xn, .attnOut, .ffnOut: return c.embeddingLength
            case .q, .att: return c.queryWidth
            case .k, .v: return c.kvWidth
            case .qkv: return c.queryWidth + 2 * c.kvWidth
            case .gate: return 2 * c.feedForwardLength
            case .up: return c.feedForwardLength
            case .rope: return c.ropeTables.count * c.rotaryDims
            }
        }
    }

    /// The widths `makeState` allocates, in `Buffer` order.
    static func widths(for config: DecoderConfig) -> [Int] { Buffer.allCases.map { $0.width(config) } }

    init(_ state: InferenceState, config: DecoderConfig) {
        func buffer(_ b: Buffer) -> UnsafeMutablePointer<Float> { state.scratch(b.rawValue) }
        x = buffer(.x)
        xn = buffer(.xn)
        q = buffer(.q)
        k = buffer(.k)
        v = buffer(.v)
        qkv = buffer(.qkv)
        att = buffer(.att)
        attnOut = buffer(.attnOut)
        gate = buffer(.gate)
        up = buffer(.up)
        ffnOut = buffer(.ffnOut)
        rope = buffer(.rope)
        ropeTableStride = state.maxBatch * config.rotaryDims
    }

    /// RoPE angles of one table, (n, rotaryDims).
    func ropeAngles(table: Int) -> UnsafeMutablePointer<Float> { rope + table * ropeTableStride }
}
