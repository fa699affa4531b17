import SLMJSON
import XCTest

@testable import SLMProtocol

final class RequestTests: XCTestCase {
    func decode(_ line: String) throws -> Request { try Request.decode(Array(line.utf8)) }

    func failure(_ line: String) -> RequestError? {
        do {
            _ = try decode(line)
            return nil
        } catch { return error as? RequestError }
    }

    func testDecodesEveryOp() throws {
        XCTAssertEqual(try decode(#"{"id":1,"op":"info"}"#), Request(id: .number(1), op: .info))
        XCTAssertEqual(try decode(#"{"id":"s","op":"stats"}"#).op, .stats)
        var s = SamplingFields()
        s.maxTokens = 8
        s.stop = ["\n"]
        s.sampling = .object([("temperature", .int(0)), ("seed", .int(7)), ("top_k", .int(5))])
        XCTAssertEqual(
            try decode(#"{"id":2,"op":"generate","prompt":"hi","max_tokens":8,"temperature":0,"seed":7,"stop":["\n"],"top_k":5}"#).op,
            .generate(prompt: "hi", s))
        XCTAssertEqual(try decode(#"{"id":3,"op":"chat","message":"m"}"#).op, .chat(conversation: nil, message: "m", SamplingFields()))
        XCTAssertEqual(
            try decode(#"{"id":3,"op":"chat","message":"m","conversation":4}"#).op, .chat(conversation: 4, message: "m", SamplingFields()))
        XCTAssertEqual(try decode(#"{"id":4,"op":"cancel","target":"x"}"#).op, .cancel(target: .string("x")))
        XCTAssertEqual(try decode(#"{"id":5,"op":"conversations.list"}"#).op, .listConversations(limit: 50, offset: 0))
        XCTAssertEqual(try decode(#"{"id":6,"op":"conversations.get","conversation":9}"#).op, .getConversation(9))
        XCTAssertEqual(try decode(#"{"id":7,"op":"conversations.delete","conversation":9}"#).op, .deleteConversation(9))
    }

    func testPreciseErrors() {
        XCTAssertEqual(failure("nope"), RequestError(id: nil, error: .malformedJSON(offset: 0, reason: "invalid literal")))
        XCTAssertEqual(failure("[1]")?.error, .notAnObject)
        XCTAssertEqual(failure(#"{"op":"info"}"#), RequestError(id: nil, error: .missingField("id")))
        XCTAssertEqual(failure(#"{"id":true,"op":"info"}"#)?.error, .wrongType(field: "id", expected: "a string or a number"))
        XCTAssertEqual(failure(#"{"id":1}"#), RequestError(id: .number(1), error: .missingField("op")))
        XCTAssertEqual(failure(#"{"id":1,"op":"fly"}"#), RequestError(id: .number(1), error: .unknownOp("fly")))
        XCTAssertEqual(failure(#"{"id":1,"op":"generate"}"#)?.error, .missingField("prompt"))
        XCTAssertEqual(failure(#"{"id":1,"op":"generate","prompt":3}"#)?.error, .wrongType(field: "prompt", expected: "a string"))
        XCTAssertEqual(
            failure(#"{"id":1,"op":"generate","prompt":"p","max_tokens":1.5}"#)?.error,
            .wrongType(field: "max_tokens", expected: "an integer"))
        XCTAssertEqual(failure(#"{"id":1,"op":"generate","prompt":"p","max_tokens":-1}"#)?.error.code, .badRequest)
        XCTAssertEqual(
            failure(#"{"id":1,"op":"generate","prompt":"p","stop":"x"}"#)?.error,
            .wrongType(field: "stop", expected: "an array of strings"))
        // Keys the protocol does not read itself go to the sampling settings, whose reader
        // (SamplingParameters(json:), SLMCore) refuses unknown ones: see SamplerTests and
        // DaemonOpsTests. Keys of the other op stay unknown here.
        XCTAssertEqual(
            try decode(#"{"id":1,"op":"generate","prompt":"p","max_token":3}"#).op,
            .generate(
                prompt: "p",
                {
                    var s = SamplingFields()
                    s.sampling = .object([("max_token", .int(3))])
                    return s
                }()))
        XCTAssertEqual(failure(#"{"id":1,"op":"generate","prompt":"p","message":"m"}"#)?.error, .unknownField("message"))
        XCTAssertEqual(failure(#"{"id":1,"op":"chat","message":"m","prompt":"p"}"#)?.error, .unknownField("prompt"))
        XCTAssertEqual(failure(#"{"id":1,"op":"conversations.get"}"#)?.error, .missingField("conversation"))
        XCTAssertEqual(failure(#"{"id":1,"op":"conversations.get","conversation":"a"}"#)?.error.code, .badRequest)
        XCTAssertEqual(failure(#"{"id":1,"op":"fly"}"#)?.error.code, .unsupported)
    }

    func testRepliesAreOneLineWithIdAndEventFirst() throws {
        let line = Reply.error(id: .string("a"), code: .tooLarge, message: "x\ny")
        XCTAssertEqual(line, #"{"id":"a","event":"error","error":{"code":"too_large","message":"x\ny"}}"# + "\n")
        let event = try Event(line: String(line.dropLast()))
        XCTAssertEqual(event.error?.code, "too_large")
        XCTAssertEqual(Reply.ok(id: .number(3)), #"{"id":3,"event":"ok"}"# + "\n")
    }
}
