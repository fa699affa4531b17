import SLMJSON

extension HTTPStatus {
    /// A whole response: status line, headers, `Content-Length` and body.
    public static func response(
        status: Int, contentType: String, body: String, keepAlive: Bool, headers: [(String, String)] = []
    ) -> String {
        let head = head(
            status: status, headers: [("Content-Type", contentType)] + headers, contentLength: body.utf8.count, keepAlive: keepAlive)
        return String(decoding: head, as: UTF8.self) + body
    }

    /// A JSON response.
    public static func json(status: Int, _ body: JSONValue, keepAlive: Bool, headers: [(String, String)] = []) -> String {
        response(status: status, contentType: "application/json", body: body.serialized, keepAlive: keepAlive, headers: headers)
    }

    /// One part of a chunked body, as text ("" for empty text: an empty chunk would end the body).
    public static func chunk(_ text: String) -> String {
        let count = text.utf8.count
        guard count > 0 else { return "" }
        return String(count, radix: 16) + "\r\n" + text + "\r\n"
    }

    public static let lastChunkText = "0\r\n\r\n"
}

/// What the HTTP front ends share: a response sent whole when it is not streamed, else a status
/// line with a chunked body sent with the first piece. `status` tells the daemon (metrics) how
/// the response went; it is read after the last bytes, when the inference thread is done with
/// the object.
public class HTTPGenerationReplies: GenerationReplies, @unchecked Sendable {
    public let stream: Bool
    public let keepAlive: Bool
    let contentType: String
    public private(set) var headSent = false
    public private(set) var status = 0

    init(stream: Bool, keepAlive: Bool, contentType: String) {
        self.stream = stream
        self.keepAlive = keepAlive
        self.contentType = contentType
    }

    public func text(_ piece: String) -> String { "" }
    public func done(_ summary: GenerationSummary) -> String { "" }
    public func failed(_ code: ErrorCode, _ message: String) -> String { "" }
    public func embeddings(_ result: EmbeddingsResult) -> String { "" }

    /// The head of a streamed 200 response.
    func streamHead() -> String {
        headSent = true
        status = 200
        let head = HTTPStatus.head(
            status: 200, headers: [("Content-Type", contentType), ("Cache-Control", "no-cache")], contentLength: nil,
            keepAlive: keepAlive)
        return String(decoding: head, as: UTF8.self)
    }

    /// A response sent whole.
    func whole(status: Int, json: JSONValue) -> String {
        headSent = true
        self.status = status
        return HTTPStatus.json(status: status, json, keepAlive: keepAlive)
    }
}
