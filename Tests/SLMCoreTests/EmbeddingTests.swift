import Foundation
import SLMCore
import XCTest

/// Embeddings against sentence-transformers and llama.cpp: `Fixtures/embeddings/minilm.json`
/// (scripts/make-embedding-goldens.sh) holds, for 30 texts, Hugging Face `tokenizers` ids, a
/// numpy forward pass of the safetensors checkpoint (mean pooling, L2) and llama-embedding's
/// vector on the same F16 GGUF.
final class EmbeddingTests: XCTestCase {
    struct Case {
        let name: String
        let text: String
        let hfIDs: [Int32]
        let idsEqualInLlamaCpp: Bool
        let reference: [Float]
        let llamaCpp: [Float]
    }

    nonisolated(unsafe) private static var cachedEngine: Engine?

    private func engine() throws -> Engine {
        if let e = Self.cachedEngine { return e }
        let e = try Engine(modelPath: try TestModels.miniLM(), threads: 2)
        Self.cachedEngine = e
        return e
    }

    private func cases() throws -> [Case] {
        let root = try JSONSerialization.jsonObject(with: TestModels.fixture("embeddings/minilm.json")) as! [String: Any]
        XCTAssertEqual(root["format"] as? String, "slm-embedding-golden-v1")
        return (root["cases"] as! [[String: Any]]).map { c in
            Case(
                name: c["name"] as! String, text: c["text"] as! String,
                hfIDs: (c["hf_ids"] as! [NSNumber]).map { $0.int32Value },
                idsEqualInLlamaCpp: c["ids_equal"] as! Bool,
                reference: (c["reference"] as! [NSNumber]).map { $0.floatValue },
                llamaCpp: (c["llama_cpp"] as! [NSNumber]).map { $0.floatValue })
        }
    }

    private func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0
        var na = 0.0
        var nb = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            na += Double(x) * Double(x)
            nb += Double(y) * Double(y)
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    /// Every text's ids equal Hugging Face's (llama.cpp's own bge vectors are in TokenizerTests).
    func testWordPieceIDsEqualHuggingFace() throws {
        let tokenizer = try engine().tokenizer
        for c in try cases() {
            XCTAssertEqual(tokenizer.encode(c.text, addSpecial: true, parseSpecial: true), c.hfIDs, c.name)
        }
    }

    func testVectorsAgreeWithSentenceTransformersAndLlamaCpp() throws {
        let all = try cases()
        let vectors = try engine().embed(all.map(\.text)).map { $0.vectors[0] }
        var worstReference = 1.0
        var worstLlama = 1.0
        for (c, v) in zip(all, vectors) {
            XCTAssertEqual(v.count, 384)
            let toReference = cosine(v, c.reference)
            worstReference = min(worstReference, toReference)
            XCTAssertGreaterThanOrEqual(toReference, 0.999, "\(c.name) against sentence-transformers")
            // llama.cpp tokenizes three texts differently from the model's own tokenizer
            // (Hangul, a 100+ character word: see WordPiece); the vectors agree on the others.
            if c.idsEqualInLlamaCpp {
                let toLlama = cosine(v, c.llamaCpp)
                worstLlama = min(worstLlama, toLlama)
                XCTAssertGreaterThanOrEqual(toLlama, 0.9999, "\(c.name) against llama.cpp")
            }
        }
        print("embeddings: worst cosine to sentence-transformers \(worstReference), to llama.cpp \(worstLlama)")
    }

    func testPublishedSimilarity() throws {
        let e = try engine().embed(["A man is eating food.", "A man is eating a piece of bread."])
        XCTAssertEqual(cosine(e[0].vectors[0], e[1].vectors[0]), 0.7553, accuracy: 0.005)
    }

    /// Packing inputs into one pass changes nothing: each sees only its own positions.
    func testBatchEqualsOneByOne() throws {
        let texts = ["short", "A somewhat longer sentence about penguins that cannot fly.", "", "Ça va? 你好"]
        let together = try engine().embed(texts)
        for (i, text) in texts.enumerated() {
            let alone = try engine().embed([text])[0]
            XCTAssertGreaterThan(cosine(alone.vectors[0], together[i].vectors[0]), 0.99999, text)
            XCTAssertEqual(alone.tokenCount, together[i].tokenCount)
        }
    }

