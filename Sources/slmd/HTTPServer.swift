import CLibUV
import SLMCore
import SLMJSON
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// HTTP/1.1 on the daemon's socket: OpenAI- and Ollama-compatible endpoints, `/health` and
/// `/metrics` (docs/http.md). A connection whose first bytes are a request line lands here;
/// generations go through the same jobs, queues and fairness rules as NDJSON ones, only their
/// replies are shaped for HTTP (`OpenAIReplies`, `OllamaReplies`).
extension Daemon {
    var httpLimits: HTTPLimits {
        HTTPLimits(
            maxHeaderBytes: config.limits.httpMaxHeaderBytes, maxHeaderCount: config.limits.httpMaxHeaderCount,
            maxBodyBytes: config.limits.httpMaxBodyBytes)
    }

    /// Feeds `bytes` to the connection's parser, handling each request as it completes, unless
    /// the connection must stop reading (a request is being answered): then the rest is kept.
    func consumeHTTP(_ bytes: UnsafeBufferPointer<UInt8>, from connection: Connection) {
        guard let http = connection.http else { return }
        http.lastActivity = uv_now(loop)
        var start = 0
        while start < bytes.count, !connection.closing {
            throttleIfBehind(connection)
            if http.responding || connection.throttled || connection.linesThisTurn >= Self.linesPerTurn {
                stopReading(connection, keeping: bytes[start...])
                return
            }
            let result: (consumed: Int, request: HTTPRequest?)
            do throws(HTTPRequestError) {
                result = try http.parser.parse(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start...])))
            } catch {
                Log.debug("client \(connection.id): HTTP \(error)")
                metrics.countRequest(wire: .http, endpoint: "invalid", status: String(error.status))
                connection.send(errorResponse(path: "", APIError(status: error.status, error.message), keepAlive: false))
                closeAfterFlush(connection)
                return
            }
            start += result.consumed
            guard let request = result.request else {
                if http.parser.bytesOfCurrentRequest > 0 && http.requestStartedAt == 0 { http.requestStartedAt = uv_now(loop) }
                if http.parser.takeContinue() { connection.send("HTTP/1.1 100 Continue\r\n\r\n") }
                if result.consumed == 0 { return }
                continue
            }
            http.requestStartedAt = 0
            connection.linesThisTurn += 1
            handleHTTP(request, from: connection)
        }
    }

    /// Requests that have taken longer than `httpReadTimeoutMilliseconds` to arrive are answered
    /// 408 and their connections closed; keep-alive connections idle for
    /// `httpIdleTimeoutMilliseconds` are closed. O(connections).
    func checkSlowRequests(now: UInt64) {
        let limit = UInt64(config.limits.httpReadTimeoutMilliseconds)
        let idleLimit = UInt64(config.limits.httpIdleTimeoutMilliseconds)
        for connection in connections.values where !connection.closing {
            guard let http = connection.http else { continue }
            if http.requestStartedAt == 0, !http.responding, !http.decoding, connection.jobs.isEmpty,
                now &- http.lastActivity >= idleLimit
            {
                Log.debug("client \(connection.id): HTTP keep-alive idle for \(now &- http.lastActivity) ms; closed")
                closeAfterFlush(connection)
                continue
            }
            guard http.requestStartedAt > 0, now &- http.requestStartedAt >= limit else { continue }
            Log.info("client \(connection.id): HTTP request not complete after \(now &- http.requestStartedAt) ms; closed")
            metrics.countRequest(wire: .http, endpoint: "invalid", status: "408")
            connection.send(
                errorResponse(path: "", APIError(status: 408, "the request did not arrive within \(limit) ms"), keepAlive: false))
            closeAfterFlush(connection)
        }
    }

    // MARK: Routing

    private func handleHTTP(_ request: HTTPRequest, from connection: Connection) {
        let keepAlive = request.keepAlive && !shuttingDown
        let path = String(request.path)
        let endpoint = Self.endpoints.contains(path) ? path : (path.hasPrefix("/v1/models/") ? "/v1/models/{id}" : "other")
        func reply(_ status: Int, _ text: String) {
            metrics.countRequest(wire: .http, endpoint: endpoint, status: String(status))
            // HEAD: the head of the GET response, without its body.
            connection.send(request.method == "HEAD" ? Self.headOnly(text) : text)
            if !keepAlive { closeAfterFlush(connection) }
        }
        func json(_ status: Int, _ body: JSONValue) { reply(status, HTTPStatus.json(status: status, body, keepAlive: keepAlive)) }
        func fail(_ error: APIError) { reply(error.status, errorResponse(path: path, error, keepAlive: keepAlive)) }

        if connection.viaTCP, let key = apiKey, !Self.bearerMatches(request.header("authorization"), key: key) {
            return reply(
                401,
                HTTPStatus.json(
                    status: 401,
                    path.hasPrefix("/api/")
                        ? Ollama.errorBody(APIError(status: 401, "missing or wrong API key"))
                        : OpenAI.errorBody(APIError(status: 401, "missing or wrong API key", code: "invalid_api_key")),
                    keepAlive: keepAlive, headers: [("WWW-Authenticate", "Bearer")]))
        }
        let method = request.method
        if let why = Self.notServed[path] { return fail(APIError(status: 501, why, code: "not_implemented")) }
        guard let allowed = Self.routes[path] ?? (path.hasPrefix("/v1/models/") ? "GET" : nil) else {
            return fail(APIError(status: 404, "no endpoint \(path); docs/http.md lists them", code: "not_found"))
        }
        guard method == allowed || (method == "HEAD" && allowed == "GET") else {
            return fail(APIError(status: 405, "\(path) takes \(allowed), not \(method)"))
        }
        switch path {
        case "/":
            // Ollama's clients probe the root; so do people with curl.
            reply(200, HTTPStatus.response(status: 200, contentType: "text/plain", body: "slm is running\n", keepAlive: keepAlive))
        case "/health":
            let serving = !shuttingDown
            json(serving ? 200 : 503, .object([("status", .string(serving ? "ok" : "shutting down"))]))
        case "/metrics":
            reply(
                200,
                HTTPStatus.response(
                    status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metricsPage(), keepAlive: keepAlive))
        case "/v1/models":
            json(
                200,
                .object([("object", .string("list")), ("data", .array(models.map { OpenAI.model(name: $0.name, created: $0.modified) }))]))
        case "/api/version":
            json(200, .object([("version", .string(Daemon.version))]))
        case "/api/tags":
            json(200, .object([("models", .array(models.map { ollamaModel($0, running: false) }))]))
        case "/api/ps":
            json(200, .object([("models", .array(models.filter { $0.state == .loaded }.map { ollamaModel($0, running: true) }))]))
        case "/api/show":
            // A model name, not a document: refused before it is parsed on the loop.
            guard request.body.count < Self.decodeOffLoopBytes else {
                return fail(APIError(status: 413, "a /api/show body is a model name; this one is \(request.body.count) bytes"))
            }
            do {
                json(200, try ollamaShow(request.body))
            } catch {
                fail(error)
            }
        case "/v1/chat/completions", "/v1/completions", "/api/generate", "/api/chat":
            decodeGeneration(request, path: path, keepAlive: keepAlive, from: connection)
        case "/v1/embeddings", "/api/embed", "/api/embeddings":
            decodeEmbedding(request, path: path, keepAlive: keepAlive, from: connection)
        default:
            // GET /v1/models/{id}
            let name = String(path.dropFirst("/v1/models/".count))
            guard !name.isEmpty, let model = model(named: name) else { return fail(.modelNotFound(name)) }
            json(200, OpenAI.model(name: model.name, created: model.modified))
        }
    }

    /// Whether `Authorization` is `Bearer KEY`, in time that depends on the key's length only
    /// (not on how much of it a guess got right).
    static func bearerMatches(_ header: String?, key: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7))
        var difference: UInt8 = given.count == key.count ? 0 : 1
        for i in 0..<key.count { difference |= key[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    /// A whole response up to the blank line after its headers.
    static func headOnly(_ response: String) -> String {
        let bytes = Array(response.utf8)
        var i = 0
        while i + 3 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                return String(decoding: bytes[..<(i + 4)], as: UTF8.self)
            }
            i += 1
        }
        return response
    }

    /// Each endpoint and its method.
    static let routes: [String: String] = [
        "/": "GET", "/health": "GET", "/metrics": "GET",
        "/v1/models": "GET", "/v1/chat/completions": "POST", "/v1/completions": "POST",
        "/api/version": "GET", "/api/tags": "GET", "/api/ps": "GET", "/api/show": "POST",
        "/api/generate": "POST", "/api/chat": "POST",
        "/v1/embeddings": "POST", "/api/embed": "POST", "/api/embeddings": "POST",
    ]
    /// Endpoints of the APIs slmd knows and does not serve, answered 501 with why (not a bare 404).
    static let notServed: [String: String] = {
        var table: [String: String] = [:]
        for path in ["/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/blobs"] {
            table[path] = "slmd serves the GGUF files it was started with (slmd -m NAME=FILE); it does not manage models"
        }
        return table
    }()
    static let endpoints = Set(routes.keys).union(notServed.keys)

    /// An error in the shape the endpoint's clients read: Ollama's under `/api/`, else OpenAI's.
    func errorResponse(path: String, _ error: APIError, keepAlive: Bool) -> String {
        let body = path.hasPrefix("/api/") ? Ollama.errorBody(error) : OpenAI.errorBody(error)
        return HTTPStatus.json(status: error.status, body, keepAlive: keepAlive)
    }

    // MARK: Generations

    /// Decodes a generation body (off the loop when it is long) and submits it.
    private func decodeGeneration(_ request: HTTPRequest, path: String, keepAlive: Bool, from connection: Connection) {
        let body = request.body
        let received = MonotonicClock.now()
        decodeBody(
            body, from: connection,
            decode: { () throws(APIError) -> APIGeneration in
                switch path {
                case "/v1/chat/completions": return try OpenAI.decodeChat(body)
                case "/v1/completions": return try OpenAI.decodeCompletion(body)
                case "/api/generate": return try Ollama.decodeGenerate(body)
                default: return try Ollama.decodeChat(body)
                }
            },
            then: { daemon, connection, decoded in
                daemon.submitHTTP(decoded, path: path, keepAlive: keepAlive, received: received, from: connection)
            })
    }

    /// Decodes a request body with `decode`, on a libuv work thread when it is long (as NDJSON
    /// lines are, so the loop's work stays O(1) in it), then hands the result to `then` on the loop.
    private func decodeBody<T: Sendable>(
        _ body: [UInt8], from connection: Connection, decode: @escaping @Sendable () throws(APIError) -> T,
        then: @escaping (Daemon, Connection, Result<T, APIError>) -> Void
    ) {
        guard let http = connection.http else { return }
        http.responding = true
        let work: @Sendable () -> Result<T, APIError> = { Result { () throws(APIError) in try decode() } }
        guard body.count >= Self.decodeOffLoopBytes else { return then(self, connection, work()) }
        http.decoding = true
        connection.decoding = true
        runOffLoop(connection: connection, work: work) { daemon, connection, decoded in
            connection.decoding = false
            connection.http?.decoding = false
            then(daemon, connection, decoded)
        }
    }

    /// Answers an HTTP request that failed before it became a job, in its endpoint's error shape.
    private func failHTTP(_ error: APIError, path: String, keepAlive: Bool, on connection: Connection) {
        metrics.countRequest(wire: .http, endpoint: path, status: String(error.status))
        connection.send(errorResponse(path: path, error, keepAlive: keepAlive))
        connection.http?.responding = false
        if keepAlive { resumeReading(connection) } else { closeAfterFlush(connection) }
    }

    private func submitHTTP(
        _ decoded: Result<APIGeneration, APIError>, path: String, keepAlive: Bool, received: Double,
        from connection: Connection
    ) {
        func fail(_ error: APIError) { failHTTP(error, path: path, keepAlive: keepAlive, on: connection) }
        let generation: APIGeneration
        switch decoded {
        case .success(let g): generation = g
        case .failure(let error): return fail(error)
        }
        guard let model = model(named: generation.model) else { return fail(.modelNotFound(generation.model ?? "")) }
        model.keepAlive = generation.keepAlive ?? config.keepAlive
        let contextLength = config.contextLength ?? min(model.facts.trainedContextLength, Engine.defaultMaxContext)
        if let requested = generation.requestedContext, requested > contextLength {
            return fail(
                .badField("options.num_ctx", "is \(requested); this daemon's context is \(contextLength) tokens (slmd --ctx-size)"))
        }
        let options: GenerationOptions
        do {
            options = try generationOptions(generation.fields)
        } catch {
            return fail(APIError(error))
        }
        let kind: Job.Kind
        switch generation.input {
        case .prompt(let text):
            if path == "/api/generate" && text.isEmpty {
                return ollamaLoadOnly(model, keepAlive: keepAlive, from: connection)
            }
            kind = .generate(prompt: text)
        case .messages(let messages):
            kind = .messages(messages.map { ChatMessage(role: $0.role, content: $0.content) }, windowed: path == "/api/chat")
        case .conversation(let id, let message):
            guard store != nil else {
                return fail(APIError(status: 501, "this daemon runs without a conversation store", param: "conversation"))
            }
            kind = .chat(conversation: id, message: message)
        }
        let serial = nextResponseSerial
        nextResponseSerial += 1
        let replies: HTTPGenerationReplies
        switch path {
        case "/v1/chat/completions", "/v1/completions":
            replies = OpenAIReplies(
                endpoint: path == "/v1/completions" ? .completion : .chat, serial: serial, created: Int(time(nil)), model: model.name,
                stream: generation.stream, includeUsage: generation.includeUsage, keepAlive: keepAlive)
        default:
            replies = OllamaReplies(
                endpoint: path == "/api/generate" ? .generate : .chat, model: model.name, stream: generation.stream,
                keepAlive: keepAlive, elapsed: { MonotonicClock.now() - received })
        }
        let job = Job(
            connection: connection.id, id: .string("http-\(serial)"), owner: connection.owner, kind: kind, options: options,
            replies: replies, model: model, endpoint: path)
        enqueue(job, on: connection)
    }

    /// Decodes an embedding body (off the loop when it is long) and queues it on its model.
    private func decodeEmbedding(_ request: HTTPRequest, path: String, keepAlive: Bool, from connection: Connection) {
        let body = request.body
        let received = MonotonicClock.now()
        decodeBody(
            body, from: connection,
            decode: { () throws(APIError) -> APIEmbedding in
                switch path {
                case "/v1/embeddings": return try OpenAI.decodeEmbeddings(body)
                default: return try Ollama.decodeEmbed(body, legacy: path == "/api/embeddings")
                }
            },
            then: { daemon, connection, decoded in
                daemon.submitHTTPEmbedding(decoded, path: path, keepAlive: keepAlive, received: received, from: connection)
            })
    }

    private func submitHTTPEmbedding(
        _ decoded: Result<APIEmbedding, APIError>, path: String, keepAlive: Bool, received: Double, from connection: Connection
    ) {
        func fail(_ error: APIError) { failHTTP(error, path: path, keepAlive: keepAlive, on: connection) }
        let embedding: APIEmbedding
        switch decoded {
        case .success(let e): embedding = e
        case .failure(let error): return fail(error)
        }
        let serial = nextResponseSerial
        nextResponseSerial += 1
        let replies = EmbeddingReplies(endpoint: embedding.endpoint, keepAlive: keepAlive, elapsed: { MonotonicClock.now() - received })
        submitEmbedding(embedding.request, replies: replies, id: .string("http-\(serial)"), endpoint: path, on: connection) {
            code, message in
            if code == .notFound { return fail(.modelNotFound(embedding.request.model ?? "")) }
            fail(APIError(status: APIError.status(for: code), message, code: code.rawValue))
        }
    }

    /// Ollama's `/api/generate` with no prompt: map the model (or, with `keep_alive` 0, unmap
    /// it) and answer `done` with `done_reason` "load" / "unload".
    private func ollamaLoadOnly(_ model: ServedModel, keepAlive: Bool, from connection: Connection) {
        let unload = model.keepAlive == .milliseconds(0)
        if model.state == .unloaded && !unload { startLoading(model) }
        let body: JSONValue = .object([
            ("model", .string(model.name)), ("created_at", .string(Ollama.timestamp())), ("response", .string("")),
            ("done", .bool(true)), ("done_reason", .string(unload ? "unload" : "load")),
        ])
        metrics.countRequest(wire: .http, endpoint: "/api/generate", status: "200")
        connection.send(HTTPStatus.json(status: 200, body, keepAlive: keepAlive))
        connection.http?.responding = false
        if unload { _ = model.unloadIfIdle(now: uv_now(loop), force: true) }
        if keepAlive { resumeReading(connection) } else { closeAfterFlush(connection) }
    }

    // MARK: Model lists

    private func ollamaModel(_ model: ServedModel, running: Bool) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("name", .string(model.name)), ("model", .string(model.name)),
            ("modified_at", .string(Ollama.timestamp(unixNanoseconds: Int64(model.modified) * 1_000_000_000))),
            ("size", .integer(model.fileBytes)), ("digest", .string("")), ("details", ollamaDetails(model)),
        ]
        if running {
            let expires = model.expiresAt(nowLoop: uv_now(loop), nowUnix: Int(time(nil))) ?? Int(Int32.max)
            fields.append(("expires_at", .string(Ollama.timestamp(unixNanoseconds: Int64(expires) * 1_000_000_000))))
            fields.append(("size_vram", .int(0)))
        }
        return .object(fields)
    }

    private func ollamaDetails(_ model: ServedModel) -> JSONValue {
        .object([
            ("parent_model", .string("")), ("format", .string("gguf")), ("family", .string(model.facts.architecture)),
            ("families", .array([.string(model.facts.architecture)])), ("parameter_size", .string(model.facts.parameterSize)),
            ("quantization_level", .string(model.facts.quantization)),
        ])
    }

    private func ollamaShow(_ body: [UInt8]) throws(APIError) -> JSONValue {
        let value: JSONValue
        do { value = try JSONParser.parse(body) } catch { throw APIError(ProtocolError(error)) }
        let name = value["model"]?.stringValue ?? value["name"]?.stringValue
        guard let model = model(named: name) else { throw .modelNotFound(name ?? "") }
        let facts = model.facts
        let contextLength = config.contextLength ?? min(facts.trainedContextLength, Engine.defaultMaxContext)
        return .object([
            ("modelfile", .string("")), ("parameters", .string("num_ctx \(contextLength)")),
            ("template", .string(facts.chatTemplate ?? "")), ("details", ollamaDetails(model)),
            (
                "model_info",
                .object([
                    ("general.architecture", .string(facts.architecture)), ("general.name", .string(facts.displayName)),
                    ("general.parameter_count", .integer(facts.parameterCount)),
                    ("\(facts.architecture).context_length", .integer(facts.trainedContextLength)),
                ])
            ),
            ("modified_at", .string(Ollama.timestamp(unixNanoseconds: Int64(model.modified) * 1_000_000_000))),
        ])
    }

    // MARK: Metrics

    func metricsPage() -> String {
        let counts = schedulerCounts
        let memory = ProcessStatus.current()
        let cache = promptCacheStatistics
        let budget = memoryAccount
        return metrics.exposition(
            counters: [
                ("slm_prompt_cache_hits_total", "Generations that reused a cached prompt prefix.", cache.hits),
                ("slm_prompt_cache_misses_total", "Generations that found no reusable prompt prefix.", cache.misses),
                (
                    "slm_prompt_cache_reused_tokens_total", "Prompt tokens taken from the prompt cache instead of computed.",
                    cache.reusedTokens
                ),
                ("slm_prompt_cache_evictions_total", "Prompt cache entries dropped for a bound or the memory budget.", cache.evictions),
            ],
            gauges: [
                ("slm_queue_depth", "Generations waiting for a slot or for their model.", Double(counts.queued)),
                ("slm_active_generations", "Generations running.", Double(counts.running)),
                ("slm_paused_generations", "Generations paused for a slow reader.", Double(counts.paused)),
                ("slm_clients", "Connected clients.", Double(connections.count)),
                ("slm_models_loaded", "Models mapped.", Double(models.filter { $0.state == .loaded }.count)),
                ("slm_resident_memory_bytes", "Resident set size of slmd.", Double(memory.residentBytes)),
                ("slm_resident_anonymous_memory_bytes", "Resident anonymous memory (caches, heap) of slmd.", Double(memory.anonymousBytes)),
                ("slm_prompt_cache_bytes", "K/V bytes held by the prompt cache.", Double(cache.bytes)),
                ("slm_prompt_cache_entries", "Prompts held by the prompt cache.", Double(cache.entries)),
                ("slm_memory_budget_bytes", "The memory budget (0: none).", Double(memoryBudget.limit)),
                (
                    "slm_memory_accounted_bytes",
                    "Memory the budget accounts: runtime, weights, KV caches, scratch, snapshots, prompt cache.",
                    Double(memoryBudget.runtimeBaseline + budget.accounted)
                ),
                ("slm_memory_weights_bytes", "Mapped weights of the loaded models.", Double(budget.weights)),
                (
                    "slm_memory_weights_resident_bytes", "Of the mapped weights, the bytes in memory now (mincore).",
                    Double(budget.weightsResident)
                ),
                (
                    "slm_memory_kv_reserved_bytes", "KV caches at their full context length, active, paused or kept.",
                    Double(budget.kvReserved)
                ),
                ("slm_memory_scratch_bytes", "Scratch buffers of the sessions.", Double(budget.scratch)),
                ("slm_memory_snapshot_bytes", "KV snapshots held in memory while a stored conversation runs.", Double(budget.snapshots)),
                (
                    "slm_memory_runtime_bytes", "Runtime baseline and the models' heap (tokenizers, tables).",
                    Double(memoryBudget.runtimeBaseline + budget.modelHeap)
                ),
            ],
            models: models.map { ($0.name, $0.state == .loaded) })
    }
}
