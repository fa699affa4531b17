/// The database layout, versioned by `PRAGMA user_version`. A migration is appended, never edited:
/// migration i takes a database from version i to i + 1, in one transaction.
enum Schema {
    static let migrations: [String] = [
        // 0 → 1
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            owner INTEGER NOT NULL,
            title TEXT NOT NULL,
            model_identity TEXT NOT NULL,
            settings TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            message_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX conversations_by_owner ON conversations(owner, updated_at DESC, id DESC);

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            sequence INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
            content TEXT NOT NULL,
            token_count INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            cancelled INTEGER NOT NULL DEFAULT 0,
            UNIQUE (conversation_id, sequence)
        );

        -- Full-text index over message contents, kept in step with `messages` by triggers
        -- (external content: the text is stored once, in `messages`). Messages are never updated.
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END;

        -- One KV snapshot per conversation (the latest). The blob lives in the row, so it is
        -- written, replaced and deleted in the same transactions as the rows it belongs to. The
        -- blob is the last column: reading the metadata never touches its overflow pages.
        CREATE TABLE snapshots (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
            model_identity TEXT NOT NULL,
            token_count INTEGER NOT NULL,
            byte_count INTEGER NOT NULL,
            last_used_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE INDEX snapshots_by_last_use ON snapshots(last_used_at, conversation_id);
        """,
        // 1 → 2: conversation ids are never reused (AUTOINCREMENT), so an id a client kept after a
        // delete can never name someone's new conversation; `text_bytes` (the UTF-8 bytes of the
        // conversation's messages) lets a per-owner quota be checked without reading every
        // message. SQLite cannot add AUTOINCREMENT to a table: copy into a new one, drop, rename
        // (run with foreign keys off, see `migrate`, or the DROP would cascade to the messages).
        // Copying the ids explicitly sets sqlite_sequence to the highest one, so new ids start above it.
        """
        CREATE TABLE conversations_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            owner INTEGER NOT NULL,
            title TEXT NOT NULL,
            model_identity TEXT NOT NULL,
            settings TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            message_count INTEGER NOT NULL DEFAULT 0,
            text_bytes INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO conversations_v2
            (id, owner, title, model_identity, settings, created_at, updated_at, message_count, text_bytes)
        SELECT c.id, c.owner, c.title, c.model_identity, c.settings, c.created_at, c.updated_at, c.message_count,
            (SELECT COALESCE(SUM(length(CAST(m.content AS BLOB))), 0) FROM messages m WHERE m.conversation_id = c.id)
        FROM conversations c ORDER BY c.id;
        DROP TABLE conversations;
        ALTER TABLE conversations_v2 RENAME TO conversations;
        CREATE INDEX conversations_by_owner ON conversations(owner, updated_at DESC, id DESC);
        """,
        // 2 → 3: semantic memory. Each message's embedding under one embedding model (its GGUF
        // identity): sign bits for the Hamming scan and, optionally, the float vector (F32,
        // little-endian) for re-ranking. `owner` repeats the conversation's, so a search scans
        // one owner's rows through the index without a join. Rows go with their message.
        """
        CREATE TABLE message_vectors (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            owner INTEGER NOT NULL,
            bits BLOB NOT NULL,
            floats BLOB,
            PRIMARY KEY (message_id, model)
        );
        CREATE INDEX message_vectors_by_owner ON message_vectors(owner, model);
        """,
    ]

    static var currentVersion: Int { migrations.count }

    /// Brings the database to `currentVersion`. A database from a newer slm is refused before
    /// anything is written to it (not even the journal mode).
    static func migrate(_ db: Database) throws {
        // A connection setting, not a change to the file: waits for another process's lock.
        try db.execute("PRAGMA busy_timeout = \(ConversationStore.busyTimeoutMilliseconds)")
        let found = Int(try db.integer("PRAGMA user_version") ?? 0)
        if found > currentVersion { throw StoreError.newerSchema(found: found, supported: currentVersion) }
        if found == 0 {
            // Only takes effect on a database that is still empty (and before WAL is set):
            // snapshots are megabyte blobs, and big pages make their overflow chains 16× shorter.
            try db.execute("PRAGMA page_size = \(ConversationStore.pageSizeBytes)")
        }
        try configure(db)
        guard found < currentVersion else { return }
        // Rebuilding a table that others reference needs foreign keys off (SQLite's documented
        // procedure: a DROP would otherwise cascade), and the pragma is ignored inside a
        // transaction, so it goes around it; the references are checked before the commit.
        try db.execute("PRAGMA foreign_keys = OFF")
        defer { try? db.execute("PRAGMA foreign_keys = ON") }
        try db.transaction {
            // Read again under the write lock: another process may have migrated meanwhile.
            let version = Int(try db.integer("PRAGMA user_version") ?? 0)
            if version > currentVersion { throw StoreError.newerSchema(found: version, supported: currentVersion) }
            for step in version..<currentVersion {
                try db.execute(migrations[step])
            }
            if try db.integer("PRAGMA foreign_key_check") != nil {
                throw StoreError.sqlite(code: 19, message: "migration to schema version \(currentVersion) broke a foreign key")
            }
            // user_version takes no bound parameter; the value is our own integer, not data.
            try db.execute("PRAGMA user_version = \(currentVersion)")
        }
    }

    /// Connection settings. WAL: readers never block the writer, and a commit is one append to the
    /// log. synchronous=FULL: the log is synced at every commit, so a committed turn survives power
    /// loss (`ConversationStore` lowers it to NORMAL only around snapshot writes, which are a cache).
    static func configure(_ db: Database) throws {
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = FULL")
        try db.execute("PRAGMA foreign_keys = ON")
        // After a big snapshot the log is truncated back to this size at checkpoints instead of
        // keeping its high-water mark on disk.
        try db.execute("PRAGMA journal_size_limit = \(ConversationStore.walSizeLimitBytes)")
    }
}
