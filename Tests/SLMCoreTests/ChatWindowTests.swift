import XCTest

@testable import SLMCore
@testable import SLMModels

/// Which turns of a chat's history go into the prompt (`ChatWindow`), on a stand-in template
/// whose token counts are known: every content byte is one token, and each message adds a role
/// token and an end token. Then the same on SmolLM2 through `ChatSession`.
final class ChatWindowTests: XCTestCase {
    static let bos: Int32 = 1
    static let roleTokens: [String: Int32] = ["system": 2, "user": 3, "assistant": 4]
    static let endOfMessage: Int32 = 5
    static let content: Int32 = 100

    /// BOS, then per message its role, one token per content byte and an end, then the opened
    /// assistant turn. Records what it rendered.
    final class StandInTemplate {
        var renderedWindows: [[ChatMessage]] = []

        func render(_ messages: [ChatMessage]) -> [Int32] {
            renderedWindows.append(messages)
            var tokens = [ChatWindowTests.bos]
            for m in messages {
                tokens.append(ChatWindowTests.roleTokens[m.role]!)
                tokens += m.content.utf8.map { ChatWindowTests.content + Int32($0) }
                tokens.append(ChatWindowTests.endOfMessage)
            }
            return tokens + [ChatWindowTests.roleTokens["assistant"]!]
        }
    }

    /// Tokens of one message in the stand-in template.
    static func cost(_ m: ChatMessage) -> Int { m.content.utf8.count + 2 }

    static func conversation(turns: Int, system: String? = "Be brief.") -> [ChatMessage] {
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        for i in 0..<turns {
            messages.append(ChatMessage(role: "user", content: "question \(i) " + String(repeating: "q", count: i % 7)))
            messages.append(ChatMessage(role: "assistant", content: "answer \(i) " + String(repeating: "a", count: 3 * (i % 5))))
        }
        return messages
    }

    func choose(
        _ messages: [ChatMessage], context: Int, reserve: Int, cached: [Int32] = [], previous: Int? = nil,
        template: StandInTemplate = StandInTemplate()
    ) throws -> ChatWindow.Choice {
        try ChatWindow.choose(
            messages: messages, contextLength: context, replyReserve: reserve, cachedTokens: cached,
            previousOmission: previous, fewestTokens: { $0 }, render: template.render)
    }

    /// The messages a choice rendered, read back from its tokens.
    func roles(_ tokens: [Int32]) -> [String] {
        tokens.dropLast().compactMap { t in ChatWindowTests.roleTokens.first { $0.value == t }?.key }
    }

    func testEverythingFitsSoNothingIsLeftOut() throws {
        let history = Self.conversation(turns: 3) + [ChatMessage(role: "user", content: "next")]
        let template = StandInTemplate()
        let choice = try choose(history, context: 512, reserve: 64, template: template)
        XCTAssertEqual(choice.omittedTurns, 0)
        XCTAssertEqual(choice.tokens, StandInTemplate().render(history))
        XCTAssertEqual(template.renderedWindows.count, 1, "one render when the whole history fits")
    }

    func testOldestWholeTurnsGoAndTheSystemMessageStays() throws {
        let history = Self.conversation(turns: 40)
        let newest = ChatMessage(role: "user", content: "the newest question")
        let messages = history + [newest]
        let context = 256
        let reserve = 32
        let choice = try choose(messages, context: context, reserve: reserve)

        XCTAssertGreaterThan(choice.omittedTurns, 0)
        XCTAssertLessThanOrEqual(choice.tokens.count + reserve, context, "room for the reply")
        // The window is the system message, whole turns from `omittedTurns` on, and the newest.
        let expected = [history[0]] + history[(1 + 2 * choice.omittedTurns)...] + [newest]
        XCTAssertEqual(choice.tokens, StandInTemplate().render(expected))
        let rendered = roles(choice.tokens)
        XCTAssertEqual(rendered.first, "system")
        XCTAssertEqual(rendered[1], "user", "a turn starts with its user message")
        XCTAssertEqual(rendered.last, "user")
        XCTAssertEqual(rendered.dropFirst().dropLast().count % 2, 0, "no half turn")
        // Leaving out turns also left the slack free, and no fewer turns would have done that.
        let slack = context / ChatWindow.slackDivisor
        XCTAssertLessThanOrEqual(choice.tokens.count, context - reserve - slack)
        let oneMore = [history[0]] + history[(1 + 2 * (choice.omittedTurns - 1))...] + [newest]
        XCTAssertGreaterThan(oneMore.reduce(2) { $0 + Self.cost($1) }, context - reserve - slack)
    }

