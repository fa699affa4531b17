/// `pattern` (an ECMA-262 regular expression) → GBNF, following llama.cpp's `_pattern_to_rule`
/// so the text matches: literals merged, `{m,n}` on a non-literal turned into a numbered sub-rule
/// (`root-1`), `.` as the rule `dot`. Unlike llama.cpp, which falls back to "any string" when it
/// meets something it cannot translate, every unsupported construct is an error here.
///
/// Supported: `^…$` anchoring the whole pattern (required), literals and escapes, `.`,
/// character classes, groups `(…)` and `(?:…)`, `|`, `* + ? {n} {n,} {n,m}` (lazy forms accepted,
/// the language is the same), and the shorthands `\d \w \s \D \W \S` (ASCII digits and word
/// characters, ECMA's whitespace set), which llama.cpp does not translate.
/// Refused: lookaround and named groups, backreferences, `\b`/`\B`, `\p{…}`, anchors inside the
/// pattern, repetition counts above `JSONSchemaLimits.maxRepetition`.
///
/// Like llama.cpp, the rule matches the characters of the pattern as they appear in the JSON
/// text, not after JSON unescaping: a pattern that admits `"` or `\` admits them unescaped.
extension GrammarEmitter {
    mutating func visitPattern(_ pattern: String, name: String, pointer: String) throws(JSONSchemaError) -> String {
        let scalars = Array(pattern.unicodeScalars)
        guard scalars.count >= 2, scalars.first == "^", scalars.last == "$" else {
            throw JSONSchemaError(pointer: pointer, reason: "pattern must be anchored with ^ and $ (unanchored patterns are not supported)")
        }
        var cursor = PatternCursor(
            scalars: Array(scalars.dropFirst().dropLast()), name: name, pointer: pointer)
        let body = try translateSequence(&cursor)
        if cursor.depth != 0 { throw cursor.invalid("unbalanced parentheses") }
        return try addRule(name, #""\"" ("# + body.rule + #") "\"""#)
    }

    /// Translates up to the `)` closing the current group (or the end), consuming the `)`.
    private mutating func translateSequence(_ cursor: inout PatternCursor) throws(JSONSchemaError) -> PatternItem {
        var sequence: [PatternItem] = []
        let s = cursor.scalars
        let n = s.count

        while cursor.i < n {
            let c = s[cursor.i]
            switch c {
            case ".":
                sequence.append(PatternItem(text: try addRule("dot", #"[^\x0A\x0D]"#), isLiteral: false))
                cursor.i += 1
            case "(":
                cursor.i += 1
                if cursor.i < n && s[cursor.i] == "?" {
                    guard cursor.i + 1 < n && s[cursor.i + 1] == ":" else {
                        throw cursor.invalid("lookaround, named groups and inline flags are not supported")
                    }
                    cursor.i += 2
                }
                cursor.depth += 1
                guard cursor.depth <= PatternCursor.maxDepth else {
                    throw cursor.invalid("groups nested deeper than \(PatternCursor.maxDepth)")
                }
                let inner = try translateSequence(&cursor)
                sequence.append(PatternItem(text: "(" + inner.rule + ")", isLiteral: false))
            case ")":
                cursor.i += 1
                guard cursor.depth > 0 else { throw cursor.invalid("unbalanced parentheses") }
                cursor.depth -= 1
                return Self.join(sequence)
            case "^", "$":
                throw cursor.invalid("anchors inside the pattern are not supported")
            case "[":
                sequence.append(PatternItem(text: try characterClass(&cursor), isLiteral: false))
            case "|":
                sequence.append(PatternItem(text: "|", isLiteral: false, isAlternation: true))
                cursor.i += 1
            case "*", "+", "?":
                guard let last = sequence.last, !last.isAlternation, !last.isQuantified else {
                    throw cursor.invalid("nothing to repeat before \(c)")
                }
                sequence[sequence.count - 1] = PatternItem(text: last.rule + String(c), isLiteral: false, isQuantified: true)
                cursor.i += 1
                cursor.skipLazyMarker()
            case "{":
                let (minimum, maximum) = try repetitionBounds(&cursor)
                guard let last = sequence.last, !last.isAlternation, !last.isQuantified else {
                    throw cursor.invalid("nothing to repeat before {")
                }
                var item = last.rule
                if !last.isLiteral {
                    if let existing = cursor.subRuleIDs[last.text] {
                        item = existing
                    } else {
                        let id = try addRule(cursor.name + "-" + String(cursor.subRuleIDs.count + 1), last.text)
                        cursor.subRuleIDs[last.text] = id
                        item = id
                    }
                }
                sequence[sequence.count - 1] = PatternItem(
                    text: Self.repetition(item, min: minimum, max: maximum, separator: ""), isLiteral: false, isQuantified: true)
                cursor.skipLazyMarker()
            case "\\" where cursor.i + 1 < n && PatternCursor.shorthandClass(s[cursor.i + 1]) != nil:
                sequence.append(PatternItem(text: PatternCursor.shorthandClass(s[cursor.i + 1])!, isLiteral: false))
                cursor.i += 2
            default:
                sequence.append(PatternItem(text: try literalRun(&cursor), isLiteral: true))
            }
        }
        return Self.join(sequence)
    }

    /// Consecutive literals become one quoted string; items are separated by spaces.
    private static func join(_ sequence: [PatternItem]) -> PatternItem {
        var parts: [String] = []
        var literal = ""
        for item in sequence {
            if item.isLiteral {
                literal += item.text
            } else {
                if !literal.isEmpty { parts.append("\"" + literal + "\"") }
                literal = ""
                parts.append(item.text)
            }
        }
        if !literal.isEmpty { parts.append("\"" + literal + "\"") }
        return PatternItem(text: parts.joined(separator: " "), isLiteral: false)
    }

    /// A run of literal characters, in GBNF string-literal spelling. A character that a quantifier
    /// follows is left for the next run (unless it starts this one), so the quantifier applies to
    /// it alone.
    private func literalRun(_ cursor: inout PatternCursor) throws(JSONSchemaError) -> String {
        let s = cursor.scalars
        let n = s.count
        let start = s[cursor.i]
        var literal = ""
        /// An escape or quote is kept out of a non-empty run when a quantifier follows it.
        func quantifierFollows(_ index: Int) -> Bool {
            index < n && ["*", "+", "?", "{"].contains(s[index])
        }
        while cursor.i < n {
            let c = s[cursor.i]
            if c == "\\" {
                guard cursor.i + 1 < n else { throw cursor.invalid("trailing backslash") }
                let next = s[cursor.i + 1]
                if PatternCursor.shorthandClass(next) != nil { break }
                let length = PatternCursor.gbnfEscapeLength(s, cursor.i)
                let consumed = PatternCursor.escapedInRegexpsNotLiterals.contains(next) ? 2 : length > 0 ? length : 2
                if !literal.isEmpty && quantifierFollows(cursor.i + consumed) { break }
                if PatternCursor.escapedInRegexpsNotLiterals.contains(next) {
                    literal.unicodeScalars.append(next)
                } else if length > 0 {
                    literal.unicodeScalars.append(contentsOf: s[cursor.i..<(cursor.i + length)])
                } else if let spelled = PatternCursor.extraEscape(next, inClass: false) {
                    literal += spelled
                } else {
                    throw cursor.invalid("unsupported escape \\\(next)")
                }
                cursor.i += consumed
            } else if c == "\"" {
                if !literal.isEmpty && quantifierFollows(cursor.i + 1) { break }
                literal += "\\\""
                cursor.i += 1
            } else if !PatternCursor.nonLiteral.contains(c)
                && (cursor.i == n - 1 || literal.isEmpty || s[cursor.i + 1] == "." || !PatternCursor.nonLiteral.contains(s[cursor.i + 1]))
            {
                literal.unicodeScalars.append(c)
                cursor.i += 1
            } else {
                break
            }
        }
        if literal.isEmpty { throw cursor.invalid("unsupported character \(start)") }
        return literal
    }

    /// `[...]` copied as a GBNF class (the two syntaxes agree), escapes translated.
    private func characterClass(_ cursor: inout PatternCursor) throws(JSONSchemaError) -> String {
        let s = cursor.scalars
        let n = s.count
        var out = "["
        cursor.i += 1
        while cursor.i < n && s[cursor.i] != "]" {
            if s[cursor.i] == "\\" {
                guard cursor.i + 1 < n else { throw cursor.invalid("trailing backslash") }
                let next = s[cursor.i + 1]
                let length = PatternCursor.gbnfEscapeLength(s, cursor.i)
                if length > 0 {
                    out.unicodeScalars.append(contentsOf: s[cursor.i..<(cursor.i + length)])
                    cursor.i += length
                } else if let members = PatternCursor.shorthandMembers(next) {
                    out += members
                    cursor.i += 2
                } else if let spelled = PatternCursor.extraEscape(next, inClass: true) {
                    out += spelled
                    cursor.i += 2
                } else {
                    throw cursor.invalid("unsupported escape \\\(next) in a character class")
                }
            } else {
                out.unicodeScalars.append(s[cursor.i])
                cursor.i += 1
            }
        }
        guard cursor.i < n else { throw cursor.invalid("unterminated character class") }
        cursor.i += 1
        out += "]"
        // The class is GBNF as written: let the grammar parser judge it now, so a range out of
        // order (`[[-Z]`) is this pattern's error, never a grammar that fails to parse later.
        do throws(GrammarError) {
            _ = try GrammarParser.parse("class ::= " + out, tokenID: nil)
        } catch {
            throw cursor.invalid("character class \(out): \(error.message)")
        }
        return out
    }

    /// `{n}`, `{n,}`, `{,m}`, `{n,m}` at the cursor (consumed): the bounds, nil max for none.
    private func repetitionBounds(_ cursor: inout PatternCursor) throws(JSONSchemaError) -> (Int, Int?) {
        let s = cursor.scalars
        var inside = ""
        cursor.i += 1
        while cursor.i < s.count && s[cursor.i] != "}" {
            inside.unicodeScalars.append(s[cursor.i])
            cursor.i += 1
        }
        guard cursor.i < s.count else { throw cursor.invalid("unterminated {") }
        cursor.i += 1
        let parts = inside.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func number(_ text: String) throws(JSONSchemaError) -> Int {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), text.utf8.count <= 9, let value = Int(text) else {
                throw cursor.invalid("invalid repetition {\(inside)}")
            }
            guard value <= JSONSchemaLimits.maxRepetition else {
                throw cursor.invalid("repetition count above \(JSONSchemaLimits.maxRepetition)")
            }
            return value
        }
        var minimum = 0
        var maximum: Int?
        switch parts.count {
        case 1:
            minimum = try number(parts[0])
            maximum = minimum
        case 2:
            if !parts[0].isEmpty { minimum = try number(parts[0]) }
            if !parts[1].isEmpty { maximum = try number(parts[1]) }
        default:
            throw cursor.invalid("invalid repetition {\(inside)}")
        }
        if let maximum, maximum < minimum { throw cursor.invalid("repetition {\(inside)} has its bounds reversed") }
        return (minimum, maximum)
    }
}

/// An item of a translated sequence: a literal (to be merged with its neighbours and quoted) or
/// a finished GBNF fragment.
private struct PatternItem {
    var text: String
    var isLiteral: Bool
    var isQuantified = false
    var isAlternation = false

    var rule: String { isLiteral ? "\"" + text + "\"" : text }
}

private struct PatternCursor {
    static let maxDepth = 100
    static let nonLiteral: Set<Unicode.Scalar> = ["|", ".", "(", ")", "[", "]", "{", "}", "*", "+", "?", "^", "$"]
    static let escapedInRegexpsNotLiterals: Set<Unicode.Scalar> = ["^", "$", ".", "[", "]", "(", ")", "|", "{", "}", "*", "+", "?"]
    /// ECMA-262 `\s`.
    static let whitespaceMembers = #" \t\n\r\x0B\x0C\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF"#

    let scalars: [Unicode.Scalar]
    var i = 0
    var depth = 0
    /// Sub-rules made for `{m,n}` on a non-literal, by their body: the same body reuses its rule.
    var subRuleIDs: [String: String] = [:]
    let name: String
    let pointer: String

    init(scalars: [Unicode.Scalar], name: String, pointer: String) {
        self.scalars = scalars
        self.name = name
        self.pointer = pointer
    }

    func invalid(_ reason: String) -> JSONSchemaError {
        JSONSchemaError(pointer: pointer, reason: reason)
    }

    /// `*?`, `+?`, `??`, `{m,n}?` match the same strings as the greedy forms.
    mutating func skipLazyMarker() {
        if i < scalars.count && scalars[i] == "?" { i += 1 }
    }

    /// Length of a GBNF-compatible escape at `pos` (`\x41`, `\u00e9`, `\n`, `\-`, …), 0 if none;
    /// such escapes are copied as they are.
    static func gbnfEscapeLength(_ s: [Unicode.Scalar], _ pos: Int) -> Int {
        guard pos + 1 < s.count, s[pos] == "\\" else { return 0 }
        let hexCount: Int
        switch s[pos + 1] {
        case "x": hexCount = 2
        case "u": hexCount = 4
        case "U": hexCount = 8
        case "t", "r", "n", "\\", "\"", "[", "]", "-": return 2
        default: return 0
        }
        guard pos + 2 + hexCount <= s.count else { return 0 }
        for h in s[(pos + 2)..<(pos + 2 + hexCount)] where !h.properties.isASCIIHexDigit { return 0 }
        return 2 + hexCount
    }

    /// `\d \w \s` and their negations as a whole GBNF class.
    static func shorthandClass(_ letter: Unicode.Scalar) -> String? {
        switch letter {
        case "d", "w", "s": return "[" + shorthandMembers(letter)! + "]"
        case "D": return "[^0-9]"
        case "W": return "[^a-zA-Z0-9_]"
        case "S": return "[^" + whitespaceMembers + "]"
        default: return nil
        }
    }

    /// The members of `\d \w \s` for use inside a class (negations cannot be merged into one).
    static func shorthandMembers(_ letter: Unicode.Scalar) -> String? {
        switch letter {
        case "d": return "0-9"
        case "w": return "a-zA-Z0-9_"
        case "s": return whitespaceMembers
        default: return nil
        }
    }

    /// Escapes ECMA-262 has and GBNF spells differently: control characters, and an escaped
    /// punctuation character, which stands for itself.
    static func extraEscape(_ letter: Unicode.Scalar, inClass: Bool) -> String? {
        switch letter {
        case "f": return #"\x0C"#
        case "v": return #"\x0B"#
        case "0": return #"\x00"#
        default:
            guard letter.isASCII, !letter.properties.isAlphabetic, !("0"..."9").contains(letter) else { return nil }
            if inClass { return GrammarEmitter.classCharacter(letter.value) }
            return letter == "\"" ? "\\\"" : String(letter)
        }
    }
}
