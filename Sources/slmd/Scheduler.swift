import CLibUV
import SLMCore
import SLMJSON
import SLMProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reply text for one connection, produced on the inference thread and written by the loop.
struct Outgoing {
    let connection: UInt64
    var text: String
    /// Set on a request's last line (`done` or `error`): the loop forgets the request.
    var finished: Job?
    /// With `finished`: the numbers of a generation that ended (nil when it failed).
    var summary: GenerationSummary?
    /// With `finished`: whether the request succeeded (a generation with a summary, or an
    /// embedding request).
    var succeeded = false
}

/// The inference thread of one served model (`ServedModel`). It admits jobs from a bounded
/// queue into at most `maxActiveGenerations` running slots, taking uids and then connections in turn, and
/// round-robins `Generation.step()` over the running jobs, so every one advances one token (or
/// one prompt chunk) per round. A job whose client does not read is paused: it keeps its session
/// (KV cache) but not its slot, and at most `maxPausedGenerations` are paused before admission
/// waits. The engine's worker pool runs each step; only this thread ever calls into the engine,
/// because the pool is fork/join and not reentrant. Replies go to an outbox; `wake`
/// (uv_async_send) tells the loop to drain it.
final class Scheduler: @unchecked Sendable {
    let engine: Engine
    let limits: DaemonLimits
    let contextLength: Int?
    let cacheTypes: KVCacheTypes
    var chatBackend: ChatBackend?

    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var waiting: [Job] = []
    private var outbox: [Outgoing] = []
    private var stopWhenIdle = false
    /// Admitted jobs not paused, and paused ones (for `stats` and the queue bound).
    private var runningCount = 0
    private var pausedCount = 0
    /// Uids, and connections, in the order they were last admitted (for `nextAdmissible`).
    private var uidTurns = Turns<UInt32>()
    private var connectionTurns = Turns<UInt64>()
    /// Conversations with a turn in progress: a second turn on one waits for the first to be
    /// stored, or it would start from a history without it.
    private var busyConversations: Set<Int64> = []
    private var stopped = false

    /// After this long with nothing to do, the kept sessions and the heap give their memory
    /// back, so an idle daemon's RSS returns to about the model's pages whatever ran before
    /// (the caches would only be reused by the same uid's next request, if any).
    static let idleReleaseMilliseconds = 500

    // Inference thread only.
    private var active: [Job] = []
    /// Whether a kept session may hold cache pages (false once they were given back).
    private var freeSessionsHoldMemory = false
    /// Sessions kept for reuse, each with the uid whose tokens its cache holds: a cache is only
    /// reused for the same uid, or a prefix hit (visible as time to first token) would tell one
    /// user what another sent.
    private var freeSessions: [(owner: UInt32, session: Session)] = []

    /// Semantic memory, when this is its model: its pass runs when nothing else does. Guarded by
    /// `monitor` (set from the loop).
    private var semanticIndex: SemanticIndex?

    func attachSemanticIndex(_ index: SemanticIndex?) {
        monitor.locked {
            semanticIndex = index
            monitor.signalLocked()
        }
    }

    let tokensServed = Atomic<Int>(0)
    private let wake: @Sendable () -> Void
    private var thread = pthread_t()

    /// The daemon's memory budget, and this model's name in it.
    let budget: MemoryBudget
    let modelName: String
    /// What one session (a context of `contextLength`) and the model itself cost.
    let plan: MemoryPlan
    /// Prompts' K/V per uid (inference thread only); `promptCacheStatistics` is its copy for `stats`.
    private let promptCache: PromptCache
    /// Guarded by `monitor`.
    private var publishedPromptCacheStatistics = PromptCache.Statistics()
    /// Set when the budget kept a job waiting (inference thread, under `monitor`).
    private var blockedByBudget = false
    /// How often a scheduler kept waiting by the budget looks again when it runs nothing itself
    /// (another model's work may have ended meanwhile).
    static let budgetRecheckMilliseconds = 100

