/// A parsed GBNF grammar in llama.cpp's form: every rule is a list of elements, alternatives are
/// separated by `alt` and the rule closes with `end`; a character set is one positive or negated
/// character followed by `charAlternative`/`charRangeUpper` modifiers. Keeping llama.cpp's layout
/// (and its rule numbering, including the rules it synthesises for groups and repetitions) makes
/// its parser tests ours verbatim, and lets a grammar written for llama.cpp behave the same here.
public struct GrammarElement: Sendable, Equatable, Hashable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// Closes a rule.
        case end = 0
        /// Starts another alternative of the rule.
        case alt = 1
        /// A reference to the rule numbered `value`.
        case ruleRef = 2
        /// The character `value` (the start of a character set).
        case char = 3
        /// A negated character set starting with `value`: `[^...]`.
        case charNot = 4
        /// Makes the preceding character the start of the range ending at `value`: `[a-z]`.
        case charRangeUpper = 5
        /// Adds `value` as another character of the set: `[ab]`.
        case charAlternative = 6
        /// Any character: `.`.
        case charAny = 7
        /// The token numbered `value`: `<[123]>` or `<think>`.
        case token = 8
        /// Any token but `value`: `!<[123]>`.
        case tokenNot = 9

        /// llama.cpp's name (without its `LLAMA_GRETYPE_` prefix), as its tests spell it.
        public var llamaName: String {
            switch self {
            case .end: "END"
            case .alt: "ALT"
            case .ruleRef: "RULE_REF"
            case .char: "CHAR"
            case .charNot: "CHAR_NOT"
            case .charRangeUpper: "CHAR_RNG_UPPER"
            case .charAlternative: "CHAR_ALT"
            case .charAny: "CHAR_ANY"
            case .token: "TOKEN"
            case .tokenNot: "TOKEN_NOT"
            }
        }
    }

    public var kind: Kind
    public var value: UInt32

    public init(_ kind: Kind, _ value: UInt32 = 0) {
        self.kind = kind
        self.value = value
    }

    /// Whether this element ends an alternative (`alt` or `end`).
    var endsAlternative: Bool { kind == .end || kind == .alt }
    /// Whether a stack may rest on this element: it consumes input.
    var isTerminal: Bool {
        switch kind {
        case .char, .charNot, .charAny, .token, .tokenNot: true
        default: false
        }
    }
}

/// A GBNF grammar ready to match: parsed, every referenced rule defined, no left recursion.
public struct Grammar: Sendable {
    /// Rules by id; `rules[id]` ends with `.end`.
    public let rules: [[GrammarElement]]
    /// Every rule name with its id, including the rules the parser synthesised (`root_1`, ...).
    public let symbolIDs: [String: UInt32]
    /// The id of the start rule.
    public let rootID: UInt32

    /// The rules in one array, so a parser stack is a list of indices into it.
    let elements: [GrammarElement]
    /// Where each rule starts in `elements`.
    let ruleStarts: [Int32]

    /// Parses GBNF text and checks that it can be matched from `root`.
    /// - Parameter tokenID: resolves a `<text>` token reference to its token id (nil: unknown
    ///   text); without it, only `<[id]>` references parse.
    public init(
        parsing text: String, root: String = "root", tokenID: ((String) -> UInt32?)? = nil
    ) throws(GrammarError) {
        let parsed = try GrammarParser.parse(text, tokenID: tokenID)
        try self.init(rules: parsed.rules, symbolIDs: parsed.symbolIDs, root: root, source: Array(text.utf8))
    }

    init(rules: [[GrammarElement]], symbolIDs: [String: UInt32], root: String, source: [UInt8] = []) throws(GrammarError) {
        guard let rootID = symbolIDs[root], Int(rootID) < rules.count, !rules[Int(rootID)].isEmpty else {
            throw GrammarError(message: "the grammar has no rule named \"\(root)\" to start from", rule: root)
        }
        self.rules = rules
        self.symbolIDs = symbolIDs
        self.rootID = rootID
        var flat: [GrammarElement] = []
        var starts: [Int32] = []
        for rule in rules {
            starts.append(Int32(flat.count))
            flat.append(contentsOf: rule)
        }
        elements = flat
        ruleStarts = starts
        try GrammarChecks.refuseLeftRecursion(self)
    }

    /// The name of rule `id` (synthesised rules have their generated names).
    public func name(ofRule id: UInt32) -> String {
        symbolIDs.first { $0.value == id }?.key ?? "#\(id)"
    }

    /// How many rules and elements the grammar has, for limits and logs.
    public var elementCount: Int { elements.count }
}

/// Why a grammar was refused, with where: `line` and `column` (1-based, columns in characters)
/// for syntax errors, `rule` when one rule is at fault.
public struct GrammarError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var line: Int?
    public var column: Int?
    public var rule: String?

    public init(message: String, line: Int? = nil, column: Int? = nil, rule: String? = nil) {
        self.message = message
        self.line = line
        self.column = column
        self.rule = rule
    }

    public var description: String {
        var where_: [String] = []
        if let line, let column { where_.append("line \(line), column \(column)") }
        if let rule, !message.contains("\"\(rule)\"") { where_.append("rule \"\(rule)\"") }
        return where_.isEmpty ? message : "\(message) (\(where_.joined(separator: ", ")))"
    }
}

/// Bounds that keep a hostile grammar from costing unbounded memory or time.
public enum GrammarLimits {
    /// llama.cpp's limit on `{m,n}` counts and on the rules one repetition may copy.
    public static let maxRepetition: UInt64 = 2000
    /// The most bytes of grammar text accepted.
    public static let maxTextBytes = 1 << 20
    /// The most elements all rules may hold after repetitions are expanded.
    public static let maxElements = 1 << 20
    /// Deepest nesting of parentheses (the parser recurses on them).
    public static let maxNesting = 256
}
