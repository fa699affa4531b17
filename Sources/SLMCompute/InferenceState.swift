import CSLMKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Page-aligned, zero-filled memory from an anonymous mapping. Pages cost RSS only once touched,
/// so a KV cache sized for 4096 positions costs memory only for the positions actually used.
final class AnonymousBuffer: @unchecked Sendable {
    let byteCount: Int
    let base: UnsafeMutableRawPointer

    init(byteCount: Int) throws {
        self.byteCount = max(byteCount, 1)
        let p = mmap(nil, self.byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw ComputeError.allocationFailed(bytes: byteCount, reason: String(cString: strerror(errno)))
        }
        base = p
    }

    deinit { munmap(base, byteCount) }

    /// Gives the pages back to the system; they read as zeros when touched again.
    func discardPages() { _ = madvise(base, byteCount, MADV_DONTNEED) }

    func floats(at byteOffset: Int = 0) -> UnsafeMutablePointer<Float> {
        (base + byteOffset).assumingMemoryBound(to: Float.self)
    }
}

/// How attention sums over the cache. llama.cpp's CPU flash attention keeps an F16 accumulator
/// for decode and small batches and an F32 one for prompt batches of 64 or more tokens; slm
/// follows the same split so that its greedy output matches llama.cpp's.
public enum AttentionMode: Sendable {
    case f32
    case f16Accumulate

    /// llama.cpp's switch point (its flash-attention query tile).
    public static let wideBatchThreshold = 64
    /// Decode splits the cache across workers from this many (granule-rounded) positions on.
    public static let splitThreshold = 512
    public static let splitGranule = 256

    public static func forBatch(of tokens: Int) -> AttentionMode {
        tokens >= wideBatchThreshold ? .f32 : .f16Accumulate
    }

    /// llama.cpp's physical batch (n_ubatch): a longer request is computed in pieces of this many
    /// tokens, each choosing its own mode.
    public static let referenceMicroBatch = 512

    /// The mode llama.cpp uses for the token at `offset` of a request of `count` tokens: that of
    /// the micro-batch the token falls in.
    public static func forToken(at offset: Int, ofRequest count: Int) -> AttentionMode {
        let microBatchStart = offset / referenceMicroBatch * referenceMicroBatch
        return forBatch(of: min(referenceMicroBatch, count - microBatchStart))
    }

    /// The micro-batch llama.cpp computes the token at `offset` of a request of `count` tokens in,
    /// and the token's place in it.
    public static func microBatch(at offset: Int, ofRequest count: Int) -> BatchPlacement {
        let microBatchStart = offset / referenceMicroBatch * referenceMicroBatch
        return BatchPlacement(tokens: min(referenceMicroBatch, count - microBatchStart), offset: offset - microBatchStart)
    }

    var kernelMode: Int32 {
        self == .f32 ? Int32(SLM_ATTENTION_F32) : Int32(SLM_ATTENTION_F16_ACCUMULATE)
    }
}

/// Where the tokens of a forward pass sit in the batch llama.cpp would compute them in: some
/// K-quant matmuls sum in an order that depends on the batch's size and the token's place in it
/// (`slm_matmul_in_batch`), and slm feeds a long prompt in chunks smaller than that batch.
public struct BatchPlacement: Sendable, Equatable {
    /// Tokens in the whole batch.
    public var tokens: Int
    /// Index in that batch of the forward pass's first token.
    public var offset: Int

    public init(tokens: Int, offset: Int) {
        self.tokens = tokens
        self.offset = offset
    }
}

extension TensorType {
    /// Whether a batched matmul over weights of this type may sum a token's products in an order
    /// that depends on the batch's size and the token's place in it, on this CPU (the kernels'
    /// answer, `slm_sum_order_depends_on_batch`).
    public var sumOrderDependsOnBatch: Bool { slm_sum_order_depends_on_batch(Int32(truncatingIfNeeded: rawValue)) != 0 }
}

/// The sizes an architecture needs for its per-conversation state.
public struct StateShape: Sendable {
    public var layers: Int
    /// Floats of K (and of V) per position per layer: n_kv_head * head_dim.
    public var keyWidth: Int
    public var valueWidth: Int
    /// Floats per token of each scratch buffer, in the order the model asks for them back
    /// (`InferenceState.scratch(_:)`): each buffer is (maxBatch, width) floats.
    public var scratchWidths: [Int]
    /// Largest activation row (elements) that will be quantized for a matmul.
    public var maxActivationColumns: Int
    /// Query heads and their size, for the attention scratch.
    public var heads: Int
    public var headDim: Int

