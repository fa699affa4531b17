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
            throw ModelError.unsupportedFeature("cannot allocate \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { munmap(base, byteCount) }

    func floats(at byteOffset: Int = 0) -> UnsafeMutablePointer<Float> {
        (base + byteOffset).assumingMemoryBound(to: Float.self)
    }
}

/// The sizes an architecture needs for its per-conversation state.
public struct StateShape: Sendable {
    public var layers: Int
    /// Floats of K (and of V) per position per layer: n_kv_head * head_dim.
    public var keyWidth: Int
    public var valueWidth: Int
    /// Named scratch buffers, each (maxBatch, width) floats.
    public var scratchWidths: [String: Int]
    /// Largest activation row (elements) that will be quantized for a matmul.
    public var maxActivationColumns: Int
    /// Floats of attention scores one worker needs (≥ context length).
    public var heads: Int

    public init(layers: Int, keyWidth: Int, valueWidth: Int, scratchWidths: [String: Int],
                maxActivationColumns: Int, heads: Int) {
        self.layers = layers
        self.keyWidth = keyWidth
        self.valueWidth = valueWidth
        self.scratchWidths = scratchWidths
        self.maxActivationColumns = maxActivationColumns
        self.heads = heads
    }
}

/// One conversation's mutable state: the KV cache (F32 for now; layout (layer, position, width)),
/// scratch activations, and how many positions are filled.
public final class InferenceState: @unchecked Sendable {
    public let contextLength: Int
    public let maxBatch: Int
    public let shape: StateShape
    /// Positions already in the KV cache; the next token goes here.
    public internal(set) var position = 0

    let keys: AnonymousBuffer      // (layers, contextLength, keyWidth)
    let values: AnonymousBuffer    // (layers, contextLength, valueWidth)
    private var scratch: [String: AnonymousBuffer] = [:]
    /// Quantized activations, (maxBatch, row bytes of maxActivationColumns in the widest format).
    let activations: AnonymousBuffer
    let activationRowBytes: Int
    /// Attention scores, one contextLength-long row per (batch token, head).
    let scores: AnonymousBuffer

    init(shape: StateShape, contextLength: Int, maxBatch: Int) throws {
        self.shape = shape
        self.contextLength = contextLength
        self.maxBatch = maxBatch
        let floatSize = MemoryLayout<Float>.size
        keys = try AnonymousBuffer(byteCount: shape.layers * contextLength * shape.keyWidth * floatSize)
        values = try AnonymousBuffer(byteCount: shape.layers * contextLength * shape.valueWidth * floatSize)
        for (name, width) in shape.scratchWidths {
            scratch[name] = try AnonymousBuffer(byteCount: maxBatch * width * floatSize)
        }
        // F32 activations are the widest format any weight type dots with.
        activationRowBytes = (shape.maxActivationColumns * floatSize + 63) / 64 * 64
        activations = try AnonymousBuffer(byteCount: maxBatch * activationRowBytes)
        scores = try AnonymousBuffer(byteCount: maxBatch * shape.heads * contextLength * floatSize)
    }

    public func makeState() {}

    func buffer(_ name: String) -> UnsafeMutablePointer<Float> { scratch[name]!.floats() }

    func keyRow(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys.floats(at: ((layer * contextLength + position) * shape.keyWidth) * MemoryLayout<Float>.size)
    }

    func valueRow(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values.floats(at: ((layer * contextLength + position) * shape.valueWidth) * MemoryLayout<Float>.size)
    }

    /// Forgets every position from `newPosition` on (the cache rows are simply overwritten later).
    public func truncate(to newPosition: Int) {
        position = max(0, min(position, newPosition))
    }

    public func reset() { position = 0 }
}
