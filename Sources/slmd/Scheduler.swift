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
    var finished: RequestID?
}

/// The one inference thread. It takes jobs from a bounded queue into at most
/// `maxActiveGenerations` slots and round-robins `Generation.step()` over the slots that are not
/// paused, so every active generation advances one token (or one prompt chunk) per round. The
/// engine's worker pool runs each step; only this thread ever calls into the engine, because the
/// pool is fork/join and not reentrant. Replies go to an outbox; `wake` (uv_async_send) tells the
/// loop to drain it.
final class Scheduler: @unchecked Sendable {
    let engine: Engine
    let limits: DaemonLimits
    let contextLength: Int?
    var chatBackend: ChatBackend?

    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var waiting: [Job] = []
    private var outbox: [Outgoing] = []
    private var stopWhenIdle = false
    private var activeCount = 0
    /// Conversations with a turn in progress: a second turn on one waits for the first to be
    /// stored, or it would start from a history without it.
    private var busyConversations: Set<Int64> = []
    private var stopped = false

    // Inference thread only.
    private var active: [Job] = []
    private var freeSessions: [Session] = []

    let tokensServed = Atomic<Int>(0)
    private let wake: @Sendable () -> Void
    private var thread = pthread_t()

    init(engine: Engine, limits: DaemonLimits, contextLength: Int?, wake: @escaping @Sendable () -> Void) {
        self.engine = engine
        self.limits = limits
        self.contextLength = contextLength
        self.wake = wake
    }

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

    enum SubmitResult { case accepted, queueFull, stopping }

    func submit(_ job: Job) -> SubmitResult {
        monitor.locked {
            if stopWhenIdle { return .stopping }
            // A free slot takes the job at once; otherwise it waits in the bounded queue.
            if activeCount + waiting.count >= limits.maxActiveGenerations + limits.maxQueuedRequests { return .queueFull }
            waiting.append(job)
            monitor.signalLocked()
            return .accepted
        }
    }

    /// Wakes the inference thread after a job was cancelled or resumed.
    func poke() { monitor.signal() }

    /// Queue depth and active generations, for `stats`.
    var counts: (queued: Int, active: Int) {
        monitor.locked { (max(0, waiting.count), activeCount) }
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
        while true {
            var admitted: [Job] = []
            let exit: Bool = monitor.locked {
                while true {
                    var index = 0
                    while activeCount < limits.maxActiveGenerations, index < waiting.count {
                        let job = waiting[index]
                        if let conversation = job.conversation, !job.isCancelRequested {
                            if busyConversations.contains(conversation) {
                                index += 1
                                continue
                            }
                            busyConversations.insert(conversation)
                            job.holdsConversation = true
                        }
                        admitted.append(waiting.remove(at: index))
                        activeCount += 1
                    }
                    let runnable = !admitted.isEmpty || active.contains { !$0.isPaused || $0.isCancelRequested }
                    if runnable { return false }
                    if stopWhenIdle && active.isEmpty { return true }
                    monitor.wait()
                }
            }
            if exit { break }
            active.append(contentsOf: admitted)

            var produced: [Outgoing] = []
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
            monitor.locked {
                activeCount -= finished.count
                for job in finished where job.holdsConversation { busyConversations.remove(job.conversation!) }
                outbox.append(contentsOf: produced)
            }
            if !produced.isEmpty { wake() }
        }
        freeSessions.removeAll()
        monitor.locked { stopped = true }
        wake()
    }

    /// One step of `job`; true when it is over (its last line is in `produced`).
    private func advance(_ job: Job, into produced: inout [Outgoing]) -> Bool {
        do {
            if job.generation == nil {
                if job.isCancelRequested {
                    produced.append(doneLine(job, stats: nil, stopReason: .cancelled))
                    return true
                }
                try begin(job)
            }
            let generation = job.generation!
            if job.isCancelRequested { generation.cancel() }
            switch try generation.step() {
            case .text(let piece):
                if !piece.isEmpty { produced.append(Outgoing(connection: job.connection, text: Reply.token(id: job.id, text: piece))) }
                return false
            case .finished(let tail, let stats):
                if !tail.isEmpty { produced.append(Outgoing(connection: job.connection, text: Reply.token(id: job.id, text: tail))) }
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
                    connection: job.connection, text: Reply.error(id: job.id, code: code, message: message),
                    finished: job.id))
            release(job, discardCache: true)
            return true
        }
    }

    private func begin(_ job: Job) throws {
        let session = try acquireSession()
        job.session = session
        switch job.kind {
        case .generate(let prompt):
            // From an empty cache every time: the same request gives the same text whatever ran before.
            session.reset()
            let tokens = engine.tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
            job.generation = try session.startGeneration(promptTokens: tokens, options: job.options)
        case .chat(let conversation, let message):
            guard let backend = chatBackend else { throw DaemonError.store("the daemon runs without a conversation store") }
            let (turn, generation) = try backend.startTurn(
                session: session, owner: job.owner, conversation: conversation,
                message: message, options: job.options)
            job.chat = turn
            job.generation = generation
        }
    }

    private func acquireSession() throws -> Session {
        if let session = freeSessions.popLast() { return session }
        return try Session(engine: engine, contextLength: contextLength)
    }

    private func release(_ job: Job, discardCache: Bool = false) {
        if let session = job.session {
            if discardCache { session.reset() }
            if freeSessions.count < limits.maxActiveGenerations { freeSessions.append(session) }
        }
        job.session = nil
        job.generation = nil
        job.chat = nil
    }

    /// `stats` nil: the job ended before it started (cancelled while queued).
    private func doneLine(_ job: Job, stats: GenerationStats?, stopReason: WireStopReason?) -> Outgoing {
        let reason: WireStopReason
        if let stopReason {
            reason = stopReason
        } else if let s = stats {
            switch s.stopReason {
            case .endOfGeneration: reason = .eos
            case .maxTokens, .contextFull: reason = .length
            case .stopSequence: reason = .stop
            case .cancelled: reason = .cancelled
            }
        } else {
            reason = .cancelled
        }
        var fields: [(String, JSONValue)] = [
            ("stop_reason", .string(reason.rawValue)),
            ("prompt_tokens", .integer(stats?.promptTokens ?? 0)),
            ("generated_tokens", .integer(stats?.generatedTokens ?? 0)),
            ("ttft_ms", .number(rounded((stats?.timeToFirstToken ?? 0) * 1000))),
            ("tokens_per_second", .number(rounded(stats?.generationTokensPerSecond ?? 0))),
        ]
        if let turn = job.chat { fields.append(("conversation", .integer(turn.conversationID))) }
        return Outgoing(connection: job.connection, text: Reply.line(id: job.id, event: "done", fields), finished: job.id)
    }

    private func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}

/// Which protocol error an engine or store failure is.
func classify(_ error: any Error) -> (ErrorCode, String) {
    if let e = error as? ModelError {
        switch e {
        case .contextFull: return (.tooLarge, "\(e)")
        case .emptyInput, .unsupportedFeature, .tokenOutOfRange: return (.badRequest, "\(e)")
        default: return (.internal, "\(e)")
        }
    }
    if let e = error as? TokenizerError { return (.badRequest, "\(e)") }
    if let e = error as? SamplingError { return (.badRequest, "\(e)") }
    if let e = error as? DaemonError, case .store = e { return (.unsupported, "\(e)") }
    if let mapped = classifyStoreError(error) { return mapped }
    return (.internal, "\(error)")
}
