import SLMCore
import Synchronization

/// The daemon's memory: what each loaded model holds, reported by its inference thread, and
/// the budget (`memory-budget`) a new KV cache must fit in. One object for the daemon; each
/// scheduler asks it before it admits a generation that needs a new session, and updates its
/// account whenever what it holds changes.
///
/// What counts (the same figures `MemoryPlan` predicts with, so `slm inspect --memory` and the
/// budget agree):
/// - weights: the mapped file, whole (every forward pass reads every weight). `stats` also
///   shows what of it is resident now, from `mincore` on the mapping: mincore answers for
///   exactly this mapping's pages, where /proc/self/smaps_rollup only sums the whole process.
/// - KV: every session at its reserved capacity, context length × `kvBytesPerPosition`,
///   whether active, paused or kept for reuse: its pages are touched as the context fills, so
///   a full context is what the budget must allow for.
/// - scratch: each session's scratch buffers (`StateShape.scratchBytes`).
/// - snapshots: while a stored conversation runs, the snapshot it loads or saves (the blob and
///   its parsed copy, each up to one context's KV).
/// - the prompt cache's entries.
/// - the runtime: the process baseline and each model's heap (`MemoryPlan.runtimeBytes`).
final class MemoryBudget: Sendable {
    /// Bytes the daemon may use; 0 = no budget (the accounting is still kept for `stats`).
    let limit: Int

    struct Account: Sendable, Equatable {
        var weights = 0
        var weightsResident = 0
        var kvReserved = 0
        var scratch = 0
        var snapshots = 0
        var promptCache = 0
        /// The model's heap (the process baseline is counted once, in `total`).
        var modelHeap = 0
        var sessions = 0

        var accounted: Int { weights + kvReserved + scratch + snapshots + promptCache + modelHeap }

        static func + (a: Account, b: Account) -> Account {
            Account(
                weights: a.weights + b.weights, weightsResident: a.weightsResident + b.weightsResident,
                kvReserved: a.kvReserved + b.kvReserved, scratch: a.scratch + b.scratch, snapshots: a.snapshots + b.snapshots,
                promptCache: a.promptCache + b.promptCache, modelHeap: a.modelHeap + b.modelHeap, sessions: a.sessions + b.sessions)
        }
    }

    /// By model name; a model that is not loaded has none.
    private let accounts = Mutex<[String: Account]>([:])

    init(limit: Int) { self.limit = limit }

    var runtimeBaseline: Int { MemoryPlan.runtimeBaselineBytes }

    func update(model: String, _ account: Account?) {
        accounts.withLock { $0[model] = account }
    }

    /// Every model's account summed (or all but `model`'s).
    func total(excluding model: String? = nil) -> Account {
        accounts.withLock { all in all.reduce(into: Account()) { if $1.key != model { $0 = $0 + $1.value } } }
    }

    /// Bytes accounted for the whole daemon: the runtime baseline and every model's account.
    var accountedBytes: Int { runtimeBaseline + total().accounted }

    /// Whether `model`, holding `own`, may grow to `own.accounted + extra` bytes with the other
    /// models as they are now.
    func fits(model: String, own: Account, extra: Int) -> Bool {
        guard limit > 0 else { return true }
        return runtimeBaseline + total(excluding: model).accounted + own.accounted + extra <= limit
    }

    /// The bytes `model` may hold at most with the others as they are now (Int.max without a budget).
    func room(model: String) -> Int {
        guard limit > 0 else { return Int.max }
        return limit - runtimeBaseline - total(excluding: model).accounted
    }
}
