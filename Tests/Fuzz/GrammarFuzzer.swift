import SLMJSON

// libFuzzer target `grammar`: GBNF text, JSON Schemas, and grammars and schemas generated from
// the input's bytes go through the parser, the schema converter and the token constraint the
// sampler uses. Beyond "never crashes or hangs", two oracles:
// - every grammar the converter writes parses (a schema it accepts is never a broken grammar);
// - the trie walk's token mask equals checking each token alone, at every step of a walk
//   that accepts tokens the input chooses.
// The first byte picks the mode: 0 text as GBNF, 1 text as a JSON Schema, 2 a generated
// grammar, 3 a generated schema.
@testable import SLMGrammar

/// A small vocabulary with the shapes that matter: single bytes, words, JSON punctuation, and
/// tokens that split or finish a multi-byte character; the last id ends generation.
let fuzzVocabulary: GrammarVocabulary = {
    var pieces: [[UInt8]] = [[]]
    for s in [
        "a", "b", "ab", "abc", "x", "0", "1", "12", "-", ".", "e", "{", "}", "[", "]", "\"", "\":", ",", ":", " ",
        "\n", "\\", "\\n", "true", "false", "null", "é", "日本", "<", ">", "(", ")", "|", "*", "yes", "no",
    ] {
        pieces.append(Array(s.utf8))
    }
    for bytes: [UInt8] in [[0xC3], [0xA9], [0xE6, 0x97], [0xA5], [0xF0, 0x9F], [0x98, 0x80], [0xFF], [0x80]] { pieces.append(bytes) }
    let eos = Int32(pieces.count)
    pieces.append([])
    return GrammarVocabulary(pieces: pieces, endOfGeneration: [eos])
}()

struct FuzzBytes {
    var bytes: [UInt8]
    var at = 0
    mutating func next() -> Int {
        defer { at += 1 }
        return at < bytes.count ? Int(bytes[at]) : 0
    }
    var exhausted: Bool { at >= bytes.count }
}

/// Grammar text whose rules, items and quantifiers the bytes choose.
func generatedGrammar(_ input: inout FuzzBytes) -> String {
    let ruleCount = 1 + input.next() % 6
    func item(_ depth: Int) -> String {
        switch input.next() % 9 {
        case 0, 1: return "\"" + ["a", "b", "yes", "é", "\\n", "{", "\\x41", "\\u00e9", ""][input.next() % 9] + "\""
        case 2: return ["[a-z]", "[^a]", "[0-9]", "[ab-]", "[\\u0080-\\U0010FFFF]", "[é日]"][input.next() % 6]
        case 3: return "."
        case 4, 5: return "r\(input.next() % ruleCount)"
        case 6 where depth < 4: return "(" + sequence(depth + 1) + ")"
        case 7: return "<[\(input.next() % 48)]>"
        default: return "\"x\""
        }
    }
    func quantified(_ depth: Int) -> String {
        let base = item(depth)
        switch input.next() % 10 {
        case 0: return base + "*"
        case 1: return base + "+"
        case 2: return base + "?"
        case 3: return base + "{\(input.next() % 4)}"
        case 4: return base + "{\(input.next() % 3),\(3 + input.next() % 3)}"
        case 5: return base + "{\(input.next() % 3),}"
        default: return base
        }
    }
    func sequence(_ depth: Int) -> String {
        var alternatives: [String] = []
        for _ in 0..<(1 + input.next() % 3) {
            alternatives.append((0..<(input.next() % 4)).map { _ in quantified(depth) }.joined(separator: " "))
        }
        return alternatives.joined(separator: " | ")
    }
    var text = "root ::= r0\n"
    for r in 0..<ruleCount { text += "r\(r) ::= \(sequence(0))\n" }
    return text
}