    init(
        engine: Engine, limits: DaemonLimits, contextLength: Int?, cacheTypes: KVCacheTypes, budget: MemoryBudget, modelName: String,
        wake: @escaping @Sendable () -> Void
    ) {
        self.engine = engine
        self.limits = limits
        self.contextLength = contextLength
        self.cacheTypes = cacheTypes
        self.wake = wake
        self.budget = budget
        self.modelName = modelName
        plan = engine.memoryPlan(contextLength: contextLength, contexts: 1, cacheTypes: cacheTypes)
        promptCache = PromptCache(maxBytes: limits.promptCacheBytes, maxBytesPerOwner: limits.promptCacheBytesPerUID)
        budget.update(model: modelName, account(sessions: 0, snapshots: false))
    }

    var promptCacheStatistics: PromptCache.Statistics { monitor.locked { publishedPromptCacheStatistics } }

    /// Whether a job holds a session (a KV cache) while it runs.
    private static func holdsSession(_ job: Job) -> Bool {
        switch job.kind {
        case .generate, .messages, .chat: return true
        case .embed, .semanticSearch: return false
        }
    }

    private static func isStoredChat(_ job: Job) -> Bool {
        if case .chat = job.kind { return true }
        return false
    }

    /// This model's memory with `sessions` sessions (inference thread).
    private func account(sessions: Int, snapshots: Bool) -> MemoryBudget.Account {
        var a = MemoryBudget.Account()
        a.weights = plan.weightsBytes
        a.modelHeap = plan.modelBytes - plan.weightsBytes
        a.sessions = sessions
        a.kvReserved = sessions * plan.kvBytesPerContext
        a.scratch = sessions * plan.scratchBytesPerContext
        // A stored conversation's snapshot, loaded or saved: the blob and its parsed copy.
        a.snapshots = snapshots ? 2 * plan.kvBytesPerContext : 0
        a.promptCache = promptCache.bytes
        return a
    }

    /// Sessions held by admitted jobs and kept for reuse, and whether a stored conversation runs.
    private func sessionUse(admitted: [Job]) -> (held: Int, chat: Bool) {
        var held = 0
        var chat = false
        for jobs in [active, admitted] {
            for job in jobs where Self.holdsSession(job) {
                held += 1
                chat = chat || Self.isStoredChat(job)
            }
        }
        return (held, chat)
    }

    /// Whether one more job that needs a session fits the budget; shrinks the prompt cache
    /// first when that makes it fit (inference thread, under `monitor`).
    private func budgetAdmits(_ job: Job, admitted: [Job]) -> Bool {
        guard budget.limit > 0, Self.holdsSession(job) else { return true }
        let (held, chat) = sessionUse(admitted: admitted)
        // A kept session is reused at no cost; else one more is made.
        let sessions = max(held + 1, held + freeSessions.count)
        var want = account(sessions: sessions, snapshots: chat || Self.isStoredChat(job))
        if budget.fits(model: modelName, own: want, extra: 0) { return true }
        let room = budget.room(model: modelName)
        promptCache.shrink(to: room - (want.accounted - want.promptCache))
        publishedPromptCacheStatistics = promptCache.statistics
        want.promptCache = promptCache.bytes
        return budget.fits(model: modelName, own: want, extra: 0)
    }

    /// Tells the budget what this model holds now (inference thread).
    private func publishAccount() {
        let (held, chat) = sessionUse(admitted: [])
        budget.update(model: modelName, account(sessions: held + freeSessions.count, snapshots: chat))
    }

    /// The least a generation needs: the model, one session and the runtime. A budget below it
    /// can never run one.
    var minimumGenerationBytes: Int { budget.runtimeBaseline + plan.modelBytes + plan.sessionBytes }

