/// Where one tensor lives in a GGUF file. `dimensions[0]` is the row length (ggml's ne0): a
/// weight of shape (rows = dimensions[1], cols = dimensions[0]) is stored row by row.
public struct GGUFTensorInfo: Sendable, Equatable {
    public static let maxDimensions = 4

    public let name: String
    public let dimensions: [Int]
    public let type: TensorType
    /// Offset of the data from the start of the file (the GGUF offset plus the data section start).
    public let fileOffset: Int
    public let byteCount: Int

    public var elementCount: Int { dimensions.reduce(1, *) }
    public var rowLength: Int { dimensions.first ?? 1 }
    public var rowCount: Int { elementCount / max(rowLength, 1) }
    public var rowBytes: Int { type.rowBytes(rowLength) }
}
