import CSLMKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The small per-token operations of a transformer, written to match ggml's numerics (double
/// accumulation where ggml uses it) so logits agree with llama.cpp as closely as possible.
public enum Ops {
    /// y = x / sqrt(mean(x²) + eps) * weight, over one row of `count` floats. In-place safe.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, eps: Float,
        count: Int, into y: UnsafeMutablePointer<Float>
    ) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(x[i] * x[i]) }
        let scale = 1 / (Float(sum / Double(count)) + eps).squareRoot()
        if let weight {
            for i in 0..<count { y[i] = (x[i] * scale) * weight[i] }
        } else {
            for i in 0..<count { y[i] = x[i] * scale }
        }
    }

    /// gate = silu(gate) * up, elementwise over `count` floats (SwiGLU).
    public static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        slm_swiglu(gate, up, gate, Int64(count))
    }

    /// Precomputed RoPE angles for one position: cos/sin of pos·θᵢ for i in 0..<dims/2, with
    /// θᵢ = base^(-2i/dims) / factorᵢ. Computed the way ggml does (θ advanced by repeated
    /// multiplication in Float) so rotations round like llama.cpp's.
    public static func ropeAngles(
        position: Int, dimensions: Int, base: Float, frequencyScale: Float,
        frequencyFactors: UnsafePointer<Float>?,
        cos cosOut: UnsafeMutablePointer<Float>, sin sinOut: UnsafeMutablePointer<Float>
    ) {
        let thetaScale = powf(base, -2 / Float(dimensions))
        var thetaBase = Float(position)
        for i in 0..<(dimensions / 2) {
            let factor = frequencyFactors?[i] ?? 1
            let theta = frequencyScale * (thetaBase / factor)
            cosOut[i] = cosf(theta)
            sinOut[i] = sinf(theta)
            thetaBase *= thetaScale
        }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of each head (ggml's "normal" RoPE mode, used by
    /// llama-family GGUFs whose Q/K weights the converter permuted accordingly).
    public static func ropeAdjacentPairs(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, rotaryDims: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        slm_rope_adjacent(x, Int64(heads), Int64(headDim), Int64(rotaryDims), cos, sin)
    }

    /// out[t] = W · input[t] for `tokens` rows: quantizes the activations once into the format the
    /// weight type dots with, then splits W's rows across the pool.
    /// input: (tokens, W.columns) with `inputStride` floats per row;
    /// output: (tokens, W.rows) with `outputStride` floats per row.
    /// `prepare`, if given, computes input rows first (a norm, a residual add, an activation):
    /// it is called with disjoint token ranges covering `0..<tokens`, on the workers in parallel
    /// for a prompt batch, and must touch only its rows.
    public static func linear(
        _ w: WeightMatrix, input: UnsafePointer<Float>, inputStride: Int, tokens: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int,
        state: InferenceState, pool: ThreadPool, prepare: ((Range<Int>) -> Void)? = nil
    ) {
        multiply(
            [MatmulTarget(weight: w, output: output, outputStride: outputStride)], input: input,
            inputStride: inputStride, tokens: tokens, state: state, pool: pool, prepare: prepare)
    }

    /// One matrix of a fused multiply: W and where its (tokens, W.rows) output goes.
    package struct MatmulTarget {
        package let weight: WeightMatrix
        package let output: UnsafeMutablePointer<Float>
        package let outputStride: Int

        package init(weight: WeightMatrix, output: UnsafeMutablePointer<Float>, outputStride: Int) {
            self.weight = weight
            self.output = output
            self.outputStride = outputStride
        }
    }

    /// Several matrices over the same input in one parallel section (Q, K and V; gate and up):
    /// their rows are split across the workers as one list, so there is one barrier instead of
    /// one per matrix, and no worker idles while another finishes a small matrix. Quantizes the
    /// input once when all share an activation format, else falls back to one multiply each.
    /// Row results are the same as `linear`'s (each row is computed independently).
    package static func linearFused(
        _ a: MatmulTarget, _ b: MatmulTarget, _ c: MatmulTarget? = nil,
        input: UnsafePointer<Float>, inputStride: Int, tokens: Int,
        state: InferenceState, pool: ThreadPool, prepare: ((Range<Int>) -> Void)? = nil
    ) {
        let targets = [a, b] + (c.map { [$0] } ?? [])
        let first = a.weight
        guard targets.allSatisfy({ $0.weight.type.activationType == first.type.activationType && $0.weight.columns == first.columns })
        else {
            prepare?(0..<tokens)
            for t in targets { multiply([t], input: input, inputStride: inputStride, tokens: tokens, state: state, pool: pool) }
            return
        }
        multiply(targets, input: input, inputStride: inputStride, tokens: tokens, state: state, pool: pool, prepare: prepare)
    }

    /// `targets` (same columns, same activation format) times the `tokens` input rows, in one
    /// parallel section. A prompt batch is prepared and quantized inside it, each worker taking a
    /// share of the tokens (with the tiles' per-block activation values), then, after a barrier, each worker
    /// multiplies its share of all the targets' rows: the quantization no longer runs on one
    /// thread while the others wait. One token (decode) is quantized before the section: a
    /// barrier would cost more than the row.
    private static func multiply(
        _ targets: [MatmulTarget], input: UnsafePointer<Float>, inputStride: Int, tokens: Int,
        state: InferenceState, pool: ThreadPool, prepare: ((Range<Int>) -> Void)? = nil
    ) {
        let w = targets[0].weight
        let type = Int32(w.type.rawValue)
        let activationType = Int32(w.type.activationType.rawValue)
        let columns = Int64(w.columns)
        let rowBytes = state.activationRowBytes
        let act = state.activations.base
        let batch = state.batchPlacement ?? BatchPlacement(tokens: tokens, offset: 0)
        let totalRows = targets.reduce(0) { $0 + $1.weight.rows }

        func quantize(_ range: Range<Int>) {
            for t in range {
                slm_quantize_row(activationType, input + t * inputStride, act + t * rowBytes, columns)
            }
        }
        /// This worker's share of the rows of all targets, listed one after another.
        func multiplyRows(_ rows: Range<Int>, scales: UnsafePointer<Float>?) {
            var offset = 0
            for t in targets {
                let lo = max(rows.lowerBound, offset) - offset
                let hi = min(rows.upperBound, offset + t.weight.rows) - offset
                offset += t.weight.rows
                guard lo < hi else { continue }
                let tw = t.weight
                if batch.tokens == 1 {
                    slm_matvec(Int32(tw.type.rawValue), tw.data, tw.rowBytes, columns, act, t.output, Int64(lo), Int64(hi))
                } else {
                    // The precomputed values follow the first target's type (Q4_0 and Q4_1 add their
                    // own second half); a target of another type computes its own.
                    slm_matmul_in_batch_scaled(
                        Int32(tw.type.rawValue), tw.data, tw.rowBytes, columns, act, rowBytes, Int64(tokens),
                        Int64(batch.tokens), Int64(batch.offset), tw.type == w.type ? scales : nil,
                        t.output, Int64(t.outputStride), Int64(lo), Int64(hi))
                }
            }
        }

        if tokens == 1 || batch.tokens == 1 {
            prepare?(0..<tokens)
            quantize(0..<tokens)
            pool.parallelFor(totalRows) { rows in multiplyRows(rows, scales: nil) }
            return
        }
        // The tiles' per-block values, when this format has them and they fit the state's buffer.
        let scaleCount = Int(slm_tile_activation_scale_count(type, columns, Int64(tokens)))
        let scales: UnsafeMutablePointer<Float>? =
            scaleCount > 0 && scaleCount <= state.maxBatch * state.shape.activationScalesPerToken
            ? state.activationScales.floats() : nil
        pool.run { worker, workers in
            let mine = ThreadPool.chunk(tokens, index: worker, of: workers)
            if !mine.isEmpty { prepare?(mine) }
            quantize(mine)
            if let scales, !mine.isEmpty {
                slm_tile_activation_scales(
                    type, act, rowBytes, columns, Int64(tokens), Int64(mine.lowerBound), Int64(mine.upperBound), scales)
            }
            pool.barrier(workers)
            let rows = ThreadPool.chunk(totalRows, index: worker, of: workers)
            if !rows.isEmpty { multiplyRows(rows, scales: scales.map { UnsafePointer($0) }) }
        }
    }

    /// Causal attention with grouped KV heads for a batch of `tokens` queries at positions
    /// `start ..< start + tokens`, whose keys and values are already in the cache.
    /// query: (tokens, heads * headDim) with RoPE applied; output: (tokens, heads * headDim).
    /// `window` > 0 is a sliding window: the query at position p sees positions p - window + 1 ... p
    /// (llama.cpp's standard SWA mask); 0 means the whole causal prefix. `softcap` > 0 caps every
    /// score s = scale·(q·k) to softcap·tanh(s) (Gemma 2; pass the scale already divided by the cap).
    /// Attention over a cache with a quantized K or V: llama.cpp takes every position one at a
    /// time for such caches, for prompts as for decode, and never splits one query's positions
    /// across threads, so neither does slm: the (token, head) jobs are dealt out round-robin.
    private static func typedAttention(
        layer: Int, query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        tokens: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int, scale: Float, softcap: Float,
        firstVisible: (Int) -> Int, state: InferenceState, pool: ThreadPool
    ) {
        let groupSize = heads / kvHeads
        let queryWidth = heads * headDim
        let types = state.cacheTypes
        let keys = UnsafeRawPointer(state.keyRows(layer: layer))
        let values = UnsafeRawPointer(state.valueRows(layer: layer))
        let keyRowBytes = state.keyRowBytes
        let valueRowBytes = state.valueRowBytes
        // Byte offset of one KV head's slice in a row: whole blocks, since headDim is.
        let keyHeadBytes = types.key.rowBytes(width: headDim)
        let valueHeadBytes = types.value.rowBytes(width: headDim)
        let scratch = state.attentionScratch.base
        let scratchBytes = state.attentionScratchBytes
        pool.run { worker, workerCount in
            for job in stride(from: worker, to: tokens * heads, by: workerCount) {
                let t = job / heads
                let h = job % heads
                let kv = h / groupSize
                slm_attention_head_typed(
                    query + t * queryWidth + h * headDim, types.key.kernelType, keys + kv * keyHeadBytes, keyRowBytes,
                    types.value.kernelType, values + kv * valueHeadBytes, valueRowBytes,
                    Int64(firstVisible(start + t)), Int64(start + t + 1), Int64(headDim), scale, softcap,
                    output + t * queryWidth + h * headDim, scratch + worker * scratchBytes)
            }
        }
    }

    package static func attention(
        layer: Int, query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        tokens: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int, scale: Float,
        window: Int = 0, softcap: Float = 0, state: InferenceState, pool: ThreadPool
    ) {
        /// First position the query at `position` may see.
        func firstVisible(_ position: Int) -> Int { window > 0 ? max(0, position - window + 1) : 0 }
        let groupSize = heads / kvHeads
        let queryWidth = heads * headDim
        if state.cacheTypes != .f16 {
            typedAttention(
                layer: layer, query: query, output: output, tokens: tokens, start: start, heads: heads,
                kvHeads: kvHeads, headDim: headDim, scale: scale, softcap: softcap, firstVisible: firstVisible,
                state: state, pool: pool)
            return
        }
        let keyBase = state.keyBase(layer: layer)
        let valueBase = state.valueBase(layer: layer)
        let keyStride = Int64(state.shape.keyWidth)
        let valueStride = Int64(state.shape.valueWidth)
        let mode = state.attentionMode.kernelMode
        let scratch = state.attentionScratch.base
        let scratchBytes = state.attentionScratchBytes

        // One query over a long cache: few heads would leave workers idle, so split the cache
        // into one contiguous slice per worker instead (all heads each), then merge the partial
        // softmaxes in slice order. Slices are cut from the cache length rounded up to whole
        // 256-position granules, as llama.cpp's CPU backend cuts them, so results agree with it.
        let workers = pool.effectiveCount
        let visible = start + 1
        let granules = (visible + AttentionMode.splitGranule - 1) / AttentionMode.splitGranule * AttentionMode.splitGranule
        if tokens == 1, workers > 1, state.attentionMode == .f16Accumulate, granules >= AttentionMode.splitThreshold {
            let sliceLength = (granules + workers - 1) / workers
            let partialStride = 2 + headDim
            let partials = state.attentionPartials(count: workers * heads * partialStride)
            let first = firstVisible(start)
            pool.run { worker, _ in
                let sliceBegin = min(visible, worker * sliceLength)
                let end = min(visible, sliceBegin + sliceLength)
                let begin = min(end, max(sliceBegin, first))
                for h in 0..<heads {
                    let kvOffset = (h / groupSize) * headDim
                    slm_attention_partial_capped(
                        query + h * headDim, keyBase + kvOffset, keyStride,
                        valueBase + kvOffset, valueStride, Int64(begin), Int64(end),
                        Int64(headDim), scale, softcap,
                        partials + (h * workers + worker) * partialStride,
                        scratch + worker * scratchBytes)
                }
            }
            for h in 0..<heads {
                slm_attention_merge(
                    partials + h * workers * partialStride, Int64(workers), Int64(headDim),
                    output + h * headDim)
            }
            return
        }

        // Prompt batches: widen each KV head's keys (transposed) and values once per layer,
        // instead of once per query token and head.
        if state.attentionMode == .f32 {
            let visible = start + tokens
            let paddedVisible = (visible + 63) / 64 * 64
            let (keysT, valuesF32) = widenKeysAndValues(
                layer: layer, positions: visible, kvHeads: kvHeads, headDim: headDim, state: state, pool: pool)
            // The heads of one KV group run together (same keys, values and visible range): each
            // tile is read once for the group, and two heads share each key and value load. Jobs
            // go KV head by KV head (tokens dealt round-robin within one, as later tokens see
            // more), so a worker keeps re-reading one KV head's keys and values from its own cache
            // instead of cycling through all of them.
            precondition(
                Int(slm_attention_group_scratch_bytes(Int64(headDim), Int64(groupSize))) <= scratchBytes,
                "attention scratch sized for a smaller KV group")
            pool.run { worker, workerCount in
                for job in stride(from: worker, to: tokens * kvHeads, by: workerCount) {
                    let kv = job / tokens
                    let t = job % tokens
                    let h = kv * groupSize
                    slm_attention_head_group_f32_window(
                        query + t * queryWidth + h * headDim, Int64(groupSize),
                        keysT + kv * paddedVisible * headDim, valuesF32 + kv * paddedVisible * headDim,
                        Int64(headDim), Int64(firstVisible(start + t)), Int64(start + t + 1),
                        Int64(headDim), scale, softcap,
                        output + t * queryWidth + h * headDim,
                        scratch + worker * scratchBytes)
                }
            }
            return
        }

        // Later tokens attend to more positions: deal the (token, head) jobs out round-robin so
        // every worker gets a similar mix of short and long ones.
        let cappedPartials = softcap != 0 ? state.attentionPartials(count: ThreadPool.maxThreads * (2 + headDim)) : nil
        pool.run { worker, workerCount in
            for job in stride(from: worker, to: tokens * heads, by: workerCount) {
                let t = job / heads
                let h = job % heads
                // This mode takes positions one at a time, so a window is just a later first row.
                let first = firstVisible(start + t)
                let kvOffset = (h / groupSize) * headDim
                if let cappedPartials {
                    // One capped partial over the visible range, normalised by a one-slice merge:
                    // the same bits as the uncapped kernel's own normalisation.
                    let partial = cappedPartials + worker * (2 + headDim)
                    slm_attention_partial_capped(
                        query + t * queryWidth + h * headDim, keyBase + kvOffset, keyStride,
                        valueBase + kvOffset, valueStride, Int64(first), Int64(start + t + 1),
                        Int64(headDim), scale, softcap, partial, scratch + worker * scratchBytes)
                    slm_attention_merge(partial, 1, Int64(headDim), output + t * queryWidth + h * headDim)
                    continue
                }
                slm_attention_head(
                    query + t * queryWidth + h * headDim,
                    keyBase + first * Int(keyStride) + kvOffset, keyStride,
                    valueBase + first * Int(valueStride) + kvOffset, valueStride,
                    Int64(start + t + 1 - first), Int64(headDim), scale, mode,
                    output + t * queryWidth + h * headDim, scratch + worker * scratchBytes)
            }
        }
    }
}
