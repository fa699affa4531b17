import CLibUV
import SLMCore
import SLMJSON
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Request lines to actions, on the loop thread. Control ops are answered here at once; `generate`
/// and `chat` become scheduler jobs; conversation queries go to the store's work threads.
extension Daemon {
    /// Lines this long are decoded on a libuv work thread: a 1 MiB line takes tens of ms to
    /// parse, which on the loop would hold up every other client. Shorter ones (nearly all)
    /// cost microseconds and are decoded here.
    static let decodeOffLoopBytes = 64 * 1024

    func handleLine(_ line: [UInt8], from connection: Connection) {
        if line.count >= Self.decodeOffLoopBytes {
            decodeOffLoop(line, from: connection)
            return
        }
        handle(Result { () throws(RequestError) in try Request.decode(line) }, from: connection)
    }

    /// Decodes on a work thread; the connection is not read meanwhile (`Connection.decoding`),
    /// so its requests keep their order, and each connection has at most one line there.
    private func decodeOffLoop(_ line: [UInt8], from connection: Connection) {
        connection.decoding = true
        let work = DecodeWork(connection: connection.id, line: line)
        work.request.pointee.data = Unmanaged.passRetained(work).toOpaque()
        let rc = uv_queue_work(
            loop, work.request,
            { request in
                let work = Unmanaged<DecodeWork>.fromOpaque(request!.pointee.data).takeUnretainedValue()
                work.result = Result { () throws(RequestError) in try Request.decode(work.line) }
                work.line = []
            },
            { request, _ in
                let work = Unmanaged<DecodeWork>.fromOpaque(request!.pointee.data).takeRetainedValue()
                let daemon = Daemon.from(request!.pointee.loop)
                guard let connection = daemon.connections[work.connection], !connection.closing, let result = work.result else { return }
                connection.decoding = false
                daemon.handle(result, from: connection)
                if connection.readClosed && connection.isIdle {
                    daemon.closeAfterFlush(connection)
                } else {
                    daemon.resumeReading(connection)
                }
            })
        if rc < 0 {
            Unmanaged<DecodeWork>.fromOpaque(work.request.pointee.data).release()
            connection.decoding = false
            handle(Result { () throws(RequestError) in try Request.decode(line) }, from: connection)
        }
    }

    private func handle(_ decoded: Result<Request, RequestError>, from connection: Connection) {
        let request: Request
        switch decoded {
        case .success(let r): request = r
        case .failure(let error):
            Log.debug("client \(connection.id): \(error.error)")
            connection.send(Reply.error(error))
            return
        }
        let id = request.id
        // Replies are matched to requests by id, so while one is in flight its id stays its own,
        // whatever the op.
        if connection.isInFlight(id) {
            connection.send(
                Reply.error(id: id, code: .badRequest, message: "a request with id \(id) is already in flight on this connection"))
            return
        }
        switch request.op {
        case .info:
            connection.send(Reply.line(id: id, event: "info", infoFields))
        case .stats:
            connection.send(Reply.line(id: id, event: "stats", statsFields()))
        case .generate(let prompt, let fields):
            submit(.generate(prompt: prompt), fields: fields, id: id, connection: connection)
        case .chat(let conversation, let message, let fields):
            guard store != nil else {
                connection.send(Reply.error(id: id, code: .unsupported, message: "this daemon runs without a conversation store"))
                return
            }
            submit(.chat(conversation: conversation, message: message), fields: fields, id: id, connection: connection)
        case .cancel(let target):
            guard let job = connection.jobs[target] else {
                connection.send(Reply.error(id: id, code: .notFound, message: "no request \(target) in flight on this connection"))
                return
            }
            job.cancelRequested.store(true, ordering: .relaxed)
            job.paused.store(false, ordering: .relaxed)
            scheduler.poke()
            connection.send(Reply.ok(id: id))
        case .listConversations, .getConversation, .deleteConversation:
            guard let store else {
                connection.send(Reply.error(id: id, code: .unsupported, message: "this daemon runs without a conversation store"))
                return
            }
            connection.queries.insert(id)
            store.perform(request.op, id: id, owner: connection.owner, connection: connection.id, daemon: self)
        }
    }

