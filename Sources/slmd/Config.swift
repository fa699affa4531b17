import SLMCore
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Limits that keep one client from taking the daemon's memory or time; all settable in the
/// config file (and the main ones on the command line).
struct DaemonLimits {
    /// Connected clients; one more gets `busy` and is closed.
    var maxClients = 64
    /// Generations waiting for a slot; one more gets `busy`.
    var maxQueuedRequests = 64
    /// Generations of one uid waiting for a slot (all its connections together): a quarter of
    /// the queue, so one program cannot fill it for everyone else. One more gets `busy`.
    var maxQueuedPerUID = 16
    /// Requests in flight on one connection (generations and conversation queries). At the cap
    /// the daemon stops reading from the connection until one finishes: a pipelining client is
    /// slowed down, not refused, and cannot fill the daemon's queues.
    var maxRequestsPerConnection = 16
    /// Generations that progress together, each with its own KV cache (memory grows with it).
    var maxActiveGenerations = 4
    /// Generations paused for a slow reader. They keep their KV cache but give up their slot;
    /// when this many are paused, nothing new starts until one resumes or is cancelled, which
    /// bounds the caches slow readers can hold to this many.
    var maxPausedGenerations = 8
    /// Reply bytes queued for one connection before its generations pause and the daemon stops
    /// reading its requests (a slow reader); both resume when it drops below half of this.
    var maxPendingWriteBytes = 256 * 1024
    /// A client whose queued replies have not moved for this long has its generations cancelled
    /// (a chat turn is stored as cancelled), which frees their caches for other clients.
    var slowReaderTimeoutMilliseconds = 10_000
    /// A client whose queued replies have not moved for this long is disconnected: it holds
    /// nothing but its connection and buffers by then, and those are for clients that read.
    var writeStallTimeoutMilliseconds = 30_000
    /// SO_SNDBUF of each client socket (0 = the kernel's default, ~200 KB): the kernel-side part
    /// of what a slow reader can hold.
    var socketSendBufferBytes = 0
    /// On SIGTERM/SIGINT, how long in-flight work may finish before it is cancelled.
    var shutdownGraceMilliseconds = 2000
    /// Stored conversations of one uid (0 = unlimited): far more than a person browses, few
    /// enough that one uid cannot bloat the shared table and its index.
    var maxConversationsPerUID = 1000
    /// Message text plus KV snapshot bytes stored for one uid (0 = unlimited): 256 MiB holds
    /// ~250 MiB of text (a lifetime of chat) or the snapshots of 2–3 full 4,096-token SmolLM2
    /// contexts, and caps what one uid can put on a board's SD card. Snapshots beyond it are
    /// evicted or skipped; messages beyond it are refused.
    var maxStoredBytesPerUID = 256 << 20
    /// K/V bytes of recent prompts kept so a `generate` (or API chat) request that starts with a
    /// prompt seen before skips computing it (0 = off): 64 MiB holds ~2,900 positions of
    /// SmolLM2-135M (a few long system prompts). Shrinks first under `memoryBudget`.
    var promptCacheBytes = 64 << 20
    /// The part of `promptCacheBytes` one uid's entries may take, so one uid cannot push every
    /// other uid's prompts out. Entries are only ever reused for the uid that made them.
    var promptCacheBytesPerUID = 32 << 20
    /// Memory the daemon may use (0 = no budget): weights, KV caches at their reserved size,
    /// scratch, snapshots and the prompt cache are accounted, and a generation that would go
    /// beyond waits (`MemoryBudget`).
    var memoryBudgetBytes = 0
    /// HTTP: the request line and headers of one request (more: 431).
    var httpMaxHeaderBytes = 16 * 1024
    /// HTTP: header lines of one request (more: 431).
    var httpMaxHeaderCount = 100
    /// HTTP: one request body after chunked decoding (more: 413). As long as an NDJSON line.
    var httpMaxBodyBytes = 1 << 20
    /// HTTP: a request must arrive whole (headers and body) within this long of its first
    /// byte, or it is answered 408 and the connection closed: slow-loris clients cannot hold a
    /// connection by trickling headers.
    var httpReadTimeoutMilliseconds = 10_000
    /// HTTP: a keep-alive connection with no request for this long is closed (its slot under
    /// `maxClients` goes to someone who uses it).
    var httpIdleTimeoutMilliseconds = 60_000
}

