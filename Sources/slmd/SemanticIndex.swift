import SLMCore
import SLMProtocol
import SLMStore
import Synchronization

/// The daemon's semantic memory: the served model that embeds stored messages (an encoder such
/// as all-MiniLM), and whether messages may be waiting for their vectors. The pass that fills
/// them runs on that model's inference thread whenever it has nothing else to do, a batch at a
/// time, so it never delays a request by more than one batch; what is missing is read from the
/// database each time, so the pass resumes after a restart by itself. New chat turns mark the
/// index pending; the loop maps the model when it is needed and not mapped.
final class SemanticIndex: @unchecked Sendable {
    let store: ConversationStore
    /// The served model's name.
    let modelName: String
    /// Batches a search runs first, so the newest turns are found (the rest stay in the background).
    static let batchesBeforeSearch = 8

    private struct State {
        var pending = true
        /// Bumped by every `markPending`: a pass that saw nothing left clears `pending` only if
        /// no turn was stored meanwhile.
        var epoch = 0
        var scheduler: Scheduler?
    }
    private let state = Mutex(State())

    init(store: ConversationStore, modelName: String) {
        self.store = store
        self.modelName = modelName
    }

    var isPending: Bool { state.withLock { $0.pending } }

    /// A turn was stored: wake the pass (if the model is mapped; else the loop maps it).
    func markPending() {
        let scheduler = state.withLock { s -> Scheduler? in
            s.pending = true
            s.epoch += 1
            return s.scheduler
        }
        scheduler?.poke()
    }

    /// The memory model's scheduler while it is mapped (nil when it is unmapped).
    func attach(_ scheduler: Scheduler?) {
        state.withLock { $0.scheduler = scheduler }
        if scheduler != nil { scheduler?.poke() }
    }

    /// After a pass failed: nothing pending until the next stored turn (no busy retry loop).
    func clearPendingAfterFailure() { state.withLock { $0.pending = false } }

    /// Embeds one batch of messages without vectors; false when none were left. On the memory
    /// model's inference thread.
    @discardableResult
    func indexBatch(engine: Engine) throws -> Bool {
        let epoch = state.withLock { $0.epoch }
        guard try store.indexMessages(with: engine) > 0 else {
            state.withLock { s in if s.epoch == epoch { s.pending = false } }
            return false
        }
        return true
    }

    /// The owner's messages closest in meaning to `query`, after the newest turns were indexed.
    func search(query: String, owner: UInt32, limit: Int, engine: Engine) throws -> [SemanticHit] {
        for _ in 0..<Self.batchesBeforeSearch where isPending {
            if try !indexBatch(engine: engine) { break }
        }
        return try store.semanticSearch(owner: owner, query: query, engine: engine, limit: limit)
    }
}
