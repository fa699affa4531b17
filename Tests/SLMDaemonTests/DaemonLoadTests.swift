import Foundation
import SLMProtocol
import XCTest

/// Many clients at once: every seeded generation gives exactly what it gives alone, several
/// progress together, and control ops keep being answered (latency printed, not asserted).
final class DaemonLoadTests: XCTestCase {
    static let clients = 16
    static let requestsPerClient = 5
    static let prompts = [
        "The capital of France is", "Once upon a time", "The best way to learn is",
        "Water boils at", "My favourite food is",
    ]

    func extra(_ k: Int) -> String { #","max_tokens":6,"temperature":0.8,"seed":\#(1000 + k)"# }

    func testSixteenClientsFiveSeededRequestsEachMatchTheRequestAlone() throws {
        let d = try DaemonHarness()
        defer {
            d.stop()
            d.removeFiles()
        }

        let solo = try d.connect()
        var alone: [String] = []
        for k in 0..<Self.requestsPerClient {
            alone.append(try DaemonHarness.generate(solo, id: k, prompt: Self.prompts[k], extra: extra(k)).0)
        }

        let results = Results(count: Self.clients * Self.requestsPerClient)
        let running = Flag()
        let probe = Thread {
            guard let socket = try? d.connect() else { return }
            var n = 0
            while running.value {
                let start = Date()
                guard (try? socket.send(#"{"id":\#(n),"op":"info"}"#)) != nil, let e = try? socket.readEvent(), e.name == "info" else {
                    break
                }
                running.latencies.append(Date().timeIntervalSince(start) * 1000)
                if n % 5 == 0, (try? socket.send(#"{"id":"s\#(n)","op":"stats"}"#)) != nil, let s = try? socket.readEvent() {
                    running.maxActive = max(running.maxActive, Int(s["active_requests"]?.integerValue ?? 0))
                }
                n += 1
                usleep(10_000)
            }
            running.done = true
        }
        running.value = true
        probe.start()
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: Self.clients) { client in
            do {
                let socket = try d.connect()
                for k in 0..<Self.requestsPerClient {
                    let (text, done) = try DaemonHarness.generate(socket, id: k, prompt: Self.prompts[k], extra: extra(k))
                    results.set(client * Self.requestsPerClient + k, text, ok: done["stop_reason"] != .string("cancelled"))
                }
            } catch {
                results.fail("client \(client): \(error)")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        running.value = false
        while !running.done { usleep(1000) }

        XCTAssertEqual(results.failures, [], d.log.suffix(2000).description)
        for client in 0..<Self.clients {
            for k in 0..<Self.requestsPerClient {
                XCTAssertEqual(results.texts[client * Self.requestsPerClient + k], alone[k], "client \(client) request \(k)")
            }
        }
        let maxActive = running.maxActive
        XCTAssertGreaterThanOrEqual(maxActive, 2, "generations did not progress together")
        let sorted = running.latencies.sorted()
        print(
            "daemon load: \(Self.clients)×\(Self.requestsPerClient) generate in \(String(format: "%.1f", seconds)) s; info latency p50 \(String(format: "%.2f", percentile(sorted, 50))) ms, p99 \(String(format: "%.2f", percentile(sorted, 99))) ms, max \(String(format: "%.2f", sorted.last ?? .nan)) ms over \(sorted.count) probes; max active generations seen \(maxActive)"
        )
    }

    /// A client that reads nothing: its generation pauses once its reply bytes pass the limit,
    /// others keep being served, and draining resumes it to the end.
    func testSlowReaderPausesItsGenerationInsteadOfBufferingWithoutBound() throws {
        // Small kernel buffers, so a few dozen unread tokens fill them; then libuv queues and the limit bites.
        let d = try DaemonHarness(arguments: ["--max-pending-write-bytes", "1024", "--socket-send-buffer-bytes", "4096"])
        defer {
            d.stop()
            d.removeFiles()
        }
        let slow = try d.connect()
        try slow.send(#"{"id":1,"op":"generate","prompt":"List the numbers from 1 to 1000:","max_tokens":1000,"temperature":0}"#)
        var pausedSeen = false
        for _ in 0..<200 {
            usleep(50_000)
            let stats = try d.request(#"{"id":"s","op":"stats"}"#)[0]
            if stats["paused_requests"] == .number(1) && d.log.contains("generations pause") {
                pausedSeen = true
                break
            }
        }
        XCTAssertTrue(pausedSeen, "the slow reader's generation never paused")
        // Others are still served while it is paused.
        let other = try d.connect()
        let (text, _) = try DaemonHarness.generate(other, id: 2, prompt: "Hi", extra: #","max_tokens":3,"temperature":0"#)
        XCTAssertFalse(text.isEmpty)
        // A cancel still gets through, and reading drains it to its `done`.
        try slow.send(#"{"id":3,"op":"cancel","target":1}"#)
        let events = try DaemonHarness.collectUntilDone(slow, id: .number(1))
        XCTAssertEqual(events.last?.name, "done")
        XCTAssertEqual(events.last?["stop_reason"], .string("cancelled"))
        XCTAssertLessThan(events.last?["generated_tokens"]?.integerValue ?? 1000, 1000)
    }
}

final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var texts: [String]
    private(set) var failures: [String] = []

    init(count: Int) { texts = Array(repeating: "", count: count) }

    func set(_ index: Int, _ text: String, ok: Bool) {
        lock.lock()
        defer { lock.unlock() }
        texts[index] = text
        if !ok { failures.append("request \(index) was cancelled") }
    }

    func fail(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        failures.append(message)
    }
}

/// The probe thread's state. `value` and `done` pass between the threads under a lock; the test
/// reads `latencies` and `maxActive` only after it has seen `done`, which orders them after the
/// probe's last writes.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var running = false
    private var finished = false
    var latencies: [Double] = []
    var maxActive = 0

    var value: Bool {
        get { lock.withLock { running } }
        set { lock.withLock { running = newValue } }
    }

    var done: Bool {
        get { lock.withLock { finished } }
        set { lock.withLock { finished = newValue } }
    }
}
