import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// Runs every `console` example of docs/protocol.md verbatim with socat (only the socket path is
/// replaced) and compares what the daemon answers with what the document shows, except values
/// that change from run to run (timings, memory, dates).
final class ProtocolDocExamplesTests: XCTestCase {
    static let documentedSocket = "/run/slmd/slmd.sock"
    static let interactivePrompt = "$ socat - UNIX-CONNECT:/run/slmd/slmd.sock"
    static let volatileKeys: Set<String> = [
        "ttft_ms", "tokens_per_second", "rss_bytes", "rss_anon_bytes", "tokens_served",
        "clients", "context_length", "created_at", "updated_at", "version",
        // Counters of what ran before, and the memory accounting (which depends on -c).
        "prompt_cache", "memory",
    ]

    static var documentPath: String {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/protocol.md").path
    }

    static func consoleBlocks() throws -> [[String]] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        var blocks: [[String]] = []
        var current: [String]? = nil
        for line in text.components(separatedBy: "\n") {
            if current == nil, line == "```console" {
                current = []
                continue
            }
            if current != nil, line == "```" {
                blocks.append(current!)
                current = nil
                continue
            }
            current?.append(line)
        }
        return blocks
    }

    func testEveryExampleRunsVerbatim() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") else {
            throw XCTSkip("socat is not installed (scripts/setup.sh --for-tests installs it)")
        }
        let blocks = try Self.consoleBlocks()
        XCTAssertGreaterThanOrEqual(blocks.count, 8)
        let d = try DaemonHarness()
        defer {
            d.stop()
            d.removeFiles()
        }
        for block in blocks {
            guard let command = block.first, command.hasPrefix("$ ") else {
                XCTFail("example without a command: \(block)")
                continue
            }
            if command == Self.interactivePrompt {
                try runInteractive(Array(block.dropFirst()), socket: d.socketPath)
            } else {
                try runOneShot(command, expected: Array(block.dropFirst()), socket: d.socketPath)
            }
        }
    }

    func shell(_ command: String, socket: String) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", String(command.dropFirst(2)).replacingOccurrences(of: Self.documentedSocket, with: socket)]
        return p
    }

    func runOneShot(_ command: String, expected: [String], socket: String) throws {
        let p = shell(command, socket: socket)
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, command)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, expected.count, command)
        for (got, want) in zip(lines, expected) {
            XCTAssertEqual(try normalized(got), try normalized(want), command)
        }
    }

    func runInteractive(_ lines: [String], socket: String) throws {
        let p = shell(Self.interactivePrompt, socket: socket)
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        let reader = LineCollector(output.fileHandleForReading)
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        for line in lines {
            if let documented = try? Event(line: line) {
                let actual = try XCTUnwrap(
                    reader.next(id: documented.id, token: documented.name == "token"),
                    "no reply for \(line)")
                XCTAssertEqual(try normalized(actual), try normalized(line), "documented: \(line)")
            } else {
                input.fileHandleForWriting.write(Data((line + "\n").utf8))
            }
        }
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    /// The line as JSON with run-dependent values blanked.
    func normalized(_ line: String) throws -> String {
        var value = try JSONParser.parse(line)
        let cancelled = value["stop_reason"] == .string("cancelled")
        func blank(_ v: JSONValue) -> JSONValue {
            switch v {
            case .object(let fields):
                return .object(
                    fields.map { key, value in
                        if Self.volatileKeys.contains(key) || (cancelled && key == "generated_tokens") { return (key, .null) }
                        return (key, blank(value))
                    })
            case .array(let items): return .array(items.map(blank))
            default: return v
            }
        }
        value = blank(value)
        return value.serialized
    }
}

/// Lines from a pipe, handed out per request id: the next `token` of an id, or its next other
/// event (tokens before it skipped: after a cancel, how many arrive varies).
final class LineCollector: @unchecked Sendable {
    private let condition = NSCondition()
    private var lines: [String] = []
    private var partial = Data()

    init(_ handle: FileHandle) {
        handle.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard let self else { return }
            self.condition.lock()
            if data.isEmpty { h.readabilityHandler = nil }
            self.partial.append(data)
            while let newline = self.partial.firstIndex(of: 0x0A) {
                self.lines.append(String(decoding: self.partial[self.partial.startIndex..<newline], as: UTF8.self))
                self.partial = Data(self.partial[(newline + 1)...])
            }
            self.condition.broadcast()
            self.condition.unlock()
        }
    }

    func next(id: JSONValue, token: Bool, timeout: TimeInterval = 120) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            var index = 0
            while index < lines.count {
                guard let event = try? Event(line: lines[index]), event.id == id else {
                    index += 1
                    continue
                }
                if token {
                    if event.name == "token" { return lines.remove(at: index) }
                    return nil  // the stream ended before the documented token
                }
                if event.name == "token" {
                    lines.remove(at: index)
                    continue
                }
                return lines.remove(at: index)
            }
            if !condition.wait(until: deadline) { return nil }
        }
    }
}
