/// Why a text is not the JSON the parser accepts, with the byte offset where it went wrong.
public enum JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidUTF8(offset: Int)
    case malformed(offset: Int, reason: String)

    public var description: String {
        switch self {
        case .invalidUTF8(let offset): return "invalid UTF-8 at byte \(offset)"
        case .malformed(let offset, let reason): return "malformed JSON at byte \(offset): \(reason)"
        }
    }
}

/// A strict RFC 8259 parser: one value, optional surrounding whitespace, nothing else. Refuses
/// invalid UTF-8, raw control characters in strings, lone surrogate escapes, leading zeros and
/// nesting deeper than the options allow, each with the byte offset. Linear in the input: a
/// duplicate key is found through a hash of the object's keys, not by comparing every pair.
public struct JSONParser {
    public enum DuplicateKeys: Sendable {
        /// A repeated key is an error (the protocol: which value was meant is unknowable).
        case refuse
        /// The last value wins at the first key's place, as Python's `json.loads` does.
        case keepLast
    }

    public struct Options: Sendable {
        public var maxDepth: Int
        public var duplicateKeys: DuplicateKeys

        public init(maxDepth: Int = JSONLimits.maxDepth, duplicateKeys: DuplicateKeys = .refuse) {
            self.maxDepth = maxDepth
            self.duplicateKeys = duplicateKeys
        }

        /// The socket protocol's rules.
        public static let strict = Options()
    }

    private let bytes: [UInt8]
    private let options: Options
    private var index = 0
    private var depth = 0

    public static func parse(_ text: String, options: Options = .strict) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), options: options)
    }

    public static func parse(_ bytes: [UInt8], options: Options = .strict) throws(JSONError) -> JSONValue {
        if let bad = firstInvalidUTF8(bytes) { throw .invalidUTF8(offset: bad) }
        var parser = JSONParser(bytes: bytes, options: options)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.fail("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8], options: Options) {
        self.bytes = bytes
        self.options = options
    }

    /// Offset of the first byte that does not start or continue a valid UTF-8 sequence.
    public static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F  // no UTF-16 surrogates
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F  // nothing above U+10FFFF
            default: return i
            }
            guard i + length <= n else { return i }
            guard bytes[i + 1] >= low && bytes[i + 1] <= high else { return i }
            for k in 2..<max(2, length) where bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }

    private func fail(_ reason: String) -> JSONError { .malformed(offset: index, reason: reason) }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func parseValue() throws(JSONError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectWord("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectWord("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectWord("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character")
        }
    }

    private mutating func expectWord(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        for k in 0..<count where bytes[index + k] != word.utf8Start[k] { throw fail("invalid literal") }
        index += count
    }

    private mutating func enter() throws(JSONError) {
        depth += 1
        if depth > options.maxDepth { throw fail("nesting deeper than \(options.maxDepth)") }
    }

    private mutating func parseObject() throws(JSONError) -> JSONValue {
        try enter()
        index += 1
        var fields: [(String, JSONValue)] = []
        var keys = KeyIndex()
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = index
            let key = try parseString()
            let earlier = keys.find(key, in: fields)
            if earlier != nil && options.duplicateKeys == .refuse {
                throw .malformed(offset: keyOffset, reason: "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            if let earlier {
                fields[earlier].1 = value
            } else {
                fields.append((key, value))
                keys.added(fields)
            }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                break
            }
            throw fail("expected ',' or '}'")
        }
        depth -= 1
        return .object(fields)
    }

    private mutating func parseArray() throws(JSONError) -> JSONValue {
        try enter()
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                break
            }
            throw fail("expected ',' or ']'")
        }
        depth -= 1
        return .array(items)
    }

    private mutating func parseString() throws(JSONError) -> String {
        index += 1  // opening quote
        // Most strings (every key, nearly every value) have no escape: one pass, one String.
        let start = index
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: bytes[start..<(index - 1)], as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            index += 1
        }
        var out = Array(bytes[start..<index])
        while true {
            guard index < bytes.count else { throw fail("unterminated string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                break
            }
            if b < 0x20 { throw fail("control character in a string must be escaped") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw fail("lone high surrogate escape")
                    }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("high surrogate not followed by a low one") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("lone low surrogate escape")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw fail("invalid escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = index
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.index
            while p.index < p.bytes.count, p.bytes[p.index] >= UInt8(ascii: "0"), p.bytes[p.index] <= UInt8(ascii: "9") { p.index += 1 }
            return p.index - s
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw fail("incomplete number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                throw fail("leading zero in a number")
            }
        } else if digits(&self) == 0 {
            throw fail("expected a digit")
        }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            if digits(&self) == 0 { throw fail("expected a digit after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            if digits(&self) == 0 { throw fail("expected a digit in the exponent") }
        }
        if integral, index - start <= 18 {
            // Up to 18 digits cannot overflow Int64: no text to build.
            var magnitude = 0
            for b in bytes[(bytes[start] == UInt8(ascii: "-") ? start + 1 : start)..<index] {
                magnitude = magnitude * 10 + Int(b - UInt8(ascii: "0"))
            }
            return .int(bytes[start] == UInt8(ascii: "-") ? -magnitude : magnitude)
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral, let exact = Int(text) { return .int(exact) }
        guard let value = Double(text), value.isFinite else {
            throw .malformed(offset: start, reason: "number out of range")
        }
        return .double(value)
    }
}

/// Finds an object's earlier field with the same key in constant time per key, so an object of
/// n keys is checked in O(n) (a line of 90,000 keys once took seconds with a pairwise check).
/// Small objects, nearly all of them, are scanned directly; from `indexedFrom` keys on, an
/// open-addressing table of field indices hashed with FNV-1a over the key's UTF-8 is kept
/// (cheaper than `Dictionary<String, Int>`, whose per-object allocation and seeded hashing
/// cost several times more on a line of many keys).
struct KeyIndex {
    static let indexedFrom = 16
    /// Field index + 1 per slot (0 = empty); the count is a power of two, at most half full.
    private var slots: [Int32] = []

    private static func hash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    func find(_ key: String, in fields: [(String, JSONValue)]) -> Int? {
        if slots.isEmpty { return fields.firstIndex { $0.0 == key } }
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while slots[slot] != 0 {
            let index = Int(slots[slot]) - 1
            if fields[index].0 == key { return index }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// After `fields` gained a field with a new key.
    mutating func added(_ fields: [(String, JSONValue)]) {
        if fields.count < Self.indexedFrom { return }
        if slots.isEmpty || fields.count * 2 > slots.count {
            slots = [Int32](repeating: 0, count: max(64, slots.count * 4))
            for index in fields.indices { insert(fields[index].0, index) }
        } else {
            insert(fields[fields.count - 1].0, fields.count - 1)
        }
    }

    private mutating func insert(_ key: String, _ index: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index + 1)
    }
}
