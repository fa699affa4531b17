import SLMCompute

/// Everything that can go wrong while building a tokenizer from model metadata or checking ids.
/// Encoding text never fails: any string has a tokenization (bytes fall back to byte tokens).
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// A required metadata key is absent (e.g. `tokenizer.ggml.tokens`).
    case missingKey(String)
    /// A key is present but its value has the wrong type or shape.
    case invalidValue(key: String, reason: String)
    /// `tokenizer.ggml.model` names a tokenizer family this engine does not implement.
    case unsupportedModel(String, supported: [String])
    /// `tokenizer.ggml.pre` names a pre-tokenizer this engine does not implement.
    case unsupportedPreTokenizer(String, supported: [String])
    /// A line of `tokenizer.ggml.merges` is not two symbols separated by one space.
    case badMergeLine(index: Int, line: String)
    /// A token id that is negative or not below the vocabulary size.
    case tokenOutOfRange(id: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .missingKey(let key):
            return "tokenizer: missing metadata key '\(key)'"
        case .invalidValue(let key, let reason):
            return "tokenizer: invalid value for '\(key)': \(reason)"
        case .unsupportedModel(let name, let supported):
            return "tokenizer: unsupported tokenizer model '\(name)' (supported: \(supported.joined(separator: ", ")))"
        case .unsupportedPreTokenizer(let name, let supported):
            return "tokenizer: unsupported pre-tokenizer '\(name)' (supported: \(supported.joined(separator: ", ")))"
        case .badMergeLine(let index, let line):
            return "tokenizer: merge \(index) is not two symbols separated by a space: '\(line)'"
        case .tokenOutOfRange(let id, let size):
            return "tokenizer: token id \(id) is out of range (vocabulary size \(size))"
        }
    }
}