    public init(
        layers: Int, keyWidth: Int, valueWidth: Int, scratchWidths: [Int],
        maxActivationColumns: Int, heads: Int, headDim: Int
    ) {
        self.layers = layers
        self.keyWidth = keyWidth
        self.valueWidth = valueWidth
        self.scratchWidths = scratchWidths
        self.maxActivationColumns = maxActivationColumns
        self.heads = heads
        self.headDim = headDim
    }
}

extension StateShape {
    /// Bytes of one row of quantized activations: F32 activations are the widest format any
    /// weight type dots with.
    var activationRowBytes: Int { (maxActivationColumns * MemoryLayout<Float>.size + 63) / 64 * 64 }
    /// Floats of the prompt tiles' per-block activation values for one token: at most two per
    /// 32-column block (`slm_tile_activation_scales`: d, and Q4_0's / Q4_1's second value).
    var activationScalesPerToken: Int { (maxActivationColumns + 31) / 32 * 2 }
    /// Attention scratch of one worker thread: enough for one head, or for one KV group's heads
    /// at once (the F32 mode of prompt batches).
    var attentionScratchBytes: Int {
        let groupSize = heads / max(1, keyWidth / max(1, headDim))
        return (Int(slm_attention_group_scratch_bytes(Int64(headDim), Int64(max(1, groupSize)))) + 63) / 64 * 64
    }
    /// Positions the F32-mode attention buffers hold: the context in whole tiles of 64.
    static func paddedContext(_ contextLength: Int) -> Int { (contextLength + 63) / 64 * 64 }

    /// Bytes of a state's buffers other than its KV cache, as `InferenceState.init` sizes them,
    /// when all are in use: the scratch activations and quantized activations of a `maxBatch`
    /// batch, the F32-mode attention buffers (keys transposed, values widened, one layer at a
    /// time) and the attention scratch of `threads` workers. Memory predictions count with it.
    public func scratchBytes(contextLength: Int, maxBatch: Int, threads: Int) -> Int {
        let floatSize = MemoryLayout<Float>.size
        let padded = Self.paddedContext(contextLength)
        return scratchWidths.reduce(0) { $0 + maxBatch * $1 * floatSize } + maxBatch * activationRowBytes
            + maxBatch * activationScalesPerToken * floatSize
            + (keyWidth + valueWidth) * padded * floatSize + threads * attentionScratchBytes
    }
}

/// One conversation's mutable state: the KV cache (F16 by default, as llama.cpp keeps it, or
/// Q8_0 / Q4_0 rows; layout (layer, position, row)), scratch activations, and how many positions
/// are filled.
public final class InferenceState: @unchecked Sendable {
    public let contextLength: Int
    public let maxBatch: Int
    public let shape: StateShape
    /// How K and V rows are stored.
    public let cacheTypes: KVCacheTypes
    /// Bytes of one position's K row and V row of one layer, in `cacheTypes`.
    public let keyRowBytes: Int
    public let valueRowBytes: Int
    /// Positions already in the KV cache; the next token goes here.
    public package(set) var position = 0

    let keys: AnonymousBuffer  // (layers, contextLength, keyRowBytes)
    let values: AnonymousBuffer  // (layers, contextLength, valueRowBytes)
    /// How attention accumulates for the current forward pass; see `slm_attention_head`.
    public var attentionMode = AttentionMode.f16Accumulate
    /// False while the engine feeds the first chunks of a long prompt, whose logits nobody reads:
    /// a model may then skip its output layer (for a small model, a tied 49k-row output matrix
    /// is ~20 % of a forward pass's weights).
    public var logitsNeeded = true
    /// The batch the current forward pass's tokens belong to; nil when they are the whole batch.
    /// A model clears it before its output layer when that runs on fewer rows.
    public var batchPlacement: BatchPlacement?
    private var scratch: [AnonymousBuffer] = []
    /// Quantized activations, (maxBatch, row bytes of maxActivationColumns in the widest format).
    let activations: AnonymousBuffer
    let activationRowBytes: Int
    /// The prompt tiles' per-block values of `activations` (`slm_tile_activation_scales`),
    /// (maxBatch × activationScalesPerToken) floats.
    let activationScales: AnonymousBuffer
    /// Attention scratch, `attentionScratchBytes` per worker thread.
    let attentionScratch: AnonymousBuffer
    let attentionScratchBytes: Int

