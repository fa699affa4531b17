import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Conversations, their messages and KV snapshots in one SQLite database. Every operation is
/// scoped by owner: another owner's conversation behaves exactly like one that does not exist.
///
/// Thread-safe: one connection, every use behind a mutex. Several processes may open the same
/// file (WAL; a busy database is waited on for `busyTimeoutMilliseconds`).
public final class ConversationStore: @unchecked Sendable {
    /// 256 MiB of KV snapshots across all conversations, least recently used evicted first. A
    /// snapshot costs about 22.5 KiB per token on SmolLM2-135M (30 layers × 2 × 192 F16 values),
    /// so this keeps ~11 conversations of 1,000 tokens resumable without a re-prefill, while
    /// staying a small share of a board's SD card (docs/benchmarks.md).
    public static let defaultSnapshotBudgetBytes = 256 << 20
    /// One message's UTF-8 bytes: well above any context these models take (32 K tokens × ~4 bytes).
    public static let maxMessageBytes = 1 << 20
    public static let maxTitleBytes = 1024
    public static let maxSettingsBytes = 64 << 10
    public static let maxModelIdentityBytes = 128
    public static let maxSearchQueryBytes = 1024
    /// Largest page of `listConversations` and of `search`.
    public static let maxListLimit = 1000
    /// How long an operation waits for another process's write lock before failing with `.busy`.
    public static let busyTimeoutMilliseconds = 5000
    /// Page size of new databases (SQLite's largest): KV snapshots are tens of megabytes.
    public static let pageSizeBytes = 65536
    /// Size the write-ahead log is truncated back to at checkpoints.
    public static let walSizeLimitBytes = 64 << 20

    public let path: String
    public let snapshotBudgetBytes: Int
    public let quotas: StoreQuotas
    let db: Database
    private let lock = StoreLock()
    /// The connection's `PRAGMA synchronous` for turns (guarded by the lock); FULL unless a
    /// benchmark lowers it to measure what FULL costs.
    var turnSynchronous = "FULL"

    /// Opens (creating if needed) and migrates the database at `path`. A database from a newer
    /// slm throws `.newerSchema` and is not modified.
    public init(path: String, snapshotBudgetBytes: Int = defaultSnapshotBudgetBytes, quotas: StoreQuotas = .unlimited) throws {
        self.path = path
        self.snapshotBudgetBytes = max(0, snapshotBudgetBytes)
        self.quotas = quotas
        db = try Database(path: path)
        do {
            try Schema.migrate(db)
        } catch {
            db.close()
            throw error
        }
    }

    /// Closes the connection; later calls throw `.io`. Safe to call twice.
    public func close() { lock.locked { db.close() } }

    // MARK: conversations

    /// An empty conversation. A caller that has the first turn at hand should use
    /// `startConversation`, so that a turn that fails leaves no empty conversation behind.
    public func createConversation(owner: OwnerID, title: String = "", modelIdentity: String, settings: String = "{}") throws
        -> Conversation
    {
        try Self.checkConversationFields(title: title, modelIdentity: modelIdentity, settings: settings)
        let now = Self.nowMilliseconds()
        return try lock.locked {
            try db.transaction {
                try insertConversation(owner: owner, title: title, modelIdentity: modelIdentity, settings: settings, now: now)
            }
        }
    }

    /// A new conversation and its first turn in one transaction (as `appendTurn`): either both
    /// are stored or neither, so a rejected first message never leaves an empty conversation.
    public func startConversation(
        owner: OwnerID, title: String = "", modelIdentity: String, settings: String = "{}",
        user: String, userTokens: Int, assistant: String, assistantTokens: Int, cancelled: Bool
    ) throws -> Conversation {
        try Self.checkConversationFields(title: title, modelIdentity: modelIdentity, settings: settings)
        try Self.check(user, what: "user message", limit: Self.maxMessageBytes)
        try Self.check(assistant, what: "assistant message", limit: Self.maxMessageBytes)
        let now = Self.nowMilliseconds()
        return try lock.locked {
            try db.transaction {
                var conversation = try insertConversation(
                    owner: owner, title: title, modelIdentity: modelIdentity, settings: settings, now: now)
                conversation.messageCount = try insertTurn(
                    conversation.id, owner: owner, user: user, userTokens: userTokens, assistant: assistant,
                    assistantTokens: assistantTokens, cancelled: cancelled, now: now)
                return conversation
            }
        }
    }

