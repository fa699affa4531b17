import CSLMKernels

/// A ggml tensor type id as stored in GGUF. Block layouts live in `CSLMKernels` only; this type asks
/// the C side for sizes so Swift never re-declares a layout.
public struct TensorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = TensorType(rawValue: 0)
    public static let f16 = TensorType(rawValue: 1)
    public static let q4_0 = TensorType(rawValue: 2)
    public static let q4_1 = TensorType(rawValue: 3)
    public static let q5_0 = TensorType(rawValue: 6)
    public static let q5_1 = TensorType(rawValue: 7)
    public static let q8_0 = TensorType(rawValue: 8)
    public static let q8_1 = TensorType(rawValue: 9)
    public static let q4_K = TensorType(rawValue: 12)
    public static let q5_K = TensorType(rawValue: 13)
    public static let q6_K = TensorType(rawValue: 14)
    public static let q8_K = TensorType(rawValue: 15)
    public static let bf16 = TensorType(rawValue: 30)

    private var cType: Int32 { Int32(truncatingIfNeeded: rawValue) }

    /// Whether the file format knows the type's block layout (so its byte size can be checked).
    public var hasKnownLayout: Bool { rawValue <= Int32.max && slm_type_block_bytes(cType) > 0 }
    /// Whether the engine can compute with weights of this type.
    public var isSupportedForWeights: Bool { rawValue <= Int32.max && slm_type_is_supported(cType) != 0 }
    public var blockElements: Int { Int(slm_type_block_elements(cType)) }
    public var blockBytes: Int { Int(slm_type_block_bytes(cType)) }
    /// The format activations are quantized to before a dot product with weights of this type.
    public var activationType: TensorType { TensorType(rawValue: UInt32(slm_type_activation_type(cType))) }

    /// Bytes of a row of `elements` values; `elements` must be a multiple of `blockElements`.
    public func rowBytes(_ elements: Int) -> Int { elements / blockElements * blockBytes }

    public var description: String {
        hasKnownLayout ? String(cString: slm_type_name(cType)) : "type\(rawValue)"
    }
}
