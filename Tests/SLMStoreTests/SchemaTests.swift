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

    func testClosedStoreThrowsInsteadOfCrashing() throws {
        let store = try ConversationStore(path: directory + "/db")
        store.close()
        store.close()
        XCTAssertThrowsError(try store.listConversations(owner: 1)) {
            guard case .io = $0 as? StoreError else { return XCTFail("\($0)") }
        }
    }
}
