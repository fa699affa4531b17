import SLMCompute

/// The KV rows of recent prompts, per owner, so a request that starts with a prompt prefix seen
/// before (a long system prompt) skips computing it, with results bit for bit those of an empty
/// cache. Entries are kept per owner (a uid) and only ever reused for the same owner: a hit is
/// visible as a shorter time to first token, so sharing them would tell one user what another
/// sent. Bounded in bytes overall and per owner, least recently used first out. Not
/// thread-safe: one inference thread owns it.
///
/// ## Which cached positions may be reused
/// A position's keys and values depend on its token, on every earlier position's, and on how
/// the forward pass that computed it was placed: llama.cpp computes a prompt of N tokens in
/// micro-batches of `AttentionMode.referenceMicroBatch` (512) tokens, and the micro-batch a
/// token falls in decides (1) the attention mode (F32 for micro-batches of 64 tokens or more,
/// F16-accumulate below) and (2), for the weight types whose summation order depends on the
/// batch (`slm_sum_order_depends_on_batch`: Q4_K/Q5_K/Q6_K on x86-64 AVX2), the order of every
/// matmul, through the micro-batch's size and the token's offset in it. slm feeds the prompt in
/// chunks of `Engine.promptBatch` (64) tokens at multiples of 64 from the request's start,
/// each placed in the micro-batch it belongs to (`Engine.evaluateChunk`).
///
/// An entry made from a prompt of M tokens stands in for the first r positions of a new prompt
/// of N tokens when:
/// - the first r tokens are the same (then, by induction, so is everything earlier that each
///   position read);
/// - r < N: the last prompt token always runs, its logits give the first sample;
/// - r is a multiple of `Engine.promptBatch`: the rest, placed as the whole prompt
///   (`PrefillPlacement.wholePrompt`), then runs in exactly the chunks an empty-cache run uses,
///   and every reused position was computed in a whole 64-token chunk at the same offset in
///   both runs (r ≤ M rounded down to 64, which is also all an entry stores);
/// - every position below r sits in a micro-batch computed the same way for M and for N:
///   - micro-batches that are whole (512 tokens) in both prompts always are: positions below
///     min(M, N) rounded down to 512;
///   - if M == N, every micro-batch is;
///   - otherwise, the micro-batch starting at that bound is partial in at least one prompt and
///     its size differs. Its positions qualify only for a model none of whose weight types sums
///     in a batch-dependent order, and only when both sizes give the same attention mode. (A
///     micro-batch of one token, which runs as a matrix-vector product, never matters: its one
///     position is the prompt's last, which is never reused.)
/// Conservatively, a model with any batch-order-dependent type (`Engine.sumOrderDependsOnBatch`)
/// reuses only whole micro-batches or entries of the same length.
public final class PromptCache: @unchecked Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Lookups that reused at least one position, and those that reused none.
        public var hits = 0
        public var misses = 0
        /// Prompt positions taken from the cache instead of computed.
        public var reusedTokens = 0
        /// Bytes of K/V rows held (what the bound counts), and entries.
        public var bytes = 0
        public var entries = 0
        /// Entries dropped to stay within a bound (or to give memory to a budget).
        public var evictions = 0

        public init() {}
    }

    /// One prompt's rows.
    struct Entry {
        let owner: UInt32
        /// The prompt's first `storedPositions` tokens.
        let tokens: [Int32]
        /// The whole prompt's length: it decides the placement of the stored positions.
        let promptLength: Int
        /// K/V rows of positions 0..<tokens.count as `InferenceState.copyRows` lays them out, in
        /// the cache types of the session they came from.
        let rows: [UInt8]
        let types: KVCacheTypes
        var lastUse: UInt64
    }

    /// Bound on all entries' bytes; 0 turns the cache off.
    public private(set) var maxBytes: Int
    /// Bound on one owner's entries' bytes, so one uid cannot push everyone else's out.
    public let maxBytesPerOwner: Int
    public private(set) var statistics = Statistics()
    private var entries: [Entry] = []
    private var clock: UInt64 = 0

    public init(maxBytes: Int, maxBytesPerOwner: Int) {
        self.maxBytes = max(0, maxBytes)
        self.maxBytesPerOwner = max(0, maxBytesPerOwner)
    }

    public var isEnabled: Bool { maxBytes > 0 && maxBytesPerOwner > 0 }
    public var bytes: Int { statistics.bytes }

    /// The positions of an entry made from a prompt of `cachedLength` tokens that may stand in
    /// for those of a prompt of `newLength` tokens sharing its first `common` tokens (the rule
    /// in the type's comment).
    public static func reusablePositions(common: Int, cachedLength: Int, newLength: Int, sumOrderDependsOnBatch: Bool) -> Int {
        guard newLength > 0, cachedLength > 0 else { return 0 }
        var limit = min(common, newLength - 1, cachedLength)
        if cachedLength != newLength {
            let microBatch = AttentionMode.referenceMicroBatch
            let whole = min(cachedLength, newLength) / microBatch * microBatch
            let cachedSize = min(microBatch, cachedLength - whole)
            let newSize = min(microBatch, newLength - whole)
            let sameMode = AttentionMode.forBatch(of: cachedSize) == AttentionMode.forBatch(of: newSize)
            if sumOrderDependsOnBatch || !sameMode { limit = min(limit, whole) }
        }
        return limit / Engine.promptBatch * Engine.promptBatch
    }

    /// Empties `session` and fills it with the longest reusable prefix of `promptTokens` among
    /// `owner`'s entries; returns the positions restored (0: a miss). Start the generation with
    /// `PrefillPlacement.wholePrompt` after it.
    @discardableResult
    public func restore(into session: Session, owner: UInt32, promptTokens: [Int32]) -> Int {
        session.reset()
        guard isEnabled else { return 0 }
        guard let best = bestEntry(owner: owner, promptTokens: promptTokens, sensitive: session.engine.sumOrderDependsOnBatch),
            best.positions <= session.state.contextLength
        else {
            statistics.misses += 1
            return 0
        }
        clock &+= 1
        entries[best.index].lastUse = clock
        let entry = entries[best.index]
        session.state.writeRows(entry.rows, count: best.positions, types: entry.types, stored: entry.tokens.count)
        session.restoreCachedTokens(Array(promptTokens[..<best.positions]))
        statistics.hits += 1
        statistics.reusedTokens += best.positions
        return best.positions
    }

    /// The entry of `owner` that gives a prompt the most reusable positions, if any gives one.
    private func bestEntry(owner: UInt32, promptTokens: [Int32], sensitive: Bool) -> (index: Int, positions: Int)? {
        var best: (index: Int, positions: Int)? = nil
        for (index, entry) in entries.enumerated() where entry.owner == owner {
            let common = Self.commonPrefix(entry.tokens, promptTokens)
            let usable = Self.reusablePositions(
                common: common, cachedLength: entry.promptLength, newLength: promptTokens.count, sumOrderDependsOnBatch: sensitive)
            if usable > (best?.positions ?? 0) { best = (index, usable) }
        }
        return best
    }

    /// Keeps the rows of `promptTokens`, which `session` computed as one prompt from position 0
    /// (an empty cache, or a `restore` then a `.wholePrompt` generation), for `owner`. Stores
    /// nothing when the session no longer holds them, when there is nothing worth reusing, or
    /// when the entry would be larger than a bound.
    public func store(from session: Session, owner: UInt32, promptTokens: [Int32]) {
        guard isEnabled else { return }
        let count = promptTokens.count / Engine.promptBatch * Engine.promptBatch
        guard count > 0, session.cachedTokens.count >= count, session.cachedTokens[..<count].elementsEqual(promptTokens[..<count])
        else { return }
        let size = count * session.state.shape.kvBytesPerPosition(session.state.cacheTypes)
        guard size <= maxBytes, size <= maxBytesPerOwner else { return }
        clock &+= 1
        // An entry that already gives this prompt all but its last chunk (the same prompt again,
        // or the same system prompt with another question of about the same length) is
        // refreshed instead: a new one would add at most one chunk and push out another.
        if let best = bestEntry(owner: owner, promptTokens: promptTokens, sensitive: session.engine.sumOrderDependsOnBatch),
            best.positions >= count - Engine.promptBatch
        {
            entries[best.index].lastUse = clock
            return
        }
        let rows = session.state.copyRows(count: count)
        makeRoom(size, owner: owner)
        entries.append(
            Entry(
                owner: owner, tokens: Array(promptTokens[..<count]), promptLength: promptTokens.count, rows: rows,
                types: session.state.cacheTypes, lastUse: clock))
        statistics.bytes += size
        statistics.entries = entries.count
    }

    /// Drops least recently used entries until at most `bytes` are held (a memory budget
    /// shrinks the cache with it); returns the bytes freed.
    @discardableResult
    public func shrink(to bytes: Int) -> Int {
        let before = statistics.bytes
        while statistics.bytes > max(0, bytes), let index = leastRecentlyUsed(owner: nil) { evict(index) }
        return before - statistics.bytes
    }

    /// Changes the overall bound (0: off, and everything is dropped).
    public func setMaxBytes(_ bytes: Int) {
        maxBytes = max(0, bytes)
        shrink(to: maxBytes)
    }

    private func makeRoom(_ size: Int, owner: UInt32) {
        var ownerBytes = entries.reduce(0) { $0 + ($1.owner == owner ? $1.rows.count : 0) }
        while ownerBytes + size > maxBytesPerOwner, let index = leastRecentlyUsed(owner: owner) {
            ownerBytes -= entries[index].rows.count
            evict(index)
        }
        while statistics.bytes + size > maxBytes, let index = leastRecentlyUsed(owner: nil) { evict(index) }
    }

    private func leastRecentlyUsed(owner: UInt32?) -> Int? {
        var best: Int? = nil
        for (index, entry) in entries.enumerated() where owner == nil || entry.owner == owner {
            if best == nil || entry.lastUse < entries[best!].lastUse { best = index }
        }
        return best
    }

    private func evict(_ index: Int) {
        statistics.bytes -= entries[index].rows.count
        entries.remove(at: index)
        statistics.entries = entries.count
        statistics.evictions += 1
    }

    private static func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n && a[i] == b[i] { i += 1 }
        return i
    }
}
