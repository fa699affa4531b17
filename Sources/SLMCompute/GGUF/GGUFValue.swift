/// One metadata value of a GGUF file. Arrays may nest (GGUF allows arrays of arrays).
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

    public var asArray: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// GGUF's name of the value's type, as used in error messages and `slm inspect`.
    public var typeName: String {
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
        case .array(let items): return "arr[\(items.first?.typeName ?? "?")]"
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
