import SLMJSON

// Message files for the CLI and golden fixtures in tests are read with the one JSON parser, with
// the rules of Python's `json.loads` that jinja2 users expect: a repeated key keeps the last value.

/// Why a message file was refused, with the byte offset where relevant.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let offset: Int
    public var description: String { "JSON: \(message) at byte \(offset)" }
}

extension TemplateValue {
    /// Deepest nesting of arrays/objects accepted in a message file.
    public static let maxJSONNesting = 256

    /// Parses a complete JSON document.
    public static func parseJSON(_ text: String) throws -> TemplateValue {
        do {
            return try JSONParser.parse(text, options: .init(maxDepth: maxJSONNesting, duplicateKeys: .keepLast))
        } catch {
            switch error {
            case .invalidUTF8(let offset): throw JSONParseError(message: "invalid UTF-8", offset: offset)
            case .malformed(let offset, let reason): throw JSONParseError(message: reason, offset: offset)
            }
        }
    }
}
