import ArgumentParser
import SLMCore

struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Render a conversation through a model's chat template.",
        discussion: """
            Prints the prompt text exactly as the model would see it (no trailing newline is added). \
            FILE.json holds [{"role": "user", "content": "…"}, …]. Models without \
            tokenizer.chat_template use the ChatML fallback (<|im_start|>role\\ncontent<|im_end|>\\n).
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(name: .customLong("messages"), help: "JSON file with the messages.")
    var messagesFile: String

    @Flag(name: .customLong("no-generation-prompt"), help: "Do not append the assistant turn opener.")
    var noGenerationPrompt = false

    func run() throws {
        do {
            let messages = try ChatMessage.parseList(json: try readTextFile(messagesFile))
            let file = try GGUFFile(path: try DefaultModel.resolve(model))
            let format = try ModelChatFormat(file: file)
            if !format.isFromModel { Console.err("note: the model has no chat template; using the ChatML fallback\n") }
            Console.out(try format.render(messages, addGenerationPrompt: !noGenerationPrompt))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}
