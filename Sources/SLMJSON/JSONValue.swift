/// The one JSON value of slm: protocol requests and replies, chat-template variables and message
/// files, sampling parameters. Objects keep their keys in order, so a reply is written with its
/// fields in the order the protocol documents (`id`, `event`, …) and a template's `tojson`/`items`
/// see them as Python's dict does. Numbers keep whether they were written as integers, because
/// a template renders `1` and `1.0` differently (as jinja2 does); everything else treats them as
/// one kind through `numberValue` / `integerValue`.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits an `Int`.
    case int(Int)
    /// Every other JSON number (integers up to 2^53 are exact).
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// A number as the protocol thinks of it: integral values within 2^53 become `.int`, so that
    /// a value built in code equals the same value read back from its text.
    public static func number(_ value: Double) -> JSONValue {
        if value == value.rounded(), abs(value) <= JSONLimits.maxExactInteger { return .int(Int(value)) }
        return .double(value)
    }

    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue {
        if let exact = Int(exactly: value) { return .int(exact) }
        return .double(Double(value))
    }

    /// Numbers are equal when their values are (`1` and `1.0`, as JSON means them).
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.int, .double), (.double, .int), (.double, .double): return a.numberValue == b.numberValue
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value of `key` in an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields.first { $0.0 == key }?.1 }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Any number as a double.
    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The number as an integer when it is one exactly (JSON has no separate integer type, so
    /// `2.0` and `2e0` count) and within ±2^53, where every client's doubles agree with it.
    public var integerValue: Int64? {
        switch self {
        case .int(let i):
            guard abs(Double(i)) <= JSONLimits.maxExactInteger else { return nil }
            return Int64(i)
        case .double(let n):
            guard n.isFinite, n == n.rounded(), abs(n) <= JSONLimits.maxExactInteger else { return nil }
            return Int64(n)
        default: return nil
        }
    }
}

public enum JSONLimits {
    /// Protocol nesting: deeper is refused, so a hostile line cannot exhaust the parser's stack.
    public static let maxDepth = 64
    /// 2^53: the largest integer a JSON number (an IEEE double) holds exactly.
    public static let maxExactInteger = 9_007_199_254_740_992.0
}
