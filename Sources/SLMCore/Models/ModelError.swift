/// Errors from building or running a model; GGUF-level defects are `GGUFError`.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String, supported: [String])
    case invalidHyperparameter(key: String, value: String, reason: String)
    case unsupportedTensorType(tensor: String, type: String)
    case unsupportedFeature(String)
    case contextTooSmall(requested: Int, minimum: Int)
    case contextFull(contextLength: Int, needed: Int)
    case tokenOutOfRange(token: Int32, vocabularySize: Int)
    case emptyInput
    case allocationFailed(bytes: Int, reason: String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a, let s):
            return "unsupported architecture '\(a)' (supported: \(s.joined(separator: ", ")))"
        case .invalidHyperparameter(let k, let v, let r): return "hyperparameter \(k) = \(v) is invalid: \(r)"
        case .unsupportedTensorType(let t, let ty): return "tensor '\(t)' has type \(ty), which slm cannot compute with"
        case .unsupportedFeature(let f): return "unsupported model feature: \(f)"
        case .contextTooSmall(let r, let m): return "context length \(r) is too small (minimum \(m))"
        case .contextFull(let c, let n): return "context full: \(n) tokens needed, context length is \(c) (raise -c)"
        case .tokenOutOfRange(let t, let v): return "token id \(t) is outside the vocabulary (size \(v))"
        case .emptyInput: return "no input tokens"
        case .allocationFailed(let b, let r): return "cannot allocate \(b) bytes: \(r) (try a smaller -c)"
        }
    }
}
