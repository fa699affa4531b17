#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// syslog priorities: journald reads a leading `<N>` on each stderr line as the line's level.
enum LogLevel: Int32, Comparable {
    case error = 3
    case warning = 4
    case notice = 5
    case info = 6
    case debug = 7

    init?(name: String) {
        switch name.lowercased() {
        case "error", "err": self = .error
        case "warning", "warn": self = .warning
        case "notice": self = .notice
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .error: return "error"
        case .warning: return "warning"
        case .notice: return "notice"
        case .info: return "info"
        case .debug: return "debug"
        }
    }

    static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// One line per message on stderr: `<6>message` under systemd (JOURNAL_STREAM is set), else
/// `slmd: info: message`. Called from the loop thread and the inference thread: each line is
/// one write(2), so lines never interleave.
enum Log {
    nonisolated(unsafe) static var threshold = LogLevel.info
    static let toJournal = getenv("JOURNAL_STREAM") != nil

    static func error(_ message: @autoclosure () -> String) { write(.error, message) }
    static func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    static func notice(_ message: @autoclosure () -> String) { write(.notice, message) }
    static func info(_ message: @autoclosure () -> String) { write(.info, message) }
    static func debug(_ message: @autoclosure () -> String) { write(.debug, message) }

    private static func write(_ level: LogLevel, _ message: () -> String) {
        guard level <= threshold else { return }
        var line = toJournal ? "<\(level.rawValue)>" : "slmd: \(level.name): "
        line += message().replacingNewlines()
        line += "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

extension String {
    /// Keeps one message on one log line.
    func replacingNewlines() -> String { String(map { $0 == "\n" || $0 == "\r\n" ? " " : $0 }) }
}
