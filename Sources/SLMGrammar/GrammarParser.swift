/// Reads GBNF text into llama.cpp's rule form (see `Grammar`). The rule numbering follows
/// llama.cpp's parser exactly: a name gets the next id when first seen, a group or repetition
/// synthesises `NAME_ID` rules in the order llama.cpp does, and repetitions are rewritten the
/// same way:
///
///     S{m,n}  →  S … S (m times) S'(n-m),  S'(k) ::= S S'(k-1) |   S'(1) ::= S |
///     S{m,}   →  S … S (m times) S',       S'    ::= S S' |
///     S* = S{0,}   S+ = S{1,}   S? = S{0,1}
struct GrammarParser {
    struct Parsed {
        var rules: [[GrammarElement]]
        var symbolIDs: [String: UInt32]
    }

    private let text: [UInt8]  // the grammar, with a 0 appended so a look-ahead never runs off
    private let tokenID: ((String) -> UInt32?)?
    private var symbolIDs: [String: UInt32] = [:]
    private var rules: [[GrammarElement]] = []
    private var elementCount = 0
    private var nesting = 0
    /// The rule being parsed, for error messages.
    private var currentRule: String? = nil

    static func parse(_ source: String, tokenID: ((String) -> UInt32?)?) throws(GrammarError) -> Parsed {
        let bytes = Array(source.utf8)
        guard bytes.count <= GrammarLimits.maxTextBytes else {
            throw GrammarError(message: "the grammar is \(bytes.count) bytes; at most \(GrammarLimits.maxTextBytes) are accepted")
        }
        if let nul = bytes.firstIndex(of: 0) {
            throw GrammarParser(text: bytes + [0], tokenID: tokenID).error("a NUL character is not allowed in a grammar", at: nul)
        }
        var parser = GrammarParser(text: bytes + [0], tokenID: tokenID)
        try parser.parseGrammar()
        return Parsed(rules: parser.rules, symbolIDs: parser.symbolIDs)
    }

    private init(text: [UInt8], tokenID: ((String) -> UInt32?)?) {
        self.text = text
        self.tokenID = tokenID
    }

    // MARK: - Rules

    private mutating func parseGrammar() throws(GrammarError) {
        var pos = skipSpace(0, newlines: true)
        while text[pos] != 0 { pos = try parseRule(pos) }
        guard !rules.isEmpty else { throw GrammarError(message: "the grammar defines no rules") }
        try checkDefined()
    }

    private mutating func parseRule(_ start: Int) throws(GrammarError) -> Int {
        let nameEnd = try parseName(start)
        let name = string(start..<nameEnd)
        currentRule = name
        let id = symbolID(name)
        var pos = skipSpace(nameEnd, newlines: false)
        guard text[pos] == UInt8(ascii: ":"), text[pos + 1] == UInt8(ascii: ":"), text[pos + 2] == UInt8(ascii: "=") else {
            throw error("expected ::= after the rule name", at: pos)
        }
        pos = skipSpace(pos + 3, newlines: true)
        pos = try parseAlternatives(pos, ruleName: name, ruleID: id, nested: false)
        if text[pos] == UInt8(ascii: "\r") {
            pos += text[pos + 1] == UInt8(ascii: "\n") ? 2 : 1
        } else if text[pos] == UInt8(ascii: "\n") {
            pos += 1
        } else if text[pos] != 0 {
            throw error("expected the end of the line, found \(describe(pos))", at: pos)
        }
        return skipSpace(pos, newlines: true)
    }

