import Foundation
import XCTest

@testable import SLMCore
@testable import SLMStore

/// Stored vectors and the search over them: Hamming candidates, cosine re-ranking, owners kept
/// apart, the indexing pass resumable, vectors gone with their messages; then the real thing
/// with all-MiniLM-L6-v2.
final class SemanticMemoryTests: XCTestCase {
    private func makeStore() throws -> (ConversationStore, String) {
        let dir = NSTemporaryDirectory() + "slm-semantic-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try ConversationStore(path: dir + "/c.db"), dir)
    }

    private func turn(_ store: ConversationStore, owner: OwnerID, _ user: String, _ reply: String) throws -> ConversationID {
        try store.startConversation(
            owner: owner, modelIdentity: "test", user: user, userTokens: 1, assistant: reply, assistantTokens: 1, cancelled: false
        ).id
    }

    /// 16-dimensional vectors whose signs spell `pattern`.
    private func vector(_ pattern: UInt16, id: Int64) -> MessageVector {
        let floats = (0..<16).map { pattern >> (15 - UInt16($0)) & 1 == 1 ? Float(0.25) : Float(-0.25) }
        return MessageVector(messageID: id, bits: EmbeddingRun.packSigns(floats), floats: floats)
    }

    func testSearchRanksByMeaningWithinOneOwner() throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mine = try turn(store, owner: 1000, "alpha", "beta")
        let theirs = try turn(store, owner: 2000, "gamma", "delta")
        let pending = try store.messagesWithoutVectors(model: "m", limit: 10)
        XCTAssertEqual(pending.map(\.content), ["alpha", "beta", "gamma", "delta"])
        XCTAssertEqual(pending.map(\.owner), [1000, 1000, 2000, 2000])
        // Owner 2000's "gamma" is the exact query; owner 1000's "beta" is one bit away.
        let patterns: [UInt16] = [0x0000, 0xFFFE, 0xFFFF, 0x00FF]
        try store.storeVectors(zip(pending, patterns).map { vector($1, id: $0.id) }, model: "m")
        XCTAssertEqual(try store.countMessagesWithoutVectors(model: "m"), 0)
        XCTAssertEqual(try store.countMessagesWithoutVectors(model: "other"), 4)

        let query = vector(0xFFFF, id: 0)
        let hits = try store.semanticSearch(owner: 1000, model: "m", queryBits: query.bits, queryFloats: query.floats, limit: 5)
        XCTAssertEqual(hits.map(\.snippet), ["beta", "alpha"])
        XCTAssertEqual(hits.map(\.conversation), [mine, mine])
        XCTAssertEqual(hits[0].score, 14.0 / 16.0, accuracy: 1e-6)  // cosine of the floats
        // The asymmetric pre-filter ranks as the floats do here; its table gives the exact dot
        // product of the query with each ±1 vector.
        let scorer = BinaryScorer(queryBits: query.bits, queryFloats: query.floats)
        let nearBits = vector(0xFFFE, id: 0).bits
        XCTAssertEqual(nearBits.withUnsafeBytes { scorer.score($0) } ?? 0, 0.25 * 14, accuracy: 1e-6)
        // Bits only: the score is 1 - 2 · Hamming / dimensions.
        let bitsOnly = try store.semanticSearch(owner: 1000, model: "m", queryBits: query.bits, queryFloats: [], limit: 1)
        XCTAssertEqual(bitsOnly.first?.score ?? 0, 1 - 2.0 / 16, accuracy: 1e-9)
        XCTAssertEqual(
            try store.semanticSearch(owner: 2000, model: "m", queryBits: query.bits, queryFloats: query.floats).first?.snippet, "gamma")
        XCTAssertEqual(try store.semanticSearch(owner: 3000, model: "m", queryBits: query.bits, queryFloats: query.floats), [])
        XCTAssertEqual(try store.semanticSearch(owner: 1000, model: "other", queryBits: query.bits, queryFloats: query.floats), [])
        // A query of another width matches nothing rather than failing.
        XCTAssertEqual(try store.semanticSearch(owner: 1000, model: "m", queryBits: [0xFF], queryFloats: []), [])

        // Vectors go with their conversation.
        try store.deleteConversation(theirs, owner: 2000)
        let rows = try store.withDatabase { try $0.integer("SELECT COUNT(*) FROM message_vectors") }
        XCTAssertEqual(rows, 2)
        // A vector for a message deleted meanwhile is skipped, not an error.
        try store.storeVectors([vector(1, id: 999_999)], model: "m")
        XCTAssertThrowsError(try store.storeVectors([MessageVector(messageID: 1, bits: [], floats: [])], model: "m"))
        store.close()
    }

    func testNearestListKeepsTheSmallestDistances() {
        var list = NearestList(capacity: 3)
        for (id, d) in [(1, 9), (2, 3), (3, 7), (4, 1), (5, 3), (6, 8)] { list.insert(id: Int64(id), distance: Double(d)) }
        XCTAssertEqual(list.sorted().map(\.id), [4, 2, 5])
        var none = NearestList(capacity: 0)
        none.insert(id: 1, distance: 0)
        XCTAssertTrue(none.sorted().isEmpty)
    }

    /// With all-MiniLM-L6-v2: the pass embeds every message (resuming where it stopped), and a
    /// conversation about penguins is what "birds that cannot fly" finds, for its owner only.
    func testPenguinsAreFoundByMeaning() throws {
        guard let path = ProcessInfo.processInfo.environment["SLM_TEST_MODEL_MINILM"], !path.isEmpty else {
            throw XCTSkip("SLM_TEST_MODEL_MINILM is not set (scripts/test.sh sets it)")
        }
        let engine = try Engine(modelPath: path, threads: 2)
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let penguins = try turn(
            store, owner: 1000, "Tell me about penguins.", "Penguins live in Antarctica; they swim very well but never take off.")
        _ = try turn(store, owner: 1000, "How do I bake bread?", "Mix flour, water, salt and yeast, let it rise, then bake.")
        _ = try turn(store, owner: 1000, "What is the capital of Italy?", "Rome is the capital of Italy.")
        _ = try turn(store, owner: 2000, "Ostriches and emus", "These large birds run fast but cannot fly.")
        XCTAssertEqual(try store.indexMessages(with: engine, limit: 3), 3)  // a first batch, then the rest
        XCTAssertEqual(try store.indexMessages(with: engine), 5)
        XCTAssertEqual(try store.indexMessages(with: engine), 0)

        let hits = try store.semanticSearch(owner: 1000, query: "birds that cannot fly", engine: engine, limit: 6)
        XCTAssertEqual(hits.first?.conversation, penguins, "\(hits)")
        XCTAssertFalse(hits.contains { $0.snippet.contains("Ostriches") || $0.snippet.contains("emus") })
        XCTAssertEqual(hits.count, 6)
        XCTAssertEqual(try store.semanticSearch(owner: 3000, query: "birds that cannot fly", engine: engine), [])
        store.close()
    }
}
