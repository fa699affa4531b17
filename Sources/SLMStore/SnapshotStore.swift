import SLMCore

/// KV snapshots: the latest per conversation, kept within `snapshotBudgetBytes` by evicting the
/// least recently used (saved or loaded) across the whole database. A snapshot is a cache: losing
/// one only costs a re-prefill, so its writes are synced less strictly than turns (see `save`).
extension ConversationStore {
    /// Stores `snapshot` as the conversation's latest, replacing the previous one. A snapshot
    /// larger than the whole budget is not kept (the previous one is dropped, being stale). One
    /// that does not fit the owner's byte quota, even after evicting the owner's other snapshots,
    /// is not kept either, and then `.quotaExceeded` is thrown after the stale one was dropped:
    /// the turn is stored, only the cache is missing.
    public func saveSnapshot(_ snapshot: SessionSnapshot, conversation id: ConversationID, owner: OwnerID) throws {
        let bytes = snapshot.serialized()  // outside the lock: megabytes of copying
        let now = Self.nowMilliseconds()
        let fitsQuota = try locked { () throws -> Bool in
            // synchronous=NORMAL in WAL mode: the commit is atomic and the database consistent, but
            // the last snapshot writes may be lost on power loss — a turn commit (FULL) syncs the
            // log again anyway. This spares one fsync of megabytes per turn.
            try db.execute("PRAGMA synchronous = NORMAL")
            defer { try? db.execute("PRAGMA synchronous = \(turnSynchronous)") }
            return try db.transaction { () throws -> Bool in
                _ = try fetchConversation(id, owner: owner)
                try db.run("DELETE FROM snapshots WHERE conversation_id = ?", [.integer(id)])
                guard bytes.count <= snapshotBudgetBytes else { return true }
                guard try fitStoredBytes(owner: owner, incoming: bytes.count) else { return false }
                try evict(toFit: bytes.count)
                let insert = try db.prepare(
                    "INSERT INTO snapshots (conversation_id, model_identity, token_count, byte_count, last_used_at, data) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        .integer(id), .text(snapshot.modelIdentity), .integer(Int64(snapshot.tokens.count)),
                        .integer(Int64(bytes.count)), .integer(now),
                    ])
                try bytes.withUnsafeBytes { raw in
                    try insert.bindBorrowedBlob(6, raw)
                    while try insert.step() {}
                }
                return true
            }
        }
        if !fitsQuota { throw StoreError.quotaExceeded(.storedBytes, limit: quotas.maxStoredBytesPerOwner) }
    }

    /// The conversation's snapshot for the model `modelIdentity`; nil when there is none, or it
    /// belongs to another model or fails its checksum — such a snapshot is deleted, and the caller
    /// re-runs the history instead. The megabytes are verified outside the lock, so other
    /// threads' turns are not held up meanwhile.
    public func loadSnapshot(conversation id: ConversationID, owner: OwnerID, modelIdentity: String) throws -> SessionSnapshot? {
        let stored = try locked { () throws -> (identity: String, version: Int64, data: [UInt8])? in
            try db.transaction {
                _ = try fetchConversation(id, owner: owner)
                let row = try db.prepare(
                    "SELECT model_identity, last_used_at, data FROM snapshots WHERE conversation_id = ?", [.integer(id)])
                guard try row.step() else { return nil }
                // Only the identity is needed to refuse another model's snapshot.
                return (row.text(0), row.int64(1), row.text(0) == modelIdentity ? row.blob(2) : [])
            }
        }
        guard let stored else { return nil }
        var snapshot: SessionSnapshot? = nil
        if stored.identity == modelIdentity, let parsed = try? SessionSnapshot(serialized: stored.data),
            parsed.modelIdentity == modelIdentity
        {
            snapshot = parsed
        }
        let now = Self.nowMilliseconds()
        try locked {
            // `last_used_at` tells whether the row is still the one read: a snapshot saved
            // meanwhile by another thread is neither deleted nor touched here.
            if snapshot == nil {
                try db.run(
                    "DELETE FROM snapshots WHERE conversation_id = ? AND last_used_at = ?", [.integer(id), .integer(stored.version)])
            } else {
                try db.run(
                    "UPDATE snapshots SET last_used_at = ? WHERE conversation_id = ? AND last_used_at = ?",
                    [.integer(max(now, stored.version)), .integer(id), .integer(stored.version)])
            }
        }
        return snapshot
    }

    /// Bytes of all stored snapshots (of every owner: the budget is the disk's).
    public func snapshotBytes() throws -> Int {
        try locked { Int(try db.integer("SELECT COALESCE(SUM(byte_count), 0) FROM snapshots") ?? 0) }
    }

    /// Deletes least recently used snapshots until `incoming` more bytes fit the budget. Caller
    /// holds the lock, inside a transaction.
    private func evict(toFit incoming: Int) throws {
        var total = Int(try db.integer("SELECT COALESCE(SUM(byte_count), 0) FROM snapshots") ?? 0)
        guard saturatingSum(total, incoming) > snapshotBudgetBytes else { return }
        let oldest = try db.prepare("SELECT conversation_id, byte_count FROM snapshots ORDER BY last_used_at, conversation_id")
        var victims: [Int64] = []
        while saturatingSum(total, incoming) > snapshotBudgetBytes, try oldest.step() {
            victims.append(oldest.int64(0))
            total = saturatingSum(total, -max(0, oldest.int(1)))
        }
        for victim in victims {
            try db.run("DELETE FROM snapshots WHERE conversation_id = ?", [.integer(victim)])
        }
    }
}
