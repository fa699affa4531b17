import SLMJSON
import XCTest

@testable import SLMProtocol

/// The OpenAI and Ollama request decoders and reply shapes, without a daemon.
final class APIRequestTests: XCTestCase {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testOpenAIChatTakesItsFieldsAndSlmExtensions() throws {
        let g = try OpenAI.decodeChat(
            bytes(
                #"{"model":"m","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]}],"max_completion_tokens":7,"temperature":0,"top_k":5,"stop":"\n","stream":true,"stream_options":{"include_usage":true},"n":1,"user":"u1","presence_penalty":0}"#
            ))
        XCTAssertEqual(g.model, "m")
        XCTAssertEqual(
            g.input, .messages([APIMessage(role: "system", content: "Be brief."), APIMessage(role: "user", content: "Hi there")]))
        XCTAssertEqual(g.fields.maxTokens, 7)
        XCTAssertEqual(g.fields.stop, ["\n"])
        XCTAssertEqual(g.fields.sampling, .object([("temperature", .int(0)), ("top_k", .int(5))]))
        XCTAssertTrue(g.stream)
        XCTAssertTrue(g.includeUsage)
    }

    func testOpenAIRefusesWhatItCannotDoByName() {
        let cases: [(String, String)] = [
            (#"{"messages":[{"role":"user","content":"x"}],"n":2}"#, "n"),
            (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}"#, "tools"),
            (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#, "messages[0].content[0]"),
            (#"{"messages":[{"role":"tool","content":"x"}]}"#, "messages[0].role"),
            (#"{"messages":[{"role":"user","content":"x"}],"frequency_penalty":0.5}"#, "frequency_penalty"),
            (#"{"messages":[{"role":"user","content":"x"}],"max_token":5}"#, "max_token"),
            (#"{"messages":[]}"#, "messages"),
            (#"{"model":"m"}"#, "messages"),
            (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#, "max_tokens"),
            (#"{"messages":[{"role":"user","content":"x"}],"stop":[""]}"#, "stop"),
        ]
        for (body, param) in cases {
            XCTAssertThrowsError(try OpenAI.decodeChat(bytes(body)), body) { error in
                let e = error as! APIError
                XCTAssertEqual(e.status, 400, body)
                XCTAssertEqual(e.param, param, body)
            }
        }
        XCTAssertThrowsError(try OpenAI.decodeChat(bytes("{"))) { XCTAssertTrue(($0 as! APIError).message.contains("malformed JSON")) }
        XCTAssertThrowsError(try OpenAI.decodeChat(bytes("[]"))) { XCTAssertEqual(($0 as! APIError).status, 400) }
    }

    func testOpenAIConversationExtensionTakesOneNewUserMessage() throws {
        let g = try OpenAI.decodeChat(bytes(#"{"messages":[{"role":"user","content":"And Italy?"}],"conversation":3}"#))
        XCTAssertEqual(g.input, .conversation(3, message: "And Italy?"))
        let new = try OpenAI.decodeChat(bytes(#"{"messages":[{"role":"user","content":"Hi"}],"conversation":0}"#))
        XCTAssertEqual(new.input, .conversation(nil, message: "Hi"))
        XCTAssertThrowsError(
            try OpenAI.decodeChat(bytes(#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],"conversation":3}"#)))
    }

    func testOpenAICompletionDefaultsToSixteenTokens() throws {
        let g = try OpenAI.decodeCompletion(bytes(#"{"prompt":["Once"],"seed":4}"#))
        XCTAssertEqual(g.input, .prompt("Once"))
        XCTAssertEqual(g.fields.maxTokens, 16)
        XCTAssertThrowsError(try OpenAI.decodeCompletion(bytes(#"{"prompt":["a","b"]}"#)))
        XCTAssertThrowsError(try OpenAI.decodeCompletion(bytes(#"{"prompt":"a","echo":true}"#)))
    }

    func testOllamaGenerateAndChatOptions() throws {
        let g = try Ollama.decodeGenerate(
            bytes(
                #"{"model":"m:latest","prompt":"Hi","system":"Be kind.","options":{"num_predict":-1,"temperature":0.2,"seed":3,"num_thread":4,"stop":["x"]},"keep_alive":"1m30s"}"#
            ))
        XCTAssertEqual(g.input, .messages([APIMessage(role: "system", content: "Be kind."), APIMessage(role: "user", content: "Hi")]))
        XCTAssertTrue(g.stream)
        XCTAssertNil(g.fields.maxTokens)
        XCTAssertEqual(g.fields.stop, ["x"])
        XCTAssertEqual(g.keepAlive, .milliseconds(90_000))
        let raw = try Ollama.decodeGenerate(bytes(#"{"prompt":"Hi","raw":true,"stream":false,"keep_alive":-1}"#))
        XCTAssertEqual(raw.input, .prompt("Hi"))
        XCTAssertFalse(raw.stream)
        XCTAssertEqual(raw.keepAlive, .forever)
        XCTAssertThrowsError(try Ollama.decodeGenerate(bytes(#"{"prompt":"Hi","images":["aGk="]}"#)))
        XCTAssertThrowsError(try Ollama.decodeGenerate(bytes(#"{"prompt":"Hi","options":{"mirostat":2}}"#)))
        XCTAssertThrowsError(try Ollama.decodeGenerate(bytes(#"{"prompt":"Hi","options":{"bogus":1}}"#)))
        XCTAssertThrowsError(try Ollama.decodeChat(bytes(#"{"messages":[{"role":"user","content":"x","images":["aGk="]}]}"#)))
        XCTAssertEqual(
            try Ollama.decodeChat(bytes(#"{"messages":[{"role":"user","content":"x"}],"options":{"num_ctx":8192}}"#)).requestedContext, 8192
        )
    }

    func testStructuredOutputFieldsBecomeSamplingFields() throws {
        let schema = #"{"type":"object","properties":{"a":{"type":"integer"}}}"#
        var g = try OpenAI.decodeChat(
            bytes(
                #"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","strict":true,"schema":"#
                    + schema + "}}}"))
        XCTAssertEqual(g.fields.sampling["json_schema"], try JSONParser.parse(schema))
        g = try OpenAI.decodeChat(
            bytes(#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}"#))
        XCTAssertEqual(g.fields.sampling["json_schema"], .object([("type", .string("object"))]))
        g = try OpenAI.decodeChat(bytes(#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}}"#))
        XCTAssertNil(g.fields.sampling["json_schema"])
        g = try OpenAI.decodeCompletion(bytes(#"{"model":"m","prompt":"x","grammar":"root ::= \"a\""}"#))
        XCTAssertEqual(g.fields.sampling["grammar"], .string(#"root ::= "a""#))
        g = try Ollama.decodeGenerate(bytes(#"{"model":"m","prompt":"x","format":"json","options":{"temperature":0}}"#))
        XCTAssertEqual(g.fields.sampling, .object([("temperature", .int(0)), ("json_schema", .object([("type", .string("object"))]))]))
        g = try Ollama.decodeChat(bytes(#"{"model":"m","messages":[{"role":"user","content":"x"}],"format":"# + schema + "}"))
        XCTAssertEqual(g.fields.sampling["json_schema"], try JSONParser.parse(schema))
        let refused: [(String, String)] = [
            (#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}"#, "response_format.type"),
            (
                #"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}"#,
                "response_format.json_schema"
            ),
            (
                #"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"},"grammar":"root ::= \"a\""}"#,
                "response_format"
            ),
        ]
        for (body, param) in refused {
            XCTAssertThrowsError(try OpenAI.decodeChat(bytes(body)), body) { XCTAssertEqual(($0 as? APIError)?.param, param, body) }
        }
        XCTAssertThrowsError(try Ollama.decodeGenerate(bytes(#"{"model":"m","prompt":"x","format":"xml"}"#))) {
            XCTAssertEqual(($0 as? APIError)?.param, "format")
        }
    }

    func testKeepAliveDurations() throws {
        XCTAssertEqual(try KeepAlive(json: .string("5m")), .milliseconds(300_000))
        XCTAssertEqual(try KeepAlive(json: .string("1h")), .milliseconds(3_600_000))
        XCTAssertEqual(try KeepAlive(json: .string("250ms")), .milliseconds(250))
        XCTAssertEqual(try KeepAlive(json: .int(0)), .milliseconds(0))
        XCTAssertEqual(try KeepAlive(json: .string("-1")), .forever)
        XCTAssertThrowsError(try KeepAlive(json: .string("5 minutes")))
        XCTAssertThrowsError(try KeepAlive(json: .bool(true)))
    }

    func testOpenAIStreamFramesEveryEventAsAChunk() throws {
        let replies = OpenAIReplies(endpoint: .chat, serial: 7, created: 1, model: "m", stream: true, includeUsage: true, keepAlive: true)
        var out = replies.text("Hel") + replies.text("lo")
        var summary = GenerationSummary(stopReason: .eos)
        summary.promptTokens = 3
        summary.generatedTokens = 2
        out += replies.done(summary)
        XCTAssertEqual(replies.status, 200)
        XCTAssertTrue(out.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"))
        XCTAssertTrue(out.hasSuffix("e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"))
        // Undo the chunked framing and read the events.
        let body = String(out[out.range(of: "\r\n\r\n")!.upperBound...])
        var events: [String] = []
        var rest = Substring(body)
        while let crlf = rest.range(of: "\r\n") {
            let size = Int(rest[..<crlf.lowerBound], radix: 16)!
            if size == 0 { break }
            let start = crlf.upperBound
            let end = rest.utf8.index(start, offsetBy: size)
            events.append(String(rest[start..<end]))
            rest = rest[rest.utf8.index(end, offsetBy: 2)...]  // "\r\n" is one Character: step in bytes
        }
        XCTAssertEqual(events.count, 6)
        let deltas = events.dropLast().compactMap { event -> String? in
            let json = try? JSONParser.parse(String(event.dropFirst(6)))
            return json?["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue
        }
        XCTAssertEqual(deltas.joined(), "Hello")
        let usage = try JSONParser.parse(String(events[4].dropFirst(6)))["usage"]
        XCTAssertEqual(usage?["total_tokens"], .int(5))
    }

    func testErrorsBeforeTheFirstTokenHaveTheirStatusAfterItEndTheStream() {
        let early = OllamaReplies(endpoint: .chat, model: "m", stream: true, keepAlive: false, elapsed: { 0 })
        let refused = early.failed(.busy, "full")
        XCTAssertTrue(refused.hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"))
        XCTAssertTrue(refused.contains("Connection: close\r\n"))
        XCTAssertTrue(refused.hasSuffix(#"{"error":"full"}"#))
        let late = OpenAIReplies(
            endpoint: .completion, serial: 1, created: 1, model: "m", stream: true, includeUsage: false, keepAlive: true)
        _ = late.text("a")
        let failed = late.failed(.internal, "boom")
        XCTAssertEqual(late.status, 200)
        XCTAssertTrue(failed.contains(#"data: {"error":{"message":"boom","type":"server_error""#))
        XCTAssertTrue(failed.hasSuffix("0\r\n\r\n"))
    }

    func testOllamaTimestampsAreRFC3339() {
        XCTAssertEqual(Ollama.timestamp(unixNanoseconds: 1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456789Z")
    }
}
