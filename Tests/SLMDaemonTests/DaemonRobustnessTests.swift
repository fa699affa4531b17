import Foundation
import SLMProtocol
import XCTest

/// Clients that come and go: the daemon keeps serving, and its open descriptors and memory
/// come back to where they were.
final class DaemonRobustnessTests: XCTestCase {
    static let cycles = 1000
    /// RSS may move a little (allocator caches, a second KV session's pages); more is a leak.
    static let rssToleranceKB = 8 * 1024

    func testThousandConnectDisconnectCyclesWithAndWithoutARequestInFlight() throws {
        let d = try DaemonHarness()
        defer {
            d.stop()
            d.removeFiles()
        }
        // Warm up: sessions allocated and touched, so the baseline is the daemon at work.
        do {
            let warm = try d.connect()
            for k in 0..<3 {
                _ = try DaemonHarness.generate(warm, id: k, prompt: "Hello there", extra: #","max_tokens":20,"temperature":0"#)
            }
        }
        try waitIdle(d)
        let baseFDs = d.openDescriptors
        let baseMemory = d.memory

        for _ in 0..<Self.cycles {
            let socket = try d.connect()
            _ = socket
        }
        try waitIdle(d)
        let afterPlainFDs = d.openDescriptors
        let afterPlain = d.memory

        // Clients close faster than the daemon reaps them: past --max-clients a connection is
        // refused with `busy` and closed, and the send may then fail; that is the limit working.
        var sent = 0
        for i in 0..<Self.cycles {
            let socket = try d.connect()
            if (try? socket.send(#"{"id":\#(i),"op":"generate","prompt":"Tell me about the sea","max_tokens":50}"#)) != nil { sent += 1 }
            // Every 100th client leaves in the middle of its generation, after its first token.
            if i % 100 == 0 { _ = try? socket.readEvent() }
        }
        try waitIdle(d)
        let afterInFlightFDs = d.openDescriptors
        let afterInFlight = d.memory

        // Still serving.
        let (text, done) = try DaemonHarness.generate(
            try d.connect(), id: 1, prompt: "Hello there",
            extra: #","max_tokens":20,"temperature":0"#)
        XCTAssertEqual(done["stop_reason"], .string("length"))
        XCTAssertFalse(text.isEmpty)

        print(
            "daemon cycles: fds baseline \(baseFDs), after \(Self.cycles) plain \(afterPlainFDs), after \(Self.cycles) with a request in flight (\(sent) sent) \(afterInFlightFDs); RSS kB baseline \(baseMemory.rss) (anon \(baseMemory.anon)), after plain \(afterPlain.rss) (anon \(afterPlain.anon)), after in-flight \(afterInFlight.rss) (anon \(afterInFlight.anon))"
        )
        XCTAssertGreaterThan(sent, Self.cycles / 2)
        XCTAssertEqual(afterPlainFDs, baseFDs)
        XCTAssertEqual(afterInFlightFDs, baseFDs)
        if !TestSanitizer.active {
            XCTAssertLessThan(afterPlain.rss, baseMemory.rss + Self.rssToleranceKB)
            XCTAssertLessThan(afterInFlight.rss, baseMemory.rss + Self.rssToleranceKB)
        }
        let stats = try d.request(#"{"id":"s","op":"stats"}"#)[0]
        XCTAssertEqual(stats["clients"], .number(1))
    }

    /// Until no request is queued or running and only the asking client is connected.
    func waitIdle(_ d: DaemonHarness) throws {
        for _ in 0..<1500 {
            let stats = try d.request(#"{"id":"s","op":"stats"}"#)[0]
            if stats["active_requests"] == .number(0) && stats["queue_depth"] == .number(0) && stats["clients"] == .number(1) {
                usleep(50_000)  // the probe's own connection closing
                return
            }
            usleep(20_000)
        }
        XCTFail("the daemon did not become idle")
    }
}
