/// A JSON value, as small as the protocol needs. Objects keep their keys in order, so a reply is
/// written with its fields in the order the protocol documents (`id`, `event`, …).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Every JSON number; integers up to 2^53 are exact.
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields.first { $0.0 == key }?.1 }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var numberValue: Double? { if case .number(let n) = self { return n }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }

    /// The number as an integer when it is one exactly (JSON has no separate integer type).
    public var integerValue: Int64? {
        guard case .number(let n) = self, n.isFinite, n == n.rounded(),
              abs(n) <= JSONLimits.maxExactInteger else { return nil }
        return Int64(n)
    }

    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue { .number(Double(value)) }
}

public enum JSONLimits {
    /// Nesting deeper than this is refused, so a hostile line cannot exhaust the parser's stack.
    public static let maxDepth = 64
    /// 2^53: the largest integer a JSON number (an IEEE double) holds exactly.
    public static let maxExactInteger = 9_007_199_254_740_992.0
}

// MARK: - Serializing

extension JSONValue {
    /// Compact JSON text (no spaces, no newline), UTF-8 kept as is except what JSON requires escaped.
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += Self.format(n)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// Integers without a fraction; other finite numbers in Swift's shortest round-trip form,
    /// which is valid JSON; NaN and infinities (which JSON cannot say) as null.
    static func format(_ n: Double) -> String {
        guard n.isFinite else { return "null" }
        if n == n.rounded() && abs(n) <= JSONLimits.maxExactInteger { return String(Int64(n)) }
        return "\(n)"
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            // Line and paragraph separators are valid JSON but break JavaScript line readers.
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