    private mutating func parseAlternatives(
        _ start: Int, ruleName: String, ruleID: UInt32, nested: Bool
    ) throws(GrammarError) -> Int {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= GrammarLimits.maxNesting else {
            throw error("groups are nested deeper than \(GrammarLimits.maxNesting)", at: start)
        }
        var rule: [GrammarElement] = []
        var pos = try parseSequence(start, ruleName: ruleName, into: &rule, nested: nested)
        while text[pos] == UInt8(ascii: "|") {
            rule.append(GrammarElement(.alt))
            pos = skipSpace(pos + 1, newlines: true)
            pos = try parseSequence(pos, ruleName: ruleName, into: &rule, nested: nested)
        }
        rule.append(GrammarElement(.end))
        try define(ruleID, rule, at: pos)
        return pos
    }

    private mutating func parseSequence(
        _ start: Int, ruleName: String, into rule: inout [GrammarElement], nested: Bool
    ) throws(GrammarError) -> Int {
        var lastItemStart = rule.count
        // How many rules the last item stands for, so nested repetitions cannot multiply out.
        var rulesInLastItem: UInt64 = 1
        var pos = start
        while true {
            let c = text[pos]
            switch c {
            case UInt8(ascii: "\""):
                let opened = pos
                pos += 1
                lastItemStart = rule.count
                rulesInLastItem = 1
                while text[pos] != UInt8(ascii: "\"") {
                    guard text[pos] != 0 else { throw error("the string has no closing quote", at: opened) }
                    let (char, next) = try parseChar(pos)
                    rule.append(GrammarElement(.char, char))
                    pos = next
                }
                pos = skipSpace(pos + 1, newlines: nested)
            case UInt8(ascii: "["):
                let opened = pos
                pos += 1
                var startKind = GrammarElement.Kind.char
                if text[pos] == UInt8(ascii: "^") {
                    pos += 1
                    startKind = .charNot
                }
                lastItemStart = rule.count
                rulesInLastItem = 1
                while text[pos] != UInt8(ascii: "]") {
                    guard text[pos] != 0 else { throw error("the character class has no closing ]", at: opened) }
                    let (char, next) = try parseChar(pos)
                    pos = next
                    rule.append(GrammarElement(lastItemStart < rule.count ? .charAlternative : startKind, char))
                    if text[pos] == UInt8(ascii: "-"), text[pos + 1] != UInt8(ascii: "]") {
                        guard text[pos + 1] != 0 else { throw error("the character range has no end", at: pos + 1) }
                        let (upper, after) = try parseChar(pos + 1)
                        if upper < char {
                            throw error("the character range ends before it starts", at: pos + 1)
                        }
                        rule.append(GrammarElement(.charRangeUpper, upper))
                        pos = after
                    }
                }
                pos = skipSpace(pos + 1, newlines: nested)
            case UInt8(ascii: "<"), UInt8(ascii: "!"):
                var kind = GrammarElement.Kind.token
                if c == UInt8(ascii: "!") {
                    kind = .tokenNot
                    pos += 1
                }
                let (id, next) = try parseToken(pos)
                lastItemStart = rule.count
                rulesInLastItem = 1
                rule.append(GrammarElement(kind, id))
                pos = skipSpace(next, newlines: nested)
            case _ where Self.isWordChar(c):
                let nameEnd = try parseName(pos)
                let id = symbolID(string(pos..<nameEnd))
                pos = skipSpace(nameEnd, newlines: nested)
                lastItemStart = rule.count
                rulesInLastItem = 1
                rule.append(GrammarElement(.ruleRef, id))
            case UInt8(ascii: "("):
                let opened = pos
                pos = skipSpace(pos + 1, newlines: true)
                let before = symbolIDs.count
                let groupID = syntheticSymbolID(ruleName)
                pos = try parseAlternatives(pos, ruleName: ruleName, ruleID: groupID, nested: true)
                rulesInLastItem = max(1, UInt64(symbolIDs.count - before))
                lastItemStart = rule.count
                rule.append(GrammarElement(.ruleRef, groupID))
                guard text[pos] == UInt8(ascii: ")") else {
                    throw error("expected ) to close the group opened at \(position(opened)), found \(describe(pos))", at: pos)
                }
                pos = skipSpace(pos + 1, newlines: nested)
            case UInt8(ascii: "."):
                lastItemStart = rule.count
                rulesInLastItem = 1
                rule.append(GrammarElement(.charAny))
                pos = skipSpace(pos + 1, newlines: nested)
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
                let at = pos
                pos = skipSpace(pos + 1, newlines: nested)
                let (low, high): (UInt64, UInt64?) = c == UInt8(ascii: "*") ? (0, nil) : c == UInt8(ascii: "+") ? (1, nil) : (0, 1)
                try repeatLastItem(
                    &rule, from: lastItemStart, min: low, max: high, ruleName: ruleName, rulesInItem: &rulesInLastItem, at: at)
            case UInt8(ascii: "{"):
                let at = pos
                pos = skipSpace(pos + 1, newlines: nested)
                guard Self.isDigit(text[pos]) else { throw error("expected a number after {", at: pos) }
                var end = try parseInt(pos)
                let low = try count(pos..<end)
                pos = skipSpace(end, newlines: nested)
                var high: UInt64? = nil
                if text[pos] == UInt8(ascii: "}") {
                    high = low
                    pos = skipSpace(pos + 1, newlines: nested)
                } else if text[pos] == UInt8(ascii: ",") {
                    pos = skipSpace(pos + 1, newlines: nested)
                    if Self.isDigit(text[pos]) {
                        end = try parseInt(pos)
                        high = try count(pos..<end)
                        pos = skipSpace(end, newlines: nested)
                    }
                    guard text[pos] == UInt8(ascii: "}") else {
                        throw error("expected } to close the repetition, found \(describe(pos))", at: pos)
                    }
                    pos = skipSpace(pos + 1, newlines: nested)
                } else {
                    throw error("expected , or } in the repetition, found \(describe(pos))", at: pos)
                }
                guard low <= GrammarLimits.maxRepetition else {
                    throw error("a repetition count above \(GrammarLimits.maxRepetition) is not supported", at: at)
                }
                // As llama.cpp: an upper bound past the limit means no upper bound.
                if let h = high, h > GrammarLimits.maxRepetition { high = nil }
                if let h = high, h < low { throw error("the repetition's upper bound is below its lower bound", at: at) }
                try repeatLastItem(
                    &rule, from: lastItemStart, min: low, max: high, ruleName: ruleName, rulesInItem: &rulesInLastItem, at: at)
            default:
                return pos
            }
            guard elementCount + rule.count <= GrammarLimits.maxElements else {
                throw error("the grammar expands to more than \(GrammarLimits.maxElements) elements", at: pos)
            }
        }
    }

