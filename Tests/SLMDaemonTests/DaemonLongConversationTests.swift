import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// Conversations longer than the context through slmd: chat turns leave out their oldest turns
/// (and say so in `truncated_turns`), the store keeps everything, a restart resumes; `generate`
/// with `context_shift` runs past the context.
final class DaemonLongConversationTests: DaemonTestCase {
    static let context = 256
    static let turns = 36
    static let replyTokens = 24

    static func message(_ turn: Int) -> String { "Turn \(turn): tell me one fact about the number \(turn)." }

    /// Sends one chat turn and reads its events up to `done` or `error`.
    func chat(_ socket: LineSocket, id: Int, conversation: Int64?, message: String) throws -> (text: String, last: Event) {
        var fields: [(String, JSONValue)] = [
            ("id", .integer(id)), ("op", .string("chat")), ("message", .string(message)),
            ("max_tokens", .integer(Self.replyTokens)), ("temperature", .integer(0)),
        ]
        if let conversation { fields.append(("conversation", .integer(conversation))) }
        try socket.send(JSONValue.object(fields).serialized)
        let events = try DaemonHarness.collectUntilDone(socket, id: .integer(id))
        let text = events.filter { $0.name == "token" }.map { $0["text"]?.stringValue ?? "" }.joined()
        return (text, events.last!)
    }

    func storedMessages(_ d: DaemonHarness, _ conversation: Int64) throws -> [JSONValue] {
        let got = try d.request(#"{"id":1,"op":"conversations.get","conversation":\#(conversation)}"#)[0]
        return try XCTUnwrap(got["messages"]?.arrayValue, got.body.serialized)
    }

    func testAConversationLongerThanTheContextKeepsGoingAndIsStoredWhole() throws {
        let d = try daemon(["-c", "\(Self.context)"])
        let socket = try d.connect()
        var conversation: Int64?
        var truncated: [Int] = []
        var cachedShare: [Double] = []
        var replies: [String] = []
        for turn in 0..<Self.turns {
            let (text, done) = try chat(socket, id: turn + 1, conversation: conversation, message: Self.message(turn))
            XCTAssertEqual(done.name, "done", "turn \(turn): \(done.body.serialized)")
            XCTAssertGreaterThan(done["generated_tokens"]?.integerValue ?? 0, 0, "turn \(turn) answered")
            XCTAssertLessThanOrEqual(done["prompt_tokens"]?.integerValue ?? .max, Int64(Self.context - Self.replyTokens))
            conversation = conversation ?? done["conversation"]?.integerValue
            XCTAssertEqual(done["conversation"]?.integerValue, conversation)
            // Absent when nothing was left out, never 0.
            XCTAssertNotEqual(done["truncated_turns"], .integer(0))
            truncated.append(Int(done["truncated_turns"]?.integerValue ?? 0))
            cachedShare.append(Double(done["cached_tokens"]?.integerValue ?? 0) / Double(done["prompt_tokens"]?.integerValue ?? 1))
            replies.append(text)
        }
        print("daemon long conversation: truncated_turns per turn \(truncated)")
        XCTAssertEqual(truncated.first, 0)
        XCTAssertGreaterThan(truncated.last!, 0, "the context filled")
        XCTAssertEqual(truncated, truncated.sorted(), "older turns never come back")
        // Once turns are left out, the next turn keeps the same window while it fits, and reuses
        // the cache for most of its prompt.
        let kept = (1..<Self.turns).filter { truncated[$0] > 0 && truncated[$0] == truncated[$0 - 1] }
        XCTAssertGreaterThan(kept.count, 0, "\(truncated)")
        for turn in kept { XCTAssertGreaterThan(cachedShare[turn], 0.5, "turn \(turn)") }
        let id = try XCTUnwrap(conversation)

        // The store keeps every message, in order, whatever the prompts left out.
        var messages = try storedMessages(d, id)
        XCTAssertEqual(messages.count, 2 * Self.turns)
        for turn in 0..<Self.turns {
            XCTAssertEqual(messages[2 * turn]["content"], .string(Self.message(turn)))
            XCTAssertEqual(messages[2 * turn + 1]["content"], .string(replies[turn]))
        }

        // A message that cannot fit even alone is too_large, says so, and stores nothing.
        let huge = String(repeating: "garden ", count: 600)
        let (_, refused) = try chat(socket, id: 100, conversation: id, message: huge)
        XCTAssertEqual(refused.code, "too_large", refused.body.serialized)
        XCTAssertTrue(refused.error?.message.contains("the message alone") ?? false, refused.body.serialized)
        XCTAssertEqual(try storedMessages(d, id).count, 2 * Self.turns)

        // After a restart the conversation resumes, still leaving out its oldest turns.
        d.stop()
        let again = try daemon(["-c", "\(Self.context)"] + ["--db", d.databasePath])
        let resumed = try again.connect()
        let (text, done) = try chat(resumed, id: 1, conversation: id, message: "And one more thing?")
        XCTAssertEqual(done.name, "done", done.body.serialized)
        XCTAssertEqual(done["conversation"]?.integerValue, id)
        XCTAssertGreaterThan(done["truncated_turns"]?.integerValue ?? 0, 0)
        XCTAssertFalse(text.isEmpty)
        messages = try storedMessages(again, id)
        XCTAssertEqual(messages.count, 2 * Self.turns + 2)
        XCTAssertEqual(messages[2 * Self.turns]["content"], .string("And one more thing?"))
        XCTAssertEqual(messages[0]["content"], .string(Self.message(0)))
    }

    func testGenerateWithContextShiftRunsPastTheContext() throws {
        let d = try daemon(["-c", "\(Self.context)"])
        let socket = try d.connect()
        let prompt = (1...8).map(String.init).joined(separator: ", ") + ","
        let wanted = 2 * Self.context
        let (text, done) = try DaemonHarness.generate(
            socket, id: 1, prompt: prompt, extra: #","max_tokens":\#(wanted),"temperature":0,"context_shift":true"#)
        XCTAssertEqual(done["stop_reason"], .string("length"))
        XCTAssertEqual(done["generated_tokens"]?.integerValue, Int64(wanted), "more tokens than the context holds")
        XCTAssertNil(done["truncated_turns"])
        XCTAssertTrue(text.contains(" 100, 101,"), "it still counts after the shifts: \(text.suffix(200))")

        // Without it, a full context ends the generation as before.
        let (_, full) = try DaemonHarness.generate(socket, id: 2, prompt: prompt, extra: #","max_tokens":\#(wanted),"temperature":0"#)
        XCTAssertEqual(full["stop_reason"], .string("length"))
        XCTAssertLessThan(full["generated_tokens"]?.integerValue ?? .max, Int64(Self.context))

        // keep without context_shift, context_shift on a chat, a bad keep: bad_request naming the field.
        let bad = [
            #"{"id":3,"op":"generate","prompt":"Hi","keep":4}"#: "keep",
            #"{"id":3,"op":"generate","prompt":"Hi","context_shift":true,"keep":-2}"#: "keep",
            #"{"id":3,"op":"generate","prompt":"Hi","context_shift":"yes"}"#: "context_shift",
            #"{"id":3,"op":"chat","message":"Hi","context_shift":true}"#: "context_shift",
        ]
        for (line, field) in bad {
            try socket.send(line)
            let reply = try socket.readEvent()
            XCTAssertEqual(reply.code, "bad_request", line)
            XCTAssertTrue(reply.error?.message.contains(field) ?? false, "\(line): \(reply.body.serialized)")
        }
    }
}
