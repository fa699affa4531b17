import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// One daemon, many programs: a client that does not read, floods, or pipelines cannot starve
/// the others (issue 18's findings, each a regression test).
final class DaemonFairnessTests: DaemonTestCase {
    private func stats(_ d: DaemonHarness) throws -> Event { try d.request(#"{"id":"s","op":"stats"}"#)[0] }

    /// Polls until `condition` holds (every 50 ms, at most `seconds`).
    private func waitFor(_ seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        XCTFail("after \(seconds) s: \(what)")
    }

    /// Six clients that never read hold generations with 60 KB ids and 4000 tokens: paused, they
    /// give up their slots, and another client's short generation and `info` go through at once.
    /// (Before: the 3-token generate did not finish within 20 s.)
    func testNeverReadingClientsDoNotStarveAWellBehavedOne() throws {
        let d = try daemon()
        let bigID = String(repeating: "h", count: 60_000)
        var hogs: [LineSocket] = []
        for i in 0..<6 {
            let hog = try d.connect()
            try hog.send(#"{"id":"\#(bigID)\#(i)","op":"generate","prompt":"Count from one to a thousand:","max_tokens":4000}"#)
            hogs.append(hog)
        }
        // Once four are paused (as many as there are slots), every slot has been given up once.
        try waitFor(60, "the never-reading clients' generations were not paused") {
            (try stats(d)["paused_requests"]?.integerValue ?? 0) >= 4
        }
        let probe = try d.connect()
        var infoMilliseconds: [Double] = []
        for k in 0..<20 {
            let start = Date()
            try probe.send(#"{"id":\#(k),"op":"info"}"#)
            XCTAssertEqual(try probe.readEvent().name, "info")
            infoMilliseconds.append(Date().timeIntervalSince(start) * 1000)
        }
        let start = Date()
        let (text, done) = try DaemonHarness.generate(probe, id: 99, prompt: "Hi", extra: #","max_tokens":3,"temperature":0"#)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertFalse(text.isEmpty)
        XCTAssertEqual(done["generated_tokens"], .number(3))
        XCTAssertLessThan(seconds, 2 * TestSanitizer.timeScale, "a 3-token generate beside six never-reading clients")
        infoMilliseconds.sort()
        XCTAssertLessThan(
            percentile(infoMilliseconds, 50), 50 * TestSanitizer.timeScale, "info latency beside six never-reading clients")
        print(
            "beside 6 never-reading clients: generate(3 tokens) \(Int(seconds * 1000)) ms, info p50 \(percentile(infoMilliseconds, 50)) ms max \(infoMilliseconds.last!) ms"
        )
        _ = hogs
    }

    /// A client that writes bad lines and never reads its error replies: the daemon stops
    /// reading it once its replies pile up (memory stays flat), keeps answering others, and
    /// disconnects it after the write-stall timeout. (Before: +550 MiB RSS for 2 MiB of input.)
    func testNeverReadingFlooderIsBoundedAndThenDisconnected() throws {
        let d = try daemon(["--write-stall-timeout-ms", "2000"])
        _ = try d.request(#"{"id":0,"op":"info"}"#)
        let baseRSS = d.memory.rss
        let flooder = try d.connect()
        let fd = flooder.descriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0, count: 64 * 1024).enumerated().map { $0.offset % 2 == 0 ? UInt8(ascii: "x") : 0x0A }
        let probe = try d.connect()
        var infoMilliseconds: [Double] = []
        var lastProbe = Date.distantPast
        var sent = 0
        var peakRSS = baseRSS
        var disconnected = false
        let start = Date()
        while Date().timeIntervalSince(start) < 20, sent < 64 << 20 {
            let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                usleep(5_000)
            } else {
                disconnected = true
                break
            }
            if Date().timeIntervalSince(lastProbe) > 0.1 {
                lastProbe = Date()
                try probe.send(#"{"id":1,"op":"info"}"#)
                XCTAssertEqual(try probe.readEvent().name, "info")
                infoMilliseconds.append(Date().timeIntervalSince(lastProbe) * 1000)
                peakRSS = max(peakRSS, d.memory.rss)
            }
        }
        XCTAssertTrue(disconnected, "the flooder was not disconnected (sent \(sent) bytes)")
        XCTAssertLessThan(sent, 16 << 20, "the daemon kept reading a client that does not read")
        if !TestSanitizer.active {
            XCTAssertLessThan(peakRSS - baseRSS, 32 * 1024, "RSS growth in kB while flooded")
        }
        infoMilliseconds.sort()
        XCTAssertLessThan(percentile(infoMilliseconds, 50), 50 * TestSanitizer.timeScale)
        print(
            "flooder: \(sent) bytes taken, RSS +\(peakRSS - baseRSS) kB, info p50 \(percentile(infoMilliseconds, 50)) ms p99 \(percentile(infoMilliseconds, 99)) ms"
        )
    }

    /// A chat whose client stops reading is cancelled after the slow-reader timeout: the turn is
    /// stored as cancelled and the slot and cache are free again.
    func testSlowReaderGenerationIsCancelledAndItsChatStoredAsCancelled() throws {
        let d = try daemon([
            "--slow-reader-timeout-ms", "500", "--max-pending-write-bytes", "1024", "--socket-send-buffer-bytes", "4096",
        ])
        let hog = try d.connect()
        let id = String(repeating: "i", count: 2000)
        try hog.send(
            #"{"id":"\#(id)","op":"chat","message":"Count from 1 to 1000, one number per line.","max_tokens":1000,"temperature":0}"#)
        try waitFor(20, "the slow reader's chat was not cancelled") {
            guard d.log.contains("generations are cancelled") else { return false }
            let now = try stats(d)
            return now["active_requests"] == .number(0) && now["paused_requests"] == .number(0)
        }
        let other = try d.connect()
        try other.send(#"{"id":1,"op":"conversations.list"}"#)
        let list = try XCTUnwrap(try other.readEvent()["conversations"]?.arrayValue)
        XCTAssertEqual(list.count, 1)
        let conversation = try XCTUnwrap(list.first?["id"]?.integerValue)
        try other.send(#"{"id":2,"op":"conversations.get","conversation":\#(conversation)}"#)
        let messages = try XCTUnwrap(try other.readEvent()["messages"]?.arrayValue)
        XCTAssertEqual(messages.count, 2)
        XCTAssertEqual(messages.last?["cancelled"], .bool(true))
        _ = hog
    }

    /// Pipelined requests from one connection do not go ahead of another connection's: with
    /// one slot, a second client's request runs after the first client's current one, not after
    /// all of its queue.
    func testGenerationsAreAdmittedInTurnAcrossConnections() throws {
        let d = try daemon(["--max-active", "1"])
        let busy = try d.connect()
        for i in 1...6 {
            try busy.send(#"{"id":\#(i),"op":"generate","prompt":"Tell me a story","max_tokens":24,"temperature":0}"#)
        }
        _ = try busy.readEvent()  // the first one runs
        let doneTimes = DoneTimes()
        let reader = Thread {
            while doneTimes.count < 6, let event = try? busy.readEvent() {
                if event.name == "done" { doneTimes.add(Date()) }
            }
        }
        reader.start()
        let other = try d.connect()
        _ = try DaemonHarness.generate(other, id: 100, prompt: "Hi", extra: #","max_tokens":2,"temperature":0"#)
        let otherDone = Date()
        try waitFor(60, "the pipelined requests did not finish") { doneTimes.count == 6 }
        let before = doneTimes.times.filter { $0 < otherDone }.count
        XCTAssertLessThanOrEqual(before, 2, "the second connection waited for \(before) of the first one's requests")
    }

    /// A connection at `max-requests-per-connection` is read again when one finishes: every
    /// pipelined request is answered (none refused), and a line sent after them is only read
    /// once earlier ones are done.
    func testAConnectionAtItsRequestCapIsReadLaterNotRefused() throws {
        let d = try daemon(["--max-requests-per-connection", "2", "--max-active", "1"])
        let socket = try d.connect()
        var lines = ""
        for i in 1...8 { lines += #"{"id":\#(i),"op":"generate","prompt":"Hello","max_tokens":2,"temperature":0}"# + "\n" }
        lines += #"{"id":"last","op":"info"}"# + "\n"
        try socket.sendRaw(Array(lines.utf8))
        var done = 0
        var doneBeforeInfo = -1
        while doneBeforeInfo < 0 || done < 8 {
            let event = try socket.readEvent()
            XCTAssertNotEqual(event.name, "error", event.body.serialized)
            if event.name == "done" { done += 1 }
            if event.name == "info" { doneBeforeInfo = done }
        }
        XCTAssertGreaterThanOrEqual(doneBeforeInfo, 7, "the info line was read while 2 requests were in flight")
    }

    /// One uid may hold only its share of the queue: beyond it, `busy`.
    func testOneUidCannotFillTheSharedQueue() throws {
        let d = try daemon(["--max-active", "1", "--max-queue", "8", "--max-queue-per-uid", "2"])
        let socket = try d.connect()
        for i in 1...5 {
            try socket.send(#"{"id":\#(i),"op":"generate","prompt":"Tell me a story","max_tokens":\#(i == 1 ? 64 : 2),"temperature":0}"#)
            if i == 1 { _ = try socket.readEvent() }  // running: the slot is taken
        }
        var busy = 0
        var done = 0
        while done + busy < 5 {
            let event = try socket.readEvent()
            if event.name == "done" { done += 1 }
            if event.code == "busy" {
                busy += 1
                XCTAssertTrue(event.error?.message.contains("max-queue-per-uid") ?? false, event.body.serialized)
            }
        }
        XCTAssertEqual(busy, 2)
        XCTAssertEqual(done, 3)
    }

    /// A legal 1 MiB line holding ~90,000 distinct keys is answered (refused: unknown fields) in
    /// time linear in its length, and another client's `info` is not held up meanwhile.
    /// (Before: the duplicate-key check was quadratic and stalled the loop for over 10 s.)
    func testAMegabyteLineOfDistinctKeysIsHandledInLinearTime() throws {
        let d = try daemon()
        var line = #"{"id":1,"op":"info""#
        var key = 0
        while line.utf8.count < ProtocolLimits.maxLineBytes - 32 {
            line += #","k\#(key)":0"#
            key += 1
        }
        line += "}"
        XCTAssertGreaterThan(key, 85_000)
        let heavy = try d.connect()
        let probe = try d.connect()
        let start = Date()
        try heavy.send(line)
        try probe.send(#"{"id":2,"op":"info"}"#)
        XCTAssertEqual(try probe.readEvent().name, "info")
        let infoMilliseconds = Date().timeIntervalSince(start) * 1000
        let reply = try heavy.readEvent()
        let milliseconds = Date().timeIntervalSince(start) * 1000
        XCTAssertEqual(reply.code, "bad_request", reply.body.serialized)
        print("1 MiB line of \(key) keys: answered in \(milliseconds) ms; info meanwhile \(infoMilliseconds) ms")
        #if DEBUG
        // Unoptimised Swift scans and parses many times slower; the bounds are for release builds.
        XCTAssertLessThan(milliseconds, 5000)
        #else
        // Linear is ~40 ms here and quadratic was over 10 s; the bounds sit well between so a
        // CI machine busy with other jobs (138 ms seen on 2 shared cores) does not fail them.
        XCTAssertLessThan(milliseconds, 1000 * TestSanitizer.timeScale)
        XCTAssertLessThan(infoMilliseconds, 500 * TestSanitizer.timeScale)
        #endif
    }

    /// A line long enough to be decoded off the loop keeps its place: answered in order, and
    /// answered even when the client has finished sending.
    func testLongLinesAreAnsweredInOrderAndAfterEndOfInput() throws {
        let d = try daemon()
        let socket = try d.connect()
        let longID = String(repeating: "L", count: 200_000)
        try socket.send(#"{"id":"\#(longID)","op":"info"}"#)
        try socket.send(#"{"id":2,"op":"info"}"#)
        try socket.send(#"{"id":"\#(longID)x","op":"stats"}"#)
        socket.finishSending()
        XCTAssertEqual(try socket.readEvent().id, .string(longID))
        XCTAssertEqual(try socket.readEvent().id, .number(2))
        let last = try socket.readEvent()
        XCTAssertEqual(last.id, .string(longID + "x"))
        XCTAssertEqual(last.name, "stats")
        XCTAssertThrowsError(try socket.readLine(), "the daemon closes after the last reply")
    }

    /// A prompt far longer than the context is refused before it is tokenized: at once, and
    /// without a pause in another client's stream. (Before: 1 MiB took ~1 s of the inference
    /// thread, and every generation waited.)
    func testAPromptThatCannotFitIsRefusedWithoutTokenizingIt() throws {
        let d = try daemon()
        let streaming = try d.connect()
        try streaming.send(#"{"id":1,"op":"generate","prompt":"List the numbers from 1 to 1000:","max_tokens":300,"temperature":0}"#)
        _ = try streaming.readEvent()
        let huge = String(repeating: "lorem ipsum dolor ", count: (ProtocolLimits.maxLineBytes - 200) / 18)
        let heavy = try d.connect()
        let start = Date()
        try heavy.send(#"{"id":2,"op":"generate","prompt":"\#(huge)"}"#)
        let refusal = try heavy.readEvent()
        let milliseconds = Date().timeIntervalSince(start) * 1000
        XCTAssertEqual(refusal.code, "too_large", refusal.body.serialized)
        var gaps: [Double] = []
        var last = Date()
        while true {
            let event = try streaming.readEvent()
            gaps.append(Date().timeIntervalSince(last) * 1000)
            last = Date()
            if event.name == "done" { break }
        }
        print("1 MiB prompt refused in \(milliseconds) ms; longest gap in another stream \(gaps.max() ?? 0) ms")
        #if !DEBUG
        // Tokenizing it took ~1 s; the bound leaves room for a CI machine busy with other jobs.
        XCTAssertLessThan(milliseconds, 400 * TestSanitizer.timeScale)
        #endif
    }

    /// An id in flight is refused for every op, not only for generate and chat.
    func testAnIdInFlightIsRefusedForEveryOp() throws {
        let d = try daemon()
        let socket = try d.connect()
        try socket.send(#"{"id":7,"op":"generate","prompt":"Tell me a story","max_tokens":200,"temperature":0}"#)
        _ = try socket.readEvent()
        for line in [
            #"{"id":7,"op":"info"}"#, #"{"id":7,"op":"stats"}"#, #"{"id":7,"op":"conversations.list"}"#,
            #"{"id":7,"op":"chat","message":"hi"}"#, #"{"id":7,"op":"cancel","target":7}"#,
        ] {
            try socket.send(line)
            var event = try socket.readEvent()
            while event.name == "token" { event = try socket.readEvent() }
            XCTAssertEqual(event.code, "bad_request", line)
            XCTAssertTrue(event.error?.message.contains("already in flight") ?? false, line)
        }
        try socket.send(#"{"id":8,"op":"cancel","target":7}"#)
        let events = try DaemonHarness.collectUntilDone(socket, id: .number(7))
        XCTAssertEqual(events.last?["stop_reason"], .string("cancelled"))
    }
}

/// Times of `done` lines, filled by a reader thread.
final class DoneTimes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Date] = []

    func add(_ date: Date) {
        lock.lock()
        values.append(date)
        lock.unlock()
    }

    var times: [Date] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return values.count
    }
}
