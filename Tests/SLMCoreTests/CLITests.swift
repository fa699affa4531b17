import Foundation
import SLMCore
import XCTest

/// The `slm` executable as a user runs it: what goes to stdout and stderr, exit codes, and
/// errors on bad input.
final class CLITests: XCTestCase {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `slm` binary built next to the test bundle (swift build --build-tests builds both).
    func slmBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SLM_BINARY"] { return path }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("slm").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("slm binary not found next to \(dir.path); build it with `swift build --build-tests`")
    }

    func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try slmBinary())
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting, so a full pipe can never block the child.
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
        let errData = errBox.data
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    func testRunStreamsOnlyTheContinuationToStdout() throws {
        let model = try TestModels.smolLM2()
        struct Golden: Decodable {
            struct Generation: Decodable {
                let name: String
                let prompt: String
                let text: String
            }
            let generations: [Generation]
        }
        let golden = try JSONDecoder().decode(Golden.self, from: try TestModels.fixture("goldens/smollm2-135m-q4_1.json"))
        let capital = try XCTUnwrap(golden.generations.first { $0.name == "capital" })
        let r = try run(["run", "-m", model, "-p", capital.prompt, "-n", "48", "--temp", "0", "-t", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, capital.text, "stdout must hold exactly llama.cpp's greedy continuation")
        for field in ["prompt: 5 tokens", "time to first token", "tokens/s", "stop: max-tokens"] {
            XCTAssertTrue(r.stderr.contains(field), "stderr lacks '\(field)': \(r.stderr)")
        }

        let quiet = try run(["run", "-m", model, "-p", capital.prompt, "-n", "4", "--temp", "0", "--no-stats"])
        XCTAssertEqual(quiet.status, 0)
        XCTAssertTrue(quiet.stderr.isEmpty, quiet.stderr)
        XCTAssertTrue(capital.text.hasPrefix(quiet.stdout))
    }

    func testRunReadsThePromptFromAFile() throws {
        let model = try TestModels.smolLM2()
        let dir = TemporaryDirectory()
        let file = dir.write(Array("The capital of France is".utf8), name: "prompt.txt")
        let fromFile = try run(["run", "-m", model, "-f", file, "-n", "8", "--temp", "0", "--no-stats"])
        let inline = try run(["run", "-m", model, "-p", "The capital of France is", "-n", "8", "--temp", "0", "--no-stats"])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        XCTAssertEqual(fromFile.stdout, inline.stdout)
    }

    func testSeedMakesSamplingReproducible() throws {
        let model = try TestModels.smolLM2()
        let args = ["run", "-m", model, "-p", "Once upon a time", "-n", "16", "--temp", "1.0", "--seed", "1234", "--no-stats"]
        let a = try run(args)
        let b = try run(args)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout)
    }

    func testBadInputGivesAClearErrorAndExitStatus() throws {
        let dir = TemporaryDirectory()
        let missing = try run(["run", "-m", dir.path + "/nope.gguf", "-p", "hi"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.gguf") && missing.stderr.contains("cannot open"), missing.stderr)

        let corrupt = dir.write(Array("this is not a model".utf8), name: "corrupt.gguf")
        let bad = try run(["run", "-m", corrupt, "-p", "hi"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("not a GGUF file"), bad.stderr)
        XCTAssertTrue(bad.stdout.isEmpty)

        let inspect = try run(["inspect", corrupt])
        XCTAssertEqual(inspect.status, 1)
        XCTAssertTrue(inspect.stderr.contains("corrupt.gguf"), inspect.stderr)

        for args in [["run", "-p", "x", "--top-p", "2"], ["run", "-p", "x", "-c", "2"], ["run"], ["run", "-p", "x", "-f", "y"]] {
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, "\(args) should fail")
            XCTAssertFalse(r.stderr.isEmpty, "\(args) should explain")
        }
    }

    /// `slm bench -o json` is what scripts/compare-llama-cpp.sh parses: one object per test with
    /// llama-bench's test names. Tiny sizes; the numbers themselves are not checked.
    func testBenchPrintsOneJSONObjectPerTest() throws {
        let model = try TestModels.smolLM2()
        let r = try run(["bench", "-m", model, "-p", "8", "-n", "3", "-r", "2", "-t", "2", "-o", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], r.stdout)
        XCTAssertEqual(rows.map { $0["test"] as? String }, ["pp8", "tg3"])
        for row in rows {
            XCTAssertEqual(row["threads"] as? Int, 2)
            XCTAssertGreaterThan(try XCTUnwrap(row["tps_mean"] as? Double), 0)
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(row["tps_sd"] as? Double), 0)
            XCTAssertEqual((row["samples"] as? [Double])?.count, 2)
        }
        XCTAssertGreaterThan(try XCTUnwrap(rows[1]["weight_bytes_per_token"] as? Int), 50_000_000)

        let table = try run(["bench", "-m", model, "-p", "4", "-n", "0", "-r", "1", "-t", "1"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("| pp4 |"), table.stdout)
        XCTAssertFalse(table.stdout.contains("tg"), table.stdout)
    }

    /// llama-bench's value lists: every test at every thread count, in the order given.
    func testBenchTakesValueListsLikeLlamaBench() throws {
        let model = try TestModels.smolLM2()
        let r = try run(["bench", "-m", model, "-p", "4,8", "-n", "0,2", "-r", "1", "-t", "1,2", "-o", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], r.stdout)
        XCTAssertEqual(rows.map { $0["test"] as? String }, ["pp4", "pp8", "tg2", "pp4", "pp8", "tg2"])
        XCTAssertEqual(rows.map { $0["threads"] as? Int }, [1, 1, 1, 2, 2, 2])
        // Each thread count gets its own placement: the 1-thread run must not confine the next.
        let table = try run(["bench", "-m", model, "-p", "4", "-n", "0", "-r", "1", "-t", "1,2"])
        XCTAssertEqual(table.status, 0, table.stderr)
        let cpuColumns = table.stdout.split(separator: "\n").filter { $0.contains("| pp4 |") }.map { $0.split(separator: "|")[4] }
        let topology = CPUTopology.current()
        XCTAssertEqual(
            cpuColumns.map { $0.trimmingCharacters(in: .whitespaces) },
            try [1, 2].map { CPUTopology.format(try topology.workerCPUs(threads: $0, requested: nil)) },
            table.stdout)
        for args in [
            ["bench", "-m", model, "-p", "4,", "-n", "0"], ["bench", "-m", model, "-p", "0,0", "-n", "0"],
            ["bench", "-m", model, "-t", "1,0"], ["bench", "--bandwidth", "-t", "1,2"],
        ] {
            let bad = try run(args)
            XCTAssertNotEqual(bad.status, 0, "\(args) should fail")
            XCTAssertFalse(bad.stderr.isEmpty, "\(args) should explain")
        }
    }

    func testCPUListsAreCheckedWithClearErrors() throws {
        for (args, message) in [
            (["bench", "--cpus", "3-1"], "descending"), (["bench", "--cpus", "0,x"], "not a CPU number"),
            (["run", "-p", "x", "--cpus", "4095"], "not available"),
            (["bench", "-t", "0"], "-t: thread count must be between 1 and 256, got 0"),
            (["bench", "-t", "1,300"], "-t: thread count must be between 1 and 256, got 300"),
            (["run", "-p", "x", "-t", "300"], "-t: thread count must be between 1 and 256, got 300"),
            (["chat", "-t", "0"], "-t: thread count must be between 1 and 256, got 0"),
        ] {
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, "\(args) should fail")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let inspect = try run(["inspect", "--cpus"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        for field in ["available CPUs:", "default:", "why:"] { XCTAssertTrue(inspect.stdout.contains(field), inspect.stdout) }
    }

    /// run, chat and ask share one set of sampling options, checked by SamplingParameters: each bad
    /// value is a usage error naming its field, before any model loads or socket opens.
    func testSamplingOptionsAreSharedAndEachBadValueNamesItsField() throws {
        for command in ["run", "chat", "ask"] {
            let help = try run([command, "--help"])
            for option in ["--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n", "--seed"] {
                XCTAssertTrue(help.stdout.contains(option), "\(command) --help lacks \(option)")
            }
        }
        for (args, message) in [
            (["run", "-p", "x", "--temp=-1"], "temperature must be a finite number >= 0 (0 = greedy), got -1.0"),
            (["run", "-p", "x", "--temp", "nan"], "temperature must be a finite number >= 0"),
            (["run", "-p", "x", "--temp", "1e-40"], "temperature must be 0 or a normal float"),
            (["run", "-p", "x", "--repeat-penalty", "inf"], "repeat_penalty must be a finite number > 0"),
            (["run", "-p", "x", "--top-p", "2"], "top_p must be a number in (0, 1]"),
            (["run", "-p", "x", "--top-k=-1"], "top_k must be between 0 and"),
            (["run", "-p", "x", "--repeat-last-n", "-2"], "repeat_last_n must be between -1 and"),
            (["chat", "--repeat-penalty", "0"], "repeat_penalty must be a finite number > 0"),
            (["chat", "--repeat-last-n", "-2"], "repeat_last_n must be between -1 and"),
            (["ask", "--min-p", "1e-50", "hi"], "min_p must be 0 or a normal float"),
            (["ask", "--repeat-last-n", "-5", "hi"], "repeat_last_n must be between -1 and"),
        ] {
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, "\(args) should fail")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    /// --repeat-last-n is the penalty's window: 0 turns the penalty off, 64 is the default.
    func testGrammarOptionsConstrainTheOutputAndRefuseBadInputEarly() throws {
        let model = try TestModels.smolLM2()
        let yesNo = try run([
            "run", "-m", model, "-p", "Is Paris in France?", "-n", "10", "--temp", "0", "--grammar", #"root ::= ("yes" | "no") "!""#,
        ])
        XCTAssertEqual(yesNo.status, 0, yesNo.stderr)
        XCTAssertTrue(["yes!", "no!"].contains(yesNo.stdout), yesNo.stdout)
        XCTAssertTrue(yesNo.stderr.contains("stop: eog"), yesNo.stderr)
        let json = try run([
            "run", "-m", model, "-p", "A cat:", "-n", "60", "--temp", "0", "--json-schema",
            #"{"type":"object","properties":{"name":{"type":"string","maxLength":8},"legs":{"type":"integer","minimum":0,"maximum":4}},"required":["name","legs"],"additionalProperties":false}"#,
        ])
        XCTAssertEqual(json.status, 0, json.stderr)
        let value = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(value.map { Set($0.keys) }, ["name", "legs"], json.stdout)
        let anyJSON = try run(["run", "-m", model, "-p", "Data:", "-n", "40", "--temp", "0", "--json"])
        XCTAssertEqual(anyJSON.status, 0, anyJSON.stderr)
        // Errors come before the model loads, naming where the problem is.
        let cases: [([String], String)] = [
            (["--grammar", "root ::= [ab"], "line 1, column 10"),
            (["--grammar", "root ::= item"], "\"item\" is used but not defined"),
            (["--grammar-file", "/nonexistent.gbnf"], "cannot open /nonexistent.gbnf"),
            (["--json-schema", #"{"type":"string","uniqueItems":true}"#], "uniqueItems"),
            (["--json-schema", "{bad"], "--json-schema"),
            (["--json", "--grammar", "root ::= \"a\""], "one of --grammar"),
        ]
        for (options, message) in cases {
            let r = try run(["run", "-m", "/nonexistent.gguf", "-p", "x"] + options)
            XCTAssertNotEqual(r.status, 0, "\(options)")
            XCTAssertTrue(r.stderr.contains(message), "\(options): \(r.stderr)")
        }
    }

    func testRepeatLastNReachesTheSampler() throws {
        let model = try TestModels.smolLM2()
        let greedy = ["run", "-m", model, "-p", "Once upon a time, the cat", "-n", "24", "--temp", "0", "-t", "2", "--no-stats"]
        let plain = try run(greedy)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let penalised = try run(greedy + ["--repeat-penalty", "1.5"])
        XCTAssertNotEqual(penalised.stdout, plain.stdout, "a 1.5 penalty should change 24 greedy tokens")
        XCTAssertEqual(try run(greedy + ["--repeat-penalty", "1.5", "--repeat-last-n", "64"]).stdout, penalised.stdout)
        XCTAssertEqual(try run(greedy + ["--repeat-penalty", "1.5", "--repeat-last-n", "0"]).stdout, plain.stdout)
        let whole = try run(greedy + ["--repeat-penalty", "1.5", "--repeat-last-n", "-1"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
    }

    func testInspectPrintsMetadataAndTensorTable() throws {
        let model = try TestModels.smolLM2()
        let r = try run(["inspect", model])
        XCTAssertEqual(r.status, 0, r.stderr)
        for expected in [
            "GGUF version 3", "general.architecture", "\"llama\"", "tokenizer.ggml.tokens", "(49152 items)",
            "blk.0.attn_q.weight", "Q4_1", "token_embd.weight", "Q8_0", "272 tensors",
        ] {
            XCTAssertTrue(r.stdout.contains(expected), "inspect output lacks '\(expected)'")
        }
    }

    func testHelpEverywhere() throws {
        for args in [["--help"], ["run", "--help"], ["inspect", "--help"]] {
            let r = try run(args)
            XCTAssertEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stdout.contains("USAGE"), "\(args): \(r.stdout)")
        }
        let run = try self.run(["run", "--help"])
        for option in ["--n-predict", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--seed", "--threads", "--ctx-size"] {
            XCTAssertTrue(run.stdout.contains(option), "run --help lacks \(option)")
        }
    }

    func testTokenizeAndDetokenize() throws {
        let model = try TestModels.smolLM2()
        let t = try run(["tokenize", "-m", model, "--parse-special", "<|im_start|>Hello world"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertEqual(t.stdout, "[1, 19556, 905]\n")
        let plain = try run(["tokenize", "-m", model, "<|im_start|>"])
        XCTAssertFalse(plain.stdout.hasPrefix("[1]"), plain.stdout)

        let dir = TemporaryDirectory()
        let text = "Café 👋\n  x"
        let ids = try run(["tokenize", "-m", model, "-f", dir.write(Array(text.utf8), name: "t.txt")])
        XCTAssertEqual(ids.status, 0, ids.stderr)
        let fromFile = try run(["detokenize", "-m", model, "-f", dir.write(Array(ids.stdout.utf8), name: "ids.json")])
        XCTAssertEqual(fromFile.stdout, text)
        let list = ids.stdout.dropFirst().dropLast(2).components(separatedBy: ", ")
        XCTAssertEqual(try run(["detokenize", "-m", model] + list).stdout, text)
        XCTAssertEqual(try run(["detokenize", "-m", model, "1", "19556", "2"]).stdout, "<|im_start|>Hello<|im_end|>")
        XCTAssertEqual(try run(["detokenize", "-m", model, "--no-special", "1", "19556", "2"]).stdout, "Hello")

        for bad in [
            ["detokenize", "-m", model, "12x"], ["detokenize", "-m", model, "99999999"],
            ["detokenize", "-m", model], ["tokenize", "-m", model], ["tokenize", "-m", "/nonexistent.gguf", "x"],
        ] {
            let r = try run(bad)
            XCTAssertNotEqual(r.status, 0, "\(bad)")
            XCTAssertFalse(r.stderr.isEmpty, "\(bad)")
        }
    }
}
