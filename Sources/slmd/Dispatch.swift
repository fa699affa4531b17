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
        runOffLoop(connection: connection, work: { Result { () throws(RequestError) in try Request.decode(line) } }) {
            daemon, connection, result in
            connection.decoding = false
            daemon.handle(result, from: connection)
            if connection.readClosed && connection.isIdle {
                daemon.closeAfterFlush(connection)
            } else {
                daemon.resumeReading(connection)
            }
        }
    }

    /// Runs `work` on a libuv work thread, then `then` on the loop with its result, unless the
    /// connection closed meanwhile. Parsing a long request this way keeps the loop's work O(1)
    /// in it. (Run here at once if libuv cannot queue it.)
    func runOffLoop<T>(
        connection: Connection, work: @escaping @Sendable () -> T, then: @escaping (Daemon, Connection, T) -> Void
    ) {
        let slot = ResultSlot<T>()
        let job = OffLoopWork(
            connection: connection.id, run: { slot.value = work() }, then: { daemon, connection in then(daemon, connection, slot.value!) })
        job.request.pointee.data = Unmanaged.passRetained(job).toOpaque()
        let rc = uv_queue_work(
            loop, job.request,
            { request in Unmanaged<OffLoopWork>.fromOpaque(request!.pointee.data).takeUnretainedValue().run() },
            { request, _ in
                let job = Unmanaged<OffLoopWork>.fromOpaque(request!.pointee.data).takeRetainedValue()
                let daemon = Daemon.from(request!.pointee.loop)
                guard let connection = daemon.connections[job.connection], !connection.closing else { return }
                job.then(daemon, connection)
            })
        if rc < 0 {
            Unmanaged<OffLoopWork>.fromOpaque(job.request.pointee.data).release()
            then(self, connection, work())
        }
    }

    private func handle(_ decoded: Result<Request, RequestError>, from connection: Connection) {
        let request: Request
        switch decoded {
        case .success(let r): request = r
        case .failure(let error):
            Log.debug("client \(connection.id): \(error.error)")
            metrics.countRequest(wire: .ndjson, endpoint: "invalid", status: error.error.code.rawValue)
            connection.send(Reply.error(error))
            return
        }
        switch request.op {
        case .generate, .chat, .embed, .searchConversations(_, _, true): break  // counted when they end (`jobEnded`)
        default: metrics.countRequest(wire: .ndjson, endpoint: request.op.name, status: "ok")
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
            connection.send(Reply.line(id: id, event: "info", infoFields()))
        case .stats:
            connection.send(Reply.line(id: id, event: "stats", statsFields()))
        case .models:
            connection.send(Reply.line(id: id, event: "models", [("models", .array(models.map(modelState)))]))
        case .generate(let prompt, let fields):
            submit(.generate(prompt: prompt), fields: fields, id: id, connection: connection)
        case .chat(let conversation, let message, let fields):
            guard store != nil else {
                connection.send(Reply.error(id: id, code: .unsupported, message: "this daemon runs without a conversation store"))
                return
            }
            submit(.chat(conversation: conversation, message: message), fields: fields, id: id, connection: connection)
        case .embed(let embed):
            submitEmbedding(embed, replies: NDJSONReplies(id: id), id: id, endpoint: "embed", on: connection) { code, message in
                connection.send(Reply.error(id: id, code: code, message: message))
            }
        case .cancel(let target):
            guard let job = connection.jobs[target] else {
                connection.send(Reply.error(id: id, code: .notFound, message: "no request \(target) in flight on this connection"))
                return
            }
            job.cancelRequested.store(true, ordering: .relaxed)
            job.paused.store(false, ordering: .relaxed)
            job.model.scheduler?.poke()
            connection.send(Reply.ok(id: id))
        case .searchConversations(let query, let limit, true):
            guard let index = semanticIndex, let model = model(named: index.modelName) else {
                connection.send(
                    Reply.error(
                        id: id, code: .unsupported,
                        message:
                            "this daemon has no embedding model for semantic search (serve one, e.g. slmd -m minilm=all-MiniLM-L6-v2.gguf; setting memory-model)"
                    ))
                return
            }
            let job = Job(
                connection: connection.id, id: id, owner: connection.owner, kind: .semanticSearch(query: query, limit: limit),
                options: GenerationOptions(), replies: NDJSONReplies(id: id), model: model, endpoint: "conversations.search")
            enqueue(job, on: connection)
        case .listConversations, .getConversation, .deleteConversation, .searchConversations:
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
        guard let model = model(named: fields.model) else {
            connection.send(
                Reply.error(
                    id: id, code: .notFound,
                    message: "no model \"\(fields.model ?? "")\"; the models op lists the models this daemon serves"))
            return
        }
        model.keepAlive = config.keepAlive
        let job = Job(
            connection: connection.id, id: id, owner: connection.owner, kind: kind, options: options,
            replies: NDJSONReplies(id: id), model: model, endpoint: kind.endpoint)
        enqueue(job, on: connection)
    }

    /// Queues an embedding request on its model; `refuse` answers a request that cannot run.
    func submitEmbedding(
        _ request: EmbedRequest, replies: any GenerationReplies, id: RequestID, endpoint: String, on connection: Connection,
        refuse: (ErrorCode, String) -> Void
    ) {
        let options: EmbeddingOptions
        do {
            options = try embeddingOptions(request)
        } catch {
            return refuse(error.code, error.description)
        }
        guard let model = model(named: request.model) else {
            return refuse(.notFound, "no model \"\(request.model ?? "")\"; the models op lists the models this daemon serves")
        }
        model.keepAlive = request.keepAlive ?? config.keepAlive
        let job = Job(
            connection: connection.id, id: id, owner: connection.owner, kind: .embed(request.inputs, options),
            options: GenerationOptions(), replies: replies, model: model, endpoint: endpoint)
        enqueue(job, on: connection)
    }

    /// The served model of that name (nil or "": the default). Ollama's `:latest` tag is the
    /// model itself.
    func model(named name: String?) -> ServedModel? {
        guard let name, !name.isEmpty else { return models[0] }
        let bare = name.hasSuffix(":latest") ? String(name.dropLast(7)) : name
        return models.first { $0.name == name || $0.name == bare }
    }

    /// Takes `job` for its connection: it runs on its model, which is mapped first if need be.
    func enqueue(_ job: Job, on connection: Connection) {
        connection.jobs[job.id] = job
        let model = job.model
        model.inFlight += 1
        model.lastUsed = uv_now(loop)
        if connection.throttled { job.paused.store(true, ordering: .relaxed) }
        if model.state == .loaded {
            submitToScheduler(job)
            return
        }
        guard model.waitingForLoad.count < config.limits.maxQueuedRequests else {
            refuse(job, .busy, "\(model.waitingForLoad.count) requests wait for the model \(model.name) to load; retry later")
            return
        }
        model.waitingForLoad.append(job)
        if model.state == .unloaded { startLoading(model) }
    }

    private func submitToScheduler(_ job: Job) {
        guard let scheduler = job.model.scheduler else { return refuse(job, .internal, "the model \(job.model.name) is not loaded") }
        switch scheduler.submit(job) {
        case .accepted: return
        case .queueFull:
            refuse(job, .busy, "the request queue is full (\(config.limits.maxQueuedRequests) waiting); retry later")
        case .uidQueueFull:
            refuse(
                job, .busy, "uid \(job.owner) has \(config.limits.maxQueuedPerUID) generations waiting (max-queue-per-uid); retry later")
        case .stopping:
            refuse(job, .busy, "the daemon is shutting down")
        case .overBudget(let needed):
            refuse(
                job, .busy,
                "the memory budget (\(ByteSize.format(config.limits.memoryBudgetBytes))) is below what one generation on the model \(job.model.name) needs (\(ByteSize.format(needed)) with its weights and one context); raise memory-budget or lower ctx-size"
            )
        }
    }

    /// Ends a job that never ran, with an error in its client's protocol.
    private func refuse(_ job: Job, _ code: ErrorCode, _ message: String) {
        connections[job.connection]?.send(job.replies.failed(code, message))
        jobEnded(job, summary: nil)
    }

    /// Maps `model` off the loop; the requests that waited run (or fail) when it is done.
    func startLoading(_ model: ServedModel) {
        model.loadInBackground(loop: loop, config: config, processCPUs: processCPUs, wake: wake, chatBackend: store?.chatBackend) {
            [unowned self] model in
            let waiting = model.waitingForLoad
            model.waitingForLoad = []
            if shuttingDown {
                model.scheduler?.stopWhenDone()
                for job in waiting { refuse(job, .busy, "the daemon is shutting down") }
                finishShutdownIfIdle()
                return
            }
            for job in waiting {
                (job.replies as? OllamaReplies)?.loadSeconds = model.lastLoadSeconds
                (job.replies as? EmbeddingReplies)?.loadSeconds = model.lastLoadSeconds
                if model.state == .loaded {
                    submitToScheduler(job)
                } else {
                    refuse(job, .internal, "the model \(model.name) could not be loaded: \(model.loadError ?? "unknown error")")
                }
            }
        }
    }

    /// Jobs waiting (for a slot or for their model), running and paused, over every model.
    var schedulerCounts: (queued: Int, running: Int, paused: Int) {
        var total = (queued: 0, running: 0, paused: 0)
        for model in models {
            total.queued += model.waitingForLoad.count
            guard let counts = model.scheduler?.counts else { continue }
            total.queued += counts.queued
            total.running += counts.running
            total.paused += counts.paused
        }
        return total
    }

    var tokensServed: Int {
        tokensServedByUnloaded + models.reduce(0) { $0 + ($1.scheduler?.tokensServed.load(ordering: .relaxed) ?? 0) }
    }

    func statsFields() -> [(String, JSONValue)] {
        let counts = schedulerCounts
        let memory = ProcessStatus.current()
        let cache = promptCacheStatistics
        let budget = memoryAccount
        return [
            ("queue_depth", .integer(counts.queued)),
            ("active_requests", .integer(counts.running)),
            ("paused_requests", .integer(counts.paused)),
            ("clients", .integer(connections.count)),
            ("tokens_served", .integer(tokensServed)),
            ("models_loaded", .integer(models.filter { $0.state == .loaded }.count)),
            ("rss_bytes", .integer(memory.residentBytes)),
            ("rss_anon_bytes", .integer(memory.anonymousBytes)),
            (
                "prompt_cache",
                .object([
                    ("hits", .integer(cache.hits)), ("misses", .integer(cache.misses)),
                    ("reused_tokens", .integer(cache.reusedTokens)), ("bytes", .integer(cache.bytes)),
                    ("entries", .integer(cache.entries)), ("evictions", .integer(cache.evictions)),
                    ("max_bytes", .integer(config.limits.promptCacheBytes)),
                ])
            ),
            (
                "memory",
                .object([
                    ("budget_bytes", .integer(memoryBudget.limit)),
                    ("accounted_bytes", .integer(memoryBudget.runtimeBaseline + budget.accounted)),
                    ("weights_bytes", .integer(budget.weights)),
                    ("weights_resident_bytes", .integer(budget.weightsResident)),
                    ("kv_reserved_bytes", .integer(budget.kvReserved)),
                    ("scratch_bytes", .integer(budget.scratch)),
                    ("snapshot_bytes", .integer(budget.snapshots)),
                    ("prompt_cache_bytes", .integer(budget.promptCache)),
                    ("runtime_bytes", .integer(memoryBudget.runtimeBaseline + budget.modelHeap)),
                    ("sessions", .integer(budget.sessions)),
                ])
            ),
        ]
    }

    /// Prompt cache counters over every model, loaded or since unloaded.
    var promptCacheStatistics: PromptCache.Statistics {
        var total = promptCacheByUnloaded
        total.bytes = 0
        total.entries = 0
        for model in models {
            guard let s = model.scheduler?.promptCacheStatistics else { continue }
            total.hits += s.hits
            total.misses += s.misses
            total.reusedTokens += s.reusedTokens
            total.evictions += s.evictions
            total.bytes += s.bytes
            total.entries += s.entries
        }
        return total
    }

    /// The memory budget's accounts over every model, with the weights' resident bytes read now
    /// (`mincore` on each mapping: one byte per page, a few microseconds for a small model).
    var memoryAccount: MemoryBudget.Account {
        var total = memoryBudget.total()
        total.weightsResident = models.reduce(0) { $0 + ($1.engine?.file.file.residentBytes() ?? 0) }
        return total
    }

    /// `info`: the protocol, the default model (as before several models) and every model.
    func infoFields() -> [(String, JSONValue)] {
        [
            ("protocol", .integer(ProtocolLimits.version)),
            ("version", .string(Daemon.version)),
            ("model", modelDescription(models[0])),
            ("models", .array(models.map(modelState))),
            (
                "limits",
                .object(
                    [("max_line_bytes", .integer(ProtocolLimits.maxLineBytes))]
                        + config.limitsInfo.map { ($0.0, .integer($0.1)) })
            ),
        ]
    }

    func modelDescription(_ model: ServedModel) -> JSONValue {
        let facts = model.facts
        return .object([
            ("name", .string(facts.displayName)),
            ("architecture", .string(facts.architecture)),
            ("context_length", .integer(config.contextLength ?? min(facts.trainedContextLength, Engine.defaultMaxContext))),
            ("trained_context_length", .integer(facts.trainedContextLength)),
            ("cache_type_k", .string(config.cacheTypes.key.rawValue)),
            ("cache_type_v", .string(config.cacheTypes.value.rawValue)),
            ("quantization", .string(facts.quantization)),
            ("file", .string(model.path.split(separator: "/").last.map(String.init) ?? model.path)),
        ])
    }

    /// One entry of the `models` op and of `info.models`.
    func modelState(_ model: ServedModel) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("id", .string(model.name)), ("state", .string(model.state.rawValue)), ("default", .bool(model === models[0])),
        ]
        switch model.keepAlive {
        case .forever: fields.append(("keep_alive_ms", .integer(-1)))
        case .milliseconds(let ms): fields.append(("keep_alive_ms", .integer(ms)))
        }
        fields.append(("in_flight", .integer(model.inFlight)))
        return .object(fields + (modelDescription(model).objectValue ?? []))
    }
}

extension Job.Kind {
    /// The NDJSON op, for the metrics.
    var endpoint: String {
        switch self {
        case .generate: return "generate"
        case .chat: return "chat"
        case .messages: return "chat"
        case .embed: return "embed"
        case .semanticSearch: return "conversations.search"
        }
    }
}

/// Work for a libuv work thread (`runOffLoop`) and what the loop does with its result.
final class OffLoopWork {
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
    let connection: UInt64
    let run: () -> Void
    let then: (Daemon, Connection) -> Void

    init(connection: UInt64, run: @escaping () -> Void, then: @escaping (Daemon, Connection) -> Void) {
        self.connection = connection
        self.run = run
        self.then = then
    }

    deinit { request.deallocate() }
}

/// Where a work thread leaves its result for the loop (libuv orders the two callbacks).
final class ResultSlot<T>: @unchecked Sendable {
    var value: T?
}
