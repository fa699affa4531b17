#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SLMCore

/// Limits that keep one client from taking the daemon's memory or time; all settable in the
/// config file (and the main ones on the command line).
struct DaemonLimits {
    /// Connected clients; one more gets `busy` and is closed.
    var maxClients = 64
    /// Generations waiting for a slot; one more gets `busy`.
    var maxQueuedRequests = 64
    /// Generations that progress together, each with its own KV cache (memory grows with it).
    var maxActiveGenerations = 4
    /// Reply bytes queued for one connection before its generations pause (a slow reader);
    /// they resume when it drops below half of this.
    var maxPendingWriteBytes = 256 * 1024
    /// SO_SNDBUF of each client socket (0 = the kernel's default, ~200 KB): the kernel-side part
    /// of what a slow reader can hold.
    var socketSendBufferBytes = 0
    /// On SIGTERM/SIGINT, how long in-flight work may finish before it is cancelled.
    var shutdownGraceMilliseconds = 2000
}

struct DaemonConfig {
    static let defaultSocketPath = "/run/slmd/slmd.sock"
    static let defaultDatabasePath = "/var/lib/slmd/conversations.db"
    /// Listen backlog of the socket slmd binds itself.
    static let listenBacklog: Int32 = 128
    /// The longest config file line, so a wrong file (a binary, a model) fails fast.
    static let maxConfigLineBytes = 4096

    var modelPath: String?
    var socketPath = defaultSocketPath
    var databasePath = defaultDatabasePath
    var threads: Int?
    /// The `--cpus` list ("0-3,6"), expanded; nil = the big cores (`slm inspect --cpus`).
    var cpus: [Int]?
    var contextLength: Int?
    var logLevel = LogLevel.info
    var limits = DaemonLimits()

    static let usage = """
        usage: slmd -m MODEL [--socket PATH] [--db PATH] [-t N] [--cpus LIST] [-c CTX]
                    [--config FILE] [--max-clients N] [--max-queue N] [--max-active N]
                    [--max-pending-write-bytes N] [--socket-send-buffer-bytes N]
                    [--shutdown-grace-ms N] [--log-level LEVEL]

          -m, --model FILE      GGUF model to serve
          --socket PATH         Unix socket to listen on (default \(defaultSocketPath), mode 0660);
                                ignored under systemd socket activation (LISTEN_FDS)
          --db PATH             conversation database (default \(defaultDatabasePath))
          -t, --threads N       engine worker threads (default: one per CPU of --cpus, else one per big core)
          --cpus LIST           CPUs to pin the worker threads to, e.g. 0-3 or 4,5,6,7 (default: the big cores)
          -c, --ctx-size N      context length per conversation (default: min(model's, 4096))
          --config FILE         key = value settings (same names without the dashes, e.g.
                                max-clients = 16); command-line options override the file
          --log-level LEVEL     error, warning, notice, info or debug (default info)
        """

    /// Settings from the command line, the config file it names applied first.
    static func parse(_ arguments: [String]) throws(DaemonError) -> DaemonConfig {
        var pairs: [(String, String)] = []
        var configFile: String? = nil
        var i = 0
        while i < arguments.count {
            var arg = arguments[i]
            var inlineValue: String? = nil
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                inlineValue = String(arg[arg.index(after: eq)...])
                arg = String(arg[..<eq])
            }
            if arg == "-h" || arg == "--help" { throw .usage(nil) }
            guard let key = optionKeys[arg] else { throw .usage("unknown option \(arg)") }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard i + 1 < arguments.count else { throw .usage("\(arg) needs a value") }
                i += 1
                value = arguments[i]
            }
            if key == "config" { configFile = value } else { pairs.append((key, value)) }
            i += 1
        }
        var config = DaemonConfig()
        if let configFile {
            for (key, value) in try readConfigFile(configFile) { try config.set(key, value, source: configFile) }
        }
        for (key, value) in pairs { try config.set(key, value, source: "command line") }
        guard config.modelPath != nil else { throw .usage("no model: pass -m MODEL (or model = … in the config file)") }
        return config
    }

    private static let optionKeys: [String: String] = [
        "-m": "model", "--model": "model", "--socket": "socket", "--db": "db", "-t": "threads", "--threads": "threads",
        "--cpus": "cpus", "-c": "ctx-size", "--ctx-size": "ctx-size", "--config": "config",
        "--max-clients": "max-clients", "--max-queue": "max-queue", "--max-active": "max-active",
        "--max-pending-write-bytes": "max-pending-write-bytes", "--shutdown-grace-ms": "shutdown-grace-ms",
        "--socket-send-buffer-bytes": "socket-send-buffer-bytes",
        "--log-level": "log-level",
    ]

    mutating func set(_ rawKey: String, _ value: String, source: String) throws(DaemonError) {
        let key = rawKey.replacingUnderscores()
        func int(_ range: ClosedRange<Int>) throws(DaemonError) -> Int {
            guard let n = Int(value), range.contains(n) else {
                throw .config("\(source): \(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(value)\"")
            }
            return n
        }
        switch key {
        case "model": modelPath = value
        case "socket": socketPath = value
        case "db": databasePath = value
        case "threads": threads = try int(1...256)
        case "cpus":
            do {
                cpus = try CPUTopology.parseList(value)
            } catch {
                throw .config("\(source): cpus: \(error)")
            }
        case "ctx-size": contextLength = try int(8...1 << 20)
        case "max-clients": limits.maxClients = try int(1...65536)
        case "max-queue": limits.maxQueuedRequests = try int(0...65536)
        case "max-active": limits.maxActiveGenerations = try int(1...256)
        case "max-pending-write-bytes": limits.maxPendingWriteBytes = try int(1024...1 << 30)
        case "socket-send-buffer-bytes": limits.socketSendBufferBytes = try int(0...64 << 20)
        case "shutdown-grace-ms": limits.shutdownGraceMilliseconds = try int(0...600_000)
        case "log-level":
            guard let level = LogLevel(name: value) else { throw .config("\(source): unknown log level \"\(value)\"") }
            logLevel = level
        default: throw .config("\(source): unknown setting \"\(rawKey)\"")
        }
    }

    /// `key = value` lines; `#` starts a comment line; blank lines are skipped.
    static func readConfigFile(_ path: String) throws(DaemonError) -> [(String, String)] {
        guard let f = fopen(path, "r") else { throw .config("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        var pairs: [(String, String)] = []
        var buffer = [CChar](repeating: 0, count: maxConfigLineBytes + 2)
        var lineNumber = 0
        while fgets(&buffer, Int32(buffer.count), f) != nil {
            lineNumber += 1
            let line = String(cString: buffer)
            guard line.hasSuffix("\n") || feof(f) != 0 else { throw .config("\(path):\(lineNumber): line longer than \(maxConfigLineBytes) bytes") }
            let text = line.trimmed()
            if text.isEmpty || text.hasPrefix("#") { continue }
            guard let eq = text.firstIndex(of: "=") else { throw .config("\(path):\(lineNumber): expected key = value") }
            pairs.append((String(text[..<eq]).trimmed(), String(text[text.index(after: eq)...]).trimmed()))
        }
        return pairs
    }
}

extension StringProtocol {
    func trimmed() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeLast() }
        return String(s)
    }

    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
