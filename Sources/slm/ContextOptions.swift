import ArgumentParser
import SLMCore

/// How a conversation's context is sized and stored: `-c N` and the KV cache types (llama.cpp's
/// `--cache-type-k` / `--cache-type-v`, short `-ctk` / `-ctv`), shared by `run` and `chat`;
/// `bench` takes the cache types alone (`CacheTypeOptions`).
struct ContextOptions: ParsableArguments {
    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Context length in tokens (default: min(model's, 4096)).")
    var contextLength: Int?

    @OptionGroup var cacheTypes: CacheTypeOptions

    func validate() throws {
        if let contextLength, contextLength < 8 { throw ValidationError("-c must be at least 8") }
    }
}

/// `--cache-type-k T` / `--cache-type-v T` (`-ctk` / `-ctv`): f16 (default), q8_0 or q4_0.
struct CacheTypeOptions: ParsableArguments {
    @Option(
        name: [.customLong("cache-type-k"), .customLong("ctk", withSingleDash: true)],
        help: "KV cache type for K: f16 (default), q8_0 or q4_0. q8_0 halves the cache; see docs/kv-cache.md.")
    var key: String = "f16"

    @Option(
        name: [.customLong("cache-type-v"), .customLong("ctv", withSingleDash: true)],
        help: "KV cache type for V: f16 (default), q8_0 or q4_0.")
    var value: String = "f16"

    func validate() throws { _ = try types() }

    /// The types asked for; an unknown name is a usage error that lists the known ones.
    func types() throws -> KVCacheTypes {
        func parse(_ name: String, _ option: String) throws -> KVCacheType {
            guard let type = KVCacheType(rawValue: name.lowercased()) else {
                throw ValidationError("\(option) '\(name)' is not a KV cache type; use one of \(KVCacheType.names)")
            }
            return type
        }
        return KVCacheTypes(key: try parse(key, "--cache-type-k"), value: try parse(value, "--cache-type-v"))
    }
}
