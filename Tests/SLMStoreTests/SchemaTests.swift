import Foundation
import XCTest

@testable import SLMStore

/// Migrations by `PRAGMA user_version`, and a database from a newer slm left alone.
final class SchemaTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "slm-schema-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testNewDatabaseGetsTheCurrentVersionInWALMode() throws {
        let store = try ConversationStore(path: directory + "/db")
        try store.withDatabase { db in
            XCTAssertEqual(try db.integer("PRAGMA user_version"), Int64(Schema.currentVersion))
            let mode = try db.prepare("PRAGMA journal_mode")
            XCTAssertTrue(try mode.step())
            XCTAssertEqual(mode.text(0), "wal")
            XCTAssertEqual(try db.integer("PRAGMA synchronous"), 2, "FULL")
            XCTAssertEqual(try db.integer("PRAGMA foreign_keys"), 1)
        }
        store.close()
        XCTAssertNoThrow(try ConversationStore(path: directory + "/db"), "reopening an up-to-date database")
    }

    func testNewerSchemaIsRefusedAndTheFileIsNotChanged() throws {
        let path = directory + "/db"
        let store = try ConversationStore(path: path)
        let c = try store.createConversation(owner: 1, modelIdentity: "m")
        try store.appendTurn(
            to: c.id, owner: 1, user: "from the future", userTokens: 3, assistant: "ok", assistantTokens: 1, cancelled: false)
        let future = Schema.currentVersion + 5
        try store.withDatabase { db in
            try db.execute("PRAGMA user_version = \(future)")
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        store.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        XCTAssertThrowsError(try ConversationStore(path: path)) {
            XCTAssertEqual($0 as? StoreError, .newerSchema(found: future, supported: Schema.currentVersion))
            XCTAssertTrue("\($0)".contains("upgrade slm"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "the refused database was modified")
    }

    func testAFileThatIsNotADatabaseIsAnErrorNotACrash() throws {
        let path = directory + "/db"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ConversationStore(path: path)) {
            guard case .sqlite(let code, _) = $0 as? StoreError else { return XCTFail("\($0)") }
            XCTAssertEqual(code, 26, "SQLITE_NOTADB")
        }
        XCTAssertThrowsError(try ConversationStore(path: directory + "/missing-dir/db")) {
            guard case .io = $0 as? StoreError else { return XCTFail("\($0)") }
        }
    }

    /// A database as slm with schema version 1 wrote it (its DDL is `Schema.migrations[0]`, which
    /// is never edited), with conversations 1, 2 and 5 of two owners (3 and 4 were deleted),
    /// messages in the search index and a snapshot.
    func writeVersionOneDatabase(_ path: String, snapshot: [UInt8]) throws {
        let db = try Database(path: path)
        defer { db.close() }
        try db.execute("PRAGMA page_size = 65536")
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA foreign_keys = ON")
        try db.execute("BEGIN IMMEDIATE")
        try db.execute(Schema.migrations[0])
        try db.execute("PRAGMA user_version = 1")
        try db.execute(
            """
            INSERT INTO conversations (id, owner, title, model_identity, settings, created_at, updated_at, message_count) VALUES
                (1, 1000, 'garden', 'aaaaaaaaaaaaaaaa', '{"t":1}', 10, 20, 2),
                (2, 1001, 'bob''s', 'aaaaaaaaaaaaaaaa', '{}', 11, 21, 2),
                (5, 1000, '', 'aaaaaaaaaaaaaaaa', '{}', 12, 22, 0);
            INSERT INTO messages (conversation_id, sequence, role, content, token_count, created_at, cancelled) VALUES
                (1, 0, 'user', 'How deep do carrots grow?', 6, 20, 0),
                (1, 1, 'assistant', 'About 20 cm, in loose soil. Thé end', 12, 20, 1),
                (2, 0, 'user', 'hello', 1, 21, 0),
                (2, 1, 'assistant', 'hi', 1, 21, 0);
            """)
        try db.run(
            "INSERT INTO snapshots (conversation_id, model_identity, token_count, byte_count, last_used_at, data) VALUES (1, 'aaaaaaaaaaaaaaaa', 10, ?, 30, ?)",
            [.integer(Int64(snapshot.count)), .blob(snapshot)])
        try db.execute("COMMIT")
    }

    func testVersionOneDatabaseMigratesToAutoincrementIdsWithEverythingKept() throws {
        let path = directory + "/db"
        let snapshot = SnapshotStoreTests.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 10)
        try writeVersionOneDatabase(path, snapshot: snapshot.serialized())

        let store = try ConversationStore(path: path)
        try store.withDatabase { db in
            XCTAssertEqual(try db.integer("PRAGMA user_version"), Int64(Schema.currentVersion))
            XCTAssertEqual(try db.integer("PRAGMA foreign_keys"), 1, "foreign keys are back on after the migration")
            XCTAssertNil(try db.integer("PRAGMA foreign_key_check"))
            let sql = try db.prepare("SELECT sql FROM sqlite_master WHERE name = 'conversations'")
            XCTAssertTrue(try sql.step())
            XCTAssertTrue(sql.text(0).contains("AUTOINCREMENT"), sql.text(0))
            XCTAssertNotNil(try db.integer("SELECT 1 FROM sqlite_master WHERE name = 'conversations_by_owner'"))
            XCTAssertNil(try db.integer("SELECT 1 FROM sqlite_master WHERE name = 'conversations_v2'"))
            XCTAssertEqual(try db.integer("SELECT seq FROM sqlite_sequence WHERE name = 'conversations'"), 5)
        }
        let garden = try store.conversation(1, owner: 1000)
        XCTAssertEqual(
            garden,
            Conversation(
                id: 1, owner: 1000, title: "garden", modelIdentity: "aaaaaaaaaaaaaaaa", settings: #"{"t":1}"#,
                createdAt: 10, updatedAt: 20, messageCount: 2))
        XCTAssertEqual(try store.listConversations(owner: 1000).map(\.id), [5, 1])
        XCTAssertEqual(try store.listConversations(owner: 1001).map(\.title), ["bob's"])
        XCTAssertThrowsError(try store.conversation(2, owner: 1000), "owners are kept")
        let messages = try store.messages(of: 1, owner: 1000)
        XCTAssertEqual(messages.map(\.content), ["How deep do carrots grow?", "About 20 cm, in loose soil. Thé end"])
        XCTAssertEqual(messages.map(\.cancelled), [false, true])
        XCTAssertEqual(messages.map(\.tokenCount), [6, 12])
        XCTAssertEqual(try store.search(owner: 1000, query: "carrots").map(\.conversation), [1], "the search index still matches")
        XCTAssertEqual(try store.loadSnapshot(conversation: 1, owner: 1000, modelIdentity: "aaaaaaaaaaaaaaaa"), snapshot)
        // Byte counts for the quota, computed from the messages (UTF-8: "é" is 2 bytes).
        XCTAssertEqual(try store.storedBytes(owner: 1000).messages, 25 + 36)
        XCTAssertEqual(try store.storedBytes(owner: 1000).snapshots, snapshot.serialized().count)
        XCTAssertEqual(try store.storedBytes(owner: 1001).messages, 7)

        // New ids start above the highest old one, and stay above after the newest is deleted.
        let next = try store.createConversation(owner: 1000, modelIdentity: "m")
        XCTAssertEqual(next.id, 6)
        try store.deleteConversation(next.id, owner: 1000)
        XCTAssertEqual(try store.createConversation(owner: 1000, modelIdentity: "m").id, 7)
        // Foreign keys still point at the rebuilt table: deleting cascades, orphans are refused.
        try store.deleteConversation(1, owner: 1000)
        try store.withDatabase { db in
            XCTAssertEqual(try db.integer("SELECT COUNT(*) FROM messages WHERE conversation_id = 1"), 0)
            XCTAssertThrowsError(
                try db.run(
                    "INSERT INTO messages (conversation_id, sequence, role, content, token_count, created_at) VALUES (99, 0, 'user', 'x', 1, 1)"
                ))
        }
        store.close()
        XCTAssertNoThrow(try ConversationStore(path: path), "a migrated database reopens as it is")
    }

    func testClosedStoreThrowsInsteadOfCrashing() throws {
        let store = try ConversationStore(path: directory + "/db")
        store.close()
        store.close()
        XCTAssertThrowsError(try store.listConversations(owner: 1)) {
            guard case .io = $0 as? StoreError else { return XCTFail("\($0)") }
        }
    }
}
