/// Per-owner limits. In a store shared by several users (slmd's) one of them must not fill the
/// disk, or the conversation table, for everyone. 0 means unlimited: a store that only its own
/// user writes to (`slm chat`, libslm) is limited by that user's disk alone.
public struct StoreQuotas: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case conversations
        /// The UTF-8 bytes of an owner's messages plus the bytes of their KV snapshots.
        case storedBytes
    }

    public var maxConversationsPerOwner: Int
    public var maxStoredBytesPerOwner: Int

    public init(maxConversationsPerOwner: Int = 0, maxStoredBytesPerOwner: Int = 0) {
        self.maxConversationsPerOwner = max(0, maxConversationsPerOwner)
        self.maxStoredBytesPerOwner = max(0, maxStoredBytesPerOwner)
    }

    public static let unlimited = StoreQuotas()
}

/// How the quotas are enforced. Messages are what the user asked to keep, so a turn that does not
/// fit is refused; snapshots are a cache, so the owner's least recently used ones are evicted to
/// make room, and a snapshot that still does not fit is not kept.
extension ConversationStore {
    /// Refuses a turn early, before the model runs, when it could not be stored anyway: a new
    /// conversation over the count, or a user message over the bytes left. The reply's size is not
    /// known yet, so the commit checks again.
    public func checkQuota(owner: OwnerID, newConversation: Bool, incomingBytes: Int) throws {
        try locked {
            if newConversation { try checkConversationCount(owner: owner) }
            let limit = quotas.maxStoredBytesPerOwner
            if limit > 0, saturatingSum(try textBytes(owner: owner), incomingBytes) > limit {
                throw StoreError.quotaExceeded(.storedBytes, limit: limit)
            }
        }
    }

    /// What the owner stores now: message bytes and snapshot bytes.
    public func storedBytes(owner: OwnerID) throws -> (messages: Int, snapshots: Int) {
        try locked { (try textBytes(owner: owner), try snapshotBytes(owner: owner)) }
    }

    /// The caller holds the lock (inside the transaction that inserts the conversation).
    func checkConversationCount(owner: OwnerID) throws {
        let limit = quotas.maxConversationsPerOwner
        guard limit > 0 else { return }
        let count = Int(try db.integer("SELECT COUNT(*) FROM conversations WHERE owner = ?", [.integer(Int64(owner))]) ?? 0)
        if count >= limit { throw StoreError.quotaExceeded(.conversations, limit: limit) }
    }

    /// Makes room for `incoming` more bytes of the owner's within the byte quota, evicting the
    /// owner's snapshots (least recently used first) when they are in the way; false when even
    /// without any snapshot the messages leave no room. The caller holds the lock, inside a
    /// transaction, and has already removed the snapshot that `incoming` may replace.
    func fitStoredBytes(owner: OwnerID, incoming: Int) throws -> Bool {
        let limit = quotas.maxStoredBytesPerOwner
        guard limit > 0 else { return true }
        let text = try textBytes(owner: owner)
        guard saturatingSum(text, incoming) <= limit else { return false }
        var total = saturatingSum(text, try snapshotBytes(owner: owner))
        guard saturatingSum(total, incoming) > limit else { return true }
        let oldest = try db.prepare(
            """
            SELECT s.conversation_id, s.byte_count FROM snapshots s JOIN conversations c ON c.id = s.conversation_id
            WHERE c.owner = ? ORDER BY s.last_used_at, s.conversation_id
            """, [.integer(Int64(owner))])
        var victims: [Int64] = []
        while saturatingSum(total, incoming) > limit, try oldest.step() {
            victims.append(oldest.int64(0))
            total = saturatingSum(total, -max(0, oldest.int(1)))
        }
        for victim in victims {
            try db.run("DELETE FROM snapshots WHERE conversation_id = ?", [.integer(victim)])
        }
        return true
    }

    private func textBytes(owner: OwnerID) throws -> Int {
        Int(try db.integer("SELECT COALESCE(SUM(text_bytes), 0) FROM conversations WHERE owner = ?", [.integer(Int64(owner))]) ?? 0)
    }

    private func snapshotBytes(owner: OwnerID) throws -> Int {
        Int(
            try db.integer(
                "SELECT COALESCE(SUM(s.byte_count), 0) FROM snapshots s JOIN conversations c ON c.id = s.conversation_id WHERE c.owner = ?",
                [.integer(Int64(owner))]) ?? 0)
    }
}

/// Byte counts read back from the database are trusted for accounting only: a hand-edited row
/// must not make the arithmetic trap, so sums saturate.
func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (total, overflow) = a.addingReportingOverflow(b)
    return overflow ? (b < 0 ? Int.min : Int.max) : total
}
