import Foundation
import SLMProtocol
import XCTest

/// SIGTERM while generating: a clean exit in time, an intact database, acknowledged turns kept.
final class DaemonShutdownTests: XCTestCase {
    func testSigtermDuringGenerationExitsCleanlyAndKeepsAcknowledgedTurns() throws {
        let d = try DaemonHarness()
        defer { d.removeFiles() }
        let client = try d.connect()
        try client.send(#"{"id":1,"op":"chat","message":"What is the capital of France?","max_tokens":8,"temperature":0}"#)
        let acknowledged = try DaemonHarness.collectUntilDone(client, id: .number(1))
        let conversation = try XCTUnwrap(acknowledged.last?["conversation"]?.integerValue)
        let reply = acknowledged.filter { $0.name == "token" }.map { $0["text"]?.stringValue ?? "" }.joined()

        // Two generations in flight when the signal comes: a chat turn and a long generate.
        try client.send(
            #"{"id":2,"op":"chat","conversation":\#(conversation),"message":"Tell me a very long story.","max_tokens":800,"temperature":0}"#
        )
        let other = try d.connect()
        try other.send(#"{"id":3,"op":"generate","prompt":"Once upon a time","max_tokens":800,"temperature":0}"#)
        _ = try other.readEvent()
        _ = try client.readEvent()

        let (status, seconds) = d.terminate()
        print("daemon shutdown: SIGTERM during 2 generations -> exit \(status) in \(String(format: "%.2f", seconds)) s")
        XCTAssertEqual(status, 0, d.log)
        XCTAssertLessThan(seconds, 5 * TestSanitizer.timeScale)
        // Both streams ended with `done` before the connection closed.
        XCTAssertEqual(try DaemonHarness.collectUntilDone(other, id: .number(3)).last?.name, "done")
        XCTAssertEqual(try DaemonHarness.collectUntilDone(client, id: .number(2)).last?.name, "done")
        d.stop()

        XCTAssertEqual(try integrityCheck(d.databasePath), "ok")

        let again = try DaemonHarness(directory: d.directory)
        defer { again.stop() }
        let got = try again.request(#"{"id":1,"op":"conversations.get","conversation":\#(conversation)}"#)[0]
        let messages = try XCTUnwrap(got["messages"]?.arrayValue, got.body.serialized)
        XCTAssertGreaterThanOrEqual(messages.count, 2)
        XCTAssertEqual(messages[0]["content"], .string("What is the capital of France?"))
        XCTAssertEqual(messages[1]["content"], .string(reply))
        XCTAssertEqual(messages[1]["cancelled"], .bool(false))
    }

    /// PRAGMA integrity_check through Python's sqlite3 (python3 is a setup requirement).
    func integrityCheck(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0])",
            path,
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
