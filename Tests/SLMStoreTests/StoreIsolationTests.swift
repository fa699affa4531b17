import Foundation
import SLMCore
import XCTest

@testable import SLMStore

/// What one owner of a shared store cannot do to another: reuse a deleted conversation's id, fill
/// the store past the per-owner quotas, or read the files (they are created private).
final class StoreIsolationTests: XCTestCase {
    var directory: String!
    let alice: OwnerID = 1000
    let bob: OwnerID = 1001

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "slm-isolation-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func makeStore(_ quotas: StoreQuotas = .unlimited, budget: Int = ConversationStore.defaultSnapshotBudgetBytes) throws
        -> ConversationStore
    {
        try ConversationStore(path: directory + "/conversations.db", snapshotBudgetBytes: budget, quotas: quotas)
    }

    func turn(_ store: ConversationStore, _ id: ConversationID, owner: OwnerID, bytes: Int) throws {
        try store.appendTurn(
            to: id, owner: owner, user: String(repeating: "u", count: bytes / 2), userTokens: 1,
            assistant: String(repeating: "a", count: bytes - bytes / 2), assistantTokens: 1, cancelled: false)
    }

    // MARK: ids

    func testDeletingTheNewestConversationNeverLetsItsIdBeReused() throws {
        let store = try makeStore()
        let first = try store.createConversation(owner: alice, modelIdentity: "m")
        let newest = try store.createConversation(owner: bob, modelIdentity: "m")
        try store.deleteConversation(newest.id, owner: bob)
        let next = try store.createConversation(owner: alice, modelIdentity: "m")
        XCTAssertGreaterThan(next.id, newest.id, "bob's deleted id must not name alice's new conversation")
        XCTAssertGreaterThan(newest.id, first.id)
        // Also across a reopen (the sequence is in the file, not in the connection).
        store.close()
        let reopened = try makeStore()
        try reopened.deleteConversation(next.id, owner: alice)
        XCTAssertGreaterThan(try reopened.createConversation(owner: alice, modelIdentity: "m").id, next.id)
    }

    // MARK: no orphan conversations

    func testStartConversationStoresTheConversationWithItsFirstTurnOrNothing() throws {
        let store = try makeStore(StoreQuotas(maxStoredBytesPerOwner: 100))
        let c = try store.startConversation(
            owner: alice, title: "hello", modelIdentity: "m", user: "hi", userTokens: 1, assistant: "hello", assistantTokens: 1,
            cancelled: false)
        XCTAssertEqual(c.messageCount, 2)
        XCTAssertEqual(try store.messages(of: c.id, owner: alice).map(\.content), ["hi", "hello"])
        XCTAssertEqual(try store.conversation(c.id, owner: alice).title, "hello")
        // A first turn that cannot be stored leaves no conversation behind.
        XCTAssertThrowsError(
            try store.startConversation(
                owner: alice, modelIdentity: "m", user: String(repeating: "x", count: 200), userTokens: 1, assistant: "",
                assistantTokens: 0, cancelled: false))
        XCTAssertThrowsError(
            try store.startConversation(
                owner: alice, modelIdentity: "m", user: "nul\0", userTokens: 1, assistant: "", assistantTokens: 0, cancelled: false))
        XCTAssertEqual(try store.listConversations(owner: alice).map(\.id), [c.id])
    }

    // MARK: quotas

    func testConversationCountQuotaIsPerOwner() throws {
        let store = try makeStore(StoreQuotas(maxConversationsPerOwner: 2))
        let a1 = try store.createConversation(owner: alice, modelIdentity: "m")
        _ = try store.startConversation(
            owner: alice, modelIdentity: "m", user: "u", userTokens: 1, assistant: "a", assistantTokens: 1, cancelled: false)
        XCTAssertThrowsError(try store.createConversation(owner: alice, modelIdentity: "m")) {
            XCTAssertEqual($0 as? StoreError, .quotaExceeded(.conversations, limit: 2))
            XCTAssertTrue("\($0)".contains("at most 2 conversations"), "\($0)")
        }
        XCTAssertThrowsError(
            try store.startConversation(
                owner: alice, modelIdentity: "m", user: "u", userTokens: 1, assistant: "a", assistantTokens: 1, cancelled: false)
        ) { XCTAssertEqual($0 as? StoreError, .quotaExceeded(.conversations, limit: 2)) }
        XCTAssertThrowsError(try store.checkQuota(owner: alice, newConversation: true, incomingBytes: 1))
        XCTAssertNoThrow(try store.checkQuota(owner: alice, newConversation: false, incomingBytes: 1), "an existing one may go on")
        XCTAssertEqual(try store.listConversations(owner: alice).count, 2)
        // Bob is not affected by alice's count, and alice gets room back by deleting.
        XCTAssertNoThrow(try store.createConversation(owner: bob, modelIdentity: "m"))
        try store.deleteConversation(a1.id, owner: alice)
        XCTAssertNoThrow(try store.createConversation(owner: alice, modelIdentity: "m"))
    }

