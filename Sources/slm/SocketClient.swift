import ArgumentParser
import SLMCore
import SLMJSON
import SLMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where slmd listens when --socket is not given: $SLMD_SOCKET, else the systemd unit's path.
enum DaemonSocket {
    static let defaultPath = "/run/slmd/slmd.sock"

    static func resolve(_ given: String?) -> String {
        if let given { return given }
        if let env = getenv("SLMD_SOCKET"), env.pointee != 0 { return String(cString: env) }
        return defaultPath
    }
}

/// An `error` event from slmd: printed as `error: slmd: CODE: MESSAGE`, exit status 1.
struct DaemonReplyError: Error, CustomStringConvertible {
    var code: String
    var message: String
    var description: String { "slmd: \(code): \(message)" }
}

/// Sends one request and streams its `token` texts to stdout until `done`; returns the `done` event.
func streamRequest(_ socket: LineSocket, id: Int, op: String, _ fields: [(String, JSONValue)]) throws -> Event {
    let request = JSONValue.object([("id", .integer(id)), ("op", .string(op))] + fields)
    try socket.send(request.serialized)
    while true {
        let event = try socket.readEvent()
        switch event.name {
        case "token": Console.out(event["text"]?.stringValue ?? "")
        case "done": return event
        case "error":
            let (code, message) = event.error!
            throw DaemonReplyError(code: code, message: message)
        default: continue
        }
    }
}

struct AskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Send a prompt to a running slmd and stream the reply.",
        discussion: """
            Sends a `generate` request (the prompt as is); with --chat a `chat` request instead: the \
            prompt goes through the model's chat template and the exchange is stored as a new \
            conversation, whose id goes to standard error.
            """)

    @Option(name: .long, help: "slmd's socket (default: $SLMD_SOCKET, else \(DaemonSocket.defaultPath)).")
    var socket: String?
    @Flag(name: .long, help: "Ask through the chat template and store the conversation.")
    var chat = false
    @Flag(name: .customLong("no-stats"), help: "Do not print statistics to standard error.")
    var noStats = false
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens to generate (default: until end of text).")
    var maxTokens: Int?
    @Option(
        name: [.customShort("m"), .long],
        help: "The served model to ask, by its name in slmd (slmd -m NAME=FILE; default: the daemon's first).")
    var model: String?
    @Option(name: .customLong("stop"), help: "Stop before this text (repeatable).")
    var stop: [String] = []
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var contextShift: ContextShiftOptions
    @Argument(help: "The prompt.")
    var prompt: String

    func validate() throws {
        if let maxTokens, maxTokens < 0 { throw ValidationError("-n must be ≥ 0") }
        if chat && contextShift.enabled {
            throw ValidationError("--context-shift applies to a generate: a chat leaves out its oldest turns")
        }
    }

    func run() throws {
        let path = DaemonSocket.resolve(socket)
        do {
            let connection = try LineSocket(path: path)
            var fields: [(String, JSONValue)] = [(chat ? "message" : "prompt", .string(prompt))]
            fields += try sampling.parameters().json.objectValue ?? []
            if let maxTokens { fields.append(("max_tokens", .integer(maxTokens))) }
            if !stop.isEmpty { fields.append(("stop", .array(stop.map { .string($0) }))) }
            if let model { fields.append(("model", .string(model))) }
            fields += contextShift.protocolFields
            let done = try streamRequest(connection, id: 1, op: chat ? "chat" : "generate", fields)
            Console.out("\n")
            if !noStats { Console.err(summary(done) + "\n") }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Console.fail(error)
        }
    }
}

/// One stats line from a `done` event.
func summary(_ done: Event) -> String {
    var parts: [String] = []
    if let c = done["conversation"]?.integerValue { parts.append("conversation \(c)") }
    parts.append("prompt \(done["prompt_tokens"]?.integerValue ?? 0) tokens")
    parts.append("generated \(done["generated_tokens"]?.integerValue ?? 0) tokens")
    parts.append("\(format(done["tokens_per_second"]?.numberValue ?? 0, 2)) tokens/s")
    parts.append("ttft \(format(done["ttft_ms"]?.numberValue ?? 0, 1)) ms")
    parts.append("stop: \(done["stop_reason"]?.stringValue ?? "?")")
    if let omitted = done["truncated_turns"]?.integerValue { parts.append("\(omitted) oldest turns left out of the prompt") }
    return parts.joined(separator: ", ")
}

extension String {
    fileprivate func trimmingSpaces() -> String { String(drop { $0 == " " || $0 == "\t" }) }
}

/// `slm chat --socket`: a conversation kept by slmd. Each line read from standard input is one
/// user turn; /quit, /exit or end of input ends the session.
/// `servedModel`: the model's name in slmd (nil: the daemon's default).
func runSocketChat(socketPath: String?, servedModel: String?, conversation: Int64?, options: GenerationOptions, showStats: Bool) throws {
    var samplingFields = options.sampling.json.objectValue ?? []
    if let maxTokens = options.maxTokens { samplingFields.append(("max_tokens", .integer(maxTokens))) }
    if let servedModel { samplingFields.append(("model", .string(servedModel))) }
    let path = DaemonSocket.resolve(socketPath)
    let connection = try LineSocket(path: path)
    var conversationID = conversation
    var requestID = 1
    var reader = LineReader()
    while let line = reader.nextMessage() {
        if line == "/quit" || line == "/exit" { break }
        if line.trimmingSpaces().isEmpty { continue }
        var fields: [(String, JSONValue)] = [("message", .string(line))]
        if let conversationID { fields.append(("conversation", .integer(conversationID))) }
        let done = try streamRequest(connection, id: requestID, op: "chat", fields + samplingFields)
        requestID += 1
        Console.out("\n")
        if let id = done["conversation"]?.integerValue { conversationID = id }
        if showStats {
            Console.err(summary(done) + "\n")
        } else if let omitted = done["truncated_turns"]?.integerValue {
            Console.err(truncationNote(Int(omitted)) + "\n")
        }
    }
    if let conversationID { Console.err("conversation \(conversationID)\n") }
}

/// What `slm chat` says on standard error when a turn's prompt left out the oldest turns.
func truncationNote(_ omittedTurns: Int) -> String {
    let turns = omittedTurns == 1 ? "turn was" : "turns were"
    return "(note: the conversation outgrew the context: its \(omittedTurns) oldest \(turns) left out of the prompt; they stay stored)"
}
