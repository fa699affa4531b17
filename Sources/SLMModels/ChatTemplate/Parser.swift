// Parser: tokens → statements and expressions, with jinja2's operator precedence
// (lowest first): `x if c else y`, or, and, not, comparisons / in / not in, + -, ~, * / // %, **,
// unary - +, then postfix (.attr, [index], [a:b:c], (call)) followed by filters `|f` and tests `is t`.

struct Parser {
    /// Deepest expression / block nesting accepted (keeps hostile input from exhausting the stack).
    static let maxNesting = 64

    private let tokens: [Token]
    private var i = 0
    private var depth = 0

    init(tokens: [Token]) { self.tokens = tokens }

    private var current: Token { tokens[min(i, tokens.count - 1)] }
    private var kind: TokenKind { current.kind }
    private var line: Int { current.line }

    private mutating func advance() { if i < tokens.count - 1 { i += 1 } }

    private func isOp(_ s: String) -> Bool { kind == .op(s) }
    private func isName(_ s: String) -> Bool { kind == .name(s) }

    private func peekKind(_ offset: Int) -> TokenKind { tokens[min(i + offset, tokens.count - 1)].kind }

    private func syntax(_ message: String) -> ChatTemplateError { ChatTemplateError(.syntax, message, line: line) }

    private func describe(_ k: TokenKind) -> String {
        switch k {
        case .text: return "text"
        case .varBegin: return "'{{'"
        case .varEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "string literal"
        case .int(let v): return "'\(v)'"
        case .float(let v): return "'\(v)'"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    private mutating func expectOp(_ s: String) throws {
        guard isOp(s) else { throw syntax("expected '\(s)', found \(describe(kind))") }
        advance()
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = kind else { throw syntax("expected a name, found \(describe(kind))") }
        advance()
        return n
    }

    private mutating func expectBlockEnd(_ tag: String) throws {
        guard kind == .blockEnd else { throw syntax("expected '%}' to close '\(tag)', found \(describe(kind))") }
        advance()
    }

    /// An expression node built in a loop (operator, postfix and filter chains), refused once its
    /// tree is taller than the interpreter could evaluate (`Interpreter.maxExpressionDepth`).
    private func bounded(_ e: Expr) throws -> Expr {
        if e.depth > Interpreter.maxExpressionDepth {
            throw ChatTemplateError(.limit, "expression nested deeper than \(Interpreter.maxExpressionDepth)", line: line)
        }
        return e
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Parser.maxNesting { throw ChatTemplateError(.limit, "nesting deeper than \(Parser.maxNesting)", line: line) }
    }

    // MARK: statements

    mutating func parseTemplate() throws -> [Stmt] {
        let (body, end) = try parseBody(until: [])
        if let end { throw ChatTemplateError(.syntax, "unexpected '{% \(end.0) %}' with no open block", line: end.1) }
        return body
    }

    /// Parses statements until one of the `until` tags (returned with its line, tag consumed up to
    /// the tag name) or the end of the template (nil).
    private mutating func parseBody(until: Set<String>) throws -> ([Stmt], (String, Int)?) {
        try enter()
        defer { depth -= 1 }
        var out: [Stmt] = []
        while true {
            switch kind {
            case .eof:
                return (out, nil)
            case .text(let t):
                out.append(.text(t))
                advance()
            case .varBegin:
                advance()
                let e = try parseExpression()
                guard kind == .varEnd else { throw syntax("expected '}}', found \(describe(kind))") }
                advance()
                out.append(.output(e))
            case .blockBegin:
                let tagLine = line
                advance()
                guard case .name(let tag) = kind else { throw syntax("expected a statement name after '{%', found \(describe(kind))") }
                if until.contains(tag) {
                    advance()
                    return (out, (tag, tagLine))
                }
                advance()
                out.append(try parseStatement(tag, line: tagLine))
            default:
                throw syntax("unexpected \(describe(kind))")
            }
        }
    }

    private mutating func requireEnd(_ end: (String, Int)?, of tag: String, line: Int) throws -> String {
        guard let end else {
            throw ChatTemplateError(.syntax, "unterminated '{% \(tag) %}' block (missing '{% end\(tag) %}')", line: line)
        }
        return end.0
    }

    private mutating func parseStatement(_ tag: String, line tagLine: Int) throws -> Stmt {
        switch tag {
        case "if":
            var branches: [(Expr, [Stmt])] = []
            var cond = try parseExpression()
            try expectBlockEnd("if")
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                let t = try requireEnd(end, of: "if", line: tagLine)
                branches.append((cond, body))
                if t == "elif" {
                    cond = try parseExpression()
                    try expectBlockEnd("elif")
                } else if t == "else" {
                    try expectBlockEnd("else")
                    let (other, end2) = try parseBody(until: ["endif"])
                    _ = try requireEnd(end2, of: "if", line: tagLine)
                    try expectBlockEnd("endif")
                    return .ifChain(branches, otherwise: other)
                } else {
                    try expectBlockEnd("endif")
                    return .ifChain(branches, otherwise: [])
                }
            }
        case "for":
            var targets = [try expectName()]
            while isOp(",") {
                advance()
                targets.append(try expectName())
            }
            guard isName("in") else { throw syntax("expected 'in' in 'for' statement, found \(describe(kind))") }
            advance()
            let iterable = try parseOr(allowConditional: false)
            var condition: Expr? = nil
            if isName("if") {
                advance()
                condition = try parseExpression()
            }
            if isName("recursive") { throw ChatTemplateError(.unsupported, "unsupported construct 'for … recursive'", line: line) }
            try expectBlockEnd("for")
            let (body, end) = try parseBody(until: ["else", "endfor"])
            var otherwise: [Stmt] = []
            if try requireEnd(end, of: "for", line: tagLine) == "else" {
                try expectBlockEnd("else")
                let (other, end2) = try parseBody(until: ["endfor"])
                _ = try requireEnd(end2, of: "for", line: tagLine)
                otherwise = other
            }
            try expectBlockEnd("endfor")
            return .forLoop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: tagLine)
        case "set":
            let first = try expectName()
            var target = SetTarget.names([first])
            if isOp(".") {
                advance()
                target = .attribute(first, try expectName())
            } else if isOp(",") {
                var names = [first]
                while isOp(",") {
                    advance()
                    names.append(try expectName())
                }
                target = .names(names)
            }
            if kind == .blockEnd, case .names(let names) = target, names.count == 1 {
                advance()
                let (body, end) = try parseBody(until: ["endset"])
                _ = try requireEnd(end, of: "set", line: tagLine)
                try expectBlockEnd("endset")
                return .setBlock(first, body, line: tagLine)
            }
            try expectOp("=")
            var value = try parseExpression()
            if isOp(",") {  // `set a, b = 1, 2`
                var items = [value]
                while isOp(",") {
                    advance()
                    items.append(try parseExpression())
                }
                value = Expr(kind: .tuple(items), line: value.line)
            }
            try expectBlockEnd("set")
            return .set(target, value, line: tagLine)
        case "macro":
            let name = try expectName()
            let params = try parseParameters()
            try expectBlockEnd("macro")
            let (body, end) = try parseBody(until: ["endmacro"])
            _ = try requireEnd(end, of: "macro", line: tagLine)
            if case .name = kind { advance() }  // `{% endmacro name %}`
            try expectBlockEnd("endmacro")
            return .macro(name, params, body, line: tagLine)
        case "call":
            var params: [MacroParameter] = []
            if isOp("(") { params = try parseParameters() }
            let callee = try parseExpression()
            guard case .call = callee.kind else { throw syntax("'{% call %}' needs a macro call") }
            try expectBlockEnd("call")
            let (body, end) = try parseBody(until: ["endcall"])
            _ = try requireEnd(end, of: "call", line: tagLine)
            try expectBlockEnd("endcall")
            return .callBlock(callee, params, body, line: tagLine)
        case "filter":
            let name = try expectName()
            var args: [Expr] = []
            var kwargs: [(String, Expr)] = []
            if isOp("(") { (args, kwargs) = try parseCallArguments() }
            try expectBlockEnd("filter")
            let (body, end) = try parseBody(until: ["endfilter"])
            _ = try requireEnd(end, of: "filter", line: tagLine)
            try expectBlockEnd("endfilter")
            return .filterBlock(name, args, kwargs, body, line: tagLine)
        case "generation":
            // Hugging Face's assistant-mask marker: renders its body unchanged.
            try expectBlockEnd("generation")
            let (body, end) = try parseBody(until: ["endgeneration"])
            _ = try requireEnd(end, of: "generation", line: tagLine)
            try expectBlockEnd("endgeneration")
            return .ifChain([(Expr(kind: .literal(.bool(true)), line: tagLine), body)], otherwise: [])
        case "break":
            try expectBlockEnd("break")
            return .breakLoop(line: tagLine)
        case "continue":
            try expectBlockEnd("continue")
            return .continueLoop(line: tagLine)
        case "elif", "else", "endif", "endfor", "endset", "endmacro", "endcall", "endfilter", "endgeneration":
            throw ChatTemplateError(.syntax, "unexpected '{% \(tag) %}' with no matching open block", line: tagLine)
        default:
            throw ChatTemplateError(.unsupported, "unsupported statement '{% \(tag) %}'", line: tagLine)
        }
    }

