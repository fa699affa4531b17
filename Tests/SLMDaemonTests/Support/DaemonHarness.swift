import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// Runs the built `slmd` on a temporary socket and database with the test model (SmolLM2 from
/// $SLM_TEST_MODEL), and talks to it.
final class DaemonHarness {
    let directory: String
    let socketPath: String
    let databasePath: String
    let process = Process()
    private let stderrPipe = Pipe()
    private var stderrText = ""
    private let stderrLock = NSLock()

    static func modelPath() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["SLM_TEST_MODEL"], !path.isEmpty else {
            throw XCTSkip("SLM_TEST_MODEL is not set (scripts/test.sh sets it)")
        }
        return path
    }

    /// The directory of the test binary, where SwiftPM also puts `slmd` and `slm`.
    static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    static var slmdPath: String { productsDirectory + "/slmd" }
    static var slmPath: String { productsDirectory + "/slm" }

    /// `wrapper`, when given, is a shell prefix (e.g. `ulimit -v …;`) run before exec'ing slmd.
    /// `launcher` runs slmd (e.g. systemd-socket-activate); `environment` is added to the daemon's.
    init(
        arguments: [String] = [], directory: String? = nil, wrapper: String? = nil, launcher: [String] = [],
        environment extra: [String: String] = [:]
    ) throws {
        let model = try Self.modelPath()
        self.directory =
            directory
            ?? {
                let d = NSTemporaryDirectory() + "slmd-test-" + UUID().uuidString.prefix(8)
                try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
                return d
            }()
        socketPath = self.directory + "/slmd.sock"
        databasePath = self.directory + "/conversations.db"
        let args =
            [
                "-m", model, "--socket", socketPath, "--db", databasePath, "-t", "2", "-c", "1024",
                "--log-level", "debug",
            ] + arguments
        if let wrapper {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", wrapper + " exec \"$0\" \"$@\"", Self.slmdPath] + args
        } else if let first = launcher.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(launcher.dropFirst()) + [Self.slmdPath] + args
        } else {
            process.executableURL = URL(fileURLWithPath: Self.slmdPath)
            process.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "LISTEN_FDS")
        env.removeValue(forKey: "JOURNAL_STREAM")
        env.merge(extra) { $1 }
        process.environment = env
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.stderrLock.lock()
            self.stderrText += String(decoding: data, as: UTF8.self)
            self.stderrLock.unlock()
        }
        try process.run()
        try waitUntilServing()
    }

    var pid: Int32 { process.processIdentifier }

    var log: String {
        stderrLock.lock()
        defer { stderrLock.unlock() }
        return stderrText
    }

    /// Whether slmd's log shows `text` within `seconds`: its stderr arrives through a pipe read on
    /// another thread, so a line written before a response may be read after it.
    func logShows(_ text: String, within seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !log.contains(text) {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
    }

    private func waitUntilServing() throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !process.isRunning { throw HarnessError.exited(process.terminationStatus, log) }
            if let socket = try? LineSocket(path: socketPath) {
                _ = socket
                return
            }
            usleep(20_000)
        }
        throw HarnessError.notServing(log)
    }

    func connect() throws -> LineSocket { try LineSocket(path: socketPath) }

    /// Sends one request line on a fresh connection and collects reply events until one is
    /// final (`done`, `error`, or any event for a control op).
    func request(_ line: String) throws -> [Event] {
        let socket = try connect()
        try socket.send(line)
        return try Self.collect(socket)
    }

    static func collect(_ socket: LineSocket) throws -> [Event] {
        var events: [Event] = []
        while true {
            let event = try socket.readEvent()
            events.append(event)
            if event.name != "token" { return events }
        }
    }

    /// Streams a generate and returns (text, done event).
    static func generate(_ socket: LineSocket, id: Int, prompt: String, extra: String = "") throws -> (String, Event) {
        try socket.send(#"{"id":\#(id),"op":"generate","prompt":\#(JSONValue.string(prompt).serialized)\#(extra)}"#)
        var text = ""
        while true {
            let event = try socket.readEvent()
            guard event.id == .integer(id) else { continue }
            switch event.name {
            case "token": text += event["text"]?.stringValue ?? ""
            case "done": return (text, event)
            default: throw HarnessError.unexpected(event.body.serialized)
            }
        }
    }

    /// Sends SIGTERM and waits for the exit; returns (status, seconds).
    func terminate(signal: Int32 = SIGTERM, timeout: Double = 10) -> (Int32, Double) {
        let start = Date()
        kill(pid, signal)
        while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(10_000) }
        let seconds = Date().timeIntervalSince(start)
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return (-1, seconds)
        }
        return (process.terminationStatus, seconds)
    }

    func stop() {
        if process.isRunning { _ = terminate() }
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    func removeFiles() { try? FileManager.default.removeItem(atPath: directory) }

    // MARK: /proc figures

    var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// (VmRSS, RssAnon) in kB.
    var memory: (rss: Int, anon: Int) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (-1, -1) }
        func field(_ name: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? -1
            }
            return -1
        }
        return (field("VmRSS"), field("RssAnon"))
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case exited(Int32, String)
    case notServing(String)
    case unexpected(String)

    var description: String {
        switch self {
        case .exited(let status, let log): return "slmd exited with \(status):\n\(log)"
        case .notServing(let log): return "slmd did not start serving:\n\(log)"
        case .unexpected(let line): return "unexpected reply \(line)"
        }
    }
}

extension Event {
    var code: String? { error?.code }
}

/// Percentile of sorted samples.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))
    return sorted[index]
}
