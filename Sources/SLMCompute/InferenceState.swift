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

/// One conversation's mutable state: the KV cache (F16, as llama.cpp keeps it by default; layout
/// (layer, position, width)), scratch activations, and how many positions are filled.
public final class InferenceState: @unchecked Sendable {
    public let contextLength: Int
    public let maxBatch: Int
    public let shape: StateShape
    /// Positions already in the KV cache; the next token goes here.
    public package(set) var position = 0

    let keys: AnonymousBuffer  // (layers, contextLength, keyWidth) F16
    let values: AnonymousBuffer  // (layers, contextLength, valueWidth) F16
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
    /// Attention scratch, `attentionScratchBytes` per worker thread.
    let attentionScratch: AnonymousBuffer
    let attentionScratchBytes: Int

    package init(shape: StateShape, contextLength: Int, maxBatch: Int) throws {
        self.shape = shape
        self.contextLength = contextLength
        self.maxBatch = maxBatch
        let floatSize = MemoryLayout<Float>.size
        let halfSize = MemoryLayout<UInt16>.size
        keys = try AnonymousBuffer(byteCount: shape.layers * contextLength * shape.keyWidth * halfSize)
        values = try AnonymousBuffer(byteCount: shape.layers * contextLength * shape.valueWidth * halfSize)
        scratch = try shape.scratchWidths.map { try AnonymousBuffer(byteCount: maxBatch * $0 * floatSize) }
        // F32 activations are the widest format any weight type dots with.
        activationRowBytes = (shape.maxActivationColumns * floatSize + 63) / 64 * 64
        activations = try AnonymousBuffer(byteCount: maxBatch * activationRowBytes)
        attentionScratchBytes = (Int(slm_attention_scratch_bytes(Int64(shape.headDim))) + 63) / 64 * 64
        let paddedContext = (contextLength + 63) / 64 * 64
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

    /// First cached key of `layer` (position 0); rows are `shape.keyWidth` halves apart.
    package func keyBase(layer: Int) -> UnsafeMutablePointer<UInt16> {
        (keys.base + layer * contextLength * shape.keyWidth * 2).assumingMemoryBound(to: UInt16.self)
    }

    package func valueBase(layer: Int) -> UnsafeMutablePointer<UInt16> {
        (values.base + layer * contextLength * shape.valueWidth * 2).assumingMemoryBound(to: UInt16.self)
    }

    /// Rounds one position's key and value to F16 into the cache.
    package func storeKeyValue(layer: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        slm_f32_row_to_f16(key, keyBase(layer: layer) + position * shape.keyWidth, Int64(shape.keyWidth))
        slm_f32_row_to_f16(value, valueBase(layer: layer) + position * shape.valueWidth, Int64(shape.valueWidth))
    }

    // Row access for code that rewrites the cache (context shift). Only this type knows how a
    // row is stored (F16 today); callers see floats, so they keep working when the storage type
    // changes.

    /// Widens the cached key of `position` in `layer` to `shape.keyWidth` floats.
    public func loadKeyRow(layer: Int, position: Int, into row: UnsafeMutablePointer<Float>) {
        checkRow(layer: layer, position: position)
        slm_f16_row_to_f32(keyBase(layer: layer) + position * shape.keyWidth, row, Int64(shape.keyWidth))
    }

    /// Rounds `shape.keyWidth` floats into the cached key of `position` in `layer`.
    public func storeKeyRow(layer: Int, position: Int, from row: UnsafePointer<Float>) {
        checkRow(layer: layer, position: position)
        slm_f32_row_to_f16(row, keyBase(layer: layer) + position * shape.keyWidth, Int64(shape.keyWidth))
    }

    /// Moves the keys and values of `count` positions starting at `source` so they start at
    /// `destination`, in every layer; the ranges may overlap. Rows are copied as stored (no
    /// rounding), and the position is left alone: the caller sets it with `truncate(to:)`.
    public func moveRows(from source: Int, to destination: Int, count: Int) {
        precondition(
            count >= 0 && source >= 0 && destination >= 0 && source + count <= contextLength
                && destination + count <= contextLength,
            "moveRows(from: \(source), to: \(destination), count: \(count)) outside a context of \(contextLength)")
        guard count > 0, source != destination else { return }
        let halfSize = MemoryLayout<UInt16>.size
        for layer in 0..<shape.layers {
            let keys = keyBase(layer: layer)
            memmove(keys + destination * shape.keyWidth, keys + source * shape.keyWidth, count * shape.keyWidth * halfSize)
            let values = valueBase(layer: layer)
            memmove(
                values + destination * shape.valueWidth, values + source * shape.valueWidth, count * shape.valueWidth * halfSize)
        }
    }

    /// Callers are the engine's own code, so a row outside the cache is a bug, not bad input.
    private func checkRow(layer: Int, position: Int) {
        precondition(
            layer >= 0 && layer < shape.layers && position >= 0 && position < contextLength,
            "cache row (layer \(layer), position \(position)) outside (\(shape.layers), \(contextLength))")
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
        for buffer in [keys, values, activations, attentionScratch, transposedKeys, widenedValues] + scratch {
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