    func testAReplyBeforeTheFirstQuestionIsATurnOfItsOwn() throws {
        let messages = [
            ChatMessage(role: "assistant", content: String(repeating: "hello ", count: 30)),
            ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "hey"),
            ChatMessage(role: "user", content: "bye"),
        ]
        let choice = try choose(messages, context: 96, reserve: 16)
        XCTAssertEqual(choice.omittedTurns, 1)
        XCTAssertEqual(roles(choice.tokens), ["user", "assistant", "user"])
    }

    func testTheWindowOfThePreviousTurnIsKeptWhileTheCacheHoldsIt() throws {
        let context = 256
        let reserve = 32
        var history = Self.conversation(turns: 40)
        let first = try choose(history + [ChatMessage(role: "user", content: "q1")], context: context, reserve: reserve)
        // The turn is answered and the cache holds its prompt and reply.
        history += [ChatMessage(role: "user", content: "q1"), ChatMessage(role: "assistant", content: "r1")]
        let cached = first.tokens + [Self.content + 7, Self.endOfMessage]
        let next = ChatMessage(role: "user", content: "q2")

        let kept = try choose(history + [next], context: context, reserve: reserve, cached: cached, previous: first.omittedTurns)
        XCTAssertEqual(kept.omittedTurns, first.omittedTurns, "the slack left room for this turn: same window")
        XCTAssertEqual(Array(kept.tokens.prefix(first.tokens.count - 1)), Array(first.tokens.dropLast()), "it extends the cache")

        // A cache that holds something else (another conversation) does not pin the window.
        let fresh = try choose(
            history + [next], context: context, reserve: reserve, cached: [Self.bos, 9, 9], previous: first.omittedTurns)
        let unpinned = try choose(history + [next], context: context, reserve: reserve)
        XCTAssertEqual(fresh, unpinned)

        // Once the kept window no longer fits, it moves.
        var long = history
        for i in 0..<30 {
            long += [ChatMessage(role: "user", content: "more \(i)"), ChatMessage(role: "assistant", content: "reply \(i)")]
        }
        let moved = try choose(long + [next], context: context, reserve: reserve, cached: cached, previous: first.omittedTurns)
        XCTAssertGreaterThan(moved.omittedTurns, first.omittedTurns)
        XCTAssertLessThanOrEqual(moved.tokens.count + reserve, context)
    }

    func testALoneMessageLongerThanTheContextIsRefusedAndOneThatFitsGoesAlone() throws {
        let history = Self.conversation(turns: 5)
        let huge = ChatMessage(role: "user", content: String(repeating: "x", count: 300))
        let template = StandInTemplate()
        XCTAssertThrowsError(try choose(history + [huge], context: 256, reserve: 32, template: template)) { error in
            guard case .messageLongerThanContext(let tokens, let context)? = error as? ModelError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(context, 256)
            XCTAssertGreaterThanOrEqual(tokens, 256)
            XCTAssertTrue("\(error)".contains("the message alone"), "\(error)")
        }
        XCTAssertTrue(template.renderedWindows.isEmpty, "a text that cannot fit is not rendered (nor tokenized)")

        // Fits the context, but not with the reply's room: it goes alone, the reply gets the rest.
        let large = ChatMessage(role: "user", content: String(repeating: "y", count: 200))
        let alone = try choose(history + [large], context: 256, reserve: 64)
        XCTAssertEqual(alone.omittedTurns, 5)
        XCTAssertEqual(roles(alone.tokens), ["system", "user"])
        XCTAssertLessThan(alone.tokens.count, 256)
    }

    func testTheReplysRoom() {
        XCTAssertEqual(ChatWindow.replyReserve(contextLength: 1024, maxTokens: 32), 32)
        XCTAssertEqual(ChatWindow.replyReserve(contextLength: 1024, maxTokens: nil), 256, "a quarter of the context")
        XCTAssertEqual(ChatWindow.replyReserve(contextLength: 32768, maxTokens: nil), ChatWindow.maxDefaultReplyReserve)
        XCTAssertEqual(ChatWindow.replyReserve(contextLength: 256, maxTokens: 4096), 128, "at most half the context")
        XCTAssertEqual(ChatWindow.replyReserve(contextLength: 256, maxTokens: 0), 1)
    }

    // MARK: On SmolLM2

    func testChatSessionLeavesOutTurnsButKeepsTheHistory() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let chat = try ChatSession(session: try Session(engine: engine, contextLength: 256))
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = 16
        var truncated: [Int] = []
        for i in 0..<14 {
            let generation = try chat.startTurn(userMessage: "Tell me a fact about the number \(i).", options: options)
            let stats = try generation.run { _ in true }
            XCTAssertLessThanOrEqual(generation.promptTokens.count, 256 - 16, "turn \(i): room for the reply")
            XCTAssertGreaterThan(stats.generatedTokens, 0, "turn \(i) answered")
            XCTAssertEqual(chat.session.cachedTokens.count, chat.session.state.position)
            truncated.append(stats.truncatedTurns)
            chat.commitTurn(reply: generation.text)
        }
        XCTAssertEqual(chat.messages.count, 28, "the history keeps every message")
        XCTAssertEqual(truncated.first, 0)
        XCTAssertGreaterThan(truncated.last ?? 0, 0, "the context filled: \(truncated)")
        XCTAssertEqual(truncated, truncated.sorted(), "the window only moves forward: \(truncated)")

        XCTAssertThrowsError(try chat.startTurn(userMessage: String(repeating: "garden ", count: 400), options: options)) {
            guard case .messageLongerThanContext = $0 as? ModelError else { return XCTFail("\($0)") }
        }
        var shifting = options
        shifting.contextShift = ContextShift()
        XCTAssertThrowsError(try chat.startTurn(userMessage: "Hi", options: shifting)) {
            XCTAssertTrue("\($0)".hasPrefix("context_shift"), "\($0)")
        }
    }
}