    /// Newest first (last changed first).
    public func listConversations(owner: OwnerID, limit: Int = 50, offset: Int = 0) throws -> [Conversation] {
        let limit = min(max(0, limit), Self.maxListLimit)
        return try lock.locked {
            let statement = try db.prepare(
                "SELECT \(Self.conversationColumns) FROM conversations WHERE owner = ? ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
                [.integer(Int64(owner)), .integer(Int64(limit)), .integer(Int64(max(0, offset)))])
            var result: [Conversation] = []
            while try statement.step() { result.append(Self.conversation(from: statement)) }
            return result
        }
    }

    public func conversation(_ id: ConversationID, owner: OwnerID) throws -> Conversation {
        try lock.locked { try fetchConversation(id, owner: owner) }
    }

    public func messages(of id: ConversationID, owner: OwnerID) throws -> [StoredMessage] {
        try lock.locked {
            // One read transaction, so the ownership check and the rows see the same state.
            try db.execute("BEGIN")
            defer { try? db.execute("COMMIT") }
            _ = try fetchConversation(id, owner: owner)
            let statement = try db.prepare(
                "SELECT sequence, role, content, token_count, created_at, cancelled FROM messages WHERE conversation_id = ? ORDER BY sequence",
                [.integer(id)])
            var result: [StoredMessage] = []
            while try statement.step() {
                result.append(
                    StoredMessage(
                        sequence: statement.int(0), role: statement.text(1), content: statement.text(2),
                        tokenCount: statement.int(3), createdAt: statement.int64(4), cancelled: statement.int(5) != 0))
            }
            return result
        }
    }

    /// The user message and the assistant reply, committed together in one synchronous (FULL)
    /// transaction: once this returns, the turn survives a crash or a power loss. A reply cut short
    /// by cancel is stored with `cancelled` set (and stays part of the conversation's history).
    public func appendTurn(
        to id: ConversationID, owner: OwnerID, user: String, userTokens: Int,
        assistant: String, assistantTokens: Int, cancelled: Bool
    ) throws {
        try Self.check(user, what: "user message", limit: Self.maxMessageBytes)
        try Self.check(assistant, what: "assistant message", limit: Self.maxMessageBytes)
        let now = Self.nowMilliseconds()
        try lock.locked {
            try db.transaction {
                _ = try insertTurn(
                    id, owner: owner, user: user, userTokens: userTokens, assistant: assistant,
                    assistantTokens: assistantTokens, cancelled: cancelled, now: now)
            }
        }
    }