    /// Called by the store with a finished query's reply.
    func deliver(_ text: String, for id: RequestID, to connectionID: UInt64) {
        guard let connection = connections[connectionID], connection.queries.remove(id) != nil else { return }
        connection.send(text)
        if connection.readClosed && connection.isIdle {
            closeAfterFlush(connection)
            return
        }
        throttleIfBehind(connection)
        resumeReading(connection)
    }

    private func submit(_ kind: Job.Kind, fields: SamplingFields, id: RequestID, connection: Connection) {
        let options: GenerationOptions
        do {
            options = try generationOptions(fields)
        } catch {
            connection.send(Reply.error(id: id, code: error.code, message: error.description))
            return
        }
        let job = Job(connection: connection.id, id: id, owner: connection.owner, kind: kind, options: options)
        if connection.throttled { job.paused.store(true, ordering: .relaxed) }
        switch scheduler.submit(job) {
        case .accepted:
            connection.jobs[id] = job
        case .queueFull:
            connection.send(
                Reply.error(
                    id: id, code: .busy, message: "the request queue is full (\(config.limits.maxQueuedRequests) waiting); retry later"))
        case .uidQueueFull:
            connection.send(
                Reply.error(
                    id: id, code: .busy,
                    message:
                        "uid \(connection.owner) has \(config.limits.maxQueuedPerUID) generations waiting (max-queue-per-uid); retry later")
            )
        case .stopping:
            connection.send(Reply.error(id: id, code: .busy, message: "the daemon is shutting down"))
        }
    }

    func statsFields() -> [(String, JSONValue)] {
        let counts = scheduler.counts
        let memory = ProcessStatus.current()
        return [
            ("queue_depth", .integer(counts.queued)),
            ("active_requests", .integer(counts.running)),
            ("paused_requests", .integer(counts.paused)),
            ("clients", .integer(connections.count)),
            ("tokens_served", .integer(scheduler.tokensServed.load(ordering: .relaxed))),
            ("rss_bytes", .integer(memory.residentBytes)),
            ("rss_anon_bytes", .integer(memory.anonymousBytes)),
        ]
    }

    func modelInfo() -> [(String, JSONValue)] {
        let file = engine.file
        let path = file.path
        let baseName = path.split(separator: "/").last.map(String.init) ?? path
        let name = file.string("general.name") ?? baseName
        let architecture = (try? file.architecture()) ?? "unknown"
        return [
            ("protocol", .integer(ProtocolLimits.version)),
            ("version", .string(Daemon.version)),
            (
                "model",
                .object([
                    ("name", .string(name)),
                    ("architecture", .string(architecture)),
                    ("context_length", .integer(config.contextLength ?? engine.defaultContextLength())),
                    ("trained_context_length", .integer(engine.model.trainedContextLength)),
                    ("quantization", .string(dominantTensorType(file))),
                    ("file", .string(baseName)),
                ])
            ),
            (
                "limits",
                .object(
                    [("max_line_bytes", .integer(ProtocolLimits.maxLineBytes))]
                        + config.limitsInfo.map { ($0.0, .integer($0.1)) })
            ),
        ]
    }

    /// The tensor type holding most of the weight bytes ("Q4_1"): what people mean by a model's quantization.
    private func dominantTensorType(_ file: GGUFFile) -> String {
        var bytes: [String: Int] = [:]
        for tensor in file.tensors { bytes[tensor.type.description, default: 0] += tensor.byteCount }
        return bytes.max { $0.value < $1.value }?.key ?? "unknown"
    }
}

/// A long request line on its way through a libuv work thread.
final class DecodeWork {
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
    let connection: UInt64
    var line: [UInt8]
    var result: Result<Request, RequestError>?

    init(connection: UInt64, line: [UInt8]) {
        self.connection = connection
        self.line = line
    }

    deinit { request.deallocate() }
}
