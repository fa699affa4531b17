import CSLMKernels

/// A 2-D weight viewed in place inside the GGUF mapping: `rows` rows of `columns` elements, each
/// row `rowBytes` long in the tensor's own block format.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: TensorType
    public let data: UnsafeRawPointer
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int

    public init(name: String, type: TensorType, data: UnsafeRawPointer, rows: Int, columns: Int) {
        self.name = name
        self.type = type
        self.data = data
        self.rows = rows
        self.columns = columns
        self.rowBytes = type.rowBytes(columns)
    }

    /// Dequantizes row `row` into `out` (columns floats), e.g. one token's embedding.
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        slm_dequantize_row(Int32(type.rawValue), data + row * rowBytes, out, Int64(columns))
    }
}

/// A 1-D F32 weight (norm scales, biases), converted once at load time when it is not F32.
/// These are tiny (a few KB), so a copy costs nothing and keeps the hot loops simple.
public struct WeightVector: @unchecked Sendable {
    public let name: String
    public let values: UnsafeBufferPointer<Float>
    /// Owns a converted copy; nil when `values` points into the mapping.
    private let storage: ConvertedValues?

    public init(name: String, type: TensorType, data: UnsafeRawPointer, count: Int) {
        self.name = name
        if type == .f32 {
            values = UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: count)
            storage = nil
        } else {
            let converted = ConvertedValues(count: count)
            slm_dequantize_row(Int32(type.rawValue), data, converted.pointer, Int64(count))
            storage = converted
            values = UnsafeBufferPointer(start: converted.pointer, count: count)
        }
    }

    /// Heap memory with a stable address for the converted floats (an array's buffer pointer
    /// must not outlive the closure that lends it).
    private final class ConvertedValues: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        init(count: Int) {
            pointer = .allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
        }
        deinit { pointer.deallocate() }
    }
}

/// Locates the tensors of a model by name and checks their shapes, throwing named errors.
public struct WeightLoader {
    public let file: GGUFFile

    public init(file: GGUFFile) { self.file = file }

    public func has(_ name: String) -> Bool { file.tensor(named: name) != nil }

    /// A matrix of shape (rows, columns) — ggml dims [columns, rows].
    public func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw GGUFError.missingTensor(path: file.path, tensor: name) }
        let expected = [columns, rows]
        guard
            info.dimensions == expected
                || (info.dimensions.count > 2 && Array(info.dimensions.prefix(2)) == expected
                    && info.dimensions.dropFirst(2).allSatisfy { $0 == 1 })
        else {
            throw GGUFError.wrongTensorShape(path: file.path, tensor: name, expected: expected, found: info.dimensions)
        }
        guard info.type.isSupportedForWeights else {
            throw ComputeError.unsupportedTensorType(tensor: name, type: info.type.description)
        }
        return WeightMatrix(name: name, type: info.type, data: file.data(of: info), rows: rows, columns: columns)
    }

    public func vector(_ name: String, count: Int) throws -> WeightVector {
        guard let info = file.tensor(named: name) else { throw GGUFError.missingTensor(path: file.path, tensor: name) }
        guard info.elementCount == count, info.rowLength == count else {
            throw GGUFError.wrongTensorShape(path: file.path, tensor: name, expected: [count], found: info.dimensions)
        }
        guard info.type == .f32 || info.type == .f16 || info.type == .bf16 else {
            throw ComputeError.unsupportedTensorType(tensor: name, type: info.type.description)
        }
        return WeightVector(name: name, type: info.type, data: file.data(of: info), count: count)
    }

    public func optionalVector(_ name: String, count: Int) throws -> WeightVector? {
        has(name) ? try vector(name, count: count) : nil
    }
}
