import Foundation
import XCTest

@testable import SLMStore

/// Crash safety: `slm store-crash-child` appends turns (each followed by a KV snapshot write) and
/// reports each committed turn on stdout; it is killed with SIGKILL at random moments, over and
/// over. After every kill the database must pass `PRAGMA integrity_check` and hold every turn
/// the child reported, each as a complete user + assistant pair.
final class StoreCrashTests: XCTestCase {
    static let kills = 120
    /// Kill moments are drawn from [0, this) after the child starts: its start-up, opening the
    /// store and the turn/snapshot loop are all hit.
    static let maxKillDelayMicroseconds: UInt32 = 150_000

    func slmBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SLM_BINARY"] { return path }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("slm").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("slm binary not found next to \(dir.path); build it with `swift build --build-tests`")
    }

    func testEveryReportedTurnSurvivesSIGKILLAndTheDatabaseStaysIntact() throws {
        let binary = try slmBinary()
        let directory = NSTemporaryDirectory() + "slm-crash-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/conversations.db"
        let owner = getuid()
        let conversation = try {
            let store = try ConversationStore(path: path)
            defer { store.close() }
            return try store.createConversation(owner: owner, title: "crash test", modelIdentity: "crashtest0000000").id
        }()

        var reported = Set<String>()
        var killsAfterACommit = 0
        let started = Date()
        for kill in 0..<Self.kills {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["store-crash-child", "--db", path, "--conversation", "\(conversation)", "--tag", "k\(kill)"]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 0..<Self.maxKillDelayMicroseconds))
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            // Only whole lines count: the child prints a turn after its commit returned.
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            if !lines.isEmpty { killsAfterACommit += 1 }
            reported.formUnion(lines)

            let store = try ConversationStore(path: path)
            defer { store.close() }
            let integrity = try store.withDatabase { db -> String in
                let row = try db.prepare("PRAGMA integrity_check")
                return try row.step() ? row.text(0) : "no result"
            }
            XCTAssertEqual(integrity, "ok", "after kill \(kill)")
            let messages = try store.messages(of: conversation, owner: owner)
            XCTAssertEqual(messages.map(\.sequence), Array(0..<messages.count), "after kill \(kill)")
            XCTAssertEqual(messages.count % 2, 0, "a turn is stored whole or not at all (kill \(kill))")
            for (i, m) in messages.enumerated() { XCTAssertEqual(m.role, i % 2 == 0 ? "user" : "assistant") }
            XCTAssertEqual(try store.conversation(conversation, owner: owner).messageCount, messages.count)
            let stored = Set(messages.filter { $0.role == "user" }.map(\.content))
            let missing = reported.subtracting(stored)
            XCTAssertTrue(missing.isEmpty, "after kill \(kill), reported but missing: \(missing.sorted().prefix(5))")
            if !missing.isEmpty || integrity != "ok" { break }
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            "crash test: \(Self.kills) SIGKILLs (\(killsAfterACommit) after at least one reported commit), \(reported.count) reported turns all present, integrity ok every time, \(String(format: "%.1f", seconds)) s"
        )
        XCTAssertGreaterThan(killsAfterACommit, Self.kills / 4, "most kills should land while turns are being written")
    }

    /// Two processes appending to the same conversation at once (as `slm chat` and the daemon
    /// may): WAL and the busy timeout serialise them; every turn is stored whole, in one order.
    func testTwoProcessesAppendingAtOnceLoseNothing() throws {
        let binary = try slmBinary()
        let directory = NSTemporaryDirectory() + "slm-two-writers-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/conversations.db"
        let owner = getuid()
        let conversation = try {
            let store = try ConversationStore(path: path)
            defer { store.close() }
            return try store.createConversation(owner: owner, modelIdentity: "crashtest0000000").id
        }()
        let turns = 40
        let writers = try ["a", "b"].map { tag -> (Process, Pipe) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "store-crash-child", "--db", path, "--conversation", "\(conversation)", "--tag", tag, "--turns", "\(turns)",
            ]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            return (process, out)
        }
        var reported = Set<String>()
        for (process, out) in writers {
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
            reported.formUnion(output.split(separator: "\n").map(String.init))
        }
        XCTAssertEqual(reported.count, 2 * turns)
        let store = try ConversationStore(path: path)
        let messages = try store.messages(of: conversation, owner: owner)
        XCTAssertEqual(messages.count, 4 * turns)
        XCTAssertEqual(messages.map(\.sequence), Array(0..<(4 * turns)))
        for (i, m) in messages.enumerated() { XCTAssertEqual(m.role, i % 2 == 0 ? "user" : "assistant") }
        for pair in stride(from: 0, to: messages.count, by: 2) {
            XCTAssertTrue(messages[pair + 1].content.hasPrefix("reply to \(messages[pair].content):"), "a turn's halves stay together")
        }
        XCTAssertEqual(Set(messages.filter { $0.role == "user" }.map(\.content)), reported)
    }
}
