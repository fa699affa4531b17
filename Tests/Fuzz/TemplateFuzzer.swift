// libFuzzer target `template`: the input is a chat template's source; it is lexed, parsed and
// rendered with a fixed conversation (system, user, assistant, user) and the usual globals,
// as the engine does with a GGUF's `tokenizer.chat_template`. A `ChatTemplateError` is a normal
// outcome; a trap, a sanitizer report, a hang or unbounded memory is a finding.
@testable import SLMModels

private let conversation = [
    ChatMessage(role: "system", content: "You are terse."),
    ChatMessage(role: "user", content: "Hi <b>there</b> 'quoted' \"double\""),
    ChatMessage(role: "assistant", content: "Hello.\n"),
    ChatMessage(role: "user", content: "Again: {{ not a tag }} ünï"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // A GGUF string is UTF-8 by the format's rules; the engine decodes it leniently like this.
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard var template = try? ChatTemplate(source: source) else { return 0 }
    template.fixedTime = 1_700_000_000
    // Random templates loop often; a budget of 2^16 units still reaches the limit's code path
    // while costing milliseconds, not the second or two the full 2^24 takes under ASan.
    template.workBudget = 1 << 16
    _ = try? template.render(messages: conversation, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
    return 0
}