    /// `(a, b=default, …)` of a macro or call block.
    private mutating func parseParameters() throws -> [MacroParameter] {
        try expectOp("(")
        var params: [MacroParameter] = []
        while !isOp(")") {
            let name = try expectName()
            var def: Expr? = nil
            if isOp("=") {
                advance()
                def = try parseExpression()
            }
            params.append(MacroParameter(name: name, defaultValue: def))
            if isOp(",") { advance() } else { break }
        }
        try expectOp(")")
        return params
    }

    // MARK: expressions

    mutating func parseExpression() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        return try parseOr(allowConditional: true)
    }

    private mutating func parseOr(allowConditional: Bool) throws -> Expr {
        var e = try parseAnd()
        while isName("or") {
            let l = line
            advance()
            e = try bounded(Expr(kind: .or(e, try parseAnd()), line: l))
        }
        if allowConditional, isName("if") {
            let l = line
            advance()
            let cond = try parseOr(allowConditional: false)
            var other: Expr? = nil
            if isName("else") {
                advance()
                other = try parseOr(allowConditional: true)
            }
            e = try bounded(Expr(kind: .conditional(cond, then: e, else: other), line: l))
        }
        return e
    }

    private mutating func parseAnd() throws -> Expr {
        var e = try parseNot()
        while isName("and") {
            let l = line
            advance()
            e = try bounded(Expr(kind: .and(e, try parseNot()), line: l))
        }
        return e
    }

    private mutating func parseNot() throws -> Expr {
        if isName("not") {
            let l = line
            advance()
            try enter()
            defer { depth -= 1 }
            return Expr(kind: .unary("not", try parseNot()), line: l)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        var e = try parseAdditive()
        while true {
            let l = line
            if case .op(let o) = kind, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                advance()
                e = try bounded(Expr(kind: .binary(o, e, try parseAdditive()), line: l))
            } else if isName("in") {
                advance()
                e = try bounded(Expr(kind: .binary("in", e, try parseAdditive()), line: l))
            } else if isName("not"), peekKind(1) == .name("in") {
                advance()
                advance()
                e = try bounded(Expr(kind: .binary("not in", e, try parseAdditive()), line: l))
            } else {
                return e
            }
        }
    }

    private mutating func parseAdditive() throws -> Expr {
        try parseLeftAssociative(["+", "-"]) { try $0.parseConcat() }
    }

    private mutating func parseConcat() throws -> Expr {
        try parseLeftAssociative(["~"]) { try $0.parseMultiplicative() }
    }

    private mutating func parseMultiplicative() throws -> Expr {
        try parseLeftAssociative(["*", "/", "//", "%"]) { try $0.parsePower() }
    }

    private mutating func parsePower() throws -> Expr {
        try parseLeftAssociative(["**"]) { try $0.parseUnary() }
    }

    /// One precedence level of left-associative binary operators: `operand (op operand)*`.
    private mutating func parseLeftAssociative(
        _ operators: [String],
        operand: (inout Parser) throws -> Expr
    ) throws -> Expr {
        var e = try operand(&self)
        while case .op(let o) = kind, operators.contains(o) {
            let l = line
            advance()
            e = try bounded(Expr(kind: .binary(o, e, try operand(&self)), line: l))
        }
        return e
    }

    private mutating func parseUnary() throws -> Expr {
        if case .op(let o) = kind, o == "-" || o == "+" {
            let l = line
            advance()
            try enter()
            defer { depth -= 1 }
            let operand = try parseUnaryNoFilter()
            return try parseFilters(Expr(kind: .unary(o, operand), line: l))
        }
        return try parseFilters(try parsePostfix(try parsePrimary()))
    }

    private mutating func parseUnaryNoFilter() throws -> Expr {
        if case .op(let o) = kind, o == "-" || o == "+" {
            let l = line
            advance()
            try enter()
            defer { depth -= 1 }
            return Expr(kind: .unary(o, try parseUnaryNoFilter()), line: l)
        }
        return try parsePostfix(try parsePrimary())
    }

    private mutating func parsePrimary() throws -> Expr {
        let l = line
        switch kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return Expr(kind: .literal(.bool(true)), line: l)
            case "false", "False": return Expr(kind: .literal(.bool(false)), line: l)
            case "none", "None": return Expr(kind: .literal(.none), line: l)
            default: return Expr(kind: .name(n), line: l)
            }
        case .string(var s):
            advance()
            while case .string(let more) = kind {
                s += more
                advance()
            }
            return Expr(kind: .literal(.string(s)), line: l)
        case .int(let v):
            advance()
            return Expr(kind: .literal(.int(v)), line: l)
        case .float(let v):
            advance()
            return Expr(kind: .literal(.double(v)), line: l)
        case .op("("):
            advance()
            if isOp(")") {
                advance()
                return Expr(kind: .tuple([]), line: l)
            }
            let first = try parseExpression()
            if isOp(",") {
                var items = [first]
                while isOp(",") {
                    advance()
                    if isOp(")") { break }
                    items.append(try parseExpression())
                }
                try expectOp(")")
                return Expr(kind: .tuple(items), line: l)
            }
            try expectOp(")")
            return first
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                items.append(try parseExpression())
                if isOp(",") { advance() } else { break }
            }
            try expectOp("]")
            return Expr(kind: .list(items), line: l)
        case .op("{"):
            advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                let k = try parseExpression()
                try expectOp(":")
                pairs.append((k, try parseExpression()))
                if isOp(",") { advance() } else { break }
            }
            try expectOp("}")
            return Expr(kind: .dict(pairs), line: l)
        default:
            throw syntax("expected an expression, found \(describe(kind))")
        }
    }

    private mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            let l = line
            if isOp(".") {
                advance()
                switch kind {
                case .name(let n):
                    advance()
                    e = try bounded(Expr(kind: .attribute(e, n), line: l))
                case .int(let v):
                    advance()
                    e = try bounded(Expr(kind: .index(e, Expr(kind: .literal(.int(v)), line: l)), line: l))
                default: throw syntax("expected an attribute name after '.', found \(describe(kind))")
                }
            } else if isOp("[") {
                advance()
                var parts: [Expr?] = [nil]
                var isSlice = false
                while !isOp("]") {
                    if isOp(":") {
                        isSlice = true
                        advance()
                        parts.append(nil)
                        if parts.count > 3 { throw syntax("too many ':' in slice") }
                    } else {
                        guard parts[parts.count - 1] == nil else { throw syntax("expected ']' or ':', found \(describe(kind))") }
                        parts[parts.count - 1] = try parseExpression()
                    }
                }
                try expectOp("]")
                if isSlice {
                    while parts.count < 3 { parts.append(nil) }
                    e = try bounded(Expr(kind: .slice(e, parts[0], parts[1], parts[2]), line: l))
                } else {
                    guard let index = parts[0] else { throw syntax("empty subscript '[]'") }
                    e = try bounded(Expr(kind: .index(e, index), line: l))
                }
            } else if isOp("(") {
                let (args, kwargs) = try parseCallArguments()
                e = try bounded(Expr(kind: .call(e, args, kwargs), line: l))
            } else {
                return e
            }
        }
    }

    private mutating func parseCallArguments() throws -> ([Expr], [(String, Expr)]) {
        try expectOp("(")
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        while !isOp(")") {
            if case .name(let n) = kind, peekKind(1) == .op("=") {
                advance()
                advance()
                kwargs.append((n, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
            if isOp(",") { advance() } else { break }
        }
        try expectOp(")")
        return (args, kwargs)
    }

    private mutating func parseFilters(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            let l = line
            if isOp("|") {
                advance()
                var name = try expectName()
                while isOp(".") {
                    advance()
                    name += "." + (try expectName())
                }
                var args: [Expr] = []
                var kwargs: [(String, Expr)] = []
                if isOp("(") { (args, kwargs) = try parseCallArguments() }
                e = try bounded(Expr(kind: .filter(e, name, args, kwargs), line: l))
            } else if isName("is") {
                advance()
                var negated = false
                if isName("not") {
                    negated = true
                    advance()
                }
                var name: String
                switch kind {
                case .name(let n):
                    name = n
                    advance()
                case .op(let o) where ["==", "!=", "<", ">", "<=", ">="].contains(o):
                    name = o
                    advance()
                default: throw syntax("expected a test name after 'is', found \(describe(kind))")
                }
                if name == "none" || name == "None" { name = "none" }
                if name == "true" || name == "True" { name = "true" }
                if name == "false" || name == "False" { name = "false" }
                var args: [Expr] = []
                if isOp("(") {
                    args = try parseCallArguments().0
                } else {
                    switch kind {
                    case .string, .int, .float, .op("["), .op("{"):
                        args = [try parsePostfix(try parsePrimary())]
                    case .name(let n) where !["else", "or", "and", "if", "is", "in", "not"].contains(n):
                        args = [try parsePostfix(try parsePrimary())]
                    default: break
                    }
                }
                e = try bounded(Expr(kind: .test(e, name, args, negated: negated), line: l))
            } else {
                return e
            }
        }
    }
}
