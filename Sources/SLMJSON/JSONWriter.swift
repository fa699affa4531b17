/// How a string is escaped: the one escaper of slm, in the two forms its outputs need.
public enum JSONEscaping: Sendable {
    /// Protocol replies and CLI output: only what JSON requires, plus DEL and the line and
    /// paragraph separators, which are valid JSON but break JavaScript line readers.
    case lineSafe
    /// Python's `json.dumps` (chat templates' `tojson`): `\b` and `\f` shortcuts, and with
    /// `asciiOnly` (its `ensure_ascii`) everything outside space…`~` as `\uXXXX` (UTF-16 pairs).
    case python(asciiOnly: Bool)
}

extension JSONValue {
    /// Compact JSON text (no spaces, no newline), UTF-8 kept as is except what `.lineSafe` escapes.
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let n): out += Self.format(n)
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

    /// Integral doubles without a fraction; other finite numbers in Swift's shortest round-trip
    /// form, which is valid JSON; NaN and infinities (which JSON cannot say) as null.
    static func format(_ n: Double) -> String {
        guard n.isFinite else { return "null" }
        if n == n.rounded() && abs(n) <= JSONLimits.maxExactInteger { return String(Int64(n)) }
        return "\(n)"
    }

    /// `s` as a quoted JSON string literal.
    public static func writeString(_ s: String, to out: inout String, escaping: JSONEscaping = .lineSafe) {
        var python = false
        var asciiOnly = false
        if case .python(let ascii) = escaping {
            python = true
            asciiOnly = ascii
        }
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}" where python: out += "\\b"
            case "\u{0C}" where python: out += "\\f"
            default:
                let v = scalar.value
                let escaped =
                    python
                    ? v < 0x20 || (asciiOnly && v > 0x7E)
                    : v < 0x20 || v == 0x7F || v == 0x2028 || v == 0x2029
                guard escaped else {
                    out.unicodeScalars.append(scalar)
                    continue
                }
                if v > 0xFFFF {
                    let offset = v - 0x10000
                    appendEscape(0xD800 + (offset >> 10), to: &out)
                    appendEscape(0xDC00 + (offset & 0x3FF), to: &out)
                } else {
                    appendEscape(v, to: &out)
                }
            }
        }
        out += "\""
    }

    /// `\u` and four lower-case hex digits.
    private static func appendEscape(_ unit: UInt32, to out: inout String) {
        let hex = String(unit, radix: 16)
        out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// The quoted literal as a new string.
    public static func quoted(_ s: String, escaping: JSONEscaping = .lineSafe) -> String {
        var out = ""
        writeString(s, to: &out, escaping: escaping)
        return out
    }
}
