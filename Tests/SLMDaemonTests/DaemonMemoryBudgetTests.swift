import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// `--memory-budget`: generations that would not fit wait in the queue and all complete; a
/// budget below one generation is refused with a clear `busy`; `stats` shows the accounting.
final class DaemonMemoryBudgetTests: DaemonTestCase {
    /// `slm inspect --memory`'s total for the harness's setting (-c 1024, -t 2) and `parallel` contexts.
    func predictedBytes(parallel: Int) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonHarness.slmPath)
        process.arguments = ["inspect", try DaemonHarness.modelPath(), "--memory", "-c", "1024", "-t", "2", "--parallel", "\(parallel)"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        guard let line = text.split(separator: "\n").first(where: { $0.contains("total") }),
            let open = line.lastIndex(of: "("), let n = Int(line[line.index(after: open)...].prefix { $0.isNumber })
        else { throw XCTSkip("no total in: \(text)") }
        return n
    }

    func testABudgetBelowOneGenerationIsRefusedAsBusy() throws {
        let d = try daemon(["--memory-budget", "8M"])
        let events = try d.request(#"{"id":1,"op":"generate","prompt":"Hello","max_tokens":2}"#)
        XCTAssertEqual(events.last?.code, "busy")
        let message = events.last?["error"]?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("memory budget"), message)
        // The daemon itself is fine.
        XCTAssertEqual(try d.request(#"{"id":2,"op":"info"}"#).last?.name, "info")
    }

    func testConcurrentRequestsQueueWithinTheBudgetAndAllComplete() throws {
        let two = try predictedBytes(parallel: 2)
        let three = try predictedBytes(parallel: 3)
        // Room for two contexts and a half: the third and fourth request wait.
        let budget = two + (three - two) / 2
        let d = try daemon(["--memory-budget", "\(budget)", "--max-active", "4"])
        let stats = try XCTUnwrap(d.request(#"{"id":"s","op":"stats"}"#).last)
        XCTAssertEqual(stats["memory"]?["budget_bytes"]?.integerValue, Int64(budget))

        let clients = try (0..<4).map { _ in try d.connect() }
        for (i, c) in clients.enumerated() {
            try c.send(#"{"id":\#(i),"op":"generate","prompt":"Count from one to fifty in words:","max_tokens":48,"temperature":0}"#)
        }
        // While they run: never more than two sessions, and something waits.
        var sawQueued = false
        var maxSessions = 0
        let monitor = try d.connect()
        for probe in 0..<40 {
            try monitor.send(#"{"id":"p\#(probe)","op":"stats"}"#)
            let s = try monitor.readEvent()
            let memory = try XCTUnwrap(s["memory"])
            maxSessions = max(maxSessions, Int(memory["sessions"]?.integerValue ?? 0))
            XCTAssertLessThanOrEqual(s["active_requests"]?.integerValue ?? 0, 2)
            XCTAssertLessThanOrEqual(memory["accounted_bytes"]?.integerValue ?? 0, Int64(budget))
            if (s["queue_depth"]?.integerValue ?? 0) > 0 { sawQueued = true }
            if sawQueued && probe > 10 { break }
            usleep(50_000)
        }
        for (i, c) in clients.enumerated() {
            let events = try DaemonHarness.collect(c)
            XCTAssertEqual(events.last?.name, "done", "request \(i): \(events.last?.body.serialized ?? "")")
            XCTAssertGreaterThan(events.filter { $0.name == "token" }.count, 0)
        }
        XCTAssertTrue(sawQueued, "two of four requests should have waited for memory")
        XCTAssertLessThanOrEqual(maxSessions, 2)
        let after = try XCTUnwrap(d.request(#"{"id":"a","op":"stats"}"#).last?["memory"])
        for key in ["weights_bytes", "kv_reserved_bytes", "scratch_bytes", "runtime_bytes", "accounted_bytes"] {
            XCTAssertGreaterThan(after[key]?.integerValue ?? 0, 0, key)
        }
    }
}
