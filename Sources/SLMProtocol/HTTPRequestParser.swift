import CHTTPParser

/// One header line of a request; the name is lowercased (HTTP names are case-insensitive).
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One HTTP/1.x request, whole: a chunked body arrives already joined.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The request target as sent: the path and the query, if any.
    public var target: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    /// False when the client asked to close after this request (`Connection: close`, or
    /// HTTP/1.0 without `keep-alive`): the response says `Connection: close` and the daemon closes.
    public var keepAlive: Bool
    public var versionMinor: Int

    /// The target up to its query.
    public var path: Substring { target.prefix { $0 != "?" } }

    /// The target after `?`, or nil.
    public var query: Substring? {
        guard let mark = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: mark)...]
    }

    /// The first header of that name (give it lowercased).
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// The bounds one request must stay within; each comes from a daemon setting.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line and header lines together.
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    /// After chunked decoding.
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int, maxHeaderCount: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A request the parser refuses: the status to answer with (400, 413, 431, 501 or 505) and why.
/// The connection cannot be read further after one: answer and close.
public struct HTTPRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(HTTPStatus.reason(status)): \(message)" }
}

/// Reads HTTP/1.x requests from a connection's bytes as they arrive, one request at a time, with
/// Debian's libhttp-parser (the parser Node.js used until v12) doing the grammar: request line,
/// header syntax, `Content-Length` and chunked bodies, and refusing `Content-Length` together with
/// `Transfer-Encoding` (request smuggling). This type adds the limits, the header count and the
/// request value.
///
/// `parse` stops after each complete request, so a client that pipelines many requests in one
/// write gets them one by one and the daemon can stop reading between them as it does for lines.
public final class HTTPRequestParser {
    public let limits: HTTPLimits
    /// The C parser's state; its `data` points back to this object during `parse`.
    private let parser: UnsafeMutablePointer<http_parser>
    private var failure: HTTPRequestError?

    // The request being read.
    private var target: [UInt8] = []
    private var headers: [HTTPHeader] = []
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var readingValue = false
    /// Past the blank line: header callbacks now are a chunked body's trailer, which is counted
    /// against the header limit but not kept (nothing reads trailers).
    private var inTrailer = false
    private var headerBytes = 0
    private var body: [UInt8] = []
    private var complete: HTTPRequest?
    /// Bytes of the current request seen so far (0 between requests): a request in progress is
    /// what the daemon's header-read timeout watches.
    public private(set) var bytesOfCurrentRequest = 0
    /// The request being read asked for `100 Continue` before it sends its body (curl does for
    /// bodies over 1 KiB and otherwise waits a second); `takeContinue` tells the caller once.
    private var continueExpected = false

