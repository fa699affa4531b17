import CLibUV
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One client on the loop thread: splits what it sends into lines, queues what it is sent, and
/// tracks its requests in flight. Lives in `Daemon.connections` from accept until its handle's
/// close callback.
final class Connection {
    let id: UInt64
    /// A `uv_pipe_t` (the Unix socket) or a `uv_tcp_t` (`--listen`).
    let handle: UnsafeMutablePointer<uv_stream_t>
    /// The uid that owns its conversations: the peer's (SO_PEERCRED), or `tcp-owner-uid`.
    let owner: UInt32
    /// Came through `--listen`: HTTP only, and with `--api-key-file` every request needs the key.
    let viaTCP: Bool
    /// Bytes of a line not yet ended by a newline (at most `ProtocolLimits.maxLineBytes`).
    var partialLine: [UInt8] = []
    /// Bytes read but not yet split into lines because the daemon stopped reading this
    /// connection (at most one read chunk: reading stops right after it).
    var unreadInput: [UInt8] = []
    /// A long line is being decoded off the loop; no more is read until it is handled.
    var decoding = false
    /// Lines handled since this connection last gave the loop to the others (`Daemon.linesPerTurn`).
    var linesThisTurn = 0
    /// In `Daemon.yielded`, waiting for its next turn.
    var awaitingTurn = false
    /// Reading is stopped for back-pressure (`Daemon.mustStopReading`), not for good.
    var readStopped = false
    /// Reply bytes handed to libuv and not yet written to the socket.
    var pendingWriteBytes = 0
    /// Loop time (ms) when queued replies last moved: the last completed write, or when the
    /// queue went from empty to non-empty. A client that does not read stops moving it.
    var lastWriteProgress: UInt64 = 0
    /// Whether this connection's generations are paused because of `pendingWriteBytes`.
    var throttled = false
    /// Whether its generations were cancelled for not reading (done once).
    var cancelledAsSlowReader = false
    /// Requests in flight by id (generate and chat); the scheduler reports their last line.
    var jobs: [RequestID: Job] = [:]
    /// Ids of conversation queries whose replies are still to come.
    var queries: Set<RequestID> = []
    var inFlightCount: Int { jobs.count + queries.count }
    var isIdle: Bool { jobs.isEmpty && queries.isEmpty && !decoding }
    func isInFlight(_ id: RequestID) -> Bool { jobs[id] != nil || queries.contains(id) }
    /// What the connection speaks: nil until its first bytes tell (`WireProtocol.detect`).
    var wire: WireProtocol?
    /// The HTTP side, once the connection turned out to speak HTTP.
    var http: HTTPConnection?
    /// The client shut down its sending side; close once its requests are answered.
    var readClosed = false
    /// Closing: no more reads, no more replies.
    var closing = false

    init(id: UInt64, handle: UnsafeMutablePointer<uv_stream_t>, owner: UInt32, viaTCP: Bool) {
        self.id = id
        self.handle = handle
        self.owner = owner
        self.viaTCP = viaTCP
    }

    static func from(_ handle: UnsafeMutableRawPointer?) -> Connection? {
        guard let data = handle?.assumingMemoryBound(to: uv_handle_t.self).pointee.data else { return nil }
        return Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
    }

    /// Hands `text` to libuv; the write callback gives the bytes back to `pendingWriteBytes`.
    func send(_ text: String) {
        guard !closing, !text.isEmpty else { return }
        if pendingWriteBytes == 0 { lastWriteProgress = uv_now(handle.pointee.loop) }
        let count = text.utf8.count
        let write = WriteRequest(count: count, connection: self)
        var copied = 0
        var text = text
        text.withUTF8 { utf8 in
            write.bytes.initialize(from: utf8.baseAddress!, count: utf8.count)
            copied = utf8.count
        }
        var buffer = uv_buf_init(UnsafeMutableRawPointer(write.bytes).assumingMemoryBound(to: CChar.self), UInt32(copied))
        write.request.pointee.data = Unmanaged.passRetained(write).toOpaque()
        let rc = uv_write(write.request, asStream(handle), &buffer, 1, onWritten)
        if rc < 0 {
            Unmanaged<WriteRequest>.fromOpaque(write.request.pointee.data).release()
            Log.debug("client \(id): write failed: \(uvMessage(rc))")
            return
        }
        pendingWriteBytes += copied
    }
}

/// A reply buffer and its libuv request, freed by the write callback.
final class WriteRequest {
    let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
    let bytes: UnsafeMutablePointer<UInt8>
    let count: Int
    let connection: Connection

    init(count: Int, connection: Connection) {
        bytes = .allocate(capacity: max(count, 1))
        self.count = count
        self.connection = connection
    }

    deinit {
        bytes.deallocate()
        request.deallocate()
    }
}

private func onWritten(_ request: UnsafeMutablePointer<uv_write_t>?, _ status: Int32) {
    guard let request, let data = request.pointee.data else { return }
    let write = Unmanaged<WriteRequest>.fromOpaque(data).takeRetainedValue()
    let connection = write.connection
    connection.pendingWriteBytes -= write.count
    connection.lastWriteProgress = uv_now(request.pointee.handle.pointee.loop)
    Daemon.from(request.pointee.handle.pointee.loop).didWrite(connection, status: status)
}

/// An HTTP connection's state: its parser and the request being answered. Requests are answered
/// one at a time in order (HTTP/1.1 has no ids to match replies by); while one is answered, the
/// next is not parsed, which also bounds a pipelining client like `maxRequestsPerConnection`.
final class HTTPConnection {
    let parser: HTTPRequestParser
    /// A request is being answered; no more are read until it is.
    var responding = false
    /// Loop time (ms) when the first byte of the request being read arrived; 0 between requests.
    var requestStartedAt: UInt64 = 0
    /// The request is being decoded on a work thread (a long body).
    var decoding = false
    /// Loop time (ms) when bytes last arrived or a response ended: a keep-alive connection
    /// with nothing since `httpIdleTimeoutMilliseconds` is closed.
    var lastActivity: UInt64

    init(limits: HTTPLimits, now: UInt64) {
        parser = HTTPRequestParser(limits: limits)
        lastActivity = now
    }
}
