import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// Every op and every error code of protocol v1 against a running slmd with SmolLM2.
final class DaemonOpsTests: XCTestCase {
    nonisolated(unsafe) static var shared: DaemonHarness?

    func daemon() throws -> DaemonHarness {
        if let d = Self.shared { return d }
        let d = try DaemonHarness()
        Self.shared = d
        return d
    }

    override class func tearDown() {
        shared?.stop()
        shared?.removeFiles()
        shared = nil
        super.tearDown()
    }

    func testInfoDescribesTheModel() throws {
        let events = try daemon().request(#"{"id":1,"op":"info"}"#)
        XCTAssertEqual(events.count, 1)
        let info = events[0]
        XCTAssertEqual(info.name, "info")
        XCTAssertEqual(info.id, .number(1))
        XCTAssertEqual(info["protocol"], .number(1))
        XCTAssertNotNil(info["version"]?.stringValue)
        XCTAssertEqual(info["model"]?["architecture"], .string("llama"))
        XCTAssertEqual(info["model"]?["context_length"], .number(1024))
        XCTAssertEqual(info["model"]?["quantization"], .string("Q4_1"))
        XCTAssertNotNil(info["model"]?["name"]?.stringValue)
    }

    func testStatsReportsQueueActiveTokensAndMemory() throws {
        let d = try daemon()
        let socket = try d.connect()
        _ = try DaemonHarness.generate(socket, id: 1, prompt: "Hello", extra: #","max_tokens":3,"temperature":0"#)
        let stats = try d.request(#"{"id":"s","op":"stats"}"#)[0]
        XCTAssertEqual(stats.name, "stats")
        XCTAssertEqual(stats.id, .string("s"))
        XCTAssertEqual(stats["queue_depth"], .number(0))
        XCTAssertNotNil(stats["active_requests"]?.integerValue)
        XCTAssertGreaterThanOrEqual(stats["tokens_served"]?.integerValue ?? 0, 3)
        XCTAssertGreaterThan(stats["rss_bytes"]?.integerValue ?? 0, 1_000_000)
        XCTAssertGreaterThan(stats["rss_anon_bytes"]?.integerValue ?? 0, 0)
    }

    func testGenerateStreamsTokensThenDoneAndMatchesTheCLI() throws {
        let d = try daemon()
        let socket = try d.connect()
        let (text, done) = try DaemonHarness.generate(
            socket, id: 7, prompt: "The capital of France is",
            extra: #","max_tokens":12,"temperature":0"#)
        XCTAssertEqual(done["stop_reason"], .string("length"))
        XCTAssertEqual(done["generated_tokens"], .number(12))
        XCTAssertEqual(done["prompt_tokens"]?.integerValue, 5)
        XCTAssertNotNil(done["ttft_ms"]?.numberValue)
        XCTAssertNotNil(done["tokens_per_second"]?.numberValue)
        XCTAssertTrue(text.hasPrefix(" Paris"), text)

        // The same request through `slm ask` (the socket client) prints the same text.
        let ask = Process()
        ask.executableURL = URL(fileURLWithPath: DaemonHarness.slmPath)
        ask.arguments = ["ask", "--socket", d.socketPath, "-n", "12", "--temp", "0", "--no-stats", "The capital of France is"]
        let out = Pipe()
        ask.standardOutput = out
        try ask.run()
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ask.waitUntilExit()
        XCTAssertEqual(ask.terminationStatus, 0)
        XCTAssertEqual(printed, text + "\n")
    }

    func testStopSequenceEndsWithStopReasonStop() throws {
        let socket = try daemon().connect()
        let (full, _) = try DaemonHarness.generate(
            socket, id: 1, prompt: "The capital of France is",
            extra: #","max_tokens":12,"temperature":0"#)
        let (text, done) = try DaemonHarness.generate(
            socket, id: 2, prompt: "The capital of France is",
            extra: #","max_tokens":12,"temperature":0,"stop":["\n"]"#)
        XCTAssertEqual(done["stop_reason"], .string("stop"))
        XCTAssertEqual(text, String(full.prefix { $0 != "\n" }))
    }

    func testCancelEndsTheTargetWithCancelledAndAnswersOk() throws {
        let socket = try daemon().connect()
        try socket.send(#"{"id":"long","op":"generate","prompt":"Once upon a time","max_tokens":400,"temperature":0}"#)
        // Wait for the first token so the cancel hits a running generation.
        var sawToken = false
        while !sawToken { sawToken = try socket.readEvent().name == "token" }
        try socket.send(#"{"id":"c","op":"cancel","target":"long"}"#)
        var ok = false
        var done: Event? = nil
        while done == nil {
            let event = try socket.readEvent()
            if event.id == .string("c") {
                XCTAssertEqual(event.name, "ok")
                ok = true
            }
            if event.id == .string("long") && event.name == "done" { done = event }
        }
        if !ok { XCTAssertEqual(try socket.readEvent().name, "ok") }
        XCTAssertEqual(done?["stop_reason"], .string("cancelled"))
        XCTAssertLessThan(done?["generated_tokens"]?.integerValue ?? 400, 400)
    }

    func testControlOpsAreAnsweredWhileGenerating() throws {
        let d = try daemon()
        let busy = try d.connect()
        try busy.send(#"{"id":1,"op":"generate","prompt":"Write a long story.","max_tokens":200,"temperature":0}"#)
        _ = try busy.readEvent()
        let events = try d.request(#"{"id":2,"op":"stats"}"#)
        XCTAssertEqual(events[0]["active_requests"], .number(1))
        try busy.send(#"{"id":3,"op":"cancel","target":1}"#)
        _ = try DaemonHarness.collectUntilDone(busy, id: .number(1))
    }

    func testEveryMalformedInputGetsBadRequestAndTheConnectionStaysUsable() throws {
        let socket = try daemon().connect()
        let cases: [(String, String, JSONValue)] = [
            ("this is not json", "bad_request", .null),
            (#"{"id":1,"op":"info""#, "bad_request", .null),
            (#"[1,2]"#, "bad_request", .null),
            (#"{"op":"info"}"#, "bad_request", .null),
            (#"{"id":2}"#, "bad_request", .number(2)),
            (#"{"id":3,"op":"generate"}"#, "bad_request", .number(3)),
            (#"{"id":4,"op":"generate","prompt":42}"#, "bad_request", .number(4)),
            (#"{"id":5,"op":"generate","prompt":"x","max_tokens":"many"}"#, "bad_request", .number(5)),
            (#"{"id":6,"op":"generate","prompt":"x","top_p":7}"#, "bad_request", .number(6)),
            (#"{"id":7,"op":"generate","prompt":"x","colour":"red"}"#, "bad_request", .number(7)),
            (#"{"id":8,"op":"teleport"}"#, "unsupported", .number(8)),
            (#"{"id":9,"op":"cancel","target":"nothing"}"#, "not_found", .number(9)),
            (#"{"id":10,"op":"cancel"}"#, "bad_request", .number(10)),
        ]
        for (line, code, id) in cases {
            try socket.send(line)
            let event = try socket.readEvent()
            XCTAssertEqual(event.name, "error", line)
            XCTAssertEqual(event.code, code, line)
            XCTAssertEqual(event.id, id, line)
            XCTAssertFalse(event.error?.message.isEmpty ?? true)
        }
        // Invalid UTF-8 inside a string.
        try socket.sendRaw(Array(#"{"id":11,"op":"generate","prompt":""#.utf8) + [0xC3, 0x28] + Array("\"}\n".utf8))
        let utf8 = try socket.readEvent()
        XCTAssertEqual(utf8.code, "bad_request")
        XCTAssertTrue(utf8.error?.message.contains("UTF-8") ?? false)
        // Still serving on the same connection.
        try socket.send(#"{"id":12,"op":"info"}"#)
        XCTAssertEqual(try socket.readEvent().name, "info")
    }

    func testPromptLongerThanTheContextIsTooLarge() throws {
        let prompt = String(repeating: "word ", count: 1500)  // > 1024 tokens
        let events = try daemon().request(#"{"id":1,"op":"generate","prompt":"\#(prompt)","max_tokens":1}"#)
        XCTAssertEqual(events.last?.code, "too_large")
    }

    func testOversizedLineGetsTooLargeAndTheConnectionCloses() throws {
        let d = try daemon()
        let socket = try d.connect()
        var line = Array(#"{"id":1,"op":"generate","prompt":""#.utf8)
        line += [UInt8](repeating: UInt8(ascii: "a"), count: ProtocolLimits.maxLineBytes)
        line += Array("\"}\n".utf8)
        try? socket.sendRaw(line)  // the daemon may close before it has read everything
        let event = try socket.readEvent()
        XCTAssertEqual(event.code, "too_large")
        XCTAssertEqual(event.id, .null)
        XCTAssertThrowsError(try socket.readLine())  // closed
        // Others are still served.
        XCTAssertEqual(try d.request(#"{"id":2,"op":"info"}"#)[0].name, "info")
    }

    func testDuplicateIdInFlightIsBadRequest() throws {
        let socket = try daemon().connect()
        try socket.send(#"{"id":1,"op":"generate","prompt":"Tell me a story","max_tokens":100,"temperature":0}"#)
        try socket.send(#"{"id":1,"op":"generate","prompt":"again","max_tokens":1}"#)
        var sawError = false
        while true {
            let event = try socket.readEvent()
            if event.name == "error" {
                XCTAssertEqual(event.code, "bad_request")
                sawError = true
                try socket.send(#"{"id":2,"op":"cancel","target":1}"#)
            }
            if event.name == "done" { break }
        }
        XCTAssertTrue(sawError)
    }

    func testBusyWhenTheQueueOrTheClientLimitIsFull() throws {
        let d = try DaemonHarness(arguments: ["--max-active", "1", "--max-queue", "0", "--max-clients", "2"])
        defer {
            d.stop()
            d.removeFiles()
        }
        let first = try d.connect()
        try first.send(#"{"id":1,"op":"generate","prompt":"Tell me a long story","max_tokens":300,"temperature":0}"#)
        _ = try first.readEvent()
        let second = try d.connect()
        try second.send(#"{"id":2,"op":"generate","prompt":"Hi","max_tokens":2}"#)
        XCTAssertEqual(try second.readEvent().code, "busy")
        let third = try d.connect()
        let refused = try third.readEvent()
        XCTAssertEqual(refused.code, "busy")
        XCTAssertThrowsError(try third.readLine())
        try first.send(#"{"id":3,"op":"cancel","target":1}"#)
        _ = try DaemonHarness.collectUntilDone(first, id: .number(1))
    }

    /// A context the machine cannot allocate: the request fails with `internal`, the daemon lives on.
    func testAllocationFailureIsInternalAndTheDaemonKeepsServing() throws {
        try XCTSkipIf(
            TestSanitizer.active, "a sanitizer's runtime reserves terabytes of address space, so `ulimit -v` stops slmd at start")
        let d = try DaemonHarness(arguments: ["-c", "1048576"], wrapper: "ulimit -v 3000000;")
        defer {
            d.stop()
            d.removeFiles()
        }
        let events = try d.request(#"{"id":1,"op":"generate","prompt":"Hi","max_tokens":2}"#)
        XCTAssertEqual(events.last?.code, "internal", d.log)
        XCTAssertEqual(try d.request(#"{"id":2,"op":"info"}"#)[0].name, "info")
    }
}

extension DaemonOpsTests {
    func testChatStoresTurnsAndConversationsOpsSeeThem() throws {
        let d = try daemon()
        let socket = try d.connect()
        try socket.send(#"{"id":1,"op":"chat","message":"What is the capital of France?","max_tokens":10,"temperature":0}"#)
        let first = try DaemonHarness.collectUntilDone(socket, id: .number(1))
        let firstReply = first.filter { $0.name == "token" }.map { $0["text"]?.stringValue ?? "" }.joined()
        let done = try XCTUnwrap(first.last)
        XCTAssertEqual(done.name, "done")
        let conversation = try XCTUnwrap(done["conversation"]?.integerValue)
        XCTAssertFalse(firstReply.isEmpty)

        try socket.send(#"{"id":2,"op":"chat","conversation":\#(conversation),"message":"And of Italy?","max_tokens":10,"temperature":0}"#)
        let second = try DaemonHarness.collectUntilDone(socket, id: .number(2))
        XCTAssertEqual(second.last?["conversation"]?.integerValue, conversation)

        try socket.send(#"{"id":3,"op":"conversations.list"}"#)
        let list = try socket.readEvent()
        XCTAssertEqual(list.name, "conversations")
        let entry = try XCTUnwrap(list["conversations"]?.arrayValue?.first { $0["id"]?.integerValue == conversation })
        XCTAssertEqual(entry["message_count"], .number(4))
        XCTAssertEqual(entry["title"], .string("What is the capital of France?"))

        try socket.send(#"{"id":4,"op":"conversations.get","conversation":\#(conversation)}"#)
        let got = try socket.readEvent()
        XCTAssertEqual(got.name, "conversation")
        let messages = try XCTUnwrap(got["messages"]?.arrayValue)
        XCTAssertEqual(messages.map { $0["role"]?.stringValue ?? "" }, ["user", "assistant", "user", "assistant"])
        XCTAssertEqual(messages[0]["content"], .string("What is the capital of France?"))
        XCTAssertEqual(messages[1]["content"], .string(firstReply))

        try socket.send(#"{"id":5,"op":"conversations.delete","conversation":\#(conversation)}"#)
        XCTAssertEqual(try socket.readEvent().name, "ok")
        try socket.send(#"{"id":6,"op":"conversations.get","conversation":\#(conversation)}"#)
        XCTAssertEqual(try socket.readEvent().code, "not_found")
        try socket.send(#"{"id":7,"op":"conversations.delete","conversation":\#(conversation)}"#)
        XCTAssertEqual(try socket.readEvent().code, "not_found")
        try socket.send(#"{"id":8,"op":"chat","conversation":987654,"message":"hello","max_tokens":2}"#)
        XCTAssertEqual(try socket.readEvent().code, "not_found")
        try socket.send(#"{"id":9,"op":"chat","conversation":"x","message":"hello"}"#)
        XCTAssertEqual(try socket.readEvent().code, "bad_request")
        try socket.send(#"{"id":10,"op":"chat"}"#)
        XCTAssertEqual(try socket.readEvent().code, "bad_request")
    }

    func testClientThatDisconnectsHasItsGenerationCancelled() throws {
        let d = try daemon()
        let before = try d.request(#"{"id":"s","op":"stats"}"#)[0]["tokens_served"]?.integerValue ?? 0
        do {
            let socket = try d.connect()
            try socket.send(#"{"id":1,"op":"generate","prompt":"Once upon a time, in a land far away,","max_tokens":500,"temperature":0}"#)
            XCTAssertEqual(try socket.readEvent().name, "token")
        }  // closed here, mid-generation
        var stats = try d.request(#"{"id":"s","op":"stats"}"#)[0]
        for _ in 0..<500 where stats["active_requests"] != .number(0) {
            usleep(10_000)
            stats = try d.request(#"{"id":"s","op":"stats"}"#)[0]
        }
        XCTAssertEqual(stats["active_requests"], .number(0))
        XCTAssertLessThan((stats["tokens_served"]?.integerValue ?? 0) - before, 500, "the generation ran to its end")
    }

    func testSlmChatSocketKeepsOneStoredConversation() throws {
        let d = try daemon()
        let chat = Process()
        chat.executableURL = URL(fileURLWithPath: DaemonHarness.slmPath)
        chat.arguments = ["chat", "--socket", d.socketPath, "-n", "6", "--temp", "0", "--stats"]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        chat.standardInput = input
        chat.standardOutput = output
        chat.standardError = errors
        try chat.run()
        input.fileHandleForWriting.write(Data("What is two plus two?\nAnd three plus three?\n".utf8))
        try input.fileHandleForWriting.close()
        _ = output.fileHandleForReading.readDataToEndOfFile()
        let stderrText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        chat.waitUntilExit()
        XCTAssertEqual(chat.terminationStatus, 0, stderrText)
        let last = try XCTUnwrap(stderrText.split(separator: "\n").last, stderrText)
        XCTAssertTrue(last.hasPrefix("conversation "), stderrText)
        let id = try XCTUnwrap(Int(last.dropFirst("conversation ".count)))
        let got = try d.request(#"{"id":1,"op":"conversations.get","conversation":\#(id)}"#)[0]
        XCTAssertEqual(got["messages"]?.arrayValue?.count, 4)
        XCTAssertEqual(got["messages"]?.arrayValue?[2]["content"], .string("And three plus three?"))
    }

    /// A client under another uid cannot see a conversation (the store scopes by SO_PEERCRED uid).
    func testAnotherUidSeesNoConversations() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to connect as another uid") }
        let d = try daemon()
        let socket = try d.connect()
        try socket.send(#"{"id":1,"op":"chat","message":"secret","max_tokens":2,"temperature":0}"#)
        let conversation = try XCTUnwrap(DaemonHarness.collectUntilDone(socket, id: .number(1)).last?["conversation"]?.integerValue)
        // The socket is 0660 root:root; let "nobody" in for this test only.
        chmod(d.socketPath, 0o666)
        defer { chmod(d.socketPath, 0o660) }
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        other.arguments = [
            "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/socat", "-t", "60", "-", "UNIX-CONNECT:" + d.socketPath,
        ]
        let input = Pipe()
        let output = Pipe()
        other.standardInput = input
        other.standardOutput = output
        try other.run()
        input.fileHandleForWriting.write(
            Data(
                (#"{"id":1,"op":"conversations.get","conversation":\#(conversation)}"# + "\n" + #"{"id":2,"op":"conversations.list"}"#
                    + "\n").utf8))
        try input.fileHandleForWriting.close()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        other.waitUntilExit()
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(try Event(line: String(lines[0])).code, "not_found")
        XCTAssertEqual(try Event(line: String(lines[1]))["conversations"], .array([]))
    }

    /// `repeat_last_n` on generate (and through `slm ask` and `slm chat --socket`, which send
    /// SamplingParameters' JSON form), and sampling values the engine refuses: `bad_request`
    /// naming the field.
    func testRepeatLastNAndSamplingErrorsOverTheProtocol() throws {
        let d = try daemon()
        let socket = try d.connect()
        let prompt = "Once upon a time, the cat"
        let greedy = #","max_tokens":16,"temperature":0"#
        let (plain, _) = try DaemonHarness.generate(socket, id: 1, prompt: prompt, extra: greedy)
        let (penalised, _) = try DaemonHarness.generate(socket, id: 2, prompt: prompt, extra: greedy + #","repeat_penalty":1.5"#)
        XCTAssertNotEqual(penalised, plain, "a 1.5 penalty should change 16 greedy tokens")
        let window64 = try DaemonHarness.generate(
            socket, id: 3, prompt: prompt, extra: greedy + #","repeat_penalty":1.5,"repeat_last_n":64"#)
        XCTAssertEqual(window64.0, penalised)
        let window0 = try DaemonHarness.generate(socket, id: 4, prompt: prompt, extra: greedy + #","repeat_penalty":1.5,"repeat_last_n":0"#)
        XCTAssertEqual(window0.0, plain)
        let whole = try DaemonHarness.generate(socket, id: 5, prompt: prompt, extra: greedy + #","repeat_penalty":1.5,"repeat_last_n":-1"#)
        XCTAssertEqual(whole.1["generated_tokens"], .number(16))

        for (fields, field) in [
            (#""temperature":-1"#, "temperature"), (#""temperature":1e-40"#, "temperature"),
            (#""top_k":-1"#, "top_k"), (#""top_p":0"#, "top_p"), (#""min_p":"a lot""#, "min_p"),
            (#""repeat_penalty":0"#, "repeat_penalty"), (#""repeat_last_n":-2"#, "repeat_last_n"),
            (#""repeat_last_n":1.5"#, "repeat_last_n"), (#""seed":-3"#, "seed"), (#""colour":"red""#, "colour"),
        ] {
            try socket.send(#"{"id":"bad","op":"generate","prompt":"x",\#(fields)}"#)
            let event = try socket.readEvent()
            XCTAssertEqual(event.code, "bad_request", fields)
            XCTAssertEqual(event.id, .string("bad"), fields)
            XCTAssertTrue(event.error?.message.contains("\"\(field)\"") ?? false, "\(fields): \(event.error?.message ?? "")")
        }

        // The socket clients: the same generate through `slm ask`, and a chat turn through
        // `slm chat --socket` equal to the one `slm ask --chat` gets.
        func slm(_ arguments: [String], stdin: String = "") throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: DaemonHarness.slmPath)
            process.arguments = arguments
            let input = Pipe()
            let out = Pipe()
            process.standardInput = input
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice  // chat's "conversation N" line
            try process.run()
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
            let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "\(arguments)")
            return printed
        }
        let remote = ["--socket", d.socketPath, "-n", "16", "--temp", "0"]
        XCTAssertEqual(try slm(["ask"] + remote + ["--no-stats", "--repeat-penalty", "1.5", "--repeat-last-n", "0", prompt]), plain + "\n")
        XCTAssertEqual(try slm(["ask"] + remote + ["--no-stats", "--repeat-penalty", "1.5", prompt]), penalised + "\n")
        let question = "What is the capital of France?"
        let asked = try slm(["ask", "--chat"] + remote + ["--no-stats", "--repeat-penalty", "1.5", "--repeat-last-n", "0", question])
        XCTAssertEqual(try slm(["chat"] + remote + ["--repeat-penalty", "1.5", "--repeat-last-n", "0"], stdin: question + "\n"), asked)
        XCTAssertEqual(try slm(["chat"] + remote, stdin: question + "\n"), asked)
    }
}

extension DaemonHarness {
    /// Reads until the `done` (or `error`) of request `id`; returns everything read.
    @discardableResult
    static func collectUntilDone(_ socket: LineSocket, id: JSONValue) throws -> [Event] {
        var events: [Event] = []
        while true {
            let event = try socket.readEvent()
            events.append(event)
            if event.id == id && (event.name == "done" || event.name == "error") { return events }
        }
    }
}
