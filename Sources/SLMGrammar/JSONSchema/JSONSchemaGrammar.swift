import SLMJSON

/// JSON Schema → GBNF: the grammar that makes a model write only documents a schema accepts
/// (`--json-schema`, OpenAI `response_format: json_schema`, tool arguments).
///
/// The output follows llama.cpp's `json_schema_to_grammar` rule for rule (same names, same order,
/// same primitives, the same optional-whitespace `space` rule), so a grammar can be compared with
/// the reference's text. Where llama.cpp quietly ignores a keyword or falls back to "any string",
/// this converter refuses the schema instead: a constraint the caller wrote is either enforced or
/// reported, never dropped. The keywords refused that way are listed in `SchemaReader`.
public enum JSONSchemaGrammar {
    /// GBNF text (llama.cpp's grammar syntax, root rule "root") that accepts the JSON documents
    /// valid under `schema`, written with optional whitespace between tokens.
    public static func grammar(for schema: JSONValue) throws(JSONSchemaError) -> String {
        var reader = SchemaReader(document: schema)
        let root = try reader.readDocument()
        var emitter = GrammarEmitter(references: reader.references)
        try emitter.emitRoot(root)
        return emitter.grammarText()
    }

    /// GBNF for any JSON value (used by `--json` and OpenAI `json_object`): what the empty schema
    /// gives, so both paths share one text.
    public static var anyJSONValue: String {
        var emitter = GrammarEmitter(references: [:])
        // The empty schema cannot fail: no keyword, no limit to exceed.
        try? emitter.emitRoot(.any)
        return emitter.grammarText()
    }
}

/// A schema the converter refuses: where (a JSON pointer into the schema, "" for its root, e.g.
/// `/properties/a/pattern`) and what is wrong with it.
public struct JSONSchemaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// JSON pointer (RFC 6901) of the offending schema or keyword.
    public var pointer: String
    public var reason: String

    public init(pointer: String, reason: String) {
        self.pointer = pointer
        self.reason = reason
    }

    public var description: String {
        "\(reason) (at \(pointer.isEmpty ? "the schema's root" : pointer))"
    }
}

/// Bounds that keep a hostile schema from exhausting the stack, the memory or the grammar parser.
public enum JSONSchemaLimits {
    /// Nested subschemas (and `$ref` chains being expanded) deeper than this are refused; the
    /// protocol's JSON depth limit keeps ordinary documents far below it.
    public static let maxNesting = 128
    /// Subschemas read, counting each copy a `type` array makes: bounds work on schemas that
    /// multiply (nested type arrays double the tree at every level).
    public static let maxSubschemas = 20_000
    /// Repetition counts (`minItems`, `maxItems`, `minLength`, `maxLength`, regex `{m,n}`) above
    /// this are refused: llama.cpp's grammar parser refuses them too (MAX_REPETITION_THRESHOLD),
    /// because a repetition is expanded into that many rule copies.
    public static let maxRepetition = 2_000
    /// Total bytes of grammar text; past it the schema is refused rather than handed to the parser.
    public static let maxGrammarBytes = 1 << 20
    /// Integer bounds must be within ±2^53, where every JSON client reads the same number.
    public static let maxIntegerBound: Int64 = 1 << 53
    /// Number bounds with more digits after the point than this are refused: the grammar spends
    /// a nested group on each of them (`1e-30` is the smallest non-zero bound written this way).
    public static let maxNumberBoundFractionDigits = 30
}

extension JSONSchemaError {
    /// The pointer of `key` inside the schema at `pointer` (RFC 6901 escaping of `~` and `/`).
    static func pointer(_ pointer: String, _ key: String) -> String {
        var escaped = ""
        for ch in key.unicodeScalars {
            switch ch {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.unicodeScalars.append(ch)
            }
        }
        return pointer + "/" + escaped
    }
}
