import CSLMKernels

extension Ops {
    /// F32-mode attention's inputs for positions 0 ..< `positions` of `layer`: each KV head's keys
    /// transposed into 64-position tiles and its values widened to F32, once per layer, in the
    /// state's buffers ((kvHeads, positions rounded up to 64, headDim) floats each).
    static func widenKeysAndValues(
        layer: Int, positions: Int, kvHeads: Int, headDim: Int, state: InferenceState, pool: ThreadPool
    ) -> (keysT: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        let keyBase = state.keyBase(layer: layer)
        let valueBase = state.valueBase(layer: layer)
        let keyStride = Int64(state.shape.keyWidth)
        let valueStride = Int64(state.shape.valueWidth)
        let padded = (positions + 63) / 64 * 64
        let keysT = state.transposedKeys.floats()
        let valuesF32 = state.widenedValues.floats()
        pool.parallelFor(2 * kvHeads) { range in
            for job in range {
                let kv = job / 2
                if job % 2 == 0 {
                    slm_attention_transpose_keys(
                        keyBase + kv * headDim, keyStride, 0, Int64(positions), Int64(headDim), keysT + kv * padded * headDim)
                } else {
                    slm_attention_widen_values(
                        valueBase + kv * headDim, valueStride, 0, Int64(positions), Int64(headDim),
                        valuesF32 + kv * padded * headDim)
                }
            }
        }
        return (keysT, valuesF32)
    }

    /// Bidirectional attention for several independent sequences packed in one batch (an
    /// encoder's forward pass): the token at batch
    /// index t of `sequences[s]` attends to every position of that sequence and no other, which
    /// is the padding mask of a padded batch without the padding. The keys and values of batch
    /// index i are in the cache at position i. query: (tokens, heads · headDim) with tokens =
    /// the end of the last sequence; output: the same shape.
    package static func packedBidirectionalAttention(
        layer: Int, query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        sequences: [Range<Int>], heads: Int, kvHeads: Int, headDim: Int, scale: Float,
        state: InferenceState, pool: ThreadPool
    ) {
        guard let tokens = sequences.last?.upperBound, tokens > 0 else { return }
        let groupSize = heads / kvHeads
        let queryWidth = heads * headDim
        let scratch = state.attentionScratch.base
        let scratchBytes = state.attentionScratchBytes
        let paddedTokens = (tokens + 63) / 64 * 64
        // Keys transposed and values widened once per layer for the whole batch (the F32 mode of
        // prompt processing), then each query reads only its own sequence's window of them.
        let (keysT, valuesF32) = widenKeysAndValues(
            layer: layer, positions: tokens, kvHeads: kvHeads, headDim: headDim, state: state, pool: pool)
        var sequenceOf = [Range<Int>](repeating: 0..<0, count: tokens)
        for s in sequences { for t in s { sequenceOf[t] = s } }
        sequenceOf.withUnsafeBufferPointer { sequenceOf in
            pool.run { worker, workerCount in
                for job in stride(from: worker, to: tokens * heads, by: workerCount) {
                    let t = job / heads
                    let h = job % heads
                    let kv = h / groupSize
                    let visible = sequenceOf[t]
                    guard !visible.isEmpty else { continue }
                    slm_attention_head_f32_window(
                        query + t * queryWidth + h * headDim, keysT + kv * paddedTokens * headDim,
                        valuesF32 + kv * paddedTokens * headDim, Int64(headDim),
                        Int64(visible.lowerBound), Int64(visible.upperBound), Int64(headDim), scale, 0,
                        output + t * queryWidth + h * headDim, scratch + worker * scratchBytes)
                }
            }
        }
    }
}