    /// Applies `{min,max}` (max nil: unbounded) to the elements from `start` to the end of `rule`.
    private mutating func repeatLastItem(
        _ rule: inout [GrammarElement], from start: Int, min: UInt64, max: UInt64?, ruleName: String,
        rulesInItem: inout UInt64, at pos: Int
    ) throws(GrammarError) {
        guard start < rule.count else { throw error("*, +, ? and {} need an item before them", at: pos) }
        let item = Array(rule[start...])
        let copies: UInt64 = if let max, max > 0 { max } else if min > 0 { min } else { 1 }
        let (product, overflow) = rulesInItem.multipliedReportingOverflow(by: copies)
        guard !overflow, product <= GrammarLimits.maxRepetition else {
            throw error(
                "this repetition would copy more than \(GrammarLimits.maxRepetition) rules; reduce the counts or the nesting", at: pos)
        }
        if min == 0 {
            rule.removeSubrange(start...)
        } else {
            for _ in 1..<min { rule.append(contentsOf: item) }
        }
        let optionalCount = max.map { $0 - min } ?? 1
        var previousID: UInt32 = 0
        for i in 0..<optionalCount {
            var optional = item
            let id = syntheticSymbolID(ruleName)
            if i > 0 || max == nil { optional.append(GrammarElement(.ruleRef, max == nil ? id : previousID)) }
            optional.append(GrammarElement(.alt))
            optional.append(GrammarElement(.end))
            try define(id, optional, at: pos)
            previousID = id
        }
        if optionalCount > 0 { rule.append(GrammarElement(.ruleRef, previousID)) }
        rulesInItem = product
    }

