import ArgumentParser
import SLMCore

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal; the conversation is stored and can be resumed.",
        discussion: """
            Each line read from standard input is one user message; the reply streams to standard \
            output. Works with a pipe as well as a terminal. Every finished turn is committed to the \
            conversation database before the next line is read, then the model's KV cache is saved \
            with it, so resuming a conversation (--conversation ID, see `slm conversations list`) \
            does not run its history again. Ctrl-C during a reply cuts it short (stored, marked \
            cancelled); /quit or end of input ends the chat.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: $SLM_MODEL, else the cached SmolLM2-135M).")
    var model: String?

    @Option(
        name: .customLong("db"),
        help: "Conversation database (default: $XDG_DATA_HOME/slm/conversations.db or ~/.local/share/slm/conversations.db).")
    var database: String?

    @Option(name: .customLong("conversation"), help: "Resume this conversation instead of starting a new one.")
    var conversation: Int64?

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Most tokens per reply.")
    var maxReplyTokens: Int = 512

    @OptionGroup var sampling: SamplingOptions

    @OptionGroup var placement: PlacementOptions

    @OptionGroup var context: ContextOptions

    @OptionGroup var memory: MemoryModelOption

    @Flag(name: .customLong("stats"), help: "Print resume and per-turn timings to standard error.")
    var stats = false

    @Option(
        name: .long,
        help:
            "Chat through a running slmd on this socket instead (it keeps the conversation; -m then names a model slmd serves; --db, -t, --cpus, -c, -ctk, -ctv are not used)."
    )
    var socket: String?

    func validate() throws {
        if maxReplyTokens < 1 { throw ValidationError("-n must be at least 1") }
    }

    func run() throws {
        do {
            var options = GenerationOptions()
            options.sampling = try sampling.parameters()
            options.maxTokens = maxReplyTokens
            if let socket {
                try runSocketChat(
                    socketPath: socket, servedModel: model, conversation: conversation, options: options, showStats: stats)
                return
            }
            let chat = LocalChat(
                modelPath: try DefaultModel.resolve(model), databasePath: try StoreLocation.resolve(database),
                conversation: conversation, options: options, placement: placement,
                contextLength: context.contextLength, cacheTypes: try context.cacheTypes.types(), printStats: stats,
                memoryModelPath: try memory.resolve(required: false))
            try chat.run()
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}
