import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// Two uids on one daemon: neither can see, change or time the other's work. Runs as root (CI
/// does), with the second client under uid 65534 through setpriv.
final class DaemonIsolationTests: DaemonTestCase {
    static let otherUID = 65534

    override func daemon(_ arguments: [String] = []) throws -> DaemonHarness {
        guard getuid() == 0 else { throw XCTSkip("needs root to connect as another uid") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") else {
            throw XCTSkip("socat is not installed (scripts/setup.sh --for-tests installs it)")
        }
        let d = try super.daemon(arguments)
        // The socket is 0660 root:root and its folder the test's; let uid 65534 in for this test only.
        chmod(d.directory, 0o755)
        chmod(d.socketPath, 0o666)
        return d
    }

    /// Sends `lines` as uid 65534 on one connection, half-closes, and returns every reply line.
    private func asOtherUID(_ d: DaemonHarness, _ lines: [String]) throws -> [Event] {
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        client.arguments = [
            // socat gives the reply 0.5 s after its input ends unless told otherwise (-t).
            "--reuid=\(Self.otherUID)", "--regid=\(Self.otherUID)", "--clear-groups", "/usr/bin/socat", "-t", "120", "-",
            "UNIX-CONNECT:" + d.socketPath,
        ]
        let input = Pipe()
        let output = Pipe()
        client.standardInput = input
        client.standardOutput = output
        try client.run()
        input.fileHandleForWriting.write(Data(lines.map { $0 + "\n" }.joined().utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        client.waitUntilExit()
        XCTAssertEqual(client.terminationStatus, 0)
        return try text.split(separator: "\n").map { try Event(line: String($0)) }
    }

    /// The prompt cache is per uid: the owner's second request with the same long prompt reuses
    /// it; another uid's identical request reuses nothing and gets the same text.
    func testAnotherUidGetsNoReuseOfTheOwnersCachedPrompt() throws {
        let d = try daemon()
        let owner = try d.connect()
        let prompt = DaemonPromptCacheTests.prompt("How many cranes are there?")
        let extra = #","max_tokens":6,"temperature":0"#
        let (text, first) = try DaemonHarness.generate(owner, id: 1, prompt: prompt, extra: extra)
        let (again, second) = try DaemonHarness.generate(owner, id: 2, prompt: prompt, extra: extra)
        XCTAssertEqual(first["cached_tokens"]?.integerValue, 0)
        XCTAssertGreaterThanOrEqual(second["cached_tokens"]?.integerValue ?? 0, 256)
        XCTAssertEqual(again, text)

        let replies = try asOtherUID(
            d, [#"{"id":3,"op":"generate","prompt":\#(JSONValue.string(prompt).serialized)\#(extra)}"#])
        let done = try XCTUnwrap(replies.last { $0.name == "done" }, "\(replies.map(\.body.serialized))")
        XCTAssertEqual(done["cached_tokens"]?.integerValue, 0, "another uid reused the owner's prompt")
        XCTAssertEqual(replies.filter { $0.name == "token" }.compactMap { $0["text"]?.stringValue }.joined(), text)
    }

    /// list, get, delete, continue and cancel of another uid's conversation or request: all
    /// `not_found`, and the owner's conversation is untouched.
    func testAnotherUidCanNeitherSeeNorTouchAConversationOrRequest() throws {
        let d = try daemon()
        let owner = try d.connect()
        try owner.send(#"{"id":1,"op":"chat","message":"my secret","max_tokens":4,"temperature":0}"#)
        let conversation = try XCTUnwrap(
            DaemonHarness.collectUntilDone(owner, id: .number(1)).last?["conversation"]?.integerValue)
        try owner.send(#"{"id":"long","op":"generate","prompt":"Tell me a long story","max_tokens":400,"temperature":0}"#)
        _ = try owner.readEvent()

        let replies = try asOtherUID(
            d,
            [
                #"{"id":1,"op":"conversations.list"}"#,
                #"{"id":2,"op":"conversations.get","conversation":\#(conversation)}"#,
                #"{"id":3,"op":"conversations.delete","conversation":\#(conversation)}"#,
                #"{"id":4,"op":"chat","conversation":\#(conversation),"message":"and mine","max_tokens":2}"#,
                #"{"id":5,"op":"cancel","target":"long"}"#,
            ])
        func reply(_ id: Int) -> Event? { replies.first { $0.id == .integer(id) } }
        XCTAssertEqual(reply(1)?["conversations"], .array([]))
        for id in 2...5 { XCTAssertEqual(reply(id)?.code, "not_found", "request \(id): \(replies.map(\.body.serialized))") }

        try owner.send(#"{"id":"c","op":"cancel","target":"long"}"#)
        let long = try DaemonHarness.collectUntilDone(owner, id: .string("long"))
        XCTAssertEqual(long.last?["stop_reason"], .string("cancelled"))
        try owner.send(#"{"id":6,"op":"conversations.get","conversation":\#(conversation)}"#)
        var got = try owner.readEvent()
        while got.id != .number(6) { got = try owner.readEvent() }
        XCTAssertEqual(got["messages"]?.arrayValue?.count, 2)
    }

    /// Semantic memory: a conversation about penguins is found by "birds that cannot fly" for
    /// its owner, after the memory model embedded the turns, and never returned to another uid.
    func testSemanticSearchFindsTheOwnersConversationOnly() throws {
        guard let miniLM = ProcessInfo.processInfo.environment["SLM_TEST_MODEL_MINILM"], !miniLM.isEmpty else {
            throw XCTSkip("SLM_TEST_MODEL_MINILM is not set (scripts/test.sh sets it)")
        }
        let d = try daemon(["-m", "minilm=" + miniLM])
        let owner = try d.connect()
        var penguins: Int64 = 0
        for (i, message) in [
            "Tell me about penguins: they live in Antarctica, swim very well and never take off.",
            "What is a good recipe for tomato soup?",
            "How do I change the oil in my car?",
        ].enumerated() {
            try owner.send(#"{"id":\#(i),"op":"chat","message":"\#(message)","max_tokens":8,"temperature":0}"#)
            let conversation = try XCTUnwrap(
                DaemonHarness.collectUntilDone(owner, id: .number(Double(i))).last?["conversation"]?.integerValue)
            if i == 0 { penguins = conversation }
        }
        try owner.send(#"{"id":"s","op":"conversations.search","query":"birds that cannot fly","semantic":true,"limit":3}"#)
        var found = try owner.readEvent()
        while found.id != .string("s") { found = try owner.readEvent() }
        let results = try XCTUnwrap(found["results"]?.arrayValue, found.body.serialized)
        XCTAssertEqual(results.first?.objectValue?.first { $0.0 == "conversation" }?.1.integerValue, penguins, found.body.serialized)

        let other = try asOtherUID(
            d,
            [
                #"{"id":1,"op":"conversations.search","query":"birds that cannot fly","semantic":true}"#,
                #"{"id":2,"op":"conversations.search","query":"penguins"}"#,
            ])
        for id in 1...2 {
            let reply = other.first { $0.id == .integer(id) }
            XCTAssertEqual(reply?["results"], .array([]), "request \(id): \(other.map(\.body.serialized))")
        }
    }

    /// A cached prompt prefix is reused for the same uid only: the second uid's identical
    /// chat runs its whole prompt (`cached_tokens` 0), where the first uid's repeat reuses it.
    func testAnotherUidGetsNoPrefixReuse() throws {
        let d = try daemon(["--max-active", "1"])
        let chat = #"{"id":1,"op":"chat","message":"Tell me about the sea.","max_tokens":4,"temperature":0}"#
        let owner = try d.connect()
        try owner.send(chat)
        _ = try DaemonHarness.collectUntilDone(owner, id: .number(1))
        try owner.send(chat)
        let repeated = try XCTUnwrap(DaemonHarness.collectUntilDone(owner, id: .number(1)).last)
        XCTAssertGreaterThan(repeated["cached_tokens"]?.integerValue ?? 0, 0, "the same uid's repeat should reuse its prefix")

        let other = try XCTUnwrap(asOtherUID(d, [chat]).last, d.log)
        XCTAssertEqual(other.name, "done", other.body.serialized)
        XCTAssertEqual(other["cached_tokens"], .number(0))
        XCTAssertEqual(other["prompt_tokens"], repeated["prompt_tokens"])
    }
}
