/// Errors from building or running a model; GGUF-level defects are `GGUFError`, memory and
/// tensor types the kernels cannot use are `ComputeError`.

import SLMCompute

public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String, supported: [String])
    case invalidHyperparameter(key: String, value: String, reason: String)
    case unsupportedFeature(String)
    case contextTooSmall(requested: Int, minimum: Int)
    case contextFull(contextLength: Int, needed: Int)
    /// A chat turn whose newest message, with the system message and the template around it,
    /// does not fit the context even with every earlier turn left out of the prompt. `tokens` is
    /// a lower bound when the text was too long to be worth tokenizing.
    case messageLongerThanContext(tokens: Int, contextLength: Int)
    case tokenOutOfRange(token: Int32, vocabularySize: Int)
    case emptyInput

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a, let s):
            return "unsupported architecture '\(a)' (supported: \(s.joined(separator: ", ")))"
        case .invalidHyperparameter(let k, let v, let r): return "hyperparameter \(k) = \(v) is invalid: \(r)"
        case .unsupportedFeature(let f): return "unsupported model feature: \(f)"
        case .contextTooSmall(let r, let m): return "context length \(r) is too small (minimum \(m))"
        case .contextFull(let c, let n): return "context full: \(n) tokens needed, context length is \(c) (raise -c)"
        case .messageLongerThanContext(let t, let c):
            return
                "the message alone (with the system message and the chat template) takes at least \(t) tokens and the context holds \(c): no earlier turn is left to drop (shorten the message or raise -c)"
        case .tokenOutOfRange(let t, let v): return "token id \(t) is outside the vocabulary (size \(v))"
        case .emptyInput: return "no input tokens"
        }
    }
}
