import SLMJSON

// Values of the chat-template interpreter: the public, JSON-shaped `TemplateValue` that callers pass
// in, and the richer internal `Value` (undefined, namespaces, callables) the interpreter works on.

/// A value handed to a chat template (`extra:` variables, message fields): the JSON data model,
/// whose objects keep their key order as Python dicts do, so `tojson` and `items` match jinja2.
public typealias TemplateValue = JSONValue

/// An insertion-ordered string-keyed dictionary (Python dict semantics for the keys templates use).
struct OrderedDict {
    private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    init() {}
    init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[k] = v } }

    subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    var count: Int { keys.count }
    var pairs: [(String, Value)] { keys.map { ($0, storage[$0] ?? .none) } }
    var values: [Value] { keys.map { storage[$0] ?? .none } }
}

/// `namespace(...)`: the one mutable object templates have (`{% set ns.x = … %}` inside loops).
final class Namespace {
    var dict: OrderedDict
    init(_ dict: OrderedDict) { self.dict = dict }
}

/// A callable: a builtin global, a bound string/dict method, a macro, `loop.cycle`.
final class Function {
    let name: String
    let body: (_ args: [Value], _ kwargs: [(String, Value)]) throws -> Value
    init(_ name: String, _ body: @escaping (_ args: [Value], _ kwargs: [(String, Value)]) throws -> Value) {
        self.name = name
        self.body = body
    }
}

enum Value {
    /// A name that does not resolve; carries the name for error messages. Falsy, prints as "".
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    case dict(OrderedDict)
    case namespace(Namespace)
    case function(Function)

    init(_ t: TemplateValue) {
        switch t {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(Value.init))
        case .object(let pairs): self = .dict(OrderedDict(pairs.map { ($0.0, Value($0.1)) }))
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .function: return true
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "float"
        case .string: return "string"
        case .list: return "list"
        case .dict: return "dict"
        case .namespace: return "namespace"
        case .function: return "function"
        }
    }

    // Printing (`str`, `repr`) is on the interpreter (Limits.swift): it is bounded in depth and size.
}

/// Python's float repr: shortest round-trip digits, always with a `.0` or exponent.
func pythonFloat(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    var s = d.description  // shortest round-trip, e.g. "1.0", "1e-05", "1.5e+20"
    if let e = s.firstIndex(of: "e") {
        // Python writes 1e-05 and 1e+20; Swift writes 1e-05 and 1e+20 as well, but may print "1.0e-05".
        let mantissa = s[..<e]
        let exponent = s[s.index(after: e)...]
        var m = String(mantissa)
        if m.hasSuffix(".0") { m.removeLast(2) }
        var exp = String(exponent)
        let sign: String = exp.hasPrefix("-") ? "-" : "+"
        if exp.hasPrefix("-") || exp.hasPrefix("+") { exp.removeFirst() }
        if exp.count < 2 { exp = "0" + exp }
        s = m + "e" + sign + exp
    }
    return s
}

/// Python's repr of a string: single quotes unless the text has ' and no ".
func pythonRepr(_ s: String) -> String {
    let quote: Character = (s.contains("'") && !s.contains("\"")) ? "\"" : "'"
    var out = String(quote)
    for ch in s.unicodeScalars {
        switch ch {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(ch) == quote {
                out += "\\" + String(ch)
            } else if ch.value < 0x20 || ch.value == 0x7f {
                out += "\\x" + hex(ch.value, 2)
            } else {
                out.unicodeScalars.append(ch)
            }
        }
    }
    out.append(quote)
    return out
}

func hex(_ v: UInt32, _ width: Int) -> String {
    var s = String(v, radix: 16)
    while s.count < width { s = "0" + s }
    return s
}