/// A model to serve: `-m PATH` or `-m NAME=PATH` (config file: `model = …` or `model.NAME = PATH`).
struct ModelEntry: Equatable {
    var name: String
    var path: String

    /// "NAME=PATH", or "PATH" named after its file ("SmolLM2-135M-Instruct-Q4_1.gguf" serves as
    /// "SmolLM2-135M-Instruct-Q4_1").
    init(argument: String) {
        if let eq = argument.firstIndex(of: "="), !argument[..<eq].contains("/") {
            name = String(argument[..<eq])
            path = String(argument[argument.index(after: eq)...])
        } else {
            path = argument
            let file = argument.split(separator: "/").last.map(String.init) ?? argument
            name = file.hasSuffix(".gguf") ? String(file.dropLast(5)) : file
        }
    }
}

struct DaemonConfig {
    static let defaultSocketPath = "/run/slmd/slmd.sock"
    static let defaultDatabasePath = "/var/lib/slmd/conversations.db"
    /// Listen backlog of the socket slmd binds itself.
    static let listenBacklog: Int32 = 128
    /// The longest config file line, so a wrong file (a binary, a model) fails fast.
    static let maxConfigLineBytes = 4096

    // Defaults live here; names, bounds and help in `Setting.all`.
    /// The models to serve, the first the default for requests that name none.
    var models: [ModelEntry] = []
    /// How long a model stays mapped after its last request (a request's `keep_alive` overrides).
    var keepAlive = KeepAlive.milliseconds(5 * 60 * 1000)
    var socketPath = defaultSocketPath
    var databasePath = defaultDatabasePath
    var threads: Int?
    /// The `--cpus` list ("0-3,6"), expanded; nil = the big cores (`slm inspect --cpus`).
    var cpus: [Int]?
    var contextLength: Int?
    /// How every conversation's KV cache stores K and V.
    var cacheTypes = KVCacheTypes.f16
    var logLevel = LogLevel.info
    var limits = DaemonLimits()
    /// `HOST:PORT` for HTTP over TCP; nil = the Unix socket only.
    var listenAddress: String?
    /// A file holding the key TCP requests must send as `Authorization: Bearer KEY`.
    var apiKeyFile: String?
    /// The uid that owns conversations made over TCP (there is no peer uid to ask the kernel).
    var tcpOwnerUID = 65534
    /// The served model that embeds stored messages for semantic search: nil = the first encoder
    /// among the models, "none" = no semantic memory.
    var memoryModel: String?

    /// The usage text: one line per setting, from the table.
    static var usage: String {
        let rows =
            Setting.all.map { ($0.flags, $0.helpWithDefault) }
            + [
                (
                    "--config FILE",
                    "key = value settings, one per line, named as the options without the dashes "
                        + "(e.g. max-clients = 16); the command line overrides the file"
                )
            ]
        let width = rows.map(\.0.count).max()! + 2
        return
            (["usage: slmd -m FILE [options]", ""]
            + rows.map { flags, help in
                "  " + flags + String(repeating: " ", count: width - flags.count) + help
            }).joined(separator: "\n")
    }