    // MARK: - Symbols

    private mutating func symbolID(_ name: String) -> UInt32 {
        if let id = symbolIDs[name] { return id }
        let id = UInt32(symbolIDs.count)
        symbolIDs[name] = id
        return id
    }

    /// `BASE_N` with N the next id, as llama.cpp names the rules it makes.
    private mutating func syntheticSymbolID(_ base: String) -> UInt32 {
        let id = UInt32(symbolIDs.count)
        symbolIDs["\(base)_\(id)"] = id
        return id
    }

    private mutating func define(_ id: UInt32, _ rule: [GrammarElement], at pos: Int) throws(GrammarError) {
        if rules.count <= Int(id) { rules.append(contentsOf: repeatElement([], count: Int(id) + 1 - rules.count)) }
        elementCount += rule.count - rules[Int(id)].count
        rules[Int(id)] = rule
        guard elementCount <= GrammarLimits.maxElements else {
            throw error("the grammar expands to more than \(GrammarLimits.maxElements) elements", at: pos)
        }
    }

    /// Every referenced rule must be defined.
    private func checkDefined() throws(GrammarError) {
        var names: [UInt32: String] = [:]
        for (name, id) in symbolIDs { names[id] = name }
        for (id, rule) in rules.enumerated() {
            if rule.isEmpty {
                throw GrammarError(message: "rule \"\(names[UInt32(id)] ?? "#\(id)")\" is used but not defined", rule: names[UInt32(id)])
            }
            for element in rule where element.kind == .ruleRef {
                if Int(element.value) >= rules.count || rules[Int(element.value)].isEmpty {
                    let missing = names[element.value] ?? "#\(element.value)"
                    throw GrammarError(message: "rule \"\(missing)\" is used but not defined", rule: missing)
                }
            }
        }
    }

    // MARK: - Lexical pieces

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// Rule names: ASCII letters, digits and '-'.
    static func isWordChar(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || c == UInt8(ascii: "-") || isDigit(c)
    }

    /// Skips blanks and `#` comments, and line breaks where the grammar allows them.
    private func skipSpace(_ start: Int, newlines: Bool) -> Int {
        var pos = start
        while true {
            let c = text[pos]
            if c == UInt8(ascii: "#") {
                while text[pos] != 0 && text[pos] != UInt8(ascii: "\r") && text[pos] != UInt8(ascii: "\n") { pos += 1 }
            } else if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t")
                || (newlines && (c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n")))
            {
                pos += 1
            } else {
                return pos
            }
        }
    }

    private func parseName(_ start: Int) throws(GrammarError) -> Int {
        var pos = start
        while Self.isWordChar(text[pos]) { pos += 1 }
        guard pos > start else { throw error("expected a rule name, found \(describe(start))", at: start) }
        return pos
    }

    private func parseInt(_ start: Int) throws(GrammarError) -> Int {
        var pos = start
        while Self.isDigit(text[pos]) { pos += 1 }
        guard pos > start else { throw error("expected a number, found \(describe(start))", at: start) }
        return pos
    }

    private func count(_ range: Range<Int>) throws(GrammarError) -> UInt64 {
        var value: UInt64 = 0
        for i in range {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(text[i] - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw error("the repetition count is too large", at: range.lowerBound) }
            value = sum
        }
        return value
    }

    /// One character of a string or class: an escape or one UTF-8 character.
    private func parseChar(_ pos: Int) throws(GrammarError) -> (UInt32, Int) {
        if text[pos] == UInt8(ascii: "\\") {
            switch text[pos + 1] {
            case UInt8(ascii: "x"): return try parseHex(pos + 2, digits: 2)
            case UInt8(ascii: "u"): return try parseHex(pos + 2, digits: 4)
            case UInt8(ascii: "U"): return try parseHex(pos + 2, digits: 8)
            case UInt8(ascii: "t"): return (9, pos + 2)
            case UInt8(ascii: "r"): return (13, pos + 2)
            case UInt8(ascii: "n"): return (10, pos + 2)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "-"):
                return (UInt32(text[pos + 1]), pos + 2)
            default:
                throw error("unknown escape \\\(describeChar(pos + 1))", at: pos)
            }
        }
        // One UTF-8 character; the text came from a String, so it is valid.
        let lead = text[pos]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        var value = UInt32(lead) & (length == 1 ? 0x7F : length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for i in 1..<length { value = value << 6 | UInt32(text[pos + i] & 0x3F) }
        return (value, pos + length)
    }

    private func parseHex(_ start: Int, digits: Int) throws(GrammarError) -> (UInt32, Int) {
        var value: UInt32 = 0
        for i in start..<(start + digits) {
            let c = text[i]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("expected \(digits) hex digits", at: start)
            }
            value = value << 4 | digit
        }
        return (value, start + digits)
    }

    /// `<[123]>` by id, or `<text>` by the token the text is.
    private func parseToken(_ start: Int) throws(GrammarError) -> (UInt32, Int) {
        guard text[start] == UInt8(ascii: "<") else { throw error("expected < to start a token reference", at: start) }
        var pos = start + 1
        if text[pos] == UInt8(ascii: "[") {
            pos += 1
            let end = try parseInt(pos)
            let id = try count(pos..<end)
            guard id <= UInt64(Int32.max) else { throw error("the token id is too large", at: pos) }
            pos = end
            guard text[pos] == UInt8(ascii: "]"), text[pos + 1] == UInt8(ascii: ">") else {
                throw error("expected ]> to close the token reference", at: pos)
            }
            return (UInt32(id), pos + 2)
        }
        while text[pos] != 0 && text[pos] != UInt8(ascii: ">") { pos += 1 }
        guard text[pos] == UInt8(ascii: ">") else { throw error("expected > to close the token reference", at: start) }
        let spelled = string(start..<(pos + 1))
        guard let tokenID else {
            throw error("the token reference \(spelled) needs a model's vocabulary; use <[ID]> or a model", at: start)
        }
        guard let id = tokenID(spelled) else { throw error("\(spelled) is not one token of this model's vocabulary", at: start) }
        return (id, pos + 1)
    }

    // MARK: - Errors

    private func string(_ range: Range<Int>) -> String { String(decoding: text[range], as: UTF8.self) }

    private func describe(_ pos: Int) -> String {
        text[pos] == 0 ? "the end of the grammar" : "\"\(describeChar(pos))\""
    }

    private func describeChar(_ pos: Int) -> String {
        let c = text[pos]
        switch c {
        case 0: return "end of input"
        case UInt8(ascii: "\n"): return "\\n"
        case UInt8(ascii: "\r"): return "\\r"
        case UInt8(ascii: "\t"): return "\\t"
        case 0x80...: return String(decoding: text[pos..<min(text.count - 1, pos + 4)], as: UTF8.self).prefix(1).description
        default: return String(UnicodeScalar(c))
        }
    }

    /// An error at byte `pos`, with its line and column (characters, 1-based).
    func error(_ message: String, at pos: Int) -> GrammarError {
        let (line, column) = lineAndColumn(pos)
        return GrammarError(message: message, line: line, column: column, rule: currentRule)
    }

    private func position(_ pos: Int) -> String {
        let (line, column) = lineAndColumn(pos)
        return "line \(line), column \(column)"
    }

    private func lineAndColumn(_ pos: Int) -> (Int, Int) {
        var line = 1
        var column = 1
        for c in text[..<min(pos, text.count - 1)] {
            if c == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if c & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}