    public init(limits: HTTPLimits) {
        self.limits = limits
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_REQUEST)
    }

    deinit {
        parser.deallocate()
    }

    /// Parses `bytes` until one request is complete or they run out. Returns how many bytes were
    /// used and the request if one completed; call again with the rest. Throws the status to
    /// answer with when the request is malformed or over a limit; the parser is then unusable.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTPRequestError) -> (consumed: Int, request: HTTPRequest?) {
        if let failure { throw failure }
        guard !bytes.isEmpty else { return (0, nil) }
        // Line ends between requests (some clients send one after a body) start no request: the
        // C parser skips them too, but they must not start the caller's read timer.
        if bytesOfCurrentRequest == 0, let first = bytes.firstIndex(where: { $0 != 0x0D && $0 != 0x0A }), first > 0 {
            return (first, nil)
        }
        if bytesOfCurrentRequest == 0, bytes.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) { return (bytes.count, nil) }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let consumed = withUnsafePointer(to: Self.settings) { settings in
            http_parser_execute(parser, settings, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        parser.pointee.data = nil
        let code = http_errno(rawValue: slm_http_errno(parser))
        if let failure {
            throw failure
        }
        if code == HPE_PAUSED {
            http_parser_pause(parser, 0)
        } else if code != HPE_OK {
            throw fail(Self.error(for: code))
        }
        if let request = complete {
            complete = nil
            bytesOfCurrentRequest = 0
            return (consumed, request)
        }
        bytesOfCurrentRequest += consumed
        return (consumed, nil)
    }

    /// True once per request whose headers ask for `100 Continue` and whose body has not been
    /// read yet: the caller sends `HTTP/1.1 100 Continue` (the headers are within the limits).
    public func takeContinue() -> Bool {
        defer { continueExpected = false }
        return continueExpected && bytesOfCurrentRequest > 0
    }

    /// The connection ended: throws when it ended inside a request.
    public func finish() throws(HTTPRequestError) {
        if let failure { throw failure }
        if bytesOfCurrentRequest > 0 { throw fail(HTTPRequestError(status: 400, "the connection ended inside a request")) }
    }

    @discardableResult
    private func fail(_ error: HTTPRequestError) -> HTTPRequestError {
        if failure == nil { failure = error }
        return failure!
    }

    private static func error(for code: http_errno) -> HTTPRequestError {
        let description = String(cString: http_errno_description(code))
        switch code {
        case HPE_HEADER_OVERFLOW: return HTTPRequestError(status: 431, "the request's headers are too large")
        case HPE_INVALID_METHOD: return HTTPRequestError(status: 400, "malformed request line: \(description)")
        case HPE_INVALID_VERSION: return HTTPRequestError(status: 400, "malformed HTTP version in the request line")
        case HPE_CLOSED_CONNECTION: return HTTPRequestError(status: 400, "data after a request that closes the connection")
        default: return HTTPRequestError(status: 400, "malformed request: \(description)")
        }
    }

    // MARK: callbacks (C calls these during http_parser_execute)

    private static func context(_ p: UnsafeMutablePointer<http_parser>?) -> HTTPRequestParser {
        Unmanaged<HTTPRequestParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    private static func bytes(_ at: UnsafePointer<CChar>?, _ length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: at, count: length)
    }

    /// Counts header bytes against the limit; false (stop) when over it.
    private func countHeaderBytes(_ n: Int) -> Bool {
        headerBytes += n
        if headerBytes > limits.maxHeaderBytes {
            fail(HTTPRequestError(status: 431, "the request line and headers are over \(limits.maxHeaderBytes) bytes"))
            return false
        }
        return true
    }

    private func endHeaderLine() -> Bool {
        guard readingValue else { return true }
        // The line's ": " and CRLF.
        guard countHeaderBytes(4) else { return false }
        guard headers.count < limits.maxHeaderCount else {
            fail(HTTPRequestError(status: 431, "more than \(limits.maxHeaderCount) header lines"))
            return false
        }
        var end = value.count
        while end > 0, value[end - 1] == 0x20 || value[end - 1] == 0x09 { end -= 1 }
        let name = String(decoding: field.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        headers.append(HTTPHeader(name: name, value: String(decoding: value[..<end], as: UTF8.self)))
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        readingValue = false
        return true
    }

    private static let settings: http_parser_settings = {
        var s = http_parser_settings()
        s.on_message_begin = { p in
            let c = context(p)
            c.target.removeAll()
            c.headers.removeAll()
            c.field.removeAll()
            c.value.removeAll()
            c.readingValue = false
            c.inTrailer = false
            c.headerBytes = 0
            c.body.removeAll()
            return 0
        }
        s.on_url = { p, at, n in
            let c = context(p)
            guard c.countHeaderBytes(n) else { return 1 }
            c.target.append(contentsOf: bytes(at, n))
            return 0
        }
        s.on_header_field = { p, at, n in
            let c = context(p)
            if c.inTrailer { return c.countHeaderBytes(n) ? 0 : 1 }
            guard c.endHeaderLine(), c.countHeaderBytes(n) else { return 1 }
            c.field.append(contentsOf: bytes(at, n))
            return 0
        }
        s.on_header_value = { p, at, n in
            let c = context(p)
            guard c.countHeaderBytes(n) else { return 1 }
            if c.inTrailer { return 0 }
            c.readingValue = true
            c.value.append(contentsOf: bytes(at, n))
            return 0
        }
        s.on_headers_complete = { p in
            let c = context(p)
            guard c.endHeaderLine(), let p else { return 1 }
            c.inTrailer = true
            if slm_http_major(p) != 1 {
                c.fail(HTTPRequestError(status: 505, "only HTTP/1.0 and HTTP/1.1 are served"))
                return 1
            }
            if slm_http_upgrade(p) != 0 || slm_http_method(p) == HTTP_CONNECT.rawValue {
                // The parser would hand the rest of the connection to another protocol.
                c.fail(HTTPRequestError(status: 501, "protocol upgrades and CONNECT are not served"))
                return 1
            }
            // A declared length over the limit is refused before any of the body is read.
            let declared = p.pointee.content_length
            if declared != UInt64.max, declared > UInt64(c.limits.maxBodyBytes) {
                c.fail(HTTPRequestError(status: 413, "the body is \(declared) bytes; the limit is \(c.limits.maxBodyBytes)"))
                return 1
            }
            c.continueExpected =
                slm_http_minor(p) >= 1 && c.headers.contains { $0.name == "expect" && $0.value.lowercased() == "100-continue" }
            return 0
        }
        s.on_body = { p, at, n in
            let c = context(p)
            guard c.body.count + n <= c.limits.maxBodyBytes else {
                c.fail(HTTPRequestError(status: 413, "the body is over \(c.limits.maxBodyBytes) bytes"))
                return 1
            }
            c.body.append(contentsOf: bytes(at, n))
            return 0
        }
        s.on_message_complete = { p in
            let c = context(p)
            guard let p else { return 1 }
            let method = String(cString: http_method_str(http_method(rawValue: slm_http_method(p))))
            c.continueExpected = false
            c.complete = HTTPRequest(
                method: method, target: String(decoding: c.target, as: UTF8.self), headers: c.headers, body: c.body,
                keepAlive: http_should_keep_alive(p) != 0, versionMinor: Int(slm_http_minor(p)))
            // One request per call: the caller applies its per-connection limits before reading on.
            http_parser_pause(p, 1)
            return 0
        }
        return s
    }()
}

/// Status lines and response framing for the daemon's HTTP replies.
public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    /// The status line and headers. `contentLength` nil means a chunked body follows
    /// (`chunk(_:)` for each part, then `lastChunk`).
    public static func head(status: Int, headers: [(String, String)], contentLength: Int?, keepAlive: Bool) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reason(status))\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let contentLength {
            text += "Content-Length: \(contentLength)\r\n"
        } else {
            text += "Transfer-Encoding: chunked\r\n"
        }
        if !keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// One part of a chunked body; empty input gives nothing (an empty chunk would end the body).
    public static func chunk<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        var out = Array(String(bytes.count, radix: 16).utf8)
        out += [0x0D, 0x0A]
        out += bytes
        out += [0x0D, 0x0A]
        return out
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
}

/// What a connection speaks, told from its first bytes: an HTTP request line starts with a
/// method token (uppercase letters) and a space; anything else is the NDJSON protocol (whose
/// lines start with `{`, and whose errors a client that is neither then gets).
public enum WireProtocol: Sendable, Equatable {
    case ndjson
    case http

    /// Longest method token looked for (`PROPPATCH`, `MKCALENDAR` are the long ones).
    static let longestMethod = 16

    /// nil while the bytes so far could still be either (all uppercase letters, few of them).
    public static func detect(_ prefix: UnsafeRawBufferPointer) -> WireProtocol? {
        for (i, byte) in prefix.enumerated() {
            if byte == 0x20 { return i > 0 ? .http : .ndjson }
            guard byte >= 0x41, byte <= 0x5A, i < longestMethod else { return .ndjson }
        }
        return nil
    }
}
