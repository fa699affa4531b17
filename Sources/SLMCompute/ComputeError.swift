/// Errors of the compute layer: memory it cannot get, and weights its kernels cannot use.
/// File-format defects are `GGUFError`; errors about a model's meaning are the models layer's.
public enum ComputeError: Error, Equatable, CustomStringConvertible {
    case unsupportedTensorType(tensor: String, type: String)
    case allocationFailed(bytes: Int, reason: String)
    /// A KV cache type this model's shape cannot use.
    case unsupportedCacheType(String)

    public var description: String {
        switch self {
        case .unsupportedTensorType(let t, let ty): return "tensor '\(t)' has type \(ty), which slm cannot compute with"
        case .allocationFailed(let b, let r): return "cannot allocate \(b) bytes: \(r) (try a smaller -c)"
        case .unsupportedCacheType(let why): return why
        }
    }
}