/// A schema the bytes choose, from the keywords the converter supports and some it refuses.
func generatedSchema(_ input: inout FuzzBytes, depth: Int = 0) -> JSONValue {
    if depth > 4 { return .object([("type", .string("integer"))]) }
    switch input.next() % 14 {
    case 0: return .object([("type", .string("string")), ("minLength", .int(input.next() % 4)), ("maxLength", .int(input.next() % 8))])
    case 1: return .object([("type", .string("integer")), ("minimum", .int(input.next() - 128)), ("maximum", .int(input.next() * 7))])
    case 2: return .object([("type", .string("number"))])
    case 3: return .object([("enum", .array([.string("a"), .int(input.next()), .null, .bool(true)]))])
    case 4: return .object([("const", .string(["x", "é", "\"", "\\"][input.next() % 4]))])
    case 5:
        var properties: [(String, JSONValue)] = []
        for i in 0..<(input.next() % 4) { properties.append(("p\(i)", generatedSchema(&input, depth: depth + 1))) }
        var fields: [(String, JSONValue)] = [("type", .string("object")), ("properties", .object(properties))]
        if input.next() % 2 == 0 { fields.append(("required", .array(properties.prefix(input.next() % 3).map { .string($0.0) }))) }
        if input.next() % 3 == 0 {
            fields.append(("additionalProperties", input.next() % 2 == 0 ? .bool(false) : generatedSchema(&input, depth: depth + 1)))
        }
        return .object(fields)
    case 6:
        return .object([
            ("type", .string("array")), ("items", generatedSchema(&input, depth: depth + 1)),
            ("minItems", .int(input.next() % 3)), ("maxItems", .int(input.next() % 5)),
        ])
    case 7: return .object([("type", .string("array")), ("prefixItems", .array([generatedSchema(&input, depth: depth + 1)]))])
    case 8: return .object([("anyOf", .array([generatedSchema(&input, depth: depth + 1), generatedSchema(&input, depth: depth + 1)]))])
    case 9:
        return .object([
            ("type", .string("string")),
            ("pattern", .string(["^[a-z]+$", "^\\d{2,4}$", "^(ab|c)*x?$", "^.$", "^[^\"]{0,3}$", "(", "^a{3,1}$"][input.next() % 7])),
        ])
    case 10:
        return .object([
            ("type", .string("string")), ("format", .string(["date", "time", "date-time", "uuid", "email"][input.next() % 5])),
        ])
    case 11:
        return .object([("$defs", .object([("d", generatedSchema(&input, depth: depth + 1))])), ("$ref", .string("#/$defs/d"))])
    case 12: return .object([("type", .array([.string("string"), .string("null")]))])
    default: return .object([])
    }
}

/// Walks the constraint: at each step the mask must equal the per-token checks; the input picks
/// which allowed token to accept.
func exercise(_ grammar: Grammar, _ input: inout FuzzBytes) {
    let constraint = TokenConstraint(grammar: grammar, vocabulary: fuzzVocabulary)
    // A tighter bound than the engine's keeps one input within the fuzzer's time limit; the
    // limit's paths get exercised more, too.
    constraint.matcher.workLimitPerToken = 1 << 14
    for _ in 0..<16 {
        guard let mask = try? constraint.allowedMask() else { return }  // a matcher limit: refused, fine
        let checks = (0..<Int32(fuzzVocabulary.count)).map { constraint.allows($0) }
        if constraint.matcher.overflowed { return }
        var allowed: [Int32] = []
        for id in 0..<Int32(fuzzVocabulary.count) {
            let inMask = mask[Int(id) >> 6] >> UInt64(id & 63) & 1 == 1
            if inMask != checks[Int(id)] { fatalError("mask and check disagree on token \(id)") }
            if inMask && !fuzzVocabulary.isEndOfGeneration(id) { allowed.append(id) }
        }
        if allowed.isEmpty || input.exhausted { return }
        let pick = allowed[input.next() % allowed.count]
        // Refused only when the work budget ran out on the way (the cache of moves may have
        // dropped the checked move and the recomputation needs budget too).
        if !constraint.accept(pick) && !constraint.matcher.overflowed { fatalError("an allowed token was refused") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrammar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let mode = data[0] % 4
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    var input = FuzzBytes(bytes: rest)
    var text: String?
    switch mode {
    case 0:
        text = String(decoding: rest, as: UTF8.self)
    case 1:
        guard let schema = try? JSONParser.parse(rest) else { return 0 }
        text = try? JSONSchemaGrammar.grammar(for: schema)
        if let text, (try? Grammar(parsing: text)) == nil { fatalError("the converter wrote a grammar that does not parse:\n\(text)") }
    case 2:
        text = generatedGrammar(&input)
    default:
        let schema = generatedSchema(&input)
        text = try? JSONSchemaGrammar.grammar(for: schema)
        if let text, (try? Grammar(parsing: text)) == nil { fatalError("the converter wrote a grammar that does not parse:\n\(text)") }
    }
    guard let text, let grammar = try? Grammar(parsing: text) else { return 0 }
    exercise(grammar, &input)
    return 0
}