    /// The caller holds the lock, inside a transaction; checks the conversation quota.
    private func insertConversation(owner: OwnerID, title: String, modelIdentity: String, settings: String, now: Int64) throws
        -> Conversation
    {
        try checkConversationCount(owner: owner)
        try db.run(
            "INSERT INTO conversations (owner, title, model_identity, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [.integer(Int64(owner)), .text(title), .text(modelIdentity), .text(settings), .integer(now), .integer(now)])
        return Conversation(
            id: db.lastInsertRowID, owner: owner, title: title, modelIdentity: modelIdentity,
            settings: settings, createdAt: now, updatedAt: now, messageCount: 0)
    }

    /// Appends the user message and the reply; returns the new message count. The caller holds
    /// the lock, inside a transaction. The owner's byte quota may evict their snapshots, never
    /// messages: a turn that does not fit is refused.
    private func insertTurn(
        _ id: ConversationID, owner: OwnerID, user: String, userTokens: Int,
        assistant: String, assistantTokens: Int, cancelled: Bool, now: Int64
    ) throws -> Int {
        let next = try db.integer(
            "SELECT message_count FROM conversations WHERE id = ? AND owner = ?",
            [.integer(id), .integer(Int64(owner))])
        guard let next else { throw StoreError.notFound(id) }
        let bytes = user.utf8.count + assistant.utf8.count
        guard try fitStoredBytes(owner: owner, incoming: bytes) else {
            throw StoreError.quotaExceeded(.storedBytes, limit: quotas.maxStoredBytesPerOwner)
        }
        let insert =
            "INSERT INTO messages (conversation_id, sequence, role, content, token_count, created_at, cancelled) VALUES (?, ?, ?, ?, ?, ?, ?)"
        try db.run(
            insert,
            [
                .integer(id), .integer(next), .text("user"), .text(user), .integer(Int64(max(0, userTokens))), .integer(now),
                .integer(0),
            ])
        try db.run(
            insert,
            [
                .integer(id), .integer(next + 1), .text("assistant"), .text(assistant), .integer(Int64(max(0, assistantTokens))),
                .integer(now), .integer(cancelled ? 1 : 0),
            ])
        try db.run(
            "UPDATE conversations SET message_count = ?, text_bytes = text_bytes + ?, updated_at = ? WHERE id = ? AND owner = ?",
            [.integer(next + 2), .integer(Int64(bytes)), .integer(now), .integer(id), .integer(Int64(owner))])
        return Int(next) + 2
    }

    public func rename(_ id: ConversationID, owner: OwnerID, title: String) throws {
        try Self.check(title, what: "title", limit: Self.maxTitleBytes)
        let now = Self.nowMilliseconds()
        try lock.locked {
            try db.transaction {
                try db.run(
                    "UPDATE conversations SET title = ?, updated_at = ? WHERE id = ? AND owner = ?",
                    [.text(title), .integer(now), .integer(id), .integer(Int64(owner))])
                if db.changes == 0 { throw StoreError.notFound(id) }
            }
        }
    }

    /// Deletes the conversation, its messages (and their search index entries) and its snapshot.
    public func deleteConversation(_ id: ConversationID, owner: OwnerID) throws {
        try lock.locked {
            try db.transaction {
                guard
                    try db.integer("SELECT 1 FROM conversations WHERE id = ? AND owner = ?", [.integer(id), .integer(Int64(owner))]) != nil
                else {
                    throw StoreError.notFound(id)
                }
                try db.run("DELETE FROM snapshots WHERE conversation_id = ?", [.integer(id)])
                try db.run("DELETE FROM messages WHERE conversation_id = ?", [.integer(id)])
                try db.run("DELETE FROM conversations WHERE id = ? AND owner = ?", [.integer(id), .integer(Int64(owner))])
            }
        }
    }

    /// Full-text search (FTS5) over the owner's messages, best match first. The query is taken
    /// as plain words, all of which must occur (FTS5 operators and quotes in it are not
    /// interpreted, so no input is a syntax error).
    public func search(owner: OwnerID, query: String, limit: Int = 20) throws -> [SearchHit] {
        try Self.check(query, what: "search query", limit: Self.maxSearchQueryBytes)
        let match = Self.ftsQuery(query)
        let limit = min(max(0, limit), Self.maxListLimit)
        guard !match.isEmpty, limit > 0 else { return [] }
        return try lock.locked {
            let statement = try db.prepare(
                """
                SELECT m.conversation_id, m.sequence, m.role, snippet(messages_fts, 0, '[', ']', '…', 16)
                FROM messages_fts
                JOIN messages m ON m.id = messages_fts.rowid
                JOIN conversations c ON c.id = m.conversation_id
                WHERE messages_fts MATCH ? AND c.owner = ?
                ORDER BY messages_fts.rank, m.conversation_id, m.sequence
                LIMIT ?
                """, [.text(match), .integer(Int64(owner)), .integer(Int64(limit))])
            var hits: [SearchHit] = []
            while try statement.step() {
                hits.append(
                    SearchHit(
                        conversation: statement.int64(0), sequence: statement.int(1), role: statement.text(2), snippet: statement.text(3)))
            }
            return hits
        }
    }

    /// For `slm store-bench` only: commits turns with synchronous=NORMAL (false) instead of FULL,
    /// to measure what the power-loss guarantee costs. Not for production use.
    @_spi(Benchmarks) public func setTurnSynchronousFull(_ full: Bool) throws {
        try lock.locked {
            turnSynchronous = full ? "FULL" : "NORMAL"
            try db.execute("PRAGMA synchronous = \(turnSynchronous)")
        }
    }

    // MARK: helpers

    /// Runs `body` with the connection, behind the lock (tests set pragmas such as max_page_count).
    func withDatabase<T>(_ body: (Database) throws -> T) throws -> T {
        try lock.locked { try body(db) }
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T { try lock.locked(body) }

    /// The caller holds the lock.
    func fetchConversation(_ id: ConversationID, owner: OwnerID) throws -> Conversation {
        let statement = try db.prepare(
            "SELECT \(Self.conversationColumns) FROM conversations WHERE id = ? AND owner = ?",
            [.integer(id), .integer(Int64(owner))])
        guard try statement.step() else { throw StoreError.notFound(id) }
        return Self.conversation(from: statement)
    }

    static let conversationColumns = "id, owner, title, model_identity, settings, created_at, updated_at, message_count"

    static func conversation(from row: Statement) -> Conversation {
        Conversation(
            id: row.int64(0), owner: OwnerID(truncatingIfNeeded: row.int64(1)), title: row.text(2), modelIdentity: row.text(3),
            settings: row.text(4), createdAt: row.int64(5), updatedAt: row.int64(6), messageCount: row.int(7))
    }

    static func checkConversationFields(title: String, modelIdentity: String, settings: String) throws {
        try check(title, what: "title", limit: maxTitleBytes)
        try check(modelIdentity, what: "model identity", limit: maxModelIdentityBytes)
        try check(settings, what: "settings", limit: maxSettingsBytes)
    }

    /// Size and content limits of every piece of text the store takes.
    static func check(_ text: String, what: String, limit: Int) throws {
        let bytes = text.utf8.count
        if bytes > limit { throw StoreError.tooLarge(what: what, bytes: bytes, limit: limit) }
        if text.utf8.contains(0) { throw StoreError.invalidText("\(what) contains a NUL byte") }
    }

    /// Text arriving as raw bytes (a C string, a line read from a terminal or a socket) enters the
    /// store through here: Swift `String`s are always valid UTF-8, so this is where invalid UTF-8
    /// and NUL bytes are caught, before any `String` exists.
    public static func validatedText<Bytes: Collection>(utf8 bytes: Bytes, what: String, limit: Int = maxMessageBytes) throws -> String
    where Bytes.Element == UInt8 {
        if bytes.count > limit { throw StoreError.tooLarge(what: what, bytes: bytes.count, limit: limit) }
        if bytes.contains(0) { throw StoreError.invalidText("\(what) contains a NUL byte") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw StoreError.invalidText("\(what) is not valid UTF-8")
        }
        return text
    }

    /// Each word of the user's query as a quoted FTS5 string ("" escapes a quote): all must match.
    static func ftsQuery(_ query: String) -> String {
        query.split(whereSeparator: { $0.isWhitespace })
            .map { "\"" + $0.replacingAll("\"", with: "\"\"") + "\"" }
            .joined(separator: " ")
    }

    /// Strictly increasing within the process, so "newest first" is well defined even when two
    /// changes fall in the same millisecond.
    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let wall = Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
        return lastStamp.withLock { last in
            last = max(wall, last + 1)
            return last
        }
    }
    private static let lastStamp = Mutex<Int64>(0)
}

extension Substring {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// A pthread mutex with a stable address (a Swift stored `pthread_mutex_t` may move).
final class StoreLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