    func testMatryoshkaBinaryAndPooling() throws {
        let engine = try engine()
        let text = ["Penguins are birds that cannot fly."]
        let full = try engine.embed(text)[0].vectors[0]
        for dims in [128, 256] {
            let v = try engine.embed(text, options: EmbeddingOptions(dimensions: dims))[0].vectors[0]
            XCTAssertEqual(v.count, dims)
            XCTAssertEqual(v.reduce(0) { $0 + Double($1 * $1) }, 1, accuracy: 1e-5)
            // The prefix of the full vector, normalised again.
            let prefix = Array(full.prefix(dims))
            XCTAssertGreaterThan(cosine(v, prefix), 0.999999)
            let bits = try engine.embed(text, options: EmbeddingOptions(dimensions: dims, binary: true))[0]
            XCTAssertEqual(bits.vectors, [])
            XCTAssertEqual(bits.bits[0].count, dims / 8)
            for i in 0..<dims { XCTAssertEqual(bits.bits[0][i / 8] >> (7 - UInt8(i % 8)) & 1 == 1, v[i] > 0) }
        }
        let raw = try engine.embed(text, options: EmbeddingOptions(normalize: false))[0].vectors[0]
        XCTAssertGreaterThan(abs(raw.reduce(0) { $0 + Double($1 * $1) } - 1), 0.01)
        XCTAssertGreaterThan(cosine(raw, full), 0.999999)
        let perToken = try engine.embed(text, options: EmbeddingOptions(pooling: Pooling.none))[0]
        XCTAssertEqual(perToken.vectors.count, perToken.tokenCount)
        let cls = try engine.embed(text, options: EmbeddingOptions(pooling: .cls))[0].vectors[0]
        XCTAssertGreaterThan(cosine(cls, perToken.vectors[0]), 0.999999)
        XCTAssertEqual(Embedding.hex([0x80, 0x0F]), "800f")
    }

    func testLimitsAreClearErrors() throws {
        let engine = try engine()
        XCTAssertThrowsError(try engine.embed([])) { XCTAssertEqual($0 as? EmbeddingError, .noInputs) }
        XCTAssertThrowsError(try engine.embed(["x"], options: EmbeddingOptions(dimensions: 385))) {
            XCTAssertEqual($0 as? EmbeddingError, .invalidDimensions(requested: 385, available: 384))
        }
        let long = String(repeating: "word ", count: 600)
        XCTAssertThrowsError(try engine.embed(["ok", long])) { error in
            guard case .inputTooLong(1, _, 512) = error as? EmbeddingError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try engine.embed(Array(repeating: "x", count: EmbeddingLimits.maxInputs + 1)))
        XCTAssertThrowsError(try Session(engine: engine, contextLength: 64)) { error in
            XCTAssertTrue("\(error)".contains("is an encoder"), "\(error)")
        }
    }

    /// A decoder's embeddings equal llama-embedding's on the same file, mean and last pooling
    /// (`Fixtures/embeddings/smollm2-decoder.json`, scripts/make-decoder-embedding-goldens.sh).
    func testDecoderEmbeddingsEqualLlamaEmbedding() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let root =
            try JSONSerialization.jsonObject(with: TestModels.fixture("embeddings/smollm2-decoder.json")) as! [String: Any]
        var worst = 1.0
        for c in root["cases"] as! [[String: Any]] {
            let pooling = Pooling(rawValue: c["pooling"] as! String)!
            let text = c["text"] as! String
            let want = (c["vector"] as! [NSNumber]).map { $0.floatValue }
            let got = try engine.embed([text], options: EmbeddingOptions(pooling: pooling))[0].vectors[0]
            worst = min(worst, cosine(got, want))
            XCTAssertGreaterThanOrEqual(cosine(got, want), 0.9999, "\(pooling) \(text.debugDescription)")
        }
        print("decoder embeddings: worst cosine to llama-embedding \(worst)")
    }

    /// A decoder gives embeddings from its final norm: mean and last pooling.
    func testDecoderEmbeddings() throws {
        let engine = try Engine(modelPath: try TestModels.smolLM2(), threads: 2)
        let texts = ["The capital of France is Paris.", "Paris is the capital of France.", "Bananas are yellow."]
        for pooling in [Pooling.mean, .last] {
            let e = try engine.embed(texts, options: EmbeddingOptions(pooling: pooling))
            XCTAssertEqual(e.map { $0.vectors[0].count }, [576, 576, 576])
            for v in e { XCTAssertEqual(v.vectors[0].reduce(0) { $0 + Double($1 * $1) }, 1, accuracy: 1e-5) }
            XCTAssertGreaterThan(cosine(e[0].vectors[0], e[1].vectors[0]), cosine(e[0].vectors[0], e[2].vectors[0]))
        }
    }
}
