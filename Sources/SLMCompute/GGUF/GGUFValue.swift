/// One metadata value of a GGUF file. Arrays may nest (GGUF allows arrays of arrays).
///
/// The reader returns arrays of strings and of arrays as `.array`, and arrays of fixed-size
/// scalars (integers, floats, bools) as `.scalarArray`, which keeps the file's bytes: one enum per
/// element costs 24 bytes, 24× a u8 array's size in the file. `asArray` gives either as values,
/// and `==` compares them by elements, so `.array([.int32(1)])` equals the reader's form.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)
    case array([GGUFValue])
    case scalarArray(GGUFScalarArray)

    /// The value as an integer when it is any integer type that fits in `Int`.
    public var asInt: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// Floats, and integers too: writers are not consistent about e.g. `rope.freq_base`.
    public var asFloat: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return asInt.map(Double.init)
        }
    }

    public var asBool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var asString: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements of either array form (a scalar array is expanded: use `GGUFFile.int32Array`
    /// / `floatArray` or `.scalarArray` directly for big ones).
    public var asArray: [GGUFValue]? {
        switch self {
        case .array(let v): return v
        case .scalarArray(let a): return a.elements
        default: return nil
        }
    }

    public static func == (lhs: GGUFValue, rhs: GGUFValue) -> Bool {
        switch (lhs, rhs) {
        case (.uint8(let a), .uint8(let b)): return a == b
        case (.int8(let a), .int8(let b)): return a == b
        case (.uint16(let a), .uint16(let b)): return a == b
        case (.int16(let a), .int16(let b)): return a == b
        case (.uint32(let a), .uint32(let b)): return a == b
        case (.int32(let a), .int32(let b)): return a == b
        case (.float32(let a), .float32(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.uint64(let a), .uint64(let b)): return a == b
        case (.int64(let a), .int64(let b)): return a == b
        case (.float64(let a), .float64(let b)): return a == b
        case (.scalarArray(let a), .scalarArray(let b)): return a == b
        case (.array, .array), (.array, .scalarArray), (.scalarArray, .array): return lhs.asArray == rhs.asArray
        default: return false
        }
    }

    /// GGUF's name of the value's type, as used in error messages and `slm inspect`.
    public var typeName: String {
        switch self {
        case .array(let items): return "arr[\(items.first?.typeName ?? "?")]"
        case .scalarArray(let a): return "arr[\(a.elementType.name)]"
        default: return valueType.name
        }
    }

    /// The format's type code of the value (the names live with the codes).
    var valueType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array, .scalarArray: return .array
        }
    }
}

/// The value type codes of the GGUF format.
enum GGUFValueType: UInt32 {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// GGUF's name of the type, as `GGUFValue.typeName` prints it.
    var name: String {
        switch self {
        case .uint8: return "u8"
        case .int8: return "i8"
        case .uint16: return "u16"
        case .int16: return "i16"
        case .uint32: return "u32"
        case .int32: return "i32"
        case .float32: return "f32"
        case .bool: return "bool"
        case .string: return "str"
        case .uint64: return "u64"
        case .int64: return "i64"
        case .float64: return "f64"
        case .array: return "arr"
        }
    }

    /// Size of one element when the type is a fixed-size scalar, stored compactly in arrays.
    var scalarWidth: Int? {
        switch self {
        case .string, .array: return nil
        default: return minimumEncodedSize
        }
    }

    /// Smallest number of bytes one value of this type occupies in the file; used to reject
    /// array counts that could not possibly fit before reading a single element.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string: return 8  // the u64 length, even for ""
        case .array: return 12  // element type u32 + count u64
        }
    }
}

/// A GGUF array of fixed-size scalars, kept as the little-endian bytes of the file (a copy, so the
/// value does not depend on the mapping): memory proportional to the file, whatever the count.
public struct GGUFScalarArray: Sendable, Equatable {
    let elementType: GGUFValueType
    let storage: [UInt8]

    init(elementType: GGUFValueType, bytes: UnsafeRawBufferPointer) {
        self.elementType = elementType
        storage = Array(bytes)
    }

    /// Builds one from values, all of the same scalar type (for writers and tests); nil otherwise.
    public init?(_ values: [GGUFValue]) {
        var type: GGUFValueType? = nil
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        for v in values {
            let t: GGUFValueType
            switch v {
            case .uint8(let x): (t, _) = (.uint8, put(x))
            case .int8(let x): (t, _) = (.int8, put(x))
            case .bool(let x): (t, _) = (.bool, put(UInt8(x ? 1 : 0)))
            case .uint16(let x): (t, _) = (.uint16, put(x))
            case .int16(let x): (t, _) = (.int16, put(x))
            case .uint32(let x): (t, _) = (.uint32, put(x))
            case .int32(let x): (t, _) = (.int32, put(x))
            case .float32(let x): (t, _) = (.float32, put(x.bitPattern))
            case .uint64(let x): (t, _) = (.uint64, put(x))
            case .int64(let x): (t, _) = (.int64, put(x))
            case .float64(let x): (t, _) = (.float64, put(x.bitPattern))
            case .string, .array, .scalarArray: return nil
            }
            if let type, type != t { return nil }
            type = t
        }
        guard let type else { return nil }
        elementType = type
        storage = out
    }

    /// Elements in the array.
    public var count: Int { storage.count / (elementType.scalarWidth ?? 1) }

    /// Bytes the elements occupy in memory: the same as in the file.
    public var storageBytes: Int { storage.count }

    private func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
        storage.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
    }

    /// The element at `i` (0 ..< count) as a value.
    public subscript(i: Int) -> GGUFValue {
        switch elementType {
        case .uint8: return .uint8(storage[i])
        case .int8: return .int8(Int8(bitPattern: storage[i]))
        case .bool: return .bool(storage[i] != 0)
        case .uint16: return .uint16(load(UInt16.self, i))
        case .int16: return .int16(load(Int16.self, i))
        case .uint32: return .uint32(load(UInt32.self, i))
        case .int32: return .int32(load(Int32.self, i))
        case .float32: return .float32(Float(bitPattern: load(UInt32.self, i)))
        case .uint64: return .uint64(load(UInt64.self, i))
        case .int64: return .int64(load(Int64.self, i))
        case .float64: return .float64(Double(bitPattern: load(UInt64.self, i)))
        case .string, .array: return .bool(false)  // never stored: the reader keeps these as `.array`
        }
    }

    /// All elements as values (24 bytes each: for small arrays and generic code).
    public var elements: [GGUFValue] { (0..<count).map { self[$0] } }

    /// The elements as Int32 when every one fits (the tokenizer's token types), without going
    /// through `GGUFValue`.
    public func int32s() -> [Int32]? {
        if elementType == .int32 {
            return [Int32](unsafeUninitializedCapacity: count) { buffer, n in
                storage.withUnsafeBytes { raw in
                    for i in 0..<count { buffer[i] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
                }
                n = count
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            guard let v = self[i].asInt, let narrow = Int32(exactly: v) else { return nil }
            out.append(narrow)
        }
        return out
    }

    /// The elements as Float (the tokenizer's scores), directly for f32 arrays.
    public func floats() -> [Float]? {
        if elementType == .float32 {
            return [Float](unsafeUninitializedCapacity: count) { buffer, n in
                storage.withUnsafeBytes { raw in
                    for i in 0..<count {
                        buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                    }
                }
                n = count
            }
        }
        var out: [Float] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            guard let v = self[i].asFloat else { return nil }
            out.append(Float(v))
        }
        return out
    }
}