    package init(shape: StateShape, contextLength: Int, maxBatch: Int, cacheTypes: KVCacheTypes = .f16) throws {
        // Quantized rows are cut into 32-value blocks per head: a head must be whole blocks.
        for type in [cacheTypes.key, cacheTypes.value] where !type.supports(width: shape.headDim) {
            throw ComputeError.unsupportedCacheType(
                "a \(type.rawValue) KV cache needs a head size that is a multiple of \(type.blockLength); this model's is \(shape.headDim)"
            )
        }
        self.shape = shape
        self.contextLength = contextLength
        self.maxBatch = maxBatch
        self.cacheTypes = cacheTypes
        keyRowBytes = cacheTypes.key.rowBytes(width: shape.keyWidth)
        valueRowBytes = cacheTypes.value.rowBytes(width: shape.valueWidth)
        let floatSize = MemoryLayout<Float>.size
        keys = try AnonymousBuffer(byteCount: shape.layers * contextLength * keyRowBytes)
        values = try AnonymousBuffer(byteCount: shape.layers * contextLength * valueRowBytes)
        scratch = try shape.scratchWidths.map { try AnonymousBuffer(byteCount: maxBatch * $0 * floatSize) }
        activationRowBytes = shape.activationRowBytes
        activations = try AnonymousBuffer(byteCount: maxBatch * activationRowBytes)
        activationScales = try AnonymousBuffer(byteCount: maxBatch * shape.activationScalesPerToken * floatSize)
        attentionScratchBytes = shape.attentionScratchBytes
        let paddedContext = StateShape.paddedContext(contextLength)
        transposedKeys = try AnonymousBuffer(byteCount: shape.keyWidth * paddedContext * floatSize)
        widenedValues = try AnonymousBuffer(byteCount: shape.valueWidth * paddedContext * floatSize)
        // One slot per worker; pages of unused slots are never touched.
        attentionScratch = try AnonymousBuffer(byteCount: ThreadPool.maxThreads * attentionScratchBytes)
    }

    /// Scratch buffer `index` of `shape.scratchWidths`; the model's typed view names them.
    package func scratch(_ index: Int) -> UnsafeMutablePointer<Float> { scratch[index].floats() }

    /// Keys of one layer widened and transposed for F32-mode attention, (kvHeads, tiles of 64
    /// positions, headDim, 64) floats; rebuilt per layer, so one buffer serves all layers.
    let transposedKeys: AnonymousBuffer

    /// Values of one layer widened to F32 for F32-mode attention, (kvHeads, positions, headDim)
    /// floats: converting them once per layer instead of once per query; one buffer for all layers.
    let widenedValues: AnonymousBuffer

    /// Split attention's partial results, (heads, workers, 2 + headDim) floats; grown on first use.
    private var partials: UnsafeMutablePointer<Float>?
    private var partialsCount = 0

    func attentionPartials(count: Int) -> UnsafeMutablePointer<Float> {
        if let partials, partialsCount >= count { return partials }
        partials?.deallocate()
        let fresh = UnsafeMutablePointer<Float>.allocate(capacity: count)
        partials = fresh
        partialsCount = count
        return fresh
    }

    deinit { partials?.deallocate() }

    /// The K rows of `layer` from position 0, `keyRowBytes` apart.
    package func keyRows(layer: Int) -> UnsafeMutableRawPointer { keys.base + layer * contextLength * keyRowBytes }

    package func valueRows(layer: Int) -> UnsafeMutableRawPointer {
        values.base + layer * contextLength * valueRowBytes
    }

    /// First cached key of `layer` (position 0) of an F16 cache; rows are `shape.keyWidth` halves apart.
    package func keyBase(layer: Int) -> UnsafeMutablePointer<UInt16> {
        precondition(cacheTypes.key == .f16, "F16 view of a \(cacheTypes.key) cache")
        return keyRows(layer: layer).assumingMemoryBound(to: UInt16.self)
    }