    /// Settings from the command line, the config file it names applied first.
    static func parse(_ arguments: [String]) throws(DaemonError) -> DaemonConfig {
        var pairs: [(Setting, String)] = []
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
            let setting = Setting.all.first { "--" + $0.name == arg || $0.shortFlag == arg }
            guard setting != nil || arg == "--config" else { throw .usage("unknown option \(arg)") }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard i + 1 < arguments.count else { throw .usage("\(arg) needs a value") }
                i += 1
                value = arguments[i]
            }
            if let setting { pairs.append((setting, value)) } else { configFile = value }
            i += 1
        }
        var config = DaemonConfig()
        if let configFile {
            for (key, value) in try readConfigFile(configFile) {
                if key.hasPrefix("model.") {
                    try Setting.model.apply(String(key.dropFirst(6)) + "=" + value, to: &config, source: configFile)
                    continue
                }
                let name = key.replacingUnderscores()
                guard let setting = Setting.all.first(where: { $0.name == name }) else {
                    throw .config("\(configFile): unknown setting \"\(key)\"")
                }
                try setting.apply(value, to: &config, source: configFile)
            }
        }
        for (setting, value) in pairs { try setting.apply(value, to: &config, source: "command line") }
        guard !config.models.isEmpty else { throw .usage("no model: pass -m MODEL (or model = … in the config file)") }
        if let address = config.listenAddress {
            guard Listener.splitHostPort(address) != nil else { throw .config("listen: expected HOST:PORT, got \"\(address)\"") }
            if !Listener.isLoopback(address) && config.apiKeyFile == nil {
                throw .config(
                    "listen \(address) is reachable from other machines: give --api-key-file, whose key every request must then send")
            }
        }
        var names: Set<String> = []
        for model in config.models {
            guard !model.name.isEmpty, !model.path.isEmpty else {
                throw .config("a model needs a name and a path, got \"\(model.name)=\(model.path)\"")
            }
            guard names.insert(model.name).inserted else {
                throw .config("two models are named \"\(model.name)\"; name them with -m NAME=PATH")
            }
        }
        return config
    }

    /// The key of `apiKeyFile` (surrounding whitespace dropped); nil when there is none.
    func readAPIKey() throws(DaemonError) -> [UInt8]? {
        guard let path = apiKeyFile else { return nil }
        guard let f = fopen(path, "r") else { throw .config("cannot open the API key file \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        var bytes = [UInt8](repeating: 0, count: 4097)
        let count = fread(&bytes, 1, bytes.count, f)
        guard count < bytes.count else { throw .config("the API key file \(path) is longer than 4096 bytes") }
        let key = String(decoding: bytes[..<count], as: UTF8.self).trimmed()
        guard key.utf8.count >= 16 else { throw .config("the API key in \(path) is shorter than 16 characters") }
        return Array(key.utf8)
    }

    /// The limits a client may want to know, as `info` reports them.
    var limitsInfo: [(String, Int)] {
        Setting.all.compactMap { setting in
            guard let name = setting.infoName else { return nil }
            switch setting.kind {
            case .integer(let field, _), .size(let field, _): return (name, self[keyPath: field])
            default: return nil
            }
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
            guard line.hasSuffix("\n") || feof(f) != 0 else {
                throw .config("\(path):\(lineNumber): line longer than \(maxConfigLineBytes) bytes")
            }
            let text = line.trimmed()
            if text.isEmpty || text.hasPrefix("#") { continue }
            guard let eq = text.firstIndex(of: "=") else { throw .config("\(path):\(lineNumber): expected key = value") }
            pairs.append((String(text[..<eq]).trimmed(), String(text[text.index(after: eq)...]).trimmed()))
        }
        return pairs
    }
}

/// One setting of slmd, declared once: it is the command-line option `--name` (and `shortFlag`),
/// the config-file key `name`, a line of the usage text and, with `infoName`, a field of
/// `info.limits`. Its default is the initial value of the `DaemonConfig` field it writes.
struct Setting {
    enum Kind {
        case text(WritableKeyPath<DaemonConfig, String>)
        case optionalText(WritableKeyPath<DaemonConfig, String?>)
        case integer(WritableKeyPath<DaemonConfig, Int>, ClosedRange<Int>)
        case optionalInteger(WritableKeyPath<DaemonConfig, Int?>, ClosedRange<Int>)
        case cpuList(WritableKeyPath<DaemonConfig, [Int]?>)
        /// A worker thread count, checked where every front end checks it (`WorkerPlacement`).
        case threadCount(WritableKeyPath<DaemonConfig, Int?>)
        case logLevel(WritableKeyPath<DaemonConfig, LogLevel>)
        /// Repeatable: each use adds a model.
        case models(WritableKeyPath<DaemonConfig, [ModelEntry]>)
        case keepAlive(WritableKeyPath<DaemonConfig, KeepAlive>)
        /// Bytes, written as 1048576, 512K, 64M, 1.5G or 2GiB (binary units).
        case size(WritableKeyPath<DaemonConfig, Int>, ClosedRange<Int>)
        case cacheType(WritableKeyPath<DaemonConfig, KVCacheType>)
    }

    let name: String
    var shortFlag: String? = nil
    let valueName: String
    let kind: Kind
    let help: String
    var infoName: String? = nil

    static let model = Setting(
        name: "model", shortFlag: "-m", valueName: "[NAME=]FILE", kind: .models(\.models),
        help:
            "GGUF model to serve, named NAME (default: the file name without .gguf); repeat for several, the first is the default (config file: model = FILE or model.NAME = FILE)"
    )

    static let all: [Setting] = [
        model,
        Setting(
            name: "keep-alive", valueName: "DURATION", kind: .keepAlive(\.keepAlive),
            help: "how long a model stays mapped after its last request: seconds or 5m, 1h; 0 = unmap at once, -1 = never"),
        Setting(
            name: "socket", valueName: "PATH", kind: .text(\.socketPath),
            help: "Unix socket to listen on (mode 0660); ignored under systemd socket activation (LISTEN_FDS)"),
        Setting(name: "db", valueName: "PATH", kind: .text(\.databasePath), help: "conversation database"),
        Setting(
            name: "memory-model", valueName: "NAME", kind: .optionalText(\.memoryModel),
            help:
                "served model that embeds the stored messages for semantic search (conversations.search with semantic); none = off (default: the first encoder model served, e.g. all-MiniLM)"
        ),
        Setting(
            name: "threads", shortFlag: "-t", valueName: "N", kind: .threadCount(\.threads),
            help: "engine worker threads (default: one per CPU of --cpus, else one per big core)"),
        Setting(
            name: "cpus", valueName: "LIST", kind: .cpuList(\.cpus),
            help: "CPUs to pin the worker threads to, e.g. 0-3 or 4,5,6,7 (default: the big cores)"),
        Setting(
            name: "ctx-size", shortFlag: "-c", valueName: "N", kind: .optionalInteger(\.contextLength, 8...1 << 20),
            help: "context length per conversation (default: min(model's, 4096))"),
        Setting(
            name: "cache-type-k", shortFlag: "-ctk", valueName: "TYPE", kind: .cacheType(\.cacheTypes.key),
            help: "KV cache type for K: f16, q8_0 (half the memory) or q4_0"),
        Setting(
            name: "cache-type-v", shortFlag: "-ctv", valueName: "TYPE", kind: .cacheType(\.cacheTypes.value),
            help: "KV cache type for V: f16, q8_0 or q4_0"),
        Setting(
            name: "max-clients", valueName: "N", kind: .integer(\.limits.maxClients, 1...65536),
            help: "connected clients; one more gets busy and is closed", infoName: "max_clients"),
        Setting(
            name: "max-queue", valueName: "N", kind: .integer(\.limits.maxQueuedRequests, 0...65536),
            help: "generations waiting for a slot; one more gets busy", infoName: "max_queued_requests"),
        Setting(
            name: "max-active", valueName: "N", kind: .integer(\.limits.maxActiveGenerations, 1...256),
            help: "generations that progress together, each with its own KV cache",
            infoName: "max_active_generations"),
        Setting(
            name: "max-queue-per-uid", valueName: "N", kind: .integer(\.limits.maxQueuedPerUID, 0...65536),
            help: "generations of one uid waiting for a slot, over all its connections; one more gets busy",
            infoName: "max_queued_per_uid"),
        Setting(
            name: "max-requests-per-connection", valueName: "N", kind: .integer(\.limits.maxRequestsPerConnection, 1...4096),
            help: "requests in flight on one connection; at the cap the daemon reads no more from it until one finishes",
            infoName: "max_requests_per_connection"),
        Setting(
            name: "max-paused", valueName: "N", kind: .integer(\.limits.maxPausedGenerations, 0...256),
            help: "generations paused for a slow reader, keeping their cache without a slot; at the cap nothing new starts",
            infoName: "max_paused_generations"),
        Setting(
            name: "max-pending-write-bytes", valueName: "N", kind: .integer(\.limits.maxPendingWriteBytes, 1024...1 << 30),
            help: "reply bytes queued for one connection before its generations pause and its requests are no longer read",
            infoName: "max_pending_write_bytes"),
        Setting(
            name: "slow-reader-timeout-ms", valueName: "N", kind: .integer(\.limits.slowReaderTimeoutMilliseconds, 100...3_600_000),
            help: "a client whose replies have not moved for this long has its generations cancelled",
            infoName: "slow_reader_timeout_ms"),
        Setting(
            name: "write-stall-timeout-ms", valueName: "N", kind: .integer(\.limits.writeStallTimeoutMilliseconds, 100...3_600_000),
            help: "a client whose replies have not moved for this long is disconnected",
            infoName: "write_stall_timeout_ms"),
        Setting(
            name: "socket-send-buffer-bytes", valueName: "N", kind: .integer(\.limits.socketSendBufferBytes, 0...64 << 20),
            help: "SO_SNDBUF of each client socket; 0 = the kernel's default"),
        Setting(
            name: "shutdown-grace-ms", valueName: "N", kind: .integer(\.limits.shutdownGraceMilliseconds, 0...600_000),
            help: "on SIGTERM/SIGINT, how long in-flight work may finish before it is cancelled"),
        Setting(
            name: "max-conversations-per-uid", valueName: "N", kind: .integer(\.limits.maxConversationsPerUID, 0...1 << 30),
            help: "stored conversations of one uid; one more is refused with quota_exceeded (0 = unlimited)",
            infoName: "max_conversations_per_uid"),
        Setting(
            name: "max-stored-bytes-per-uid", valueName: "N", kind: .integer(\.limits.maxStoredBytesPerUID, 0...1 << 50),
            help:
                "message text plus KV snapshot bytes stored for one uid, so one uid cannot fill the disk: a turn beyond it is refused with quota_exceeded, the uid's snapshots (a cache) are evicted or skipped instead (0 = unlimited)",
            infoName: "max_stored_bytes_per_uid"),
        Setting(
            name: "prompt-cache-bytes", valueName: "SIZE", kind: .size(\.limits.promptCacheBytes, 0...1 << 40),
            help:
                "K/V of recent prompts kept per uid, so a generate request starting with a prompt seen before skips it; results stay bit for bit those of an empty cache (0 = off)",
            infoName: "prompt_cache_bytes"),
        Setting(
            name: "prompt-cache-bytes-per-uid", valueName: "SIZE", kind: .size(\.limits.promptCacheBytesPerUID, 0...1 << 40),
            help: "the part of the prompt cache one uid's entries may take (entries are reused only for the uid that made them)",
            infoName: "prompt_cache_bytes_per_uid"),
        Setting(
            name: "memory-budget", valueName: "SIZE", kind: .size(\.limits.memoryBudgetBytes, 0...1 << 50),
            help:
                "memory the daemon may use, e.g. 512M or 1.5G: weights, KV caches at their full context, scratch and the prompt cache are accounted; a generation that would exceed it waits, the prompt cache shrinks first (0 = no budget)",
            infoName: "memory_budget_bytes"),
        Setting(
            name: "http-max-header-bytes", valueName: "N", kind: .integer(\.limits.httpMaxHeaderBytes, 1024...1 << 20),
            help: "HTTP: request line and headers of one request; more is answered 431", infoName: "http_max_header_bytes"),
        Setting(
            name: "http-max-headers", valueName: "N", kind: .integer(\.limits.httpMaxHeaderCount, 8...10_000),
            help: "HTTP: header lines of one request; more is answered 431", infoName: "http_max_headers"),
        Setting(
            name: "http-max-body-bytes", valueName: "N", kind: .integer(\.limits.httpMaxBodyBytes, 1024...64 << 20),
            help: "HTTP: one request body; more is answered 413", infoName: "http_max_body_bytes"),
        Setting(
            name: "http-read-timeout-ms", valueName: "N", kind: .integer(\.limits.httpReadTimeoutMilliseconds, 100...600_000),
            help: "HTTP: a request (headers and body) must arrive within this long of its first byte, else 408 and close",
            infoName: "http_read_timeout_ms"),
        Setting(
            name: "http-idle-timeout-ms", valueName: "N", kind: .integer(\.limits.httpIdleTimeoutMilliseconds, 100...86_400_000),
            help: "HTTP: a keep-alive connection with no request for this long is closed", infoName: "http_idle_timeout_ms"),
        Setting(
            name: "listen", valueName: "HOST:PORT", kind: .optionalText(\.listenAddress),
            help:
                "also serve HTTP over TCP (off by default); an address other than loopback needs --api-key-file"),
        Setting(
            name: "api-key-file", valueName: "FILE", kind: .optionalText(\.apiKeyFile),
            help: "a file holding the key every TCP request must send as Authorization: Bearer KEY"),
        Setting(
            name: "tcp-owner-uid", valueName: "UID", kind: .integer(\.tcpOwnerUID, 0...Int(UInt32.max - 1)),
            help: "the uid that owns conversations made over TCP"),
        Setting(
            name: "log-level", valueName: "LEVEL", kind: .logLevel(\.logLevel),
            help: "error, warning, notice, info or debug"),
    ]

    /// `-m, --model FILE` as the usage text lists it.
    var flags: String { (shortFlag.map { $0 + ", " } ?? "") + "--\(name) \(valueName)" }

    /// The help line with the default value read from a fresh `DaemonConfig`.
    var helpWithDefault: String {
        let defaults = DaemonConfig()
        switch kind {
        case .text(let field): return help + " (default \(defaults[keyPath: field]))"
        case .integer(let field, _): return help + " (default \(defaults[keyPath: field]))"
        case .size(let field, _): return help + " (default \(ByteSize.format(defaults[keyPath: field])))"
        case .logLevel(let field): return help + " (default \(defaults[keyPath: field].name))"
        case .cacheType(let field): return help + " (default \(defaults[keyPath: field].rawValue))"
        case .keepAlive(let field):
            if case .milliseconds(let ms) = defaults[keyPath: field] { return help + " (default \(ms / 1000) s)" }
            return help + " (default never)"
        case .optionalText, .optionalInteger, .cpuList, .threadCount, .models: return help
        }
    }

    func apply(_ value: String, to config: inout DaemonConfig, source: String) throws(DaemonError) {
        func integer(_ range: ClosedRange<Int>) throws(DaemonError) -> Int {
            guard let n = Int(value), range.contains(n) else {
                throw .config("\(source): \(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(value)\"")
            }
            return n
        }
        switch kind {
        case .text(let field): config[keyPath: field] = value
        case .optionalText(let field): config[keyPath: field] = value
        case .integer(let field, let range): config[keyPath: field] = try integer(range)
        case .optionalInteger(let field, let range): config[keyPath: field] = try integer(range)
        case .size(let field, let range):
            guard let n = ByteSize.parse(value), range.contains(n) else {
                throw .config(
                    "\(source): \(name) must be a size in \(ByteSize.format(range.lowerBound))...\(ByteSize.format(range.upperBound)) such as 512M or 1.5G, got \"\(value)\""
                )
            }
            config[keyPath: field] = n
        case .threadCount(let field):
            guard let n = Int(value) else { throw .config("\(source): \(name) must be an integer, got \"\(value)\"") }
            do {
                try WorkerPlacement.checkThreadCount(n)
            } catch {
                throw .config("\(source): \(name): \(error)")
            }
            config[keyPath: field] = n
        case .cpuList(let field):
            do {
                config[keyPath: field] = try CPUTopology.parseList(value)
            } catch {
                throw .config("\(source): \(name): \(error)")
            }
        case .models(let field): config[keyPath: field].append(ModelEntry(argument: value))
        case .keepAlive(let field):
            do {
                config[keyPath: field] = try KeepAlive(json: .string(value), field: name)
            } catch {
                throw .config("\(source): \(error.message)")
            }
        case .logLevel(let field):
            guard let level = LogLevel(name: value) else { throw .config("\(source): unknown log level \"\(value)\"") }
            config[keyPath: field] = level
        case .cacheType(let field):
            guard let type = KVCacheType(rawValue: value.lowercased()) else {
                throw .config("\(source): \(name) \"\(value)\" is not a KV cache type; use one of \(KVCacheType.names)")
            }
            config[keyPath: field] = type
        }
    }
}

/// Sizes as people write them: a number of bytes with an optional binary unit (K, M, G, T, with
/// or without "iB" or "B"); "1.5G" is 1.5 × 2^30 rounded down.
enum ByteSize {
    static let units: [(String, Int)] = [("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)]

    static func parse(_ text: String) -> Int? {
        var s = Substring(text.trimmed())
        for suffix in ["iB", "B"] where s.hasSuffix(suffix) && s.count > suffix.count {
            s = s.dropLast(suffix.count)
            break
        }
        var multiplier = 1
        if let last = s.last, let unit = units.first(where: { $0.0 == last.uppercased() }) {
            multiplier = unit.1
            s = s.dropLast()
        }
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), s.filter({ $0 == "." }).count <= 1,
            s.first != ".", s.last != "."
        else { return nil }
        if let whole = Int(s) {
            let (product, overflow) = whole.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        guard multiplier > 1, let value = Double(s), value * Double(multiplier) < 9e18 else { return nil }
        return Int(value * Double(multiplier))
    }

    /// 67108864 as "64M", 1610612736 as "1.5G"; bytes when no unit divides them evenly enough.
    static func format(_ bytes: Int) -> String {
        for (name, size) in units.reversed() where bytes >= size {
            let tenths = bytes * 10 / size
            if tenths * size == bytes * 10 { return tenths % 10 == 0 ? "\(tenths / 10)\(name)" : "\(tenths / 10).\(tenths % 10)\(name)" }
        }
        return "\(bytes)"
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
