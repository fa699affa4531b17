/// Everything that stops slmd from starting or serving (bad input from clients is not here: it
/// becomes a protocol error reply, see SLMProtocol's `ProtocolError`).
enum DaemonError: Error, CustomStringConvertible {
    /// A command-line problem; nil = just print the usage.
    case usage(String?)
    case config(String)
    /// A libuv call failed: which call, and libuv's message for the code.
    case uv(call: String, code: Int32, message: String)
    /// A system call failed: which call, errno's message.
    case system(call: String, errno: Int32, message: String)
    case socketInUse(String)
    case model(String)
    case store(String)

    var description: String {
        switch self {
        case .usage(let problem): return problem ?? "usage"
        case .config(let message): return message
        case .uv(let call, let code, let message): return "\(call): \(message) (\(code))"
        case .system(let call, let errno, let message): return "\(call): \(message) (errno \(errno))"
        case .socketInUse(let path): return "\(path) is in use by a running daemon"
        case .model(let message): return "cannot load the model: \(message)"
        case .store(let message): return "conversation store: \(message)"
        }
    }
}
