import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Hostile chat templates (a GGUF file may carry any) end quickly with a `.limit` error naming the
/// limit, and the limits leave every real template in the golden set room for long conversations.
final class ChatTemplateLimitTests: XCTestCase {
    /// How long a hostile template may take to fail. Unoptimised (debug) Swift walks a 4 MiB
    /// string byte by byte some 50× slower than release, and CI machines are shared, so a debug
    /// build gets more room; the bound still separates "stopped at the limit" from "ran away".
    #if DEBUG
    private let quickly = 8.0
    #else
    private let quickly = 1.0
    #endif

    /// The work budget for the hostile templates: a debug build spends ~5 µs per unit, so the full
    /// `Interpreter.maxWork` (2^24) would take over a minute here; 2^18 tests the same mechanism.
    static let testWorkBudget = 1 << 18

    private func render(_ source: String, budget: Int = testWorkBudget) throws -> String {
        var t = try ChatTemplate(source: source)
        t.workBudget = budget
        t.fixedTime = 1_721_995_200
        return try t.render(messages: [ChatMessage](), addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
    }

    /// Hostile templates render on a thread with this stack (half the 8 MiB default that slmd's
    /// scheduler thread and the CLI get), so unbounded recursion crashes the test.
    static let stackBytes = 4 << 20

    private final class Box: @unchecked Sendable { var result: Result<String, Error>? = nil }

    private func assertLimit(
        _ source: String, mentions: String, budget: Int = testWorkBudget, file: StaticString = #filePath, line: UInt = #line
    ) {
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let start = Date()
        let thread = Thread {
            box.result = Result { try self.render(source, budget: budget) }
            done.signal()
        }
        thread.stackSize = Self.stackBytes
        thread.start()
        done.wait()
        let elapsed = Date().timeIntervalSince(start)
        switch box.result {
        case .success(let out)?: XCTFail("rendered \(out.utf8.count) bytes instead of failing", file: file, line: line)
        case .failure(let e as ChatTemplateError)?:
            XCTAssertEqual(e.kind, .limit, "\(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(mentions), "\(e)", file: file, line: line)
        case .failure(let e)?: XCTFail("unexpected error \(e)", file: file, line: line)
        case nil: XCTFail("no result", file: file, line: line)
        }
        XCTAssertLessThan(elapsed, quickly, "took \(elapsed) s", file: file, line: line)
    }

    func testSelfReferencingValuesHitTheDepthLimit() {
        let ns = "{% set ns = namespace(a=1) %}{% set ns.me = ns %}"
        assertLimit(ns + "{{ ns }}", mentions: "maxValueDepth")
        assertLimit(ns + "{{ ns|tojson }}", mentions: "maxValueDepth")
        assertLimit(ns + "{{ ns|string }}", mentions: "maxValueDepth")
        assertLimit(ns + "{{ 'x' ~ ns }}", mentions: "maxValueDepth")
        assertLimit(ns + "{{ [ns] }}", mentions: "maxValueDepth")
        assertLimit(ns + "{{ namespace(b=ns) }}", mentions: "maxValueDepth")
        // Two references per level: printing would be exponential without the depth bound.
        assertLimit("{% set ns = namespace() %}{% set ns.a = [ns, ns] %}{{ ns }}", mentions: "maxValueDepth")
        // Deep values built one level per iteration stop at construction (so releasing them never
        // recurses deeply either), whichever container does the nesting.
        assertLimit(
            "{% set ns = namespace(x=none) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
            mentions: "maxValueDepth")
        assertLimit(
            "{% set ns = namespace(x=none) %}{% for i in range(100000) %}{% set ns.x = {'a': ns.x} %}{% endfor %}",
            mentions: "maxValueDepth")
        assertLimit(
            "{% set n = none %}{% for i in range(100000) %}{% set n = namespace(next=n) %}{% endfor %}", mentions: "maxValueDepth")
        assertLimit(
            "{% set h = namespace(x=none) %}{% for i in range(100000) %}{% set m = namespace() %}{% set m.next = h.x %}"
                + "{% set h.x = m %}{% endfor %}", mentions: "maxValueDepth")
        // A list that nests up to the limit still compares and prints.
        XCTAssertEqual(
            try render("{% set ns = namespace(x=1) %}{% for i in range(100) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x == ns.x }}"),
            "True")
    }

    func testParserNestingIsBounded() {
        let deep = 10_000
        for source in [
            "{{ " + String(repeating: "(", count: deep) + "1" + String(repeating: ")", count: deep) + " }}",
            "{{ " + String(repeating: "[", count: deep) + String(repeating: "]", count: deep) + " }}",
            "{{ " + String(repeating: "{'a': ", count: deep) + "1" + String(repeating: "}", count: deep) + " }}",
            String(repeating: "{% if true %}", count: deep) + String(repeating: "{% endif %}", count: deep),
            "{{ " + String(repeating: "not ", count: deep) + "1 }}",
            "{{ " + String(repeating: "-", count: deep) + "1 }}",
        ] {
            assertLimit(source, mentions: "nesting deeper than \(Parser.maxNesting)")
        }
        // Chains parse in loops; their height is bounded too (a tall tree is also freed recursively).
        for source in [
            "{{ 1" + String(repeating: " + 1", count: deep) + " }}",
            "{{ 'a'" + String(repeating: "|string", count: deep) + " }}",
            "{{ x" + String(repeating: ".a", count: deep) + " }}",
            "{{ x" + String(repeating: "[0]", count: deep) + " }}",
            "{{ 1" + String(repeating: " or 1", count: deep) + " }}",
            "{{ 1" + String(repeating: " is number", count: deep) + " }}",
        ] {
            assertLimit(source, mentions: "expression nested deeper than \(Interpreter.maxExpressionDepth)")
        }
    }

    func testRecursionThroughMacrosIsBounded() {
        assertLimit("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", mentions: "macro calls nested deeper")
        // Each macro level nests blocks too: the walk's total depth is bounded, not each part alone.
        let blocks = String(repeating: "{% if true %}", count: 60) + "{{ f(n) }}" + String(repeating: "{% endif %}", count: 60)
        assertLimit("{% macro f(n) %}" + blocks + "{% endmacro %}{{ f(1) }}", mentions: "maxExpressionDepth")
    }

    func testIntermediateStringsAreBounded() {
        let s = "{% set s = 'x' * 4000000 %}"
        assertLimit("{{ ('ab' * 1000000000)|length }}", mentions: "maxStringBytes")
        assertLimit("{{ ('ab' * 9223372036854775807)|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ (s ~ s)|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ (s + s)|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ s|replace('x', 'yy')|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ s.replace('', 'y')|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ [s, s]|join|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ ''.join([s, s])|length }}", mentions: "maxStringBytes")
        assertLimit(s + "{{ '{}{}'.format(s, s)|length }}", mentions: "maxStringBytes")
        assertLimit("{{ ('\\n' * 1000000)|indent(100)|length }}", mentions: "maxStringBytes")
        assertLimit("{{ ('\\n' * 3000000)|tojson|length }}", mentions: "maxStringBytes")
        assertLimit("{{ ('<' * 3000000)|escape|length }}", mentions: "maxStringBytes")
        assertLimit(
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", mentions: "maxStringBytes")
        assertLimit("{% set l = ['x' * 1000000] * 8 %}{{ l|length }}{{ l }}", mentions: "maxStringBytes")
        assertLimit(s + "{% set t %}{{ s }}{{ s }}{% endset %}{{ t|length }}", mentions: "maxStringBytes")
    }

    func testListsAreBounded() {
        assertLimit("{{ range(1000000000)|length }}", mentions: "maxListItems")
        assertLimit("{{ range(-9223372036854775807, 9223372036854775807)|length }}", mentions: "maxListItems")
        assertLimit("{{ ([1] * 1000000000)|length }}", mentions: "maxListItems")
        assertLimit(
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", mentions: "maxListItems")
        assertLimit("{{ ('x' * 4000000)|list|length }}", mentions: "maxListItems")
        assertLimit("{{ ('x ' * 2000000).split()|length }}", mentions: "maxListItems")
        assertLimit("{% for c in 'x' * 4000000 %}{% endfor %}", mentions: "maxListItems")
    }

    func testWorkIsBounded() {
        assertLimit(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", mentions: "maxWork", budget: 1 << 16)
        assertLimit(
            "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}", mentions: "maxWork", budget: 1 << 16
        )
        assertLimit(
            "{% set s = 'ab' * 2000000 %}{% for i in range(100000) %}{% set t = s|replace('a', 'b') %}{% endfor %}", mentions: "maxWork",
            budget: 1 << 16)
        assertLimit(
            "{% set s = 'a' * 4000000 %}{% for i in range(100000) %}{% set t = s.count('aaaaaaab') %}{% endfor %}", mentions: "maxWork",
            budget: 1 << 16)
        assertLimit("{{ range(200000)|unique|length }}", mentions: "maxWork", budget: 1 << 16)
        assertLimit(
            "{% set l = range(200000)|list %}{% for i in l %}{% if i in l %}{% endif %}{% endfor %}", mentions: "maxWork", budget: 1 << 16)
        // A list of two references to the previous list: a DAG with 2^60 paths.
        assertLimit(
            "{% set ns = namespace(x=[]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}", mentions: "maxWork",
            budget: 1 << 16)
        assertLimit(
            "{% set x = [] %}{% for i in range(20) %}{% set x = [x, x] %}{% endfor %}{{ x == x }}", mentions: "maxWork", budget: 1 << 16)
        assertLimit("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", mentions: "macro calls nested deeper")
    }

    /// Namespaces made during a rendering are emptied after it (`ChatTemplate.render` calls
    /// `releaseNamespaces()`), so a self-reference is not a leak per render.
    func testNamespaceCyclesAreReleased() throws {
        weak var weakNamespace: Namespace? = nil
        do {
            let interpreter = Interpreter(globals: OrderedDict(), now: 0)
            guard case .function(let make)? = interpreter.builtins().first(where: { $0.0 == "namespace" })?.1,
                case .namespace(let n) = try make.body([], [])
            else { return XCTFail("namespace() did not make a namespace") }
            n.dict["me"] = .namespace(n)
            weakNamespace = n
            interpreter.releaseNamespaces()
        }
        XCTAssertNil(weakNamespace)
    }

    /// Every golden template renders a long real conversation (1000 turns, 1 KB each, 1 MB in
    /// all) without touching a limit: the limits are far from what real templates need.
    func testLongRealConversationFitsTheLimits() throws {
        let data = try TestModels.fixture("goldens/chat-templates.json")
        let doc = try TemplateValue.parseJSON(String(decoding: data, as: UTF8.self))
        let templates = try XCTUnwrap(doc["templates"]?.arrayValue)
        let text = String(repeating: "All work and no play makes Jack a dull boy. é🙂\n", count: 20)
        var messages: [TemplateValue] = [.object([("role", .string("system")), ("content", .string("You are helpful."))])]
        for i in 0..<1000 {
            messages.append(.object([("role", .string(i % 2 == 0 ? "user" : "assistant")), ("content", .string("\(i) " + text))]))
        }
        let list = TemplateValue.array(messages)
        var rendered = 0
        for t in templates {
            let name = t["name"]?.stringValue ?? "?"
            var template = try ChatTemplate(source: t["source"]?.stringValue ?? "")
            template.fixedTime = 1_721_995_200
            do {
                let (out, work) = try template.renderCountingWork(
                    messages: list, addGenerationPrompt: true, bosToken: t["bos_token"]?.stringValue ?? "",
                    eosToken: t["eos_token"]?.stringValue ?? "", extra: [:])
                XCTAssertGreaterThan(out.utf8.count, 1_000_000, name)
                // Five times this conversation's work still fits the budget (gemma-4 is the largest).
                XCTAssertLessThan(work * 5, Interpreter.maxWork, name)
                rendered += 1
            } catch let e as ChatTemplateError where e.kind == .raised {
                // The template refuses this conversation's shape (e.g. a system message), as in jinja2.
                continue
            } catch {
                XCTFail("\(name): \(error)")
            }
        }
        XCTAssertGreaterThanOrEqual(rendered, templates.count - 4)
    }
}
