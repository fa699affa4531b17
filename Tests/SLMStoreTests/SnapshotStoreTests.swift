import Foundation
import SLMCore
import XCTest

@testable import SLMStore

/// KV snapshots in the store, with synthetic snapshots (the real-model round trip is in
/// PersistentChatTests): latest wins, wrong model or bad checksum → discarded, LRU budget.
final class SnapshotStoreTests: XCTestCase {
    var directory: String!
    let owner: OwnerID = 7

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "slm-snapshot-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A snapshot of a 2-layer model with 4-wide keys and values: 32 bytes of cache per token.
    static func fakeSnapshot(identity: String, tokens: Int, fill: UInt16 = 0x3C00) -> SessionSnapshot {
        SessionSnapshot(
            modelIdentity: identity, tokens: (0..<tokens).map { Int32($0 % 100) }, layers: 2, keyWidth: 4, valueWidth: 4,
            cache: [UInt8](repeating: UInt8(fill >> 8), count: tokens * 2 * 8 * 2))
    }

    func testLatestSnapshotRoundTripsAndIsDeletedWithItsConversation() throws {
        let store = try ConversationStore(path: directory + "/db")
        let c = try store.createConversation(owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa")
        XCTAssertNil(try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 10), conversation: c.id, owner: owner)
        let newer = Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 20, fill: 0x4000)
        try store.saveSnapshot(newer, conversation: c.id, owner: owner)
        XCTAssertEqual(try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"), newer)
        XCTAssertEqual(try store.snapshotBytes(), newer.serialized().count, "one snapshot per conversation")
        try store.deleteConversation(c.id, owner: owner)
        XCTAssertEqual(try store.snapshotBytes(), 0)
    }

    func testSnapshotOfAnotherModelIsDiscarded() throws {
        let store = try ConversationStore(path: directory + "/db")
        let c = try store.createConversation(owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa")
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 10), conversation: c.id, owner: owner)
        XCTAssertNil(try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "bbbbbbbbbbbbbbbb"))
        XCTAssertEqual(try store.snapshotBytes(), 0, "the foreign snapshot was deleted")
        XCTAssertNil(try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
    }

    func testSnapshotFailingItsChecksumIsDiscarded() throws {
        let store = try ConversationStore(path: directory + "/db")
        let c = try store.createConversation(owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa")
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 10), conversation: c.id, owner: owner)
        // Flip one byte of the cache inside the stored blob (bit rot on the card).
        try store.withDatabase { db in
            let row = try db.prepare("SELECT data FROM snapshots WHERE conversation_id = ?", [.integer(c.id)])
            XCTAssertTrue(try row.step())
            var bytes = row.blob(0)
            bytes[bytes.count - 20] ^= 0x01
            try db.run("UPDATE snapshots SET data = ? WHERE conversation_id = ?", [.blob(bytes), .integer(c.id)])
        }
        XCTAssertNil(try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
        XCTAssertEqual(try store.snapshotBytes(), 0)
    }

    func testBudgetEvictsTheLeastRecentlyUsedSnapshots() throws {
        let one = Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 100).serialized().count
        let store = try ConversationStore(path: directory + "/db", snapshotBudgetBytes: 3 * one)
        let ids = try (0..<4).map { _ in try store.createConversation(owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa").id }
        for id in ids.prefix(3) {
            try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 100), conversation: id, owner: owner)
            usleep(2000)  // distinct millisecond timestamps
        }
        // Using the first makes the second the least recently used.
        XCTAssertNotNil(try store.loadSnapshot(conversation: ids[0], owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
        usleep(2000)
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 100), conversation: ids[3], owner: owner)
        XCTAssertLessThanOrEqual(try store.snapshotBytes(), 3 * one)
        XCTAssertNil(try store.loadSnapshot(conversation: ids[1], owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"), "evicted")
        for id in [ids[0], ids[2], ids[3]] {
            XCTAssertNotNil(try store.loadSnapshot(conversation: id, owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
        }
        // Larger than the whole budget: not kept, and the stale one it replaces is gone too.
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 400), conversation: ids[0], owner: owner)
        XCTAssertNil(try store.loadSnapshot(conversation: ids[0], owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
    }

    /// A stored blob whose header claims absurd sizes (a crafted or corrupted database) is
    /// discarded like any bad snapshot: no trap, no allocation of what the header claims.
    func testASnapshotWithACraftedHeaderIsDiscarded() throws {
        let store = try ConversationStore(path: directory + "/db")
        let c = try store.createConversation(owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa")
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 10), conversation: c.id, owner: owner)
        try store.withDatabase { db in
            let row = try db.prepare("SELECT data FROM snapshots WHERE conversation_id = ?", [.integer(c.id)])
            XCTAssertTrue(try row.step())
            var bytes = row.blob(0)
            for offset in 24..<40 { bytes[offset] = 0xFF }  // layers, widths and tokens all UInt32.max
            try db.run("UPDATE snapshots SET data = ? WHERE conversation_id = ?", [.blob(bytes), .integer(c.id)])
        }
        XCTAssertNil(try store.loadSnapshot(conversation: c.id, owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa"))
        XCTAssertEqual(try store.snapshotBytes(), 0)
    }

    func testZeroBudgetKeepsNoSnapshots() throws {
        let store = try ConversationStore(path: directory + "/db", snapshotBudgetBytes: 0)
        let c = try store.createConversation(owner: owner, modelIdentity: "aaaaaaaaaaaaaaaa")
        try store.saveSnapshot(Self.fakeSnapshot(identity: "aaaaaaaaaaaaaaaa", tokens: 1), conversation: c.id, owner: owner)
        XCTAssertEqual(try store.snapshotBytes(), 0)
    }
}
