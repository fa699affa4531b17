import CSLMKernels

/// How the KV cache stores keys or values: F16 rows (llama.cpp's default), or ggml's Q8_0 / Q4_0
/// blocks of 32 values with one F16 scale each, chosen separately for K and V (llama.cpp's
/// `--cache-type-k` / `--cache-type-v`). The quantized types cut a cache to 53 % or 28 % of F16.
public enum KVCacheType: String, Sendable, CaseIterable, Equatable {
    case f16
    case q8_0
    case q4_0

    /// Values per block; a row's width must be a multiple of it.
    public var blockLength: Int { self == .f16 ? 1 : 32 }

    /// Bytes of one block: an F16 value, or an F16 scale and 32 quants of 8 or 4 bits.
    public var blockBytes: Int {
        switch self {
        case .f16: return 2
        case .q8_0: return 2 + 32
        case .q4_0: return 2 + 16
        }
    }

    /// Bytes of one cached row of `width` values (the type must divide it: `supports(width:)`).
    public func rowBytes(width: Int) -> Int { width / blockLength * blockBytes }

    /// Whether rows of `width` values (n_kv_head · head_dim) can be stored in this type.
    public func supports(width: Int) -> Bool { width % blockLength == 0 }

    /// The tensor type id (ggml's) of rows in this type, as the kernels take it.
    public var kernelType: Int32 {
        switch self {
        case .f16: return Int32(SLM_TYPE_F16.rawValue)
        case .q8_0: return Int32(SLM_TYPE_Q8_0.rawValue)
        case .q4_0: return Int32(SLM_TYPE_Q4_0.rawValue)
        }
    }

    /// Rounds or quantizes `width` floats into one row of this type.
    public func store(_ row: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, width: Int) {
        switch self {
        case .f16: slm_f32_row_to_f16(row, destination.assumingMemoryBound(to: UInt16.self), Int64(width))
        case .q8_0, .q4_0: slm_quantize_row(kernelType, row, destination, Int64(width))
        }
    }

    /// One row of this type as `width` floats.
    public func load(_ source: UnsafeRawPointer, into row: UnsafeMutablePointer<Float>, width: Int) {
        slm_dequantize_row(kernelType, source, row, Int64(width))
    }

    /// The names llama.cpp accepts for `-ctk` / `-ctv`, for the error that lists them.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The KV cache types of K and of V, and the bytes a cache of a given shape takes in them: the
/// one place the cache's size is computed (state allocation, snapshots, memory accounting).
public struct KVCacheTypes: Sendable, Equatable {
    public var key: KVCacheType
    public var value: KVCacheType

    public init(key: KVCacheType = .f16, value: KVCacheType = .f16) {
        self.key = key
        self.value = value
    }

    public static let f16 = KVCacheTypes()

    /// The Hadamard block llama.cpp rotates queries and keys by before they meet a quantized K
    /// cache (the largest power of two ≥ 64 dividing the head size), nil when it does not rotate
    /// (F16 keys, or a head size that is not a multiple of 64). Matching it matters: without it
    /// the same -ctk gives other logits than llama.cpp's.
    public func keyRotationBlock(headDim: Int) -> Int? {
        guard key != .f16, headDim % 64 == 0 else { return nil }
        var block = 64
        while headDim % (2 * block) == 0 { block *= 2 }
        return block
    }

    /// The block values and the attention output are rotated by around a quantized V cache
    /// (llama.cpp keeps 64 there), nil when they are not.
    public func valueRotationBlock(headDim: Int) -> Int? {
        guard value != .f16, headDim % 64 == 0 else { return nil }
        return 64
    }

    /// Bytes of K and V for one position across all layers.
    public func bytesPerPosition(layers: Int, keyWidth: Int, valueWidth: Int) -> Int {
        layers * (key.rowBytes(width: keyWidth) + value.rowBytes(width: valueWidth))
    }
}

extension StateShape {
    /// Bytes of K and V for one position across all layers, in `types`.
    public func kvBytesPerPosition(_ types: KVCacheTypes) -> Int {
        types.bytesPerPosition(layers: layers, keyWidth: keyWidth, valueWidth: valueWidth)
    }
}
