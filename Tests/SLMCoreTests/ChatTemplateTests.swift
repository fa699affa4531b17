import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// The Jinja-subset interpreter against renderings by Python jinja2 (scripts/make-template-goldens.py).
final class ChatTemplateTests: XCTestCase {
    private struct Golden {
        let time: Int
        let conversations: [[ChatMessage]]
        let templates: [TemplateValue]
    }

    private func loadGolden() throws -> Golden {
        // SLM_TEMPLATE_GOLDENS=FILE runs the same checks on another golden file, e.g. the output of
        // `scripts/make-template-goldens.py --all FILE` (all of llama.cpp's templates).
        let data: Data
        if let path = ProcessInfo.processInfo.environment["SLM_TEMPLATE_GOLDENS"] {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } else {
            data = try TestModels.fixture("goldens/chat-templates.json")
        }
        let doc = try TemplateValue.parseJSON(String(decoding: data, as: UTF8.self))
        guard case .int(let time)? = doc["strftime_now_unix"],
            let conversations = doc["conversations"]?.arrayValue,
            let templates = doc["templates"]?.arrayValue
        else {
            throw ChatTemplateError(.syntax, "bad golden file", line: 0)
        }
        let convs = conversations.map { conv in
            (conv.arrayValue ?? []).map { ChatMessage(role: $0["role"]?.stringValue ?? "", content: $0["content"]?.stringValue ?? "") }
        }
        return Golden(time: time, conversations: convs, templates: templates)
    }

    func testGoldenRenderings() throws {
        let golden = try loadGolden()
        XCTAssertGreaterThanOrEqual(golden.templates.count, 8)
        var checked = 0
        for t in golden.templates {
            let name = t["name"]?.stringValue ?? "?"
            var template: ChatTemplate
            do {
                template = try ChatTemplate(source: t["source"]?.stringValue ?? "")
            } catch {
                XCTFail("\(name): parse failed: \(error)")
                continue
            }
            template.fixedTime = golden.time
            for c in t["cases"]?.arrayValue ?? [] {
                guard case .int(let ci)? = c["conversation"], case .bool(let gen)? = c["add_generation_prompt"] else {
                    XCTFail("\(name): bad case")
                    continue
                }
                let messages = golden.conversations[ci]
                let label = "\(name) conversation \(ci) generation prompt \(gen)"
                do {
                    let out = try template.render(
                        messages: messages, addGenerationPrompt: gen,
                        bosToken: t["bos_token"]?.stringValue ?? "",
                        eosToken: t["eos_token"]?.stringValue ?? "")
                    if let expected = c["expected"]?.stringValue {
                        XCTAssertEqual(out, expected, label)
                    } else {
                        XCTFail("\(label): expected an error, rendered \(out.debugDescription)")
                    }
                } catch let error as ChatTemplateError {
                    if let expectedError = c["error"]?.stringValue {
                        if c["error_kind"]?.stringValue == "raised" {
                            XCTAssertEqual(error.kind, .raised, label)
                            XCTAssertTrue(error.description.contains(expectedError), "\(label): \(error)")
                        }
                    } else {
                        XCTFail("\(label): \(error)")
                    }
                }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 40)
    }

    /// Truncated, cut and spliced templates must fail with an error or render — never trap.
    func testMutatedTemplatesNeverCrash() throws {
        let golden = try loadGolden()
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(max(n, 1)))
        }
        let snippets = [
            "{%", "%}", "{{", "}}", "-", "(", ")", "[", "]", "|", ".", "'", "\"", "{% endif %}", "{% for x in y %}",
            " is ", " not ", "[::-1]", "|tojson", "loop.", "{#", "#}", ",", "=", "**", "~",
        ]
        let messages = golden.conversations[4]
        var rendered = 0
        var failed = 0
        for t in golden.templates {
            let source = Array((t["source"]?.stringValue ?? "").unicodeScalars)
            guard !source.isEmpty else { continue }
            for _ in 0..<30 {
                var m = source
                switch next(3) {
                case 0: m = Array(m[0..<next(m.count)])
                case 1:
                    let a = next(m.count)
                    let b = min(m.count, a + 1 + next(40))
                    m.removeSubrange(a..<b)
                default:
                    m.insert(contentsOf: snippets[next(snippets.count)].unicodeScalars, at: next(m.count))
                }
                var text = String.UnicodeScalarView()
                text.append(contentsOf: m)
                do {
                    _ = try ChatTemplate(source: String(text)).render(
                        messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
                    rendered += 1
                } catch is ChatTemplateError {
                    failed += 1
                }
            }
        }
        XCTAssertGreaterThan(failed, 0)
        XCTAssertGreaterThan(rendered, 0)
    }

