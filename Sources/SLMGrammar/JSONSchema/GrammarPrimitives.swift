import SLMJSON

/// The fixed rules every schema grammar draws on, written exactly as llama.cpp writes them so
/// that grammars compare as text with the reference's.
enum GrammarPrimitives {
    /// Optional whitespace between tokens: nothing, a space, or one or two newlines and a bounded
    /// indent. The bound keeps a model from padding forever.
    static let space = #"| " " | "\n"{1,2} [ \t]{0,20}"#

    struct Rule {
        let body: String
        /// Rules this body names, added with it.
        let dependencies: [String]
    }

    static let json: [String: Rule] = [
        "boolean": Rule(body: #"("true" | "false")"#, dependencies: []),
        "decimal-part": Rule(body: "[0-9]{1,16}", dependencies: []),
        "integral-part": Rule(body: "[0] | [1-9] [0-9]{0,15}", dependencies: []),
        "number": Rule(
            body: #"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)?"#,
            dependencies: ["integral-part", "decimal-part"]),
        "integer": Rule(body: #"("-"? integral-part)"#, dependencies: ["integral-part"]),
        "value": Rule(
            body: "object | array | string | number | boolean | null",
            dependencies: ["object", "array", "string", "number", "boolean", "null"]),
        "object": Rule(
            body: #""{" space ( string ":" space value ("," space string ":" space value)* )? space "}""#,
            dependencies: ["string", "value"]),
        "array": Rule(body: #""[" space ( value ("," space value)* )? space "]""#, dependencies: ["value"]),
        "uuid": Rule(
            body: #""\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\"""#,
            dependencies: []),
        "char": Rule(body: #"[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})"#, dependencies: []),
        "string": Rule(body: #""\"" char* "\"""#, dependencies: ["char"]),
        "null": Rule(body: #""null""#, dependencies: []),
    ]

    static let stringFormats: [String: Rule] = [
        "date": Rule(body: #"[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] )"#, dependencies: []),
        "time": Rule(
            body:
                #"([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#,
            dependencies: []),
        "date-time": Rule(body: #"date "T" time"#, dependencies: ["date", "time"]),
        "date-string": Rule(body: #""\"" date "\"""#, dependencies: ["date"]),
        "time-string": Rule(body: #""\"" time "\"""#, dependencies: ["time"]),
        "date-time-string": Rule(body: #""\"" date-time "\"""#, dependencies: ["date-time"]),
    ]

    static func rule(named name: String) -> Rule? { json[name] ?? stringFormats[name] }

    /// Names a schema-derived rule may not take, since the fixed rules own them.
    static func isReserved(_ name: String) -> Bool {
        name == "root" || rule(named: name) != nil
    }

    /// `text` as a GBNF string literal, quotes included. Only what the GBNF literal syntax needs
    /// is escaped (CR, LF, quote, backslash), as llama.cpp's `format_literal` does.
    static func literal(_ text: String) -> String {
        var out = "\""
        for ch in text.unicodeScalars {
            switch ch {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    /// A rule name from arbitrary text: each run of characters outside `[a-zA-Z0-9-]` becomes one
    /// `-` (property names are free text; rule names are not).
    static func ruleName(_ text: String) -> String {
        var out = ""
        var inRun = false
        for ch in text.unicodeScalars {
            if ch.isASCII, ch.properties.isAlphabetic || ("0"..."9").contains(ch) || ch == "-" {
                out.unicodeScalars.append(ch)
                inRun = false
            } else if !inRun {
                out += "-"
                inRun = true
            }
        }
        return out
    }

    /// A value as compact JSON text, as nlohmann::json's `dump()` writes it (llama.cpp turns
    /// `const`/`enum` values and property names into literals this way): no spaces, `\b \f \n \r \t`
    /// shortcuts, other control characters as lowercase `\u00xx`, UTF-8 as is.
    static func compactJSON(_ value: JSONValue) -> String {
        var out = ""
        writeCompact(value, to: &out)
        return out
    }

    private static func writeCompact(_ value: JSONValue, to out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += formatDouble(d)
        case .string(let s): writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                writeCompact(item, to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, item)) in fields.enumerated() {
                if i > 0 { out += "," }
                writeString(key, to: &out)
                out += ":"
                writeCompact(item, to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where ch.value < 0x20:
                let hex = String(ch.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(ch)
            }
        }
        out += "\""
    }

    /// Shortest round-trip digits, with ".0" on integral values as nlohmann writes doubles.
    private static func formatDouble(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        var text = "\(d)"
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return text
    }
}
