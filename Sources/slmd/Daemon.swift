import CLibUV
import SLMCore
import SLMJSON
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// uv_async_send is the one libuv call that is safe from any thread.
struct AsyncHandle: @unchecked Sendable { let pointer: UnsafeMutablePointer<uv_async_t> }

/// The loop thread's side of slmd: the listener, the connections, request dispatch, reply
/// writing and shutdown. It never computes: generations go to the `Scheduler`, store queries to
/// libuv's work threads; both report back through the loop.
final class Daemon {
    static let version = EngineVersion.string
    /// Bytes libuv reads at a time; one buffer serves every connection (reads are handled at once).
    static let readChunkBytes = 64 * 1024
    /// Lines one connection may have handled before it lets the loop serve the others: libuv
    /// reads up to 32 chunks of one stream in a row, and a chunk of bad lines costs
    /// milliseconds of replies, so a flooding client would otherwise hold everyone's `info`
    /// for seconds. 64 lines are well under a millisecond of loop time.
    static let linesPerTurn = 64
    /// After the scheduler stops, how long clients get to take their last replies before close.
    static let finalFlushMilliseconds: UInt64 = 1000

    let config: DaemonConfig
    let engine: Engine
    let scheduler: Scheduler
    let store: StoreAccess?
    let loop = UnsafeMutablePointer<uv_loop_t>.allocate(capacity: 1)
    private let listener = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
    private let async = UnsafeMutablePointer<uv_async_t>.allocate(capacity: 1)
    private let signals = [
        UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1), UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1),
    ]
    private let timer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
    /// Runs while connections wait for their next turn (`yielded`): an idle handle keeps the
    /// loop from blocking and runs after the other handles' I/O of the same iteration.
    private let turnHandle = UnsafeMutablePointer<uv_idle_t>.allocate(capacity: 1)
    /// Connections that used their turn's lines, in the order they did (each at most once).
    private var yielded: [Connection] = []
    /// Looks for clients that stopped reading (`checkStalledWriters`).
    private let stallTimer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
    let readBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Daemon.readChunkBytes)

    private(set) var connections: [UInt64: Connection] = [:]
    private var nextConnectionID: UInt64 = 1
    private var shuttingDown = false
    private var schedulerStopped = false
    private(set) var infoFields: [(String, JSONValue)] = []

    init(config: DaemonConfig, engine: Engine, store: StoreAccess?) throws(DaemonError) {
        self.config = config
        self.engine = engine
        self.store = store
        let wakeHandle = AsyncHandle(pointer: async)
        scheduler = Scheduler(
            engine: engine, limits: config.limits, contextLength: config.contextLength,
            wake: { uv_async_send(wakeHandle.pointer) })
        scheduler.chatBackend = store?.chatBackend
        try uvCheck(uv_loop_init(loop), "uv_loop_init")
        loop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        infoFields = modelInfo()
    }

    /// After `run` returned (every handle closed) or threw (the process is about to exit and the
    /// loop never runs again): the handles' memory goes with the daemon.
    deinit {
        loop.deallocate()
        listener.deallocate()
        async.deallocate()
        for signal in signals { signal.deallocate() }
        timer.deallocate()
        stallTimer.deallocate()
        turnHandle.deallocate()
        readBuffer.deallocate()
    }

    static func from(_ loop: UnsafeMutablePointer<uv_loop_t>?) -> Daemon {
        Unmanaged<Daemon>.fromOpaque(loop!.pointee.data).takeUnretainedValue()
    }

    /// Serves until SIGTERM/SIGINT has been handled; returns when every handle is closed.
    func run() throws(DaemonError) {
        try uvCheck(uv_async_init(loop, async) { Daemon.from($0!.pointee.loop).drainScheduler() }, "uv_async_init")
        for (handle, signum) in zip(signals, [SIGTERM, SIGINT]) {
            try uvCheck(uv_signal_init(loop, handle), "uv_signal_init")
            try uvCheck(
                uv_signal_start(handle, { h, signum in Daemon.from(h!.pointee.loop).beginShutdown(signal: signum) }, signum),
                "uv_signal_start")
        }
        try uvCheck(uv_timer_init(loop, timer), "uv_timer_init")
        try uvCheck(uv_timer_init(loop, stallTimer), "uv_timer_init")
        try uvCheck(uv_idle_init(loop, turnHandle), "uv_idle_init")
        let interval = stallCheckIntervalMilliseconds
        uv_timer_start(stallTimer, { Daemon.from($0!.pointee.loop).checkStalledWriters() }, interval, interval)
        // The periodic check alone must not keep the loop alive at shutdown.
        uv_unref(asHandle(stallTimer))
        let whereListening = try Listener.open(listener, loop: loop, path: config.socketPath)
        try scheduler.start()
        Log.notice("listening on \(whereListening); protocol \(ProtocolLimits.version); pid \(getpid())")
        SystemdNotify.send("READY=1\nSTATUS=serving on \(whereListening)")
        uv_run(loop, UV_RUN_DEFAULT)
        scheduler.join()
        // A socket slmd bound itself goes with it; systemd's socket stays for the next activation.
        if whereListening == config.socketPath { unlink(config.socketPath) }
        uv_loop_close(loop)
    }

    // MARK: Connections

    func acceptClient(server: UnsafeMutablePointer<uv_stream_t>, status: Int32) {
        if status < 0 {
            Log.warning("accept: \(uvMessage(status))")
            return
        }
        let handle = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        guard uv_pipe_init(loop, handle, 0) == 0 else {
            handle.deallocate()
            return
        }
        guard uv_accept(server, asStream(handle)) == 0 else {
            uv_close(asHandle(handle)) { $0?.deallocate() }
            return
        }
        guard let uid = Listener.peerUID(handle) else {
            Log.warning("client without peer credentials; closed")
            uv_close(asHandle(handle)) { $0?.deallocate() }
            return
        }
        if config.limits.socketSendBufferBytes > 0 {
            var size = Int32(config.limits.socketSendBufferBytes)
            _ = uv_send_buffer_size(asHandle(handle), &size)
        }
        let connection = Connection(id: nextConnectionID, handle: handle, owner: uid)
        nextConnectionID += 1
        handle.pointee.data = Unmanaged.passUnretained(connection).toOpaque()
        connections[connection.id] = connection
        if connections.count > config.limits.maxClients || shuttingDown {
            let why = shuttingDown ? "the daemon is shutting down" : "too many clients (limit \(config.limits.maxClients))"
            connection.send(Reply.error(id: nil, code: .busy, message: why))
            closeAfterFlush(connection)
            return
        }
        Log.debug("client \(connection.id) connected (uid \(uid))")
        if startReading(connection) < 0 { close(connection) }
    }

    @discardableResult
    private func startReading(_ connection: Connection) -> Int32 {
        uv_read_start(
            asStream(connection.handle),
            { handle, _, buffer in
                let daemon = Daemon.from(handle!.pointee.loop)
                buffer!.pointee = uv_buf_init(daemon.readBuffer, UInt32(Daemon.readChunkBytes))
            },
            { stream, count, _ in
                guard let connection = Connection.from(UnsafeMutableRawPointer(stream)) else { return }
                Daemon.from(stream!.pointee.loop).didRead(connection, count: count)
            })
    }

    private func didRead(_ connection: Connection, count: Int) {
        if count == Int(UV_EOF.rawValue) {
            // End of input is either a client that went away (both directions shut: POLLHUP) —
            // its requests are cancelled — or one that only finished sending (`echo … | socat`,
            // shutdown(SHUT_WR)): its requests in flight still get their replies, then it closes.
            if Self.peerHungUp(connection) {
                close(connection)
                return
            }
            uv_read_stop(asStream(connection.handle))
            connection.readClosed = true
            if connection.isIdle { closeAfterFlush(connection) }
            return
        }
        if count < 0 {
            Log.debug("client \(connection.id): \(uvMessage(Int32(count)))")
            close(connection)
            return
        }
        guard count > 0, !connection.closing else { return }
        consume(UnsafeRawBufferPointer(start: readBuffer, count: count).bindMemory(to: UInt8.self), from: connection)
    }

    /// Whether the daemon must read no more requests from `connection` for now: a long line of
    /// it is being decoded, it has as many in flight as it may, or it does not read its replies. Lines already read wait in
    /// `unreadInput`; the kernel's socket buffer then fills and the client's writes block.
    private func mustStopReading(_ connection: Connection) -> Bool {
        connection.decoding || connection.throttled || connection.inFlightCount >= config.limits.maxRequestsPerConnection
            || connection.linesThisTurn >= Self.linesPerTurn
    }

    /// Splits `bytes` into lines and handles each, unless the connection must stop reading:
    /// then the rest is kept for `resumeReading`. Linear in the bytes.
    private func consume(_ bytes: UnsafeBufferPointer<UInt8>, from connection: Connection) {
        var start = 0
        while start < bytes.count, !connection.closing {
            // Error replies to bad lines count too: a client must read them to be read.
            throttleIfBehind(connection)
            if mustStopReading(connection) {
                connection.unreadInput.append(contentsOf: bytes[start...])
                if connection.linesThisTurn >= Self.linesPerTurn { yieldTurn(connection) }
                if !connection.readStopped {
                    connection.readStopped = true
                    uv_read_stop(asStream(connection.handle))
                    Log.debug(
                        "client \(connection.id): \(connection.inFlightCount) requests in flight, \(connection.pendingWriteBytes) reply bytes queued; reading paused"
                    )
                }
                return
            }
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                connection.partialLine.append(contentsOf: bytes[start...])
                if connection.partialLine.count > ProtocolLimits.maxLineBytes { refuseLongLine(connection) }
                return
            }
            var line = connection.partialLine
            line.append(contentsOf: bytes[start..<newline])
            connection.partialLine.removeAll(keepingCapacity: false)
            start = newline + 1
            if line.last == 0x0D { line.removeLast() }
            if line.count > ProtocolLimits.maxLineBytes {
                refuseLongLine(connection)
                return
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            connection.linesThisTurn += 1
            handleLine(line, from: connection)
        }
    }

    /// Queues `connection` for its next turn, after every other handle's I/O of this iteration.
    private func yieldTurn(_ connection: Connection) {
        guard !connection.awaitingTurn else { return }
        connection.awaitingTurn = true
        yielded.append(connection)
        if yielded.count == 1 {
            uv_idle_start(turnHandle) { Daemon.from($0!.pointee.loop).nextTurns() }
        }
    }

    /// Each connection that waited gets a new turn; those that use it up wait again.
    private func nextTurns() {
        let waiting = yielded
        yielded = []
        for connection in waiting where !connection.closing {
            connection.awaitingTurn = false
            connection.linesThisTurn = 0
            resumeReading(connection)
        }
        if yielded.isEmpty { uv_idle_stop(turnHandle) }
    }

    /// After a request finished or replies drained: handles the lines kept while reading was
    /// stopped, then reads again (unless those lines stopped it anew).
    func resumeReading(_ connection: Connection) {
        guard connection.readStopped, !connection.closing, !mustStopReading(connection) else { return }
        connection.readStopped = false
        let kept = connection.unreadInput
        connection.unreadInput = []
        kept.withUnsafeBufferPointer { consume($0, from: connection) }
        if !connection.readStopped && !connection.closing && !connection.readClosed {
            if startReading(connection) < 0 { close(connection) }
        }
    }

    private static func peerHungUp(_ connection: Connection) -> Bool {
        var fd: uv_os_fd_t = -1
        guard uv_fileno(asHandle(connection.handle), &fd) == 0 else { return true }
        var probe = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&probe, 1, 0) >= 0 else { return true }
        return probe.revents & Int16(POLLHUP | POLLERR) != 0
    }

    private func refuseLongLine(_ connection: Connection) {
        connection.partialLine = []
        connection.unreadInput = []
        connection.send(Reply.error(RequestError(id: nil, error: .lineTooLong(limit: ProtocolLimits.maxLineBytes))))
        Log.info("client \(connection.id): line over \(ProtocolLimits.maxLineBytes) bytes; closing")
        closeAfterFlush(connection)
    }

    /// Stops reading, cancels the client's requests, lets queued replies go out, then closes.
    func closeAfterFlush(_ connection: Connection) {
        guard !connection.closing else { return }
        if !connection.readClosed { uv_read_stop(asStream(connection.handle)) }
        connection.unreadInput = []
        cancelAll(of: connection)
        connection.closing = true
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        if uv_shutdown(
            request, asStream(connection.handle),
            { request, _ in
                let stream = request!.pointee.handle!
                request!.deallocate()
                Daemon.closeHandle(of: stream)
            }) < 0
        {
            request.deallocate()
            Daemon.closeHandle(of: asStream(connection.handle))
        }
    }

    /// Closes at once: a client that went away, or shutdown's last step.
    func close(_ connection: Connection) {
        cancelAll(of: connection)
        connection.closing = true
        Daemon.closeHandle(of: asStream(connection.handle))
    }

    private static func closeHandle(of stream: UnsafeMutablePointer<uv_stream_t>) {
        let handle = asHandle(stream)
        guard uv_is_closing(handle) == 0 else { return }
        uv_close(handle) { handle in
            guard let handle else { return }
            if let connection = Connection.from(UnsafeMutableRawPointer(handle)) {
                Daemon.from(handle.pointee.loop).forget(connection)
            }
            handle.deallocate()
        }
    }

    private func forget(_ connection: Connection) {
        connections.removeValue(forKey: connection.id)
        Log.debug("client \(connection.id) closed")
        if shuttingDown { finishShutdownIfIdle() }
    }

    private func cancelAll(of connection: Connection) {
        // Its store queries not started yet are dropped; one running has its reply discarded.
        if !connection.queries.isEmpty {
            store?.dropQueries(of: connection.id)
            connection.queries.removeAll()
        }
        guard !connection.jobs.isEmpty else { return }
        for job in connection.jobs.values {
            job.cancelRequested.store(true, ordering: .relaxed)
            job.paused.store(false, ordering: .relaxed)
        }
        connection.jobs.removeAll()
        scheduler.poke()
    }

    // MARK: Replies

    /// Runs after every uv_async_send (several sends may make one call: always take everything).
    private func drainScheduler() {
        let (items, stopped) = scheduler.drain()
        var batches: [UInt64: String] = [:]
        var order: [UInt64] = []
        var finishedOn: Set<UInt64> = []
        for item in items {
            guard let connection = connections[item.connection] else { continue }
            if let finished = item.finished {
                connection.jobs.removeValue(forKey: finished)
                finishedOn.insert(item.connection)
            }
            if connection.closing { continue }
            if batches[item.connection] == nil { order.append(item.connection) }
            batches[item.connection, default: ""] += item.text
        }
        for id in order {
            guard let connection = connections[id], let text = batches[id] else { continue }
            connection.send(text)
            if connection.readClosed && connection.isIdle {
                closeAfterFlush(connection)
                continue
            }
            throttleIfBehind(connection)
        }
        for id in finishedOn {
            if let connection = connections[id] { resumeReading(connection) }
        }
        if stopped && !schedulerStopped {
            schedulerStopped = true
            finishShutdownIfIdle()
        }
    }

    /// A client with more than `maxPendingWriteBytes` of replies queued is behind: its
    /// generations pause (giving up their slots) and its requests are no longer read.
    func throttleIfBehind(_ connection: Connection) {
        guard !connection.throttled, !connection.closing,
            connection.pendingWriteBytes > config.limits.maxPendingWriteBytes
        else { return }
        connection.throttled = true
        for job in connection.jobs.values { job.paused.store(true, ordering: .relaxed) }
        Log.debug("client \(connection.id): \(connection.pendingWriteBytes) reply bytes pending; its generations pause")
    }

    func didWrite(_ connection: Connection, status: Int32) {
        if status < 0 && status != Int32(UV_ECANCELED.rawValue) {
            // The reader is gone (EPIPE): stop generating for it.
            Log.debug("client \(connection.id): write: \(uvMessage(status))")
            if !connection.closing { close(connection) }
            return
        }
        if connection.throttled && connection.pendingWriteBytes <= config.limits.maxPendingWriteBytes / 2 {
            connection.throttled = false
            connection.cancelledAsSlowReader = false
            for job in connection.jobs.values { job.paused.store(false, ordering: .relaxed) }
            scheduler.poke()
            resumeReading(connection)
        }
    }

    /// How often `checkStalledWriters` runs: a fraction of the shorter timeout, so either
    /// fires within about 1/8 of its value late.
    private var stallCheckIntervalMilliseconds: UInt64 {
        let shorter = min(config.limits.slowReaderTimeoutMilliseconds, config.limits.writeStallTimeoutMilliseconds)
        return UInt64(max(10, shorter / 8))
    }

    /// Clients whose queued replies have not moved: after `slowReaderTimeoutMilliseconds` their
    /// generations are cancelled (their caches and slots go to clients that read), after
    /// `writeStallTimeoutMilliseconds` they are disconnected. O(connections) per tick.
    private func checkStalledWriters() {
        let now = uv_now(loop)
        for connection in connections.values where connection.pendingWriteBytes > 0 && !connection.closing {
            let stalled = now &- connection.lastWriteProgress
            if stalled >= UInt64(config.limits.writeStallTimeoutMilliseconds) {
                Log.info("client \(connection.id): replies not read for \(stalled) ms; disconnected")
                close(connection)
            } else if stalled >= UInt64(config.limits.slowReaderTimeoutMilliseconds), !connection.cancelledAsSlowReader,
                !connection.jobs.isEmpty
            {
                connection.cancelledAsSlowReader = true
                Log.info(
                    "client \(connection.id): replies not read for \(stalled) ms; its \(connection.jobs.count) generations are cancelled")
                for job in connection.jobs.values {
                    job.cancelRequested.store(true, ordering: .relaxed)
                    job.paused.store(false, ordering: .relaxed)
                }
                scheduler.poke()
            }
        }
    }

    // MARK: Shutdown

    /// SIGTERM/SIGINT: stop accepting, let in-flight work finish for the grace period, then
    /// cancel it; when the scheduler has stopped and the last replies went out, close everything.
    func beginShutdown(signal: Int32) {
        if shuttingDown {
            Log.notice("signal \(signal) again: cancelling in-flight work now")
            cancelEverything()
            return
        }
        shuttingDown = true
        Log.notice("signal \(signal): shutting down (grace \(config.limits.shutdownGraceMilliseconds) ms)")
        SystemdNotify.send("STOPPING=1")
        if uv_is_closing(asHandle(listener)) == 0 { uv_close(asHandle(listener), nil) }
        // The signal handlers stay: a second SIGTERM/SIGINT cancels at once instead of killing.
        scheduler.stopWhenDone()
        uv_timer_start(
            timer, { Daemon.from($0!.pointee.loop).cancelEverything() },
            UInt64(config.limits.shutdownGraceMilliseconds), 0)
    }

    private func cancelEverything() {
        for connection in connections.values {
            for job in connection.jobs.values {
                job.cancelRequested.store(true, ordering: .relaxed)
                job.paused.store(false, ordering: .relaxed)
            }
        }
        scheduler.poke()
    }

    private var finalCloseStarted = false

    /// After the scheduler stopped: give clients their last replies, then close every handle.
    private func finishShutdownIfIdle() {
        guard shuttingDown, schedulerStopped else { return }
        if !finalCloseStarted {
            finalCloseStarted = true
            for connection in connections.values where !connection.closing { closeAfterFlush(connection) }
            uv_timer_stop(timer)
            uv_timer_start(
                timer,
                { timer in
                    let daemon = Daemon.from(timer!.pointee.loop)
                    for connection in daemon.connections.values { daemon.close(connection) }
                    daemon.closeLoopHandles()
                }, Daemon.finalFlushMilliseconds, 0)
        }
        if connections.isEmpty { closeLoopHandles() }
    }

    private var loopHandlesClosed = false

    private func closeLoopHandles() {
        guard !loopHandlesClosed else { return }
        loopHandlesClosed = true
        for handle in [asHandle(async), asHandle(timer), asHandle(stallTimer), asHandle(turnHandle)] + signals.map({ asHandle($0) })
        where uv_is_closing(handle) == 0 {
            uv_close(handle, nil)
        }
    }
}
