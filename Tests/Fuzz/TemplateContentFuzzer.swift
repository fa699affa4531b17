// libFuzzer target `template-content`: real chat templates (the golden fixtures in
// Tests/SLMCoreTests/Fixtures/goldens/chat-templates.json, whose path scripts/fuzz.sh passes in
// SLM_FUZZ_TEMPLATES) render fuzz strings as message contents and roles: what any client of the
// daemon controls. The first byte picks the template; the rest is split at 0x01 into messages,
// a message's role is the text before its first 0x02 if there is one, else user/assistant in
// turn. Templates may refuse a conversation (`raise_exception`); they must never crash or hang.
import Glibc
import SLMJSON
import SLMModels

private let templates: [(ChatTemplate, bos: String, eos: String)] = {
    guard let path = getenv("SLM_FUZZ_TEMPLATES").map({ String(cString: $0) }),
        let fp = fopen(path, "rb")
    else { fatalError("set SLM_FUZZ_TEMPLATES to chat-templates.json") }
    defer { fclose(fp) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, fp)
        if n <= 0 { break }
        bytes += chunk[..<n]
    }
    guard let json = try? JSONParser.parse(bytes), let list = json["templates"]?.arrayValue else {
        fatalError("\(path) is not the chat template golden file")
    }
    var out: [(ChatTemplate, bos: String, eos: String)] = []
    for entry in list {
        guard let source = entry["source"]?.stringValue, var t = try? ChatTemplate(source: source) else { continue }
        t.fixedTime = 1_700_000_000
        out.append((t, entry["bos_token"]?.stringValue ?? "", entry["eos_token"]?.stringValue ?? ""))
    }
    precondition(!out.isEmpty, "no template in \(path) parses")
    return out
}()

// Parsed once before fuzzing starts: libFuzzer's leak check counts allocations per input, and
// LeakSanitizer cannot follow Swift's enum payload pointers (spare bits hold the case), so the
// templates' syntax trees, allocated during an input, would be reported as leaked by it.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    _ = templates.count
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplateContent(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let (template, bos, eos) = templates[Int(data[0]) % templates.count]
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    var messages: [ChatMessage] = []
    for (i, part) in rest.split(separator: 0x01, omittingEmptySubsequences: false).prefix(16).enumerated() {
        var role = i % 2 == 0 ? "user" : "assistant"
        var content = Substring(String(decoding: part, as: UTF8.self))
        if let mark = content.firstIndex(of: "\u{02}") {
            role = String(content[..<mark])
            content = content[content.index(after: mark)...]
        }
        messages.append(ChatMessage(role: role, content: String(content)))
    }
    _ = try? template.render(messages: messages, addGenerationPrompt: data[0] & 0x80 != 0, bosToken: bos, eosToken: eos)
    return 0
}