    func start() throws(DaemonError) {
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let scheduler = Unmanaged<Scheduler>.fromOpaque(raw!).takeRetainedValue()
                scheduler.run()
                return nil
            }, box)
        if rc != 0 {
            Unmanaged<Scheduler>.fromOpaque(box).release()
            throw .system(call: "pthread_create", errno: rc, message: String(cString: strerror(rc)))
        }
    }

    func join() { pthread_join(thread, nil) }

    // MARK: Loop side

    enum SubmitResult {
        case accepted, queueFull, uidQueueFull, stopping
        case overBudget(needed: Int)
    }

    func submit(_ job: Job) -> SubmitResult {
        if budget.limit > 0, Self.holdsSession(job), minimumGenerationBytes > budget.limit {
            return .overBudget(needed: minimumGenerationBytes)
        }
        return monitor.locked {
            if stopWhenIdle { return .stopping }
            // Free slots take jobs at once; beyond them, jobs wait in the bounded queue, of which
            // one uid may hold its share only.
            let freeSlots = max(0, limits.maxActiveGenerations - runningCount)
            if waiting.count >= limits.maxQueuedRequests + freeSlots { return .queueFull }
            var ofOwner = 0
            for other in waiting where other.owner == job.owner { ofOwner += 1 }
            if ofOwner >= limits.maxQueuedPerUID + freeSlots { return .uidQueueFull }
            waiting.append(job)
            monitor.signalLocked()
            return .accepted
        }
    }

    /// Wakes the inference thread after a job was cancelled, paused or resumed.
    func poke() { monitor.signal() }

    /// Jobs waiting, running and paused, for `stats`.
    var counts: (queued: Int, running: Int, paused: Int) {
        monitor.locked { (waiting.count, runningCount, pausedCount) }
    }

    /// The thread finishes what is in flight (the daemon cancels it after the grace period) and
    /// exits; the last outbox drain then reports `isStopped`.
    func stopWhenDone() {
        monitor.locked {
            stopWhenIdle = true
            monitor.signalLocked()
        }
    }

    /// Takes everything produced since the last drain; `stopped` once the thread has exited.
    func drain() -> (items: [Outgoing], stopped: Bool) {
        monitor.locked {
            let items = outbox
            outbox.removeAll(keepingCapacity: true)
            return (items, stopped)
        }
    }

    // MARK: Inference thread

    private func run() {
        var indexing: SemanticIndex?
        while true {
            var admitted: [Job] = []
            var cancelledWhileWaiting: [Job] = []
            let exit: Bool = monitor.locked {
                while true {
                    // A job cancelled before it started needs no slot: it ends at once.
                    let cancelledBefore = cancelledWhileWaiting.count
                    waiting.removeAll { job in
                        guard job.isCancelRequested else { return false }
                        cancelledWhileWaiting.append(job)
                        return true
                    }
                    // Keys left with nothing waiting are forgotten, as when their last job is admitted.
                    for job in cancelledWhileWaiting[cancelledBefore...] {
                        if !waiting.contains(where: { $0.owner == job.owner }) { uidTurns.served(job.owner, stillWaiting: false) }
                        if !waiting.contains(where: { $0.connection == job.connection }) {
                            connectionTurns.served(job.connection, stillWaiting: false)
                        }
                    }
                    let running = active.reduce(0) { $0 + ($1.isPaused && !$1.isCancelRequested ? 0 : 1) }
                    // Every admitted job holds a session, paused or not: their number is bounded.
                    var sessions = active.count + admitted.count
                    var slots = limits.maxActiveGenerations - running - admitted.count
                    blockedByBudget = false
                    while slots > 0, sessions < limits.maxActiveGenerations + limits.maxPausedGenerations,
                        let index = nextAdmissible(admitted: admitted)
                    {
                        let job = waiting.remove(at: index)
                        if let conversation = job.conversation {
                            busyConversations.insert(conversation)
                            job.holdsConversation = true
                        }
                        admitted.append(job)
                        slots -= 1
                        sessions += 1
                    }
                    runningCount = running + admitted.count
                    pausedCount = active.count - running
                    if !admitted.isEmpty || !cancelledWhileWaiting.isEmpty || running > 0 { return false }
                    if stopWhenIdle && active.isEmpty { return true }
                    // Idle: a batch of the semantic memory's pass, if messages wait for vectors.
                    if waiting.isEmpty, let index = semanticIndex, index.isPending {
                        indexing = index
                        return false
                    }
                    if blockedByBudget {
                        // Waiting for memory that another model's work holds: look again soon.
                        _ = monitor.wait(milliseconds: Self.budgetRecheckMilliseconds)
                        continue
                    }
                    if active.isEmpty && waiting.isEmpty && freeSessionsHoldMemory {
                        if !monitor.wait(milliseconds: Self.idleReleaseMilliseconds) {
                            for (_, session) in freeSessions { session.releaseMemory() }
                            // Under a budget the kept sessions go entirely: their reserved
                            // capacity would otherwise keep other models' work waiting.
                            if budget.limit > 0 { freeSessions.removeAll() }
                            publishAccount()
                            freeSessionsHoldMemory = false
                            #if canImport(Glibc) && !canImport(Musl)
                            // And what the heap keeps of past requests (parsed lines, replies,
                            // templates) in every thread's arena: an idle daemon gives it back.
                            malloc_trim(0)
                            #endif
                        }
                        continue
                    }
                    monitor.wait()
                }
            }
            if exit { break }
            if let index = indexing {
                indexing = nil
                do {
                    try index.indexBatch(engine: engine)
                } catch {
                    // Left pending would retry at once; the next stored turn tries again.
                    Log.error("semantic memory: cannot index messages: \(error)")
                    index.clearPendingAfterFailure()
                }
                continue
            }
            active.append(contentsOf: admitted)

            var produced: [Outgoing] = cancelledWhileWaiting.map { doneLine($0, stats: nil, stopReason: .cancelled) }
            var finished: [Job] = []
            var index = 0
            while index < active.count {
                let job = active[index]
                if job.isPaused && !job.isCancelRequested {
                    index += 1
                    continue
                }
                if advance(job, into: &produced) {
                    active.remove(at: index)
                    finished.append(job)
                } else {
                    index += 1
                }
            }
            publishAccount()
            monitor.locked {
                for job in finished where job.holdsConversation { busyConversations.remove(job.conversation!) }
                outbox.append(contentsOf: produced)
                publishedPromptCacheStatistics = promptCache.statistics
            }
            if !produced.isEmpty { wake() }
        }
        freeSessions.removeAll()
        monitor.locked { stopped = true }
        wake()
    }

    /// The waiting job to admit next (under the lock): not paused, its conversation not busy,
    /// and of the uid, then the connection, whose last admission is the oldest; the oldest such
    /// job of that connection. Linear in `waiting`. nil, with `blockedByBudget` set, when that
    /// job needs memory the budget does not have: it keeps its turn.
    private func nextAdmissible(admitted: [Job]) -> Int? {
        var best: Int? = nil
        var bestKey = (UInt64.max, UInt64.max)
        for (index, job) in waiting.enumerated() {
            if job.isPaused { continue }
            if let conversation = job.conversation, busyConversations.contains(conversation) { continue }
            let key = (uidTurns.lastServed(job.owner), connectionTurns.lastServed(job.connection))
            if key < bestKey {
                best = index
                bestKey = key
            }
        }
        guard let best else { return nil }
        let job = waiting[best]
        guard budgetAdmits(job, admitted: admitted) else {
            blockedByBudget = true
            return nil
        }
        var ownerStillWaiting = false
        var connectionStillWaiting = false
        for (index, other) in waiting.enumerated() where index != best {
            ownerStillWaiting = ownerStillWaiting || other.owner == job.owner
            connectionStillWaiting = connectionStillWaiting || other.connection == job.connection
        }
        uidTurns.served(job.owner, stillWaiting: ownerStillWaiting)
        connectionTurns.served(job.connection, stillWaiting: connectionStillWaiting)
        return best
    }

    /// One step of `job`; true when it is over (its last line is in `produced`).
    private func advance(_ job: Job, into produced: inout [Outgoing]) -> Bool {
        do {
            if case .embed(let inputs, let options) = job.kind {
                return try advanceEmbedding(job, inputs: inputs, options: options, into: &produced)
            }
            if case .semanticSearch(let query, let limit) = job.kind {
                guard let index = monitor.locked({ semanticIndex }) else {
                    throw DaemonError.store("this model does not hold the semantic memory")
                }
                let hits = try index.search(query: query, owner: job.owner, limit: limit, engine: engine)
                let text = Reply.line(id: job.id, event: "search_results", [("results", .array(hits.map(StoreAccess.hit)))])
                produced.append(Outgoing(connection: job.connection, text: text, finished: job, succeeded: true))
                return true
            }
            if job.generation == nil {
                if job.isCancelRequested {
                    produced.append(doneLine(job, stats: nil, stopReason: .cancelled))
                    return true
                }
                try begin(job)
            }
            let generation = job.generation!
            if job.isCancelRequested { generation.cancel() }
            let step = try generation.step()
            // Once the prompt has run, its rows are kept for the uid's next requests (and for
            // those already waiting with the same system prompt).
            if !job.promptStored && !generation.isPrefilling {
                job.promptStored = true
                storePrompt(of: job)
            }
            switch step {
            case .text(let piece):
                let bytes = job.replies.text(piece)
                if !bytes.isEmpty { produced.append(Outgoing(connection: job.connection, text: bytes)) }
                return false
            case .finished(let tail, let stats):
                let bytes = job.replies.text(tail)
                if !bytes.isEmpty { produced.append(Outgoing(connection: job.connection, text: bytes)) }
                try job.chat?.finish(generation)
                tokensServed.add(stats.generatedTokens, ordering: .relaxed)
                produced.append(doneLine(job, stats: stats, stopReason: nil))
                release(job)
                return true
            }
        } catch {
            let (code, message) = classify(error)
            if code == .internal { Log.error("request \(job.id) failed: \(error)") }
            produced.append(
                Outgoing(
                    connection: job.connection, text: job.replies.failed(code, message), finished: job))
            release(job, discardCache: true)
            return true
        }
    }

    /// One pass of an embedding request (up to `EmbeddingLimits.batchTokens` tokens), so a
    /// long one takes turns with the generations; the reply goes out when all inputs are done.
    private func advanceEmbedding(
        _ job: Job, inputs: EmbedRequest.Inputs, options: EmbeddingOptions, into produced: inout [Outgoing]
    ) throws -> Bool {
        if job.isCancelRequested {
            // As a cancelled generation ends: `done` with stop_reason "cancelled".
            produced.append(doneLine(job, stats: nil, stopReason: .cancelled))
            job.embedding = nil
            return true
        }
        if job.embedding == nil {
            job.embeddingStarted = MonotonicClock.now()
            switch inputs {
            case .texts(let texts): job.embedding = try EmbeddingRun(engine: engine, texts: texts, options: options)
            case .tokens(let ids): job.embedding = try EmbeddingRun(engine: engine, tokens: ids, options: options)
            }
        }
        let run = job.embedding!
        guard try run.step() else { return false }
        let single = run.results.allSatisfy { $0.vectors.count == 1 }
        let result = EmbeddingsResult(
            model: job.model.name, json: run.results.map(\.jsonValue), floats: single ? run.results.map { $0.vectors[0] } : [],
            promptTokens: run.tokenCount, seconds: MonotonicClock.now() - job.embeddingStarted)
        produced.append(
            Outgoing(connection: job.connection, text: job.replies.embeddings(result), finished: job, succeeded: true))
        job.embedding = nil
        return true
    }

    private func begin(_ job: Job) throws {
        let session = try acquireSession(for: job.owner)
        job.session = session
        switch job.kind {
        case .generate(let prompt):
            session.reset()
            try session.checkFits(promptBytes: prompt.utf8.count)
            let tokens = engine.tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
            job.generation = try startFromPromptCache(tokens, session: session, job: job)
        case .messages(let messages, let windowed):
            session.reset()
            if windowed {
                let window = try ChatWindow.choose(
                    messages: messages, for: session, format: try chatFormat(), maxTokens: job.options.maxTokens,
                    previousOmission: nil)
                let generation = try startFromPromptCache(window.tokens, session: session, job: job)
                generation.noteTruncatedTurns(window.omittedTurns)
                job.generation = generation
            } else {
                let (text, addSpecial) = try chatFormat().prompt(for: messages)
                try session.checkFits(promptBytes: text.utf8.count)
                let tokens = engine.tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: true)
                job.generation = try startFromPromptCache(tokens, session: session, job: job)
            }
        case .chat(let conversation, let message):
            guard let backend = chatBackend else { throw DaemonError.store("the daemon runs without a conversation store") }
            let (turn, generation) = try backend.startTurn(
                session: session, owner: job.owner, conversation: conversation,
                message: message, options: job.options)
            job.chat = turn
            job.generation = generation
        case .embed, .semanticSearch:
            break  // these run in `advance` itself, never here
        }
    }

    /// Starts a one-shot generation from an empty cache, or from the prefix of one of the same
    /// uid's earlier prompts that holds exactly what an empty cache would compute (`PromptCache`):
    /// either way the same request gives the same text whatever ran before.
    private func startFromPromptCache(_ tokens: [Int32], session: Session, job: Job) throws -> Generation {
        promptCache.restore(into: session, owner: job.owner, promptTokens: tokens)
        return try session.startGeneration(promptTokens: tokens, options: job.options, placement: .wholePrompt)
    }

    /// Keeps a finished one-shot generation's prompt rows for its uid's next requests.
    private func storePrompt(of job: Job) {
        guard let session = job.session, let generation = job.generation else { return }
        switch job.kind {
        case .generate, .messages:
            promptCache.store(from: session, owner: job.owner, promptTokens: generation.promptTokens)
        case .chat, .embed, .semanticSearch:
            break
        }
    }

    /// The model's chat template, parsed on first use (inference thread only).
    private var parsedChatFormat: ModelChatFormat?

    private func chatFormat() throws -> ModelChatFormat {
        if let parsedChatFormat { return parsedChatFormat }
        let format = try ModelChatFormat(file: engine.file)
        parsedChatFormat = format
        return format
    }

    /// A free session whose cache holds `owner`'s tokens, else any free one emptied, else a new one.
    private func acquireSession(for owner: UInt32) throws -> Session {
        if let index = freeSessions.lastIndex(where: { $0.owner == owner }) {
            return freeSessions.remove(at: index).session
        }
        if let (_, session) = freeSessions.popLast() {
            session.reset()
            return session
        }
        return try Session(engine: engine, contextLength: contextLength, cacheTypes: cacheTypes)
    }

    private func release(_ job: Job, discardCache: Bool = false) {
        if let session = job.session {
            if discardCache { session.reset() }
            if freeSessions.count < limits.maxActiveGenerations {
                freeSessions.append((job.owner, session))
                freeSessionsHoldMemory = true
            }
        }
        job.session = nil
        job.generation = nil
        job.chat = nil
    }

    /// `stats` nil: the job ended before it started (cancelled while queued).
    private func doneLine(_ job: Job, stats: GenerationStats?, stopReason: WireStopReason?) -> Outgoing {
        var summary = GenerationSummary(stopReason: stopReason ?? .cancelled)
        if let stats {
            if stopReason == nil {
                switch stats.stopReason {
                case .endOfGeneration: summary.stopReason = .eos
                case .maxTokens, .contextFull: summary.stopReason = .length
                case .stopSequence: summary.stopReason = .stop
                case .cancelled: summary.stopReason = .cancelled
                }
            }
            summary.promptTokens = stats.promptTokens
            summary.cachedTokens = job.generation?.reusedPromptTokens ?? 0
            summary.generatedTokens = stats.generatedTokens
            summary.promptSeconds = stats.promptSeconds
            summary.timeToFirstToken = stats.timeToFirstToken
            summary.generationSeconds = stats.generationSeconds
            summary.truncatedTurns = stats.truncatedTurns
        }
        summary.conversation = job.chat?.conversationID
        return Outgoing(
            connection: job.connection, text: job.replies.done(summary), finished: job, summary: summary, succeeded: true)
    }
}

/// Which protocol error an engine or store failure is.
func classify(_ error: any Error) -> (ErrorCode, String) {
    if let e = error as? ModelError {
        switch e {
        case .contextFull, .messageLongerThanContext: return (.tooLarge, "\(e)")
        case .emptyInput, .unsupportedFeature, .tokenOutOfRange: return (.badRequest, "\(e)")
        default: return (.internal, "\(e)")
        }
    }
    if let e = error as? TokenizerError { return (.badRequest, "\(e)") }
    if let e = error as? SamplingError { return (.badRequest, "\(e)") }
    if let e = error as? EmbeddingError {
        if case .inputTooLong = e { return (.tooLarge, "\(e)") }
        return (.badRequest, "\(e)")
    }
    if let e = error as? DaemonError, case .store = e { return (.unsupported, "\(e)") }
    if let mapped = classifyStoreError(error) { return mapped }
    return (.internal, "\(error)")
}
