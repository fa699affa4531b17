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
        try store.appendTurn(
            to: c.id, owner: alice, user: "Hello there", userTokens: 3, assistant: "General Kenobi", assistantTokens: 4, cancelled: false)
        try store.appendTurn(
            to: c.id, owner: alice, user: "Tell me more", userTokens: 3, assistant: "I was cut", assistantTokens: 3, cancelled: true)
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
        try store.appendTurn(
            to: c.id, owner: alice, user: "persist me", userTokens: 2, assistant: "done", assistantTokens: 1, cancelled: false)
        store.close()
        store = try makeStore()
        XCTAssertEqual(try store.messages(of: c.id, owner: alice).map(\.content), ["persist me", "done"])
    }

    func testSearchFindsWordsInTheOwnersMessagesOnly() throws {
        let store = try makeStore()
        let a = try store.createConversation(owner: alice, modelIdentity: "m")
        try store.appendTurn(
            to: a.id, owner: alice, user: "What do penguins eat?", userTokens: 5,
            assistant: "Penguins mostly eat krill, squid and fish.", assistantTokens: 9, cancelled: false)
        let b = try store.createConversation(owner: bob, modelIdentity: "m")
        try store.appendTurn(
            to: b.id, owner: bob, user: "penguins in Antarctica", userTokens: 4, assistant: "cold", assistantTokens: 1, cancelled: false)

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

    func testAnotherOwnerCanNeitherSeeNorTouchAConversation() throws {
        let store = try makeStore()
        let c = try store.createConversation(owner: alice, title: "private", modelIdentity: "mmmmmmmmmmmmmmmm")
        try store.appendTurn(
            to: c.id, owner: alice, user: "my secret plan", userTokens: 3, assistant: "noted", assistantTokens: 1, cancelled: false)
        try store.saveSnapshot(SnapshotStoreTests.fakeSnapshot(identity: "mmmmmmmmmmmmmmmm", tokens: 4), conversation: c.id, owner: alice)
        let before = try store.conversation(c.id, owner: alice)

        func refused(_ what: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body(), what) { XCTAssertEqual($0 as? StoreError, .notFound(c.id), what) }
        }
        refused("get") { _ = try store.conversation(c.id, owner: bob) }
        refused("messages") { _ = try store.messages(of: c.id, owner: bob) }
        refused("append") {
            try store.appendTurn(to: c.id, owner: bob, user: "x", userTokens: 1, assistant: "y", assistantTokens: 1, cancelled: false)
        }
        refused("rename") { try store.rename(c.id, owner: bob, title: "mine now") }
        refused("delete") { try store.deleteConversation(c.id, owner: bob) }
        refused("save snapshot") {
            try store.saveSnapshot(SnapshotStoreTests.fakeSnapshot(identity: "mmmmmmmmmmmmmmmm", tokens: 2), conversation: c.id, owner: bob)
        }
        refused("load snapshot") { _ = try store.loadSnapshot(conversation: c.id, owner: bob, modelIdentity: "mmmmmmmmmmmmmmmm") }
        XCTAssertEqual(try store.listConversations(owner: bob), [])
        XCTAssertEqual(try store.search(owner: bob, query: "secret"), [])

        // Unchanged for its owner, snapshot included.
        XCTAssertEqual(try store.conversation(c.id, owner: alice), before)
        XCTAssertEqual(try store.messages(of: c.id, owner: alice).map(\.content), ["my secret plan", "noted"])
        XCTAssertEqual(try store.loadSnapshot(conversation: c.id, owner: alice, modelIdentity: "mmmmmmmmmmmmmmmm")?.tokens.count, 4)
        XCTAssertEqual(try store.search(owner: alice, query: "secret").count, 1)
        try assertIntact(store)
    }

    func testUnknownConversationIsNotFoundEverywhere() throws {
        let store = try makeStore()
        let missing: ConversationID = 42
        func refused(_ what: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body(), what) { XCTAssertEqual($0 as? StoreError, .notFound(missing), what) }
        }
        refused("get") { _ = try store.conversation(missing, owner: alice) }
        refused("messages") { _ = try store.messages(of: missing, owner: alice) }
        refused("append") {
            try store.appendTurn(to: missing, owner: alice, user: "x", userTokens: 1, assistant: "y", assistantTokens: 1, cancelled: false)
        }
        refused("rename") { try store.rename(missing, owner: alice, title: "t") }
        refused("delete") { try store.deleteConversation(missing, owner: alice) }
        refused("save snapshot") {
            try store.saveSnapshot(SnapshotStoreTests.fakeSnapshot(identity: "m", tokens: 2), conversation: missing, owner: alice)
        }
        refused("load snapshot") { _ = try store.loadSnapshot(conversation: missing, owner: alice, modelIdentity: "m") }
        try assertIntact(store)
    }

    func testOversizedAndInvalidTextIsRefusedAndNothingIsStored() throws {
        let store = try makeStore()
        let c = try store.createConversation(owner: alice, modelIdentity: "m")
        let limit = ConversationStore.maxMessageBytes
        let huge = String(repeating: "a", count: limit + 1)
        XCTAssertThrowsError(
            try store.appendTurn(to: c.id, owner: alice, user: huge, userTokens: 1, assistant: "ok", assistantTokens: 1, cancelled: false)
        ) {
            XCTAssertEqual($0 as? StoreError, .tooLarge(what: "user message", bytes: limit + 1, limit: limit))
        }
        XCTAssertThrowsError(
            try store.appendTurn(to: c.id, owner: alice, user: "ok", userTokens: 1, assistant: huge, assistantTokens: 1, cancelled: false)
        ) {
            XCTAssertEqual($0 as? StoreError, .tooLarge(what: "assistant message", bytes: limit + 1, limit: limit))
        }
        // Exactly at the limit is fine.
        try store.appendTurn(
            to: c.id, owner: alice, user: String(repeating: "b", count: limit), userTokens: 1, assistant: "ok", assistantTokens: 1,
            cancelled: false)
        XCTAssertThrowsError(
            try store.appendTurn(
                to: c.id, owner: alice, user: "nul\u{0}inside", userTokens: 1, assistant: "ok", assistantTokens: 1, cancelled: false)
        ) {
            guard case .invalidText = $0 as? StoreError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(
            try store.rename(c.id, owner: alice, title: String(repeating: "t", count: ConversationStore.maxTitleBytes + 1)))
        XCTAssertThrowsError(
            try store.createConversation(
                owner: alice, modelIdentity: "m", settings: String(repeating: " ", count: ConversationStore.maxSettingsBytes + 1)))
        XCTAssertThrowsError(
            try store.search(owner: alice, query: String(repeating: "q", count: ConversationStore.maxSearchQueryBytes + 1)))
        XCTAssertEqual(try store.conversation(c.id, owner: alice).messageCount, 2, "only the valid turn was stored")

        // Bytes from outside (C strings, terminal lines) are validated before they become Strings.
        XCTAssertEqual(try ConversationStore.validatedText(utf8: Array("héllo".utf8), what: "message"), "héllo")
        XCTAssertThrowsError(try ConversationStore.validatedText(utf8: [0x68, 0xC3, 0x28], what: "message")) {
            XCTAssertEqual($0 as? StoreError, .invalidText("message is not valid UTF-8"))
        }
        XCTAssertThrowsError(
            try ConversationStore.validatedText(utf8: [0xED, 0xA0, 0x80], what: "message"), "a UTF-16 surrogate is not UTF-8")
        XCTAssertThrowsError(try ConversationStore.validatedText(utf8: [0x61, 0, 0x62], what: "message")) {
            XCTAssertEqual($0 as? StoreError, .invalidText("message contains a NUL byte"))
        }
        XCTAssertThrowsError(try ConversationStore.validatedText(utf8: [UInt8](repeating: 0x61, count: 11), what: "message", limit: 10)) {
            XCTAssertEqual($0 as? StoreError, .tooLarge(what: "message", bytes: 11, limit: 10))
        }
        try assertIntact(store)
    }

    func testDiskFullIsReportedRolledBackAndRecoverable() throws {
        let store = try makeStore()
        let c = try store.createConversation(owner: alice, modelIdentity: "m")
        try store.appendTurn(to: c.id, owner: alice, user: "before", userTokens: 1, assistant: "fine", assistantTokens: 1, cancelled: false)
        // A database that may not grow by more than a few pages stands in for a full disk.
        let pages = try store.withDatabase { try $0.integer("PRAGMA page_count") ?? 0 }
        try store.withDatabase { try $0.execute("PRAGMA max_page_count = \(pages + 2)") }
        let big = String(repeating: "full disk ", count: 20_000)  // 200 KB: more than two 64 KiB pages
        var diskFull: StoreError? = nil
        do {
            try store.appendTurn(to: c.id, owner: alice, user: big, userTokens: 1, assistant: big, assistantTokens: 1, cancelled: false)
        } catch let error as StoreError {
            diskFull = error
        }
        guard case .diskFull = diskFull else { return XCTFail("expected diskFull, got \(String(describing: diskFull))") }
        XCTAssertThrowsError(
            try store.saveSnapshot(SnapshotStoreTests.fakeSnapshot(identity: "m", tokens: 10_000), conversation: c.id, owner: alice)
        ) {
            guard case .diskFull = $0 as? StoreError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(
            try store.messages(of: c.id, owner: alice).map(\.content), ["before", "fine"], "the failed turn left nothing behind")
        XCTAssertEqual(try store.conversation(c.id, owner: alice).messageCount, 2)
        try assertIntact(store)

        // Space again: the store carries on.
        try store.withDatabase { try $0.execute("PRAGMA max_page_count = 1073741823") }
        try store.appendTurn(to: c.id, owner: alice, user: big, userTokens: 1, assistant: "after", assistantTokens: 1, cancelled: false)
        XCTAssertEqual(try store.messages(of: c.id, owner: alice).count, 4)
        try assertIntact(store)
    }

    func testConcurrentAppendsFromManyThreadsAreAllStored() throws {
        let store = try makeStore()
        let c = try store.createConversation(owner: alice, modelIdentity: "m")
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<5 {
                do {
                    try store.appendTurn(
                        to: c.id, owner: alice, user: "w\(worker) t\(i)", userTokens: 1,
                        assistant: "ok", assistantTokens: 1, cancelled: false)
                } catch {
                    XCTFail("\(error)")
                }
            }
        }
        let messages = try store.messages(of: c.id, owner: alice)
        XCTAssertEqual(messages.count, 80)
        XCTAssertEqual(messages.map(\.sequence), Array(0..<80))
        try assertIntact(store)
    }
}