    private func render(_ source: String, _ vars: [String: TemplateValue] = [:], messages: [ChatMessage] = []) throws -> String {
        var t = try ChatTemplate(source: source)
        t.fixedTime = 1_721_995_200
        return try t.render(messages: messages, addGenerationPrompt: false, bosToken: "<s>", eosToken: "</s>", extra: vars)
    }

    private func assertError(
        _ source: String, kind: ChatTemplateError.Kind, line: Int, mentions: String,
        file: StaticString = #filePath, lineNo: UInt = #line
    ) {
        do {
            let out = try render(source)
            XCTFail("rendered \(out.debugDescription) instead of failing", file: file, line: lineNo)
        } catch let e as ChatTemplateError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: lineNo)
            XCTAssertEqual(e.line, line, "\(e)", file: file, line: lineNo)
            XCTAssertTrue(e.description.contains(mentions), "\(e)", file: file, line: lineNo)
            XCTAssertTrue(e.description.contains("line \(line)"), "\(e)", file: file, line: lineNo)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: lineNo)
        }
    }

    func testErrorsNameConstructAndLine() {
        assertError("a\nb {{ x ", kind: .syntax, line: 2, mentions: "unterminated tag '{{'")
        assertError("a\n\n{% if x %}y", kind: .syntax, line: 3, mentions: "'{% if %}'")
        assertError("{% for x in y %}\n{{ x }}", kind: .syntax, line: 1, mentions: "'{% for %}'")
        assertError("ok\n{{ 'a' | frobnicate }}", kind: .unsupported, line: 2, mentions: "unknown filter 'frobnicate'")
        assertError(
            "{% if true %}\n\n{{ raise_exception('Bad roles') }}{% endif %}", kind: .raised, line: 3, mentions: "raise_exception: Bad roles"
        )
        assertError("x\n{% include 'other' %}", kind: .unsupported, line: 2, mentions: "'{% include %}'")
        assertError("{{ 1 is frob }}", kind: .unsupported, line: 1, mentions: "unknown test 'frob'")
        assertError("{# never closed", kind: .syntax, line: 1, mentions: "unterminated comment")
        assertError("{{ 'abc }}", kind: .syntax, line: 1, mentions: "unterminated string")
        assertError("{% endfor %}", kind: .syntax, line: 1, mentions: "endfor")
        assertError("{{ 1 + 'a' }}", kind: .runtime, line: 1, mentions: "'+'")
        assertError(
            "{{ " + String(repeating: "(", count: 200) + "1" + String(repeating: ")", count: 200) + " }}",
            kind: .limit, line: 1, mentions: "nesting")
        assertError("{{ 1" + String(repeating: " + 1", count: 2000) + " }}", kind: .limit, line: 1, mentions: "expression nested")
        assertError(
            "{% for i in range(-9223372036854775807, 9223372036854775807) %}{% endfor %}", kind: .limit, line: 1, mentions: "range()")
        assertError("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", kind: .limit, line: 1, mentions: "macro")
    }

    func testExpressionsAndFilters() throws {
        XCTAssertEqual(
            try render(
                "{{ 'a' ~ 1 ~ none }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 7 / 2 }}|{{ 1 + 2 * 3 }}"),
            "a1None|3|-4|1|2|1024|3.5|7")
        XCTAssertEqual(
            try render("{{ 'hello'[::-1] }}|{{ [1,2,3,4][1:3] }}|{{ 'abc'[-1] }}|{{ [1,2,3][::-1]|join(',') }}"), "olleh|[2, 3]|c|3,2,1")
        XCTAssertEqual(
            try render(
                "{{ x is defined }}{{ x is not defined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is equalto 3 }}"
            ),
            "FalseTrueTrueTrueTrueTrueTrue")
        XCTAssertEqual(try render("{{ 'a' in 'cat' }}{{ 'z' not in ['a'] }}{{ 'k' in {'k': 1} }}"), "TrueTrueTrue")
        XCTAssertEqual(
            try render(
                "{{ '  hi  '|trim }}|{{ 'Hi'|upper }}{{ 'Hi'|lower }}|{{ 'hELLO'|capitalize }}|{{ 'a-b'|replace('-', '+') }}|{{ [1,2]|length }}|{{ x|default('d') }}|{{ '42'|int + 1 }}|{{ [3,4]|first }}{{ [3,4]|last }}"
            ),
            "hi|HIhi|Hello|a+b|2|d|43|34")
        XCTAssertEqual(
            try render("{{ {'b': 1, 'a': [true, none, 'é\"']}|tojson }}|{{ [1, {'x': 2}]|tojson(indent=2) }}"),
            "{\"b\": 1, \"a\": [true, null, \"é\\\"\"]}|[\n  1,\n  {\n    \"x\": 2\n  }\n]")
        XCTAssertEqual(
            try render(
                "{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}={{ v }};{% endfor %}{% for k in d.keys() %}{{ k }}{% endfor %}{{ d.get('z', 'none') }}{{ d.values()|list }}",
                ["d": .object([("p", .int(1)), ("q", .int(2))])]),
            "a=1;b=2;pqnone[1, 2]")
        XCTAssertEqual(
            try render(
                "{{ ' x y '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'hello world'.title() }}|{{ 'aXa'.replace('a', 'b') }}"
            ),
            "x y|axx|['a', 'b', '', 'c']|['a', 'b']|TrueTrue|Hello World|bXb")
        XCTAssertEqual(
            try render("{{ 'yes' if 1 > 2 else 'no' }}|{{ 'x' if false }}|{{ strftime_now('%d %B %Y') }}|{{ bos_token }}{{ eos_token }}"),
            "no||26 July 2024|<s></s>")
        XCTAssertEqual(
            try render(
                "{{ [{'a': 1, 'b': true}, {'a': 2, 'b': false}]|selectattr('b')|map(attribute='a')|list }}{{ [{'r': 'u'}, {'r': 's'}]|rejectattr('r', 'equalto', 'u')|list|length }}"
            ), "[1]1")
    }

    func testStatementsLoopsAndWhitespace() throws {
        let loop =
            "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }} {% endfor %}"
        XCTAssertEqual(try render(loop), "10TrueFalse33 21FalseFalse32 32FalseTrue31 ")
        XCTAssertEqual(
            try render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "6")
        XCTAssertEqual(try render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1")
        XCTAssertEqual(
            try render("{% macro greet(name, p='Hi') %}{{ p }} {{ name }}{% endmacro %}{{ greet('A') }}/{{ greet('B', p='Yo') }}"),
            "Hi A/Yo B")
        XCTAssertEqual(try render("{% set block %}in{{ 1 }}{% endset %}[{{ block }}]"), "[in1]")
        XCTAssertEqual(
            try render(
                "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "02")
        XCTAssertEqual(
            try render("{% for i in [] %}x{% else %}empty{% endfor %}{% for i in [1,2,3] if i != 2 %}{{ i }}{% endfor %}"), "empty13")
        XCTAssertEqual(try render("{% if false %}a{% elif true %}b{% else %}c{% endif %}"), "b")
        // trim_blocks / lstrip_blocks / - and + modifiers, comment, and the dropped final newline.
        XCTAssertEqual(try render("<\n  {% if true %}\n    x\n  {% endif %}\n>\n"), "<\n    x\n>")
        XCTAssertEqual(try render("a  {{- ' b ' -}}  c{# note #}\nd {%+ if true %}e{% endif %}"), "a b cd e")
        XCTAssertEqual(try render("{{ 'x' }}\n{{ 'y' }}"), "x\ny")
    }

    func testFallbackAndJSON() throws {
        let t = ChatTemplate.fallback()
        let out = try t.render(
            messages: [ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
        XCTAssertEqual(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(
            try TemplateValue.parseJSON(#" [{"role": "user", "content": "a\n\"\u00e9\ud83d\ude42"}, 1, -2.5e1, true, null] "#),
            .array([.object([("role", .string("user")), ("content", .string("a\n\"é🙂"))]), .int(1), .double(-25), .bool(true), .null]))
        XCTAssertThrowsError(try TemplateValue.parseJSON("[1, 2"))
        XCTAssertThrowsError(try TemplateValue.parseJSON("{\"a\" 1}"))
    }
}

extension CLITests {
    func testTemplateCommandRendersTheModelsTemplate() throws {
        let model = try TestModels.smolLM2()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slm-template-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let messages = dir.appendingPathComponent("m.json")
        try #"[{"role": "user", "content": "Hi \"you\"\n🙂"}]"#.write(to: messages, atomically: true, encoding: .utf8)
        let header = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        let turn = "<|im_start|>user\nHi \"you\"\n🙂<|im_end|>\n"

        var r = try run(["template", "-m", model, "--messages", messages.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, header + turn + "<|im_start|>assistant\n")
        r = try run(["template", "-m", model, "--messages", messages.path, "--no-generation-prompt"])
        XCTAssertEqual(r.stdout, header + turn)

        try #"[{"role": "user"}]"#.write(to: messages, atomically: true, encoding: .utf8)
        r = try run(["template", "-m", model, "--messages", messages.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\"content\""), r.stderr)
    }

    func testRunChatWrapsThePromptInTheTemplate() throws {
        let model = try TestModels.smolLM2()
        // 37 tokens = llama-tokenize of the SmolLM2 template around this one user message
        // (system header, user turn, "<|im_start|>assistant\n"; no BOS added on top).
        let r = try run(["run", "-m", model, "--chat", "-p", "What is the capital of France?", "--temp", "0", "-n", "1", "-t", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("prompt: 37 tokens"), r.stderr)
    }
}
