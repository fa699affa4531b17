import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Gemma-3-270M (SentencePiece) and Qwen2.5-Coder-0.5B (byte-level BPE, pre-tokenizer qwen2)
/// against llama.cpp: ids from scripts/make-tokenizer-goldens.sh on the shared corpus, with
/// special-token parsing on and off.
final class ModelTokenizerTests: XCTestCase {
    private struct Golden: Decodable {
        struct Case: Decodable {
            var text: String
            var parse_special: Bool
            var ids: [Int32]
        }
        var format: String
        var model: String
        var cases: [Case]
    }

    private static var tokenizers: [String: Tokenizer] = [:]

    private func tokenizer(_ path: String) throws -> Tokenizer {
        if let t = Self.tokenizers[path] { return t }
        let t = try Tokenizer(gguf: GGUFFile(path: path))
        Self.tokenizers[path] = t
        return t
    }

    private func golden(_ name: String, model: String) throws -> Golden {
        let golden = try JSONDecoder().decode(Golden.self, from: TestModels.fixture("goldens/\(name)-tokenizer.json"))
        XCTAssertEqual(golden.format, "slm-tokenizer-golden-v1")
        XCTAssertEqual(golden.model, (model as NSString).lastPathComponent)
        XCTAssertEqual(golden.cases.count, 122)
        return golden
    }

    private func assertMatchesLlamaCpp(_ t: Tokenizer, _ golden: Golden) {
        var failures: [String] = []
        for c in golden.cases {
            let ids = t.encode(c.text, addSpecial: false, parseSpecial: c.parse_special)
            if ids != c.ids {
                failures.append("\(c.text.debugDescription) parse_special=\(c.parse_special)\n  got      \(ids)\n  expected \(c.ids)")
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) cases differ from llama.cpp:\n" + failures.joined(separator: "\n"))
    }

    /// Decoding llama.cpp's ids gives the text back, and so does decoding slm's own ids; streaming
    /// agrees with decoding at once.
    private func assertRoundTrips(_ t: Tokenizer, _ golden: Golden, except: Set<String> = []) {
        for c in golden.cases where !except.contains(c.text) {
            XCTAssertEqual(t.decode(c.ids), c.text, "decode(llama.cpp ids) of \(c.text.debugDescription)")
            let ids = t.encode(c.text, addSpecial: false, parseSpecial: c.parse_special)
            XCTAssertEqual(t.decode(ids), c.text, "decode(encode) of \(c.text.debugDescription)")
            var d = StreamingDecoder(tokenizer: t)
            let streamed = ids.map { d.push($0) }.joined() + d.finish()
            XCTAssertEqual(streamed, t.decode(ids, special: false), "streaming \(c.text.debugDescription)")
        }
    }

    // MARK: - Gemma-3-270M

    func testGemma3MatchesLlamaCpp() throws {
        let path = try TestModels.gemma3()
        let t = try tokenizer(path)
        XCTAssertEqual(t.vocabulary.model, "llama")  // SentencePiece
        assertMatchesLlamaCpp(t, try golden("gemma3", model: path))
    }

    func testGemma3RoundTrips() throws {
        let path = try TestModels.gemma3()
        assertRoundTrips(try tokenizer(path), try golden("gemma3", model: path))
    }

    // MARK: - Qwen2.5-Coder-0.5B

    func testQwen25CoderMatchesLlamaCpp() throws {
        let path = try TestModels.qwen25Coder()
        let t = try tokenizer(path)
        XCTAssertEqual(t.vocabulary.model, "gpt2")
        XCTAssertEqual(t.vocabulary.pre, "qwen2")
        assertMatchesLlamaCpp(t, try golden("qwen25coder", model: path))
    }

    func testQwen25CoderRoundTrips() throws {
        let path = try TestModels.qwen25Coder()
        assertRoundTrips(try tokenizer(path), try golden("qwen25coder", model: path))
    }

    // MARK: - The bound a daemon checks before tokenizing

    /// `fewestTokens(forBytes:)` never exceeds the real count, on both tokenizer kinds and every
    /// golden case (special tokens, byte fallback, CJK, long runs), so refusing a prompt on it
    /// never refuses one that would fit.
    func testFewestTokensIsALowerBoundOnEveryGoldenCase() throws {
        for (name, path) in [("gemma3", try TestModels.gemma3()), ("qwen25coder", try TestModels.qwen25Coder())] {
            let t = try tokenizer(path)
            for c in try golden(name, model: path).cases {
                let count = t.encode(c.text, addSpecial: false, parseSpecial: c.parse_special).count
                XCTAssertLessThanOrEqual(t.fewestTokens(forBytes: c.text.utf8.count), count, "\(name): \(c.text.debugDescription)")
            }
        }
    }
}