    package func valueBase(layer: Int) -> UnsafeMutablePointer<UInt16> {
        precondition(cacheTypes.value == .f16, "F16 view of a \(cacheTypes.value) cache")
        return valueRows(layer: layer).assumingMemoryBound(to: UInt16.self)
    }

    /// Stores one position's key and value into the cache in its types (rounded to F16 or
    /// quantized, as llama.cpp's copy into its cache does). The model passes them already in the
    /// cache's basis (Hadamard-rotated for a quantized type, `KVCacheTypes.keyRotationBlock`).
    package func storeKeyValue(layer: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        cacheTypes.key.store(key, into: keyRows(layer: layer) + position * keyRowBytes, width: shape.keyWidth)
        cacheTypes.value.store(value, into: valueRows(layer: layer) + position * valueRowBytes, width: shape.valueWidth)
    }

    /// One cached key row as the model computed it (`shape.keyWidth` floats): dequantized and,
    /// for a rotated cache, rotated back.
    public func loadKeyRow(layer: Int, position: Int, into row: UnsafeMutablePointer<Float>) {
        cacheTypes.key.load(keyRows(layer: layer) + position * keyRowBytes, into: row, width: shape.keyWidth)
        if let block = cacheTypes.keyRotationBlock(headDim: shape.headDim) {
            slm_hadamard_rotate(row, Int64(shape.keyWidth), Int64(block))
        }
    }

    /// Replaces one cached key row with `row` as the model computes keys (rotated and rounded
    /// or quantized here, as the cache keeps them); `row` is left rotated.
    public func storeKeyRow(layer: Int, position: Int, from row: UnsafeMutablePointer<Float>) {
        if let block = cacheTypes.keyRotationBlock(headDim: shape.headDim) {
            slm_hadamard_rotate(row, Int64(shape.keyWidth), Int64(block))
        }
        cacheTypes.key.store(row, into: keyRows(layer: layer) + position * keyRowBytes, width: shape.keyWidth)
    }

    /// Moves `count` positions' K and V rows of every layer from `source` to `destination`
    /// (overlapping ranges allowed); tokens are the caller's business.
    public func moveRows(from source: Int, to destination: Int, count: Int) {
        // Callers are the engine's own code (context shift): a range outside the cache is a bug.
        precondition(
            count >= 0 && source >= 0 && destination >= 0 && source + count <= contextLength
                && destination + count <= contextLength,
            "moveRows(from: \(source), to: \(destination), count: \(count)) outside a context of \(contextLength)")
        guard count > 0, source != destination else { return }
        for layer in 0..<shape.layers {
            let k = keyRows(layer: layer)
            (k + destination * keyRowBytes).copyMemory(from: k + source * keyRowBytes, byteCount: count * keyRowBytes)
            let v = valueRows(layer: layer)
            (v + destination * valueRowBytes).copyMemory(
                from: v + source * valueRowBytes, byteCount: count * valueRowBytes)
        }
    }

    /// Sets how many positions are filled, after a caller wrote rows directly (a snapshot or a
    /// cached prefix copied in).
    public func setFilledPositions(_ count: Int) {
        precondition(count >= 0 && count <= contextLength)
        position = count
    }

    /// Forgets every position from `newPosition` on (the cache rows are simply overwritten later).
    public func truncate(to newPosition: Int) {
        position = max(0, min(position, newPosition))
    }

    public func reset() { position = 0 }

    /// Empties the cache and gives every buffer's pages back (they are zero-filled again on
    /// use): an idle session then costs address space, not memory.
    public func releaseMemory() {
        position = 0
        for buffer in [keys, values, activations, activationScales, attentionScratch, transposedKeys, widenedValues] + scratch {
            buffer.discardPages()
        }
    }

    /// Sets the attention mode and batch placement llama.cpp would use for tokens starting at
    /// `offset` of a request of `requestSize` tokens (fed here in chunks of at most
    /// `Engine.promptBatch`, which divides `AttentionMode.referenceMicroBatch`).
    public func prepareChunk(at offset: Int, ofRequest requestSize: Int) {
        attentionMode = AttentionMode.forToken(at: offset, ofRequest: requestSize)
        batchPlacement = AttentionMode.microBatch(at: offset, ofRequest: requestSize)
    }
}
