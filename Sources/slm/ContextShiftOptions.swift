import ArgumentParser
import SLMCore
import SLMJSON

/// `--context-shift` and `--keep N`, llama.cpp's options of the same names, for the commands
/// that generate raw text (`run`; `ask` sends them to slmd). Declared once here.
struct ContextShiftOptions: ParsableArguments {
    @Flag(
        name: .customLong("context-shift"),
        help:
            "When the context fills, forget the oldest half of what follows the kept tokens and go on generating (llama.cpp's context shift; not for models with sliding-window layers such as Gemma 2/3)."
    )
    var enabled = false

    // Unconditional: `--keep -1` is a value, not an option.
    @Option(
        name: .customLong("keep"), parsing: .unconditional,
        help:
            "With --context-shift: prompt tokens after the first (which always stays) never forgotten; -1 = the whole prompt (default: 0).")
    var keep: Int?

    func validate() throws {
        if keep != nil && !enabled { throw ValidationError("--keep applies only with --context-shift") }
        if let keep, keep < ContextShift.keepWholePrompt { throw ValidationError("--keep must be -1 (the whole prompt) or ≥ 0") }
    }

    /// The engine's setting; nil without --context-shift.
    var contextShift: ContextShift? { enabled ? ContextShift(keep: keep ?? 0) : nil }

    /// The request fields slmd reads for the same setting (docs/protocol.md).
    var protocolFields: [(String, JSONValue)] {
        guard enabled else { return [] }
        return [("context_shift", .bool(true))] + (keep.map { [("keep", JSONValue.integer($0))] } ?? [])
    }
}
