import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Sessions on the real SmolLM2: prefix reuse, snapshots and stop sequences must not change what
/// a greedy generation produces.
final class SessionTests: XCTestCase {
    static var engine: Engine?

    func loadEngine() throws -> Engine {
        if let e = Self.engine { return e }
        let e = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        Self.engine = e
        return e
    }

    func greedy(_ maxTokens: Int, stops: [String] = []) -> GenerationOptions {
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = maxTokens
        options.stopSequences = stops
        return options
    }

    func testChatTurnsReuseThePrefixAndMatchAFreshRun() throws {
        let engine = try loadEngine()
        let chat = try ChatSession(session: try Session(engine: engine, contextLength: 1024))
        let first = try chat.startTurn(userMessage: "What is the capital of France?", options: greedy(24))
        try first.run { _ in true }
        chat.commitTurn(reply: first.text)
        let second = try chat.startTurn(userMessage: "And of Italy?", options: greedy(24))
        try second.run { _ in true }
        XCTAssertGreaterThan(second.reusedPromptTokens, first.promptTokens.count - 2, "the history was run again")

        // The same second turn from an empty cache (one batch) may use the other attention mode;
        // compare against the same split: first turn then second turn in a fresh session.
        let fresh = try ChatSession(session: try Session(engine: engine, contextLength: 1024))
        let again = try fresh.startTurn(userMessage: "What is the capital of France?", options: greedy(24))
        try again.run { _ in true }
        fresh.commitTurn(reply: again.text)
        let secondAgain = try fresh.startTurn(userMessage: "And of Italy?", options: greedy(24))
        try secondAgain.run { _ in true }
        XCTAssertEqual(second.generatedTokens, secondAgain.generatedTokens)
        XCTAssertFalse(second.text.isEmpty)
    }

    func testSnapshotRestoreContinuesExactlyAsTheNeverRestartedSession() throws {
        let engine = try loadEngine()
        let original = try ChatSession(session: try Session(engine: engine, contextLength: 1024))
        let turn = try original.startTurn(userMessage: "Write a haiku about the sea.", options: greedy(32))
        try turn.run { _ in true }
        original.commitTurn(reply: turn.text)
        let bytes = original.session.snapshot().serialized()

        let next = try original.startTurn(userMessage: "Now one about mountains.", options: greedy(32))
        try next.run { _ in true }

        let restoredSession = try Session(engine: engine, contextLength: 1024)
        try restoredSession.restore(try SessionSnapshot(serialized: bytes))
        let restored = try ChatSession(session: restoredSession, messages: original.messages)
        let resumed = try restored.startTurn(userMessage: "Now one about mountains.", options: greedy(32))
        try resumed.run { _ in true }
        XCTAssertEqual(resumed.reusedPromptTokens, next.reusedPromptTokens)
        XCTAssertEqual(resumed.generatedTokens, next.generatedTokens)
    }

    func testCorruptOrForeignSnapshotsAreRefused() throws {
        let engine = try loadEngine()
        let session = try Session(engine: engine, contextLength: 256)
        let generation = try session.startGeneration(
            promptTokens: engine.tokenizer.encode("Hello there", addSpecial: true, parseSpecial: true),
            options: greedy(4))
        try generation.run { _ in true }
        var bytes = session.snapshot().serialized()
        bytes[bytes.count / 2] ^= 0x40
        XCTAssertThrowsError(try SessionSnapshot(serialized: bytes)) { XCTAssertEqual($0 as? SnapshotError, .checksumMismatch) }
        XCTAssertThrowsError(try SessionSnapshot(serialized: Array(bytes.prefix(20))))
        var foreign = session.snapshot()
        foreign.modelIdentity = "0000000000000000"
        XCTAssertThrowsError(try session.restore(foreign))
        XCTAssertEqual(session.cachedTokens.count, 0, "a refused snapshot leaves the session empty")
    }

    func testStopSequencesEndTheTextBeforeTheStop() throws {
        let engine = try loadEngine()
        let prompt = engine.tokenizer.encode("Count: 1, 2, 3, 4, 5,", addSpecial: true, parseSpecial: true)
        let plain = try Session(engine: engine, contextLength: 256).startGeneration(promptTokens: prompt, options: greedy(16))
        try plain.run { _ in true }
        let stopText = " 8"
        guard let range = plain.text.range(of: stopText) else { throw XCTSkip("model did not count: \(plain.text)") }
        let stopped = try Session(engine: engine, contextLength: 256).startGeneration(
            promptTokens: prompt, options: greedy(16, stops: [stopText]))
        var streamed = ""
        let stats = try stopped.run {
            streamed += $0
            return true
        }
        XCTAssertEqual(stats.stopReason, .stopSequence)
        XCTAssertEqual(streamed, String(plain.text[..<range.lowerBound]))
        XCTAssertEqual(stopped.text, streamed)
    }

    func testStopFilterHoldsBackPartialMatchesAcrossPieces() {
        var filter = StopSequenceFilter(stops: ["</end>", "STOP"])
        XCTAssertEqual(filter.push("abc<").0, "abc")
        XCTAssertEqual(filter.push("/e").0, "")
        XCTAssertEqual(filter.push("x").0, "</ex")
        let (text, stopped) = filter.push("yz</end>tail")
        XCTAssertEqual(text, "yz")
        XCTAssertTrue(stopped)
        var other = StopSequenceFilter(stops: ["ST"])
        XCTAssertEqual(other.push("é S").0, "é ")
        XCTAssertEqual(other.flush(), "S")
    }

    func testCancelFromAnotherThreadEndsTheGeneration() throws {
        let engine = try loadEngine()
        let generation = try Session(engine: engine, contextLength: 256)
            .startGeneration(
                promptTokens: engine.tokenizer.encode("Once upon a time", addSpecial: true, parseSpecial: true), options: greedy(200))
        var steps = 0
        let stats = try generation.run { _ in
            steps += 1
            if steps == 3 {
                Thread.detachNewThread { generation.cancel() }
                usleep(200_000)
            }
            return true
        }
        XCTAssertEqual(stats.stopReason, .cancelled)
        XCTAssertLessThan(stats.generatedTokens, 200)
    }
}