    func testStoredBytesQuotaRefusesATurnAndStoresNothingOfIt() throws {
        let store = try makeStore(StoreQuotas(maxStoredBytesPerOwner: 1000))
        let c = try store.createConversation(owner: alice, modelIdentity: "m")
        try turn(store, c.id, owner: alice, bytes: 600)
        XCTAssertEqual(try store.storedBytes(owner: alice).messages, 600)
        XCTAssertThrowsError(try turn(store, c.id, owner: alice, bytes: 401)) {
            XCTAssertEqual($0 as? StoreError, .quotaExceeded(.storedBytes, limit: 1000))
            XCTAssertTrue("\($0)".contains("at most 1000 bytes"), "\($0)")
        }
        XCTAssertEqual(try store.messages(of: c.id, owner: alice).count, 2, "the refused turn is not stored, not even in part")
        XCTAssertEqual(try store.conversation(c.id, owner: alice).messageCount, 2)
        XCTAssertThrowsError(
            try store.checkQuota(owner: alice, newConversation: false, incomingBytes: 401), "refused before the model runs")
        XCTAssertNoThrow(try turn(store, c.id, owner: alice, bytes: 400), "exactly the quota fits")
        XCTAssertEqual(try store.storedBytes(owner: alice).messages, 1000)
        // Multi-byte text counts its UTF-8 bytes: 2 × "é" is 4 bytes, bob's own quota is untouched.
        let b = try store.createConversation(owner: bob, modelIdentity: "m")
        try store.appendTurn(to: b.id, owner: bob, user: "é", userTokens: 1, assistant: "é", assistantTokens: 1, cancelled: false)
        XCTAssertEqual(try store.storedBytes(owner: bob).messages, 4)
        // Deleting frees the bytes.
        try store.deleteConversation(c.id, owner: alice)
        XCTAssertEqual(try store.storedBytes(owner: alice).messages, 0)
    }

    func testSnapshotsGiveWayToMessagesAndAreSkippedWhenTheyDoNotFit() throws {
        let one = SnapshotStoreTests.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 10)
        let size = one.serialized().count
        let store = try makeStore(StoreQuotas(maxStoredBytesPerOwner: 2 * size + 100))
        let c1 = try store.createConversation(owner: alice, modelIdentity: "m")
        let c2 = try store.createConversation(owner: alice, modelIdentity: "m")
        let other = try store.createConversation(owner: bob, modelIdentity: "m")
        try store.saveSnapshot(one, conversation: c1.id, owner: alice)
        try store.saveSnapshot(one, conversation: c2.id, owner: alice)
        try store.saveSnapshot(one, conversation: other.id, owner: bob)
        XCTAssertEqual(try store.storedBytes(owner: alice).snapshots, 2 * size)

        // A turn that fits only without a snapshot evicts alice's least recently used one (c1's).
        try turn(store, c2.id, owner: alice, bytes: 200)
        XCTAssertEqual(try store.storedBytes(owner: alice).snapshots, size)
        XCTAssertNil(try store.loadSnapshot(conversation: c1.id, owner: alice, modelIdentity: "aaaaaaaaaaaaaaaa"))
        XCTAssertNotNil(try store.loadSnapshot(conversation: c2.id, owner: alice, modelIdentity: "aaaaaaaaaaaaaaaa"))
        XCTAssertNotNil(
            try store.loadSnapshot(conversation: other.id, owner: bob, modelIdentity: "aaaaaaaaaaaaaaaa"), "bob's snapshot is not touched")

        // A snapshot that cannot fit even alone is skipped: the error says so, the stale one is gone.
        let big = SnapshotStoreTests.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 30)
        XCTAssertGreaterThan(big.serialized().count, 2 * size + 100 - 200)
        XCTAssertThrowsError(try store.saveSnapshot(big, conversation: c2.id, owner: alice)) {
            XCTAssertEqual($0 as? StoreError, .quotaExceeded(.storedBytes, limit: 2 * size + 100))
        }
        XCTAssertEqual(try store.storedBytes(owner: alice).snapshots, 0)
        XCTAssertEqual(try store.messages(of: c2.id, owner: alice).count, 2)
        XCTAssertEqual(try store.storedBytes(owner: bob).snapshots, size)
    }

    func testUnlimitedQuotasAreTheDefault() throws {
        let store = try makeStore()
        XCTAssertEqual(store.quotas, .unlimited)
        let c = try store.createConversation(owner: alice, modelIdentity: "m")
        for _ in 0..<3 { try turn(store, c.id, owner: alice, bytes: ConversationStore.maxMessageBytes) }
        XCTAssertEqual(try store.storedBytes(owner: alice).messages, 3 * ConversationStore.maxMessageBytes)
    }

    // MARK: private files

    func testTheDatabaseAndItsWALFilesAreCreatedPrivateWhateverTheUmask() throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        let path = directory + "/conversations.db"
        let store = try ConversationStore(path: path)
        let c = try store.createConversation(owner: alice, modelIdentity: "m")
        try turn(store, c.id, owner: alice, bytes: 10)
        for file in [path, path + "-wal", path + "-shm"] {
            XCTAssertEqual(try Self.mode(file), 0o600, file)
        }
        store.close()
        // An existing file keeps its mode (the library opens what it is given) and its contents.
        XCTAssertEqual(chmod(path, 0o640), 0)
        let reopened = try ConversationStore(path: path)
        XCTAssertEqual(try Self.mode(path), 0o640)
        XCTAssertEqual(try reopened.messages(of: c.id, owner: alice).count, 2)
    }

    static func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw XCTSkip("cannot stat \(path)") }
        return info.st_mode & 0o777
    }
}
