import Foundation
import SLMCore
import XCTest
@testable import SLMStore

/// The store's operations on a fresh database file: what they return, what they refuse, and that
/// the database stays intact after every refusal.
final class ConversationStoreTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "slm-store-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func makeStore(budget: Int = ConversationStore.defaultSnapshotBudgetBytes) throws -> ConversationStore {
        try ConversationStore(path: directory + "/conversations.db", snapshotBudgetBytes: budget)
    }

    let alice: OwnerID = 1000
    let bob: OwnerID = 1001

    func assertIntact(_ store: ConversationStore, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try store.withDatabase { db -> String in
            let row = try db.prepare("PRAGMA integrity_check")
            return try row.step() ? row.text(0) : "no result"
        }
        XCTAssertEqual(result, "ok", file: file, line: line)
    }

    func testCreateAppendListAndReadBack() throws {
        let store = try makeStore()
        let c = try store.createConversation(owner: alice, title: "first", modelIdentity: "abc", settings: #"{"temp":0}"#)
        XCTAssertEqual(c.messageCount, 0)
        try store.appendTurn(to: c.id, owner: alice, user: "Hello there", userTokens: 3, assistant: "General Kenobi", assistantTokens: 4, cancelled: false)
        try store.appendTurn(to: c.id, owner: alice, user: "Tell me more", userTokens: 3, assistant: "I was cut", assistantTokens: 3, cancelled: true)
        let messages = try store.messages(of: c.id, owner: alice)
        XCTAssertEqual(messages.map(\.sequence), [0, 1, 2, 3])
        XCTAssertEqual(messages.map(\.role), ["user", "assistant", "user", "assistant"])
        XCTAssertEqual(messages.map(\.content), ["Hello there", "General Kenobi", "Tell me more", "I was cut"])
        XCTAssertEqual(messages.map(\.cancelled), [false, false, false, true])
        XCTAssertEqual(messages.map(\.tokenCount), [3, 4, 3, 3])
        let read = try store.conversation(c.id, owner: alice)
        XCTAssertEqual(read.messageCount, 4)
        XCTAssertEqual(read.title, "first")
        XCTAssertEqual(read.settings, #"{"temp":0}"#)
        XCTAssertGreaterThanOrEqual(read.updatedAt, c.createdAt)

        let second = try store.createConversation(owner: alice, modelIdentity: "abc")
        XCTAssertEqual(second.settings, "{}")
        XCTAssertEqual(try store.listConversations(owner: alice).map(\.id), [second.id, c.id], "newest first")
        try store.appendTurn(to: c.id, owner: alice, user: "again", userTokens: 1, assistant: "yes", assistantTokens: 1, cancelled: false)
        XCTAssertEqual(try store.listConversations(owner: alice).map(\.id), [c.id, second.id], "a new turn makes it the newest")
        XCTAssertEqual(try store.listConversations(owner: alice, limit: 1).map(\.id), [c.id])
        XCTAssertEqual(try store.listConversations(owner: alice, limit: 1, offset: 1).map(\.id), [second.id])

        try store.rename(c.id, owner: alice, title: "renamed")
        XCTAssertEqual(try store.conversation(c.id, owner: alice).title, "renamed")
        try store.deleteConversation(c.id, owner: alice)
        XCTAssertThrowsError(try store.conversation(c.id, owner: alice)) { XCTAssertEqual($0 as? StoreError, .notFound(c.id)) }
        XCTAssertEqual(try store.listConversations(owner: alice).map(\.id), [second.id])
        try assertIntact(store)
    }

    func testDataSurvivesReopening() throws {
        var store = try makeStore()
        let c = try store.createConversation(owner: alice, modelIdentity: "abc")
        try store.appendTurn(to: c.id, owner: alice, user: "persist me", userTokens: 2, assistant: "done", assistantTokens: 1, cancelled: false)
        store.close()
        store = try makeStore()
        XCTAssertEqual(try store.messages(of: c.id, owner: alice).map(\.content), ["persist me", "done"])
    }

    func testSearchFindsWordsInTheOwnersMessagesOnly() throws {
        let store = try makeStore()
        let a = try store.createConversation(owner: alice, modelIdentity: "m")
        try store.appendTurn(to: a.id, owner: alice, user: "What do penguins eat?", userTokens: 5,
                             assistant: "Penguins mostly eat krill, squid and fish.", assistantTokens: 9, cancelled: false)
        let b = try store.createConversation(owner: bob, modelIdentity: "m")
        try store.appendTurn(to: b.id, owner: bob, user: "penguins in Antarctica", userTokens: 4, assistant: "cold", assistantTokens: 1, cancelled: false)

        let hits = try store.search(owner: alice, query: "penguins")
        XCTAssertEqual(Set(hits.map(\.sequence)), [0, 1])
        XCTAssertTrue(hits.allSatisfy { $0.conversation == a.id })
        XCTAssertTrue(hits.contains { $0.snippet.contains("[Penguins]") }, "\(hits)")
        XCTAssertEqual(try store.search(owner: alice, query: "krill fish").map(\.sequence), [1], "all words must match")
        XCTAssertEqual(try store.search(owner: bob, query: "penguins").map(\.conversation), [b.id])
        XCTAssertEqual(try store.search(owner: alice, query: "Antarctica"), [])
        // FTS5 syntax in the query is taken literally, never an error.
        XCTAssertEqual(try store.search(owner: alice, query: #"krill" OR "NEAR(*"#), [])
        XCTAssertEqual(try store.search(owner: alice, query: "   "), [])

        try store.deleteConversation(a.id, owner: alice)
        XCTAssertEqual(try store.search(owner: alice, query: "penguins"), [], "deleted messages leave the index")
        try assertIntact(store)
    }
}
