import Foundation
import XCTest

/// `slm chat` and `slm conversations` as a user runs them, stdin piped: turns persist, a second
/// process resumes from the KV snapshot, bad input gets clear errors.
final class ChatCommandTests: XCTestCase {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "slm-chat-cli-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func slmBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SLM_BINARY"] { return path }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("slm").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("slm binary not found next to \(dir.path); build it with `swift build --build-tests`")
    }

    func run(_ arguments: [String], stdin: [UInt8] = []) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try slmBinary())
        process.arguments = arguments
        let input = Pipe()
        let out = Pipe()
        let err = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// A chat longer than a small context keeps answering, says on standard error that its oldest
    /// turns were left out of the prompt, and stores them all.
    func testAChatLongerThanTheContextNotesLeftOutTurnsAndStoresThemAll() throws {
        guard let model = StoreTestModels.smolLM2() else { throw XCTSkip("SmolLM2 not found: run scripts/fetch-model.sh") }
        let db = directory + "/long.db"
        let lines = (1...10).map { "Say something about the number \($0)." }
        let result = try run(
            ["chat", "-m", model, "--db", db, "--temp", "0", "-n", "16", "-t", "2", "-c", "128"],
            stdin: Array((lines.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse(result.stderr.contains("error"), result.stderr)
        XCTAssertTrue(result.stderr.contains("left out of the prompt; they stay stored"), result.stderr)
        let shown = try run(["conversations", "show", "1", "--db", db])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        for line in lines { XCTAssertTrue(shown.stdout.contains(line), "\(line) missing from\n\(shown.stdout)") }
    }

    func testChatPersistsResumesAndConversationsListsShowsSearchesDeletes() throws {
        guard let model = StoreTestModels.smolLM2() else { throw XCTSkip("SmolLM2 not found: run scripts/fetch-model.sh") }
        let db = directory + "/c.db"
        let chat = ["chat", "-m", model, "--db", db, "--temp", "0", "-n", "8", "-t", "2"]

        let first = try run(chat, stdin: Array("What is the capital of France?\n\nName a fruit.\n".utf8))
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("conversation 1 (new)"), first.stderr)

        var bad = Array("invalid \u{FF}".utf8)
        bad[8] = 0xFF  // a lone byte that is never UTF-8
        let resumed = try run(chat + ["--conversation", "1"], stdin: bad + Array("\nAnd a vegetable?\n".utf8))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("4 messages resumed from the KV snapshot"), resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("error: invalid text: message is not valid UTF-8"), resumed.stderr)

        let list = try run(["conversations", "list", "--db", db])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.hasPrefix("1\t"), list.stdout)
        XCTAssertTrue(list.stdout.contains("\t6 messages\tWhat is the capital of France?\n"), list.stdout)

        let show = try run(["conversations", "show", "1", "--db", db])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertEqual(show.stdout.components(separatedBy: "\n[user] ").count - 1, 3, show.stdout)
        XCTAssertTrue(show.stdout.contains("[user] And a vegetable?"), show.stdout)
        XCTAssertFalse(show.stdout.contains("invalid"), "the refused line was not stored")

        let search = try run(["conversations", "search", "--db", db, "fruit"])
        XCTAssertEqual(search.status, 0, search.stderr)
        XCTAssertTrue(search.stdout.hasPrefix("1#2\tuser\tName a [fruit]"), search.stdout)

        let missing = try run(chat + ["--conversation", "9"], stdin: Array("hi\n".utf8))
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("error: conversation 9 not found"), missing.stderr)

        XCTAssertEqual(try run(["conversations", "delete", "1", "--db", db]).status, 0)
        let gone = try run(["conversations", "show", "1", "--db", db])
        XCTAssertEqual(gone.status, 1)
        XCTAssertTrue(gone.stderr.contains("error: conversation 1 not found"), gone.stderr)

        // A chat that never got a message leaves no conversation behind.
        XCTAssertEqual(try run(chat, stdin: []).status, 0)
        XCTAssertEqual(try run(["conversations", "list", "--db", db]).stdout, "")
    }

    /// `slm chat` takes the shared sampling options, --repeat-penalty and --repeat-last-n included:
    /// a penalty over a window of 0 tokens is no penalty.
    func testChatTakesRepeatPenaltyAndRepeatLastN() throws {
        guard let model = StoreTestModels.smolLM2() else { throw XCTSkip("SmolLM2 not found: run scripts/fetch-model.sh") }
        let message = Array("Tell me about cats.\n".utf8)
        func chat(_ extra: [String], db: String) throws -> Result {
            try run(["chat", "-m", model, "--db", directory + "/" + db, "--temp", "0", "-n", "16", "-t", "2"] + extra, stdin: message)
        }
        let plain = try chat([], db: "plain.db")
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let windowless = try chat(["--repeat-penalty", "1.5", "--repeat-last-n", "0"], db: "windowless.db")
        XCTAssertEqual(windowless.status, 0, windowless.stderr)
        XCTAssertEqual(windowless.stdout, plain.stdout)
        let penalised = try chat(["--repeat-penalty", "1.5", "--repeat-last-n", "-1"], db: "penalised.db")
        XCTAssertEqual(penalised.status, 0, penalised.stderr)
    }
}
