import SLMProtocol
import XCTest

final class HTTPRequestParserTests: XCTestCase {
    static let limits = HTTPLimits(maxHeaderBytes: 8192, maxHeaderCount: 64, maxBodyBytes: 65536)

    /// Feeds `text` in pieces of `step` bytes and returns every request, as the daemon would see
    /// them from reads of that size.
    func requests(_ text: String, step: Int = .max, limits: HTTPLimits = limits) throws -> [HTTPRequest] {
        let bytes = Array(text.utf8)
        let parser = HTTPRequestParser(limits: limits)
        var out: [HTTPRequest] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + min(step, bytes.count))
            var offset = start
            while offset < end {
                let (consumed, request) = try bytes[offset..<end].withUnsafeBytes { raw in
                    try parser.parse(raw)
                }
                offset += consumed
                if let request { out.append(request) } else if consumed == 0 { break }
            }
            start = end
        }
        try parser.finish()
        return out
    }

    /// A line end after a request (some clients send one after a body) is not a request begun:
    /// the connection's read timer must not start, and ending there is a clean end.
    func testLineEndsBetweenRequestsStartNoRequest() throws {
        let parser = HTTPRequestParser(limits: Self.limits)
        let stream = Array("POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n\r\n".utf8)
        let (consumed, request) = try stream.withUnsafeBytes { try parser.parse($0) }
        XCTAssertEqual(request?.body, Array("hi".utf8))
        let rest = try stream[consumed...].withUnsafeBytes { try parser.parse($0) }
        XCTAssertEqual(rest.consumed, 4)
        XCTAssertNil(rest.request)
        XCTAssertEqual(parser.bytesOfCurrentRequest, 0)
        XCTAssertNoThrow(try parser.finish())
        XCTAssertEqual(try requests("\r\nGET /b HTTP/1.1\r\n\r\n\r\nGET /c HTTP/1.1\r\n\r\n", step: 1).map(\.target), ["/b", "/c"])
    }

    func status(_ text: String, limits: HTTPLimits = limits) -> Int? {
        do {
            _ = try requests(text, limits: limits)
            return nil
        } catch let error as HTTPRequestError {
            return error.status
        } catch {
            XCTFail("\(error)")
            return -1
        }
    }

    func testGetWithHeadersAndQuery() throws {
        let r = try requests("GET /v1/models?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept:  application/json \r\n\r\n")
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r[0].method, "GET")
        XCTAssertEqual(r[0].path, "/v1/models")
        XCTAssertEqual(r[0].query, "x=1")
        XCTAssertEqual(r[0].header("accept"), "application/json")
        XCTAssertEqual(r[0].headers.map(\.name), ["host", "accept"])
        XCTAssertTrue(r[0].keepAlive)
        XCTAssertEqual(r[0].body, [])
    }

    func testContentLengthAndChunkedBodiesAtEverySplit() throws {
        let plain = "POST /api/chat HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":\"bcd\"}"
        let chunked = "POST /api/chat HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n7\r\n:\"bcd\"}\r\n0\r\n\r\n"
        for step in [1, 2, 3, 7, 64, .max] {
            for text in [plain, chunked] {
                let r = try requests(text, step: step)
                XCTAssertEqual(r.count, 1, "step \(step)")
                XCTAssertEqual(String(decoding: r[0].body, as: UTF8.self), #"{"a":"bcd"}"#, "step \(step)")
                XCTAssertEqual(r[0].method, "POST")
            }
        }
    }

    func testAChunkedBodysTrailerIsNotTakenForHeaders() throws {
        let r = try requests(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nAuthorization: Bearer x\r\nX-Other: 1\r\n\r\n")
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r[0].body, Array("hi".utf8))
        XCTAssertNil(r[0].header("authorization"))
        XCTAssertEqual(r[0].headers.map(\.name), ["transfer-encoding"])
    }

    func testPipelinedRequestsComeOneAtATime() throws {
        let one = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        let text = String(repeating: one, count: 3) + "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        let bytes = Array(text.utf8)
        let parser = HTTPRequestParser(limits: Self.limits)
        let first = try bytes.withUnsafeBytes { raw in try parser.parse(raw) }
        XCTAssertEqual(first.consumed, one.utf8.count, "the parser stops after each request")
        XCTAssertEqual(first.request?.path, "/health")
        for step in [1, 5, .max] {
            let r = try requests(text, step: step)
            XCTAssertEqual(r.map { String($0.path) }, ["/health", "/health", "/health", "/a"], "step \(step)")
            XCTAssertEqual(r.last?.body, Array("hi".utf8))
        }
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() throws {
        XCTAssertFalse(try requests("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")[0].keepAlive)
        XCTAssertFalse(try requests("GET / HTTP/1.0\r\n\r\n")[0].keepAlive)
        XCTAssertTrue(try requests("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")[0].keepAlive)
        XCTAssertEqual(try requests("GET / HTTP/1.0\r\n\r\n")[0].versionMinor, 0)
    }

    func testMalformedInputIsA400() {
        XCTAssertEqual(status("{\"id\":1}\n"), 400)
        XCTAssertEqual(status("GET\r\n\r\n"), 400)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400)
        XCTAssertEqual(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400)
        // Both framings at once is how requests are smuggled past a proxy.
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: x\r\n"), 400, "the connection ended inside the headers")
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), 400, "the connection ended inside the body")
    }

    func testLimitsGiveTheirStatus() {
        let small = HTTPLimits(maxHeaderBytes: 200, maxHeaderCount: 3, maxBodyBytes: 10)
        XCTAssertEqual(status("GET /\(String(repeating: "a", count: 300)) HTTP/1.1\r\n\r\n", limits: small), 431)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nX: \(String(repeating: "a", count: 300))\r\n\r\n", limits: small), 431)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: small), 431)
        XCTAssertNil(status("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: small))
        XCTAssertEqual(status("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits: small), 413, "refused from the header alone")
        XCTAssertEqual(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", limits: small), 413)
        XCTAssertNil(status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", limits: small))
        XCTAssertEqual(status("GET / HTTP/2.0\r\n\r\n"), 505)
        XCTAssertEqual(status("CONNECT example.com:443 HTTP/1.1\r\n\r\n"), 501)
        XCTAssertEqual(status("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), 501)
    }

    func testAfterAnErrorTheParserStaysFailed() throws {
        let parser = HTTPRequestParser(limits: Self.limits)
        let bad = Array("BAD REQUEST LINE\r\n\r\n".utf8)
        XCTAssertThrowsError(try bad.withUnsafeBytes { raw in try parser.parse(raw) })
        let good = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        XCTAssertThrowsError(try good.withUnsafeBytes { raw in try parser.parse(raw) })
    }

    func testResponseFraming() {
        let head = String(
            decoding: HTTPStatus.head(status: 404, headers: [("Content-Type", "application/json")], contentLength: 2, keepAlive: false),
            as: UTF8.self)
        XCTAssertEqual(head, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
        let chunkedHead = String(decoding: HTTPStatus.head(status: 200, headers: [], contentLength: nil, keepAlive: true), as: UTF8.self)
        XCTAssertEqual(chunkedHead, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(
            String(decoding: HTTPStatus.chunk(Array(String(repeating: "x", count: 26).utf8)), as: UTF8.self),
            "1a\r\n" + String(repeating: "x", count: 26) + "\r\n")
        XCTAssertEqual(HTTPStatus.chunk([UInt8]()), [])
        XCTAssertEqual(String(decoding: HTTPStatus.lastChunk, as: UTF8.self), "0\r\n\r\n")
    }

    func testTheFirstBytesTellTheProtocol() {
        func detect(_ s: String) -> WireProtocol? { Array(s.utf8).withUnsafeBytes { WireProtocol.detect($0) } }
        XCTAssertEqual(detect("GET / HTTP/1.1\r\n"), .http)
        XCTAssertEqual(detect("POST "), .http)
        XCTAssertEqual(detect("{\"id\":1,\"op\":\"info\"}\n"), .ndjson)
        XCTAssertEqual(detect(" GET"), .ndjson)
        XCTAssertEqual(detect("get / HTTP/1.1"), .ndjson)
        XCTAssertEqual(detect("\n"), .ndjson)
        XCTAssertNil(detect(""))
        XCTAssertNil(detect("POS"))
        XCTAssertEqual(detect(String(repeating: "A", count: 17)), .ndjson)
    }
}
