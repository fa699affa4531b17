import SLMCompute

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a chat template could not be parsed or rendered. `description` names the construct and the
/// template line, e.g. `chat template line 3: unknown filter 'frobnicate'`.
public struct ChatTemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case syntax  // malformed template (unterminated tag, bad expression)
        case unsupported  // valid Jinja this interpreter does not implement (filter, test, statement)
        case runtime  // a type error or similar while rendering
        case raised  // the template called raise_exception(msg)
        case limit  // a named size / depth limit was exceeded
    }

    public var kind: Kind
    public var message: String
    /// 1-based line in the template source (0 when unknown).
    public var line: Int

    public init(_ kind: Kind, _ message: String, line: Int) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String { "chat template line \(line): \(message)" }
}

/// One turn of a conversation.
public struct ChatMessage: Equatable, Sendable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A Jinja chat template (`tokenizer.chat_template` in a GGUF), parsed once and rendered per request.
///
/// The interpreter implements the subset of Jinja2 used by the templates of supported model
/// families, with the environment Hugging Face transformers and llama.cpp use: `trim_blocks` and
/// `lstrip_blocks` on, a final newline of the source dropped, `tojson` as `json.dumps` (non-ASCII
/// kept, keys in insertion order), globals `raise_exception(msg)`, `strftime_now(fmt)`,
/// `namespace(...)`, `range`, `dict`, and the variables `messages`, `add_generation_prompt`,
/// `bos_token`, `eos_token` plus anything in `extra`. Undefined names are falsy and render as "".
/// Anything outside the subset fails with a `ChatTemplateError` naming the construct and line.
public struct ChatTemplate {
    public let source: String
    private let body: [Stmt]

    /// Unix time `strftime_now` formats (UTC); nil = the current time. Tests pin it.
    public var fixedTime: Int? = nil

    /// The work budget of one rendering: `Interpreter.maxWork`, lowered by tests so a debug build
    /// reaches it quickly.
    var workBudget = Interpreter.maxWork

    public init(source: String) throws {
        self.source = source
        let lexer = try Lexer(source)
        var parser = Parser(tokens: lexer.tokens)
        body = try parser.parseTemplate()
    }

    /// Renders `messages` into a prompt string.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String, eosToken: String,
        extra: [String: TemplateValue] = [:]
    ) throws -> String {
        let list = TemplateValue.array(messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
        return try render(messages: list, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken, extra: extra)
    }

    /// Renders messages given as JSON-shaped values (for tool calls and other message fields).
    public func render(
        messages: TemplateValue, addGenerationPrompt: Bool, bosToken: String, eosToken: String,
        extra: [String: TemplateValue] = [:]
    ) throws -> String {
        try renderCountingWork(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken, extra: extra
        )
        .text
    }

    /// `render`, also returning the work units it spent (tests size `Interpreter.maxWork` with it).
    func renderCountingWork(
        messages: TemplateValue, addGenerationPrompt: Bool, bosToken: String, eosToken: String, extra: [String: TemplateValue]
    ) throws -> (text: String, work: Int) {
        var globals = OrderedDict()
        let interpreter = Interpreter(globals: OrderedDict(), now: fixedTime ?? Int(time(nil)))
        defer { interpreter.releaseNamespaces() }
        interpreter.workBudget = workBudget
        for (k, v) in interpreter.builtins() { globals[k] = v }
        globals["messages"] = Value(messages)
        globals["add_generation_prompt"] = .bool(addGenerationPrompt)
        globals["bos_token"] = .string(bosToken)
        globals["eos_token"] = .string(eosToken)
        for k in extra.keys.sorted() { if let v = extra[k] { globals[k] = Value(v) } }
        interpreter.scopes[0] = globals
        _ = try interpreter.execute(body)
        return (interpreter.output, interpreter.work)
    }

    /// The format used when a model has no `tokenizer.chat_template`: ChatML, i.e. for each message
    /// `<|im_start|>{role}\n{content}<|im_end|>\n`, then `<|im_start|>assistant\n` when a generation
    /// prompt is requested. No BOS is written (the tokenizer adds it if the model wants one).
    public static let fallbackSource = """
        {%- for message in messages -%}
        {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
        {%- endfor -%}
        {%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
        """

    /// The fallback template (see `fallbackSource`).
    public static func fallback() -> ChatTemplate {
        // The fallback source is a constant known to parse; `try?` keeps this path trap-free anyway.
        (try? ChatTemplate(source: fallbackSource)) ?? ChatTemplate(parsedEmpty: ())
    }

    private init(parsedEmpty: Void) {
        source = ""
        body = []
    }
}

/// A model's chat format, as read from its GGUF metadata.
public struct ModelChatFormat {
    /// The model's `tokenizer.chat_template`, or `ChatTemplate.fallback()` when it has none.
    public var template: ChatTemplate
    /// True when `template` came from the model; false for the ChatML fallback.
    public var isFromModel: Bool
    /// Text of the BOS / EOS tokens ("" when the model defines none).
    public var bosToken: String
    public var eosToken: String

    /// Reads the template and special-token texts; a template that fails to parse is an error
    /// (not a silent fallback), so the caller can report it.
    public init(file: GGUFFile) throws {
        func tokenText(_ key: String) -> String {
            guard let id = file.int(key), id >= 0, let tokens = file.array("tokenizer.ggml.tokens"), id < tokens.count else { return "" }
            return tokens[id].asString ?? ""
        }
        bosToken = tokenText("tokenizer.ggml.bos_token_id")
        eosToken = tokenText("tokenizer.ggml.eos_token_id")
        if let source = file.string("tokenizer.chat_template") {
            template = try ChatTemplate(source: source)
            isFromModel = true
        } else {
            template = ChatTemplate.fallback()
            isFromModel = false
        }
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, extra: [String: TemplateValue] = [:]) throws -> String {
        try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken, extra: extra)
    }

    /// `messages` with an opened assistant turn, and whether the tokenizer should add its BOS:
    /// templates such as Llama 3's write the BOS text themselves, and a second BOS would change
    /// the output.
    public func prompt(for messages: [ChatMessage]) throws -> (text: String, addSpecial: Bool) {
        let text = try render(messages, addGenerationPrompt: true)
        return (text, bosToken.isEmpty || !text.hasPrefix(bosToken))
    }
}

extension ChatMessage {
    /// Messages from a JSON array `[{"role": …, "content": …}, …]`.
    public static func parseList(json: String) throws -> [ChatMessage] {
        guard case .array(let items) = try TemplateValue.parseJSON(json) else {
            throw JSONParseError(message: "messages must be a JSON array", offset: 0)
        }
        return try items.enumerated().map { i, item in
            guard let role = item["role"]?.stringValue, let content = item["content"]?.stringValue else {
                throw JSONParseError(message: "message \(i) needs string fields \"role\" and \"content\"", offset: 0)
            }
            return ChatMessage(role: role, content: content)
        }
    }
}
