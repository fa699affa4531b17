import Foundation
import SLMJSON
import SLMProtocol
import XCTest

/// The prompt cache through slmd: a uid's second `generate` with the same long prefix reuses
/// it and says so (`cached_tokens`, `stats.prompt_cache`), and gives the text a daemon without
/// the cache gives.
final class DaemonPromptCacheTests: DaemonTestCase {
    /// ~330 tokens of system prompt; what follows it differs per request.
    static let system =
        "<|im_start|>system\n"
        + (0..<24).map { "Rule \($0): answer about the harbour of Port \($0 * 7 % 11), its \($0 + 2) cranes and ferries." }
        .joined(separator: " ") + "<|im_end|>\n<|im_start|>user\n"

    static func prompt(_ question: String) -> String { system + question + "<|im_end|>\n<|im_start|>assistant\n" }

    static let questions = ["How many cranes are there?", "Name a ferry.", "Which port is the largest?", "Is it open at night?"]

    /// (text, cached_tokens) of each question in turn, greedy and seeded alternately.
    func run(_ d: DaemonHarness) throws -> [(String, Int)] {
        let socket = try d.connect()
        var out: [(String, Int)] = []
        for (i, q) in Self.questions.enumerated() {
            let sampling = i % 2 == 0 ? #","temperature":0"# : #","temperature":0.9,"seed":77"#
            let (text, done) = try DaemonHarness.generate(socket, id: i, prompt: Self.prompt(q), extra: #","max_tokens":10"# + sampling)
            out.append((text, Int(done["cached_tokens"]?.integerValue ?? -1)))
        }
        return out
    }

    func testSecondRequestReusesThePrefixAndGivesTheTextOfAnEmptyCache() throws {
        let cached = try run(try daemon())
        let plain = try run(try daemon(["--prompt-cache-bytes", "0"]))
        XCTAssertEqual(cached.map(\.0), plain.map(\.0))
        XCTAssertEqual(cached[0].1, 0)
        for (text, reused) in cached.dropFirst() {
            XCTAssertGreaterThanOrEqual(reused, 256, text)
            XCTAssertEqual(reused % 64, 0)
        }
        XCTAssertEqual(plain.map(\.1), [0, 0, 0, 0])
    }

    func testStatsAndMetricsCountHitsMissesAndBytes() throws {
        let d = try daemon()
        _ = try run(d)
        let stats = try XCTUnwrap(d.request(#"{"id":1,"op":"stats"}"#).last)
        let cache = try XCTUnwrap(stats["prompt_cache"])
        XCTAssertEqual(cache["hits"]?.integerValue, 3)
        XCTAssertEqual(cache["misses"]?.integerValue, 1)
        XCTAssertGreaterThanOrEqual(cache["reused_tokens"]?.integerValue ?? 0, 3 * 256)
        XCTAssertGreaterThan(cache["bytes"]?.integerValue ?? 0, 0)
        XCTAssertEqual(cache["max_bytes"]?.integerValue, 64 << 20)
        let memory = try XCTUnwrap(stats["memory"])
        XCTAssertEqual(memory["prompt_cache_bytes"]?.integerValue, cache["bytes"]?.integerValue)
        XCTAssertEqual(memory["budget_bytes"]?.integerValue, 0)
        XCTAssertGreaterThan(memory["weights_resident_bytes"]?.integerValue ?? 0, 0)

        let page = try http(d, "GET", "/metrics")
        XCTAssertTrue(page.contains("slm_prompt_cache_hits_total 3\n"), page)
        XCTAssertTrue(page.contains("slm_prompt_cache_misses_total 1\n"), page)
        XCTAssertTrue(page.contains("# TYPE slm_prompt_cache_reused_tokens_total counter\n"), page)
        XCTAssertTrue(page.contains("slm_memory_kv_reserved_bytes "), page)
    }

    /// OpenAI's completions endpoint goes through the same generate path.
    func testOpenAICompletionsReuseThePrefix() throws {
        let d = try daemon()
        var reused: [Int] = []
        for q in Self.questions.prefix(2) {
            let body = JSONValue.object([
                ("prompt", .string(Self.prompt(q))), ("max_tokens", .integer(4)), ("temperature", .integer(0)),
            ]).serialized
            let json = try JSONParser.parse(try http(d, "POST", "/v1/completions", body: body))
            reused.append(Int(json["usage"]?["prompt_tokens_details"]?["cached_tokens"]?.integerValue ?? -1))
        }
        XCTAssertEqual(reused[0], 0)
        XCTAssertGreaterThanOrEqual(reused[1], 256)
    }

    /// One HTTP/1.1 request on the daemon's socket (the first bytes pick the codec); the body
    /// of the response.
    func http(_ d: DaemonHarness, _ method: String, _ path: String, body: String = "") throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in d.socketPath.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(rc, 0)
        let request = Array(
            ("\(method) \(path) HTTP/1.1\r\nHost: slmd\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n" + body).utf8)
        XCTAssertEqual(request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, request.count)
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response += buffer[..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw XCTSkip("no HTTP response: \(text)") }
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200"), text)
        return String(text[split.upperBound...])
    }
}
