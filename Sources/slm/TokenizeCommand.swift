import ArgumentParser
import SLMCore

/// Loads only what tokenizing needs: the GGUF metadata and the tokenizer, not the weights.
private func loadTokenizer(_ model: String?) throws -> Tokenizer {
    try Tokenizer(gguf: GGUFFile(path: try DefaultModel.resolve(model)))
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text as one JSON array.",
        discussion: """
            Only the model's tokenizer is read (its weights need not be valid). The ids match \
            llama.cpp's llama-tokenize for the same flags.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .shortAndLong, help: "Read the text from a file instead.")
    var file: String?

    @Flag(name: .customLong("add-special"), help: "Add BOS/EOS as the model asks.")
    var addSpecial = false

    @Flag(name: .customLong("parse-special"), help: "Let special-token texts such as <|im_start|> become those tokens.")
    var parseSpecial = false

    @Argument(help: "The text.")
    var text: String?

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give exactly one of TEXT or -f FILE") }
    }

    func run() throws {
        do {
            let tokenizer = try loadTokenizer(model)
            let input = try file.map(readTextFile) ?? text!
            let ids = tokenizer.encode(input, addSpecial: addSpecial, parseSpecial: parseSpecial)
            Console.out("[" + ids.map(String.init).joined(separator: ", ") + "]\n")
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}

struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Print the text of token ids.",
        discussion: """
            Ids come as arguments or from a file, either as a JSON array ([1, 2, 3]) or separated \
            by spaces. The text is printed exactly, without a newline added; control tokens appear \
            as their text unless --no-special is given.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .shortAndLong, help: "Read the ids from a file instead.")
    var file: String?

    @Flag(name: .customLong("no-special"), help: "Render control tokens as nothing.")
    var noSpecial = false

    @Argument(help: "Token ids (a JSON array, or separate numbers).")
    var ids: [String] = []

    func validate() throws {
        if ids.isEmpty == (file == nil) { throw ValidationError("give token ids or -f FILE (not both)") }
    }

    /// Accepts "[1, 2, 3]", "1 2 3", "1,2,3" and any mix of them.
    static func parseIDs(_ text: String) throws -> [Int32] {
        var out: [Int32] = []
        var sawOpen = false
        var sawClose = false
        for part in text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            var item = Substring(part)
            if item.first == "[" {
                if sawOpen { throw ValidationError("token ids: more than one '['") }
                sawOpen = true
                item = item.dropFirst()
            }
            if item.last == "]" {
                if sawClose { throw ValidationError("token ids: more than one ']'") }
                sawClose = true
                item = item.dropLast()
            }
            if item.isEmpty { continue }
            guard let id = Int32(item) else { throw ValidationError("token ids: '\(part)' is not an integer") }
            out.append(id)
        }
        if sawOpen != sawClose { throw ValidationError("token ids: unbalanced '[' ']'") }
        return out
    }

    func run() throws {
        let list = try Self.parseIDs(try file.map(readTextFile) ?? ids.joined(separator: " "))
        do {
            let tokenizer = try loadTokenizer(model)
            try tokenizer.validate(list)
            Console.out(tokenizer.decode(list, special: !noSpecial))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}
