#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Interpreter: walks the tree with a stack of scopes (for-loop bodies and macros get their own,
// as in jinja2, so `set` inside a loop does not leak out — which is what `namespace()` is for).

enum Flow { case normal, breakLoop, continueLoop }

final class Interpreter {
    /// Largest rendering produced (bytes of UTF-8); a runaway template stops with an error.
    static let maxOutputBytes = 1 << 24
    /// Deepest macro call nesting.
    static let maxCallDepth = 64
    /// Deepest recursion of the tree walk: nested expressions, block statements and macro calls
    /// together. Real templates nest < 30 levels even inside recursive macros (tool schemas);
    /// 256 levels need < 2 MiB of stack in a debug build (measured: 1 MiB is not enough, 2 MiB
    /// is) and far less in release, inside the 8 MiB threads slmd and the CLI render on.
    static let maxExpressionDepth = 256

    var scopes: [OrderedDict]
    var output = ""
    var outputBytes = 0
    var line = 0
    var callDepth = 0
    /// Work units spent so far, and the most allowed (`maxWork` in Limits.swift; tests lower it).
    var work = 0
    var workBudget = Interpreter.maxWork
    var evalDepth = 0
    /// Every namespace made while rendering: `{% set ns.me = ns %}` makes a reference cycle, which
    /// `releaseNamespaces()` breaks at the end so a hostile template cannot leak memory per render.
    var namespaces: [Namespace] = []
    let now: Int

    init(globals: OrderedDict, now: Int) {
        scopes = [globals, OrderedDict()]
        self.now = now
    }

    func fail(_ message: String) -> ChatTemplateError { ChatTemplateError(.runtime, message, line: line) }

    func lookup(_ name: String) -> Value {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined(name)
    }

    func assign(_ name: String, _ value: Value) { scopes[scopes.count - 1][name] = value }

    func write(_ s: String) throws {
        try charge(s.utf8.count / Interpreter.bytesPerWorkUnit)
        outputBytes += s.utf8.count
        if outputBytes > Interpreter.maxOutputBytes {
            throw ChatTemplateError(.limit, "rendering is larger than \(Interpreter.maxOutputBytes) bytes", line: line)
        }
        output += s
    }

    // MARK: statements

    func execute(_ body: [Stmt]) throws -> Flow {
        for stmt in body {
            let flow = try execute(stmt)
            if flow != .normal { return flow }
        }
        return .normal
    }

    func releaseNamespaces() {
        for n in namespaces { n.dict = OrderedDict() }
        namespaces = []
    }

    private func enterNesting() throws {
        evalDepth += 1
        if evalDepth > Interpreter.maxExpressionDepth {
            throw limit(
                "template nested deeper than \(Interpreter.maxExpressionDepth) (maxExpressionDepth: expressions, blocks and macro calls)")
        }
    }

    func execute(_ stmt: Stmt) throws -> Flow {
        try charge()
        try enterNesting()
        defer { evalDepth -= 1 }
        switch stmt {
        case .text(let t):
            try write(t)
        case .output(let e):
            let v = try eval(e)
            try write(try str(v))
        case .ifChain(let branches, let otherwise):
            for (cond, body) in branches where try eval(cond).truthy {
                return try execute(body)
            }
            return try execute(otherwise)
        case .forLoop(let targets, let iterableExpr, let condition, let body, let otherwise, let l):
            line = l
            return try runFor(targets: targets, iterable: try eval(iterableExpr), condition: condition, body: body, otherwise: otherwise)
        case .set(let target, let e, let l):
            let v = try eval(e)
            line = l
            switch target {
            case .names(let names):
                if names.count == 1 {
                    assign(names[0], v)
                } else {
                    let items = try iterate(v)
                    guard items.count == names.count else { throw fail("cannot unpack \(items.count) values into \(names.count) names") }
                    for (n, item) in zip(names, items) { assign(n, item) }
                }
            case .attribute(let object, let attr):
                guard case .namespace(let ns) = lookup(object) else {
                    throw fail("'{% set \(object).\(attr) %}' needs '\(object)' to be a namespace()")
                }
                try checkNesting([v], "{% set \(object).\(attr) %}")
                ns.dict[attr] = v
            }
        case .setBlock(let name, let body, let l):
            line = l
            let saved = output
            let savedBytes = outputBytes
            output = ""
            let flow = try execute(body)
            let captured = output
            output = saved
            outputBytes = savedBytes
            try reserveString(captured.utf8.count, "{% set \(name) %} block")
            assign(name, .string(captured))
            return flow
        case .macro(let name, let params, let body, let l):
            line = l
            assign(name, .function(makeMacro(name: name, params: params, body: body)))
        case .callBlock(let callExpr, let params, let body, let l):
            line = l
            let caller = makeMacro(name: "caller", params: params, body: body)
            scopes.append(OrderedDict([("caller", .function(caller))]))
            defer { scopes.removeLast() }
            try write(try str(try eval(callExpr)))
        case .filterBlock(let name, let argExprs, let kwargExprs, let body, let l):
            line = l
            let saved = output
            let savedBytes = outputBytes
            output = ""
            _ = try execute(body)
            let captured = output
            output = saved
            outputBytes = savedBytes
            let args = try argExprs.map { try eval($0) }
            let kwargs = try kwargExprs.map { ($0.0, try eval($0.1)) }
            line = l
            try write(try str(try applyFilter(name, .string(captured), args, kwargs)))
        case .breakLoop(let l):
            line = l
            return .breakLoop
        case .continueLoop(let l):
            line = l
            return .continueLoop
        }
        return .normal
    }

    private func runFor(targets: [String], iterable: Value, condition: Expr?, body: [Stmt], otherwise: [Stmt]) throws -> Flow {
        var items = try iterate(iterable)
        scopes.append(OrderedDict())
        defer { scopes.removeLast() }
        let bind = { (item: Value) throws in
            if targets.count == 1 {
                self.assign(targets[0], item)
            } else {
                let parts = try self.iterate(item)
                guard parts.count == targets.count else {
                    throw self.fail("cannot unpack \(parts.count) values into \(targets.count) loop variables")
                }
                for (n, p) in zip(targets, parts) { self.assign(n, p) }
            }
        }
        if let condition {
            var kept: [Value] = []
            for item in items {
                try charge()
                try bind(item)
                if try eval(condition).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try execute(otherwise) }
        let n = items.count
        for (index, item) in items.enumerated() {
            try charge()
            try bind(item)
            var loop = OrderedDict()
            loop["index"] = .int(index + 1)
            loop["index0"] = .int(index)
            loop["revindex"] = .int(n - index)
            loop["revindex0"] = .int(n - index - 1)
            loop["first"] = .bool(index == 0)
            loop["last"] = .bool(index == n - 1)
            loop["length"] = .int(n)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            loop["previtem"] = index > 0 ? items[index - 1] : .undefined("loop.previtem")
            loop["nextitem"] = index < n - 1 ? items[index + 1] : .undefined("loop.nextitem")
            loop["cycle"] = .function(
                Function("loop.cycle") { args, _ in
                    args.isEmpty ? .none : args[index % args.count]
                })
            assign("loop", .dict(loop))
            let flow = try execute(body)
            if flow == .breakLoop { break }
        }
        return .normal
    }

    private func makeMacro(name: String, params: [MacroParameter], body: [Stmt]) -> Function {
        Function(name) { [unowned self] args, kwargs in
            try self.charge()
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            if self.callDepth > Interpreter.maxCallDepth {
                throw ChatTemplateError(.limit, "macro calls nested deeper than \(Interpreter.maxCallDepth)", line: self.line)
            }
            var frame = OrderedDict()
            var extra: [Value] = []
            for (i, a) in args.enumerated() {
                if i < params.count { frame[params[i].name] = a } else { extra.append(a) }
            }
            var extraKw = OrderedDict()
            for (k, v) in kwargs {
                if params.contains(where: { $0.name == k }) { frame[k] = v } else { extraKw[k] = v }
            }
            let savedScopes = self.scopes
            let savedOutput = self.output
            let savedBytes = self.outputBytes
            // A macro sees the template's globals and top-level names, not the caller's locals.
            self.scopes = Array(savedScopes.prefix(2))
            if let caller = savedScopes.last?["caller"] { frame["caller"] = caller }
            self.scopes.append(frame)
            defer {
                self.scopes = savedScopes
                self.output = savedOutput
                self.outputBytes = savedBytes
            }
            for p in params where self.scopes[self.scopes.count - 1][p.name] == nil {
                self.assign(p.name, try p.defaultValue.map { try self.eval($0) } ?? .undefined(p.name))
            }
            self.assign("varargs", .list(extra))
            self.assign("kwargs", .dict(extraKw))
            self.output = ""
            _ = try self.execute(body)
            return .string(self.output)
        }
    }

    // MARK: expressions

    func eval(_ e: Expr) throws -> Value {
        line = e.line
        try charge()
        try enterNesting()
        defer { evalDepth -= 1 }
        return try evalNode(e)
    }

    private func evalNode(_ e: Expr) throws -> Value {
        line = e.line
        switch e.kind {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items), .tuple(let items):
            let values = try items.map { try eval($0) }
            try checkNesting(values, "list literal")
            return .list(values)
        case .dict(let pairs):
            var d = OrderedDict()
            for (k, v) in pairs {
                let key = try eval(k)
                guard case .string(let ks) = key else { throw fail("dict keys must be strings, got \(key.typeName)") }
                d[ks] = try eval(v)
            }
            try checkNesting(d.values, "dict literal")
            return .dict(d)
        case .attribute(let base, let name):
            return try attribute(of: try eval(base), name)
        case .index(let base, let indexExpr):
            let b = try eval(base)
            let idx = try eval(indexExpr)
            line = e.line
            return try subscriptValue(b, idx)
        case .slice(let base, let a, let b, let c):
            let v = try eval(base)
            let start = try a.map { try eval($0) }
            let stop = try b.map { try eval($0) }
            let step = try c.map { try eval($0) }
            line = e.line
            return try slice(v, start, stop, step)
        case .call(let callee, let argExprs, let kwargExprs):
            let f = try eval(callee)
            let args = try argExprs.map { try eval($0) }
            let kwargs = try kwargExprs.map { ($0.0, try eval($0.1)) }
            line = e.line
            guard case .function(let fn) = f else {
                if case .undefined(let n) = f { throw fail("'\(n)' is undefined and cannot be called") }
                throw fail("\(f.typeName) is not callable")
            }
            do {
                return try fn.body(args, kwargs)
            } catch var err as ChatTemplateError {
                if err.line == 0 { err.line = e.line }
                throw err
            }
        case .filter(let base, let name, let argExprs, let kwargExprs):
            let v = try eval(base)
            let args = try argExprs.map { try eval($0) }
            let kwargs = try kwargExprs.map { ($0.0, try eval($0.1)) }
            line = e.line
            return try applyFilter(name, v, args, kwargs)
        case .test(let base, let name, let argExprs, let negated):
            let v = try eval(base)
            let args = try argExprs.map { try eval($0) }
            line = e.line
            let r = try applyTest(name, v, args)
            return .bool(negated ? !r : r)
        case .unary(let op, let operand):
            let v = try eval(operand)
            line = e.line
            switch op {
            case "not": return .bool(!v.truthy)
            case "-":
                switch v {
                case .int(let i): return .int(0 &- i)
                case .double(let d): return .double(-d)
                case .bool(let b): return .int(b ? -1 : 0)
                default: throw fail("bad operand type for unary -: \(v.typeName)")
                }
            default:
                switch v {
                case .int, .double: return v
                case .bool(let b): return .int(b ? 1 : 0)
                default: throw fail("bad operand type for unary +: \(v.typeName)")
                }
            }
        case .binary(let op, let l, let r):
            let a = try eval(l)
            let b = try eval(r)
            line = e.line
            return try binary(op, a, b)
        case .and(let l, let r):
            let a = try eval(l)
            return a.truthy ? try eval(r) : a
        case .or(let l, let r):
            let a = try eval(l)
            return a.truthy ? a : try eval(r)
        case .conditional(let cond, let then, let other):
            if try eval(cond).truthy { return try eval(then) }
            return try other.map { try eval($0) } ?? .undefined("else")
        }
    }

    func iterate(_ v: Value) throws -> [Value] {
        switch v {
        case .undefined: return []
        case .list(let l): return l
        case .dict(let d): return d.keys.map { .string($0) }
        case .namespace(let n): return n.dict.keys.map { .string($0) }
        case .string(let s):
            try reserveList(s.unicodeScalars.count, "iterating a string")
            return s.unicodeScalars.map { .string(String($0)) }
        default: throw fail("\(v.typeName) is not iterable")
        }
    }

    func attribute(of v: Value, _ name: String) throws -> Value {
        switch v {
        case .dict(let d):
            if let m = dictMethod(d, name) { return .function(m) }
            return d[name] ?? .undefined(name)
        case .namespace(let n):
            return n.dict[name] ?? .undefined(name)
        case .string(let s):
            if let m = stringMethod(s, name) { return .function(m) }
            return .undefined(name)
        case .list(let l):
            if let m = listMethod(l, name) { return .function(m) }
            return .undefined(name)
        default:
            return .undefined(name)
        }
    }

    func subscriptValue(_ b: Value, _ idx: Value) throws -> Value {
        switch (b, idx) {
        case (.list(let l), .int(let i)):
            let j = i < 0 ? i + l.count : i
            return j >= 0 && j < l.count ? l[j] : .undefined("[\(i)]")
        case (.string(let s), .int(let i)):
            try charge(s.utf8.count / Interpreter.bytesPerWorkUnit)
            let u = Array(s.unicodeScalars)
            let j = i < 0 ? i + u.count : i
            return j >= 0 && j < u.count ? .string(String(u[j])) : .undefined("[\(i)]")
        case (.dict(let d), .string(let k)):
            return d[k] ?? (dictMethod(d, k).map { .function($0) } ?? .undefined(k))
        case (.namespace(let n), .string(let k)):
            return n.dict[k] ?? .undefined(k)
        case (_, .string(let k)):
            return try attribute(of: b, k)
        default:
            return .undefined("[\(idx.typeName)]")
        }
    }

    func slice(_ v: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws -> Value {
        func intOrNil(_ x: Value?) throws -> Int? {
            guard let x else { return nil }
            switch x {
            case .none, .undefined: return nil
            case .int(let i): return i
            case .bool(let b): return b ? 1 : 0
            default: throw fail("slice indices must be integers, got \(x.typeName)")
            }
        }
        let st = try intOrNil(step) ?? 1
        guard st != 0 else { throw fail("slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            var a = try intOrNil(start)
            var b = try intOrNil(stop)
            if st > 0 {
                var lo = a ?? 0
                var hi = b ?? n
                if lo < 0 { lo = max(0, lo + n) }
                if hi < 0 { hi = max(0, hi + n) }
                lo = min(lo, n)
                hi = min(hi, n)
                return lo < hi ? Array(stride(from: lo, to: hi, by: st)) : []
            } else {
                if let x = a { a = x < 0 ? max(-1, x + n) : min(x, n - 1) }
                if let y = b { b = y < 0 ? max(-1, y + n) : min(y, n - 1) }
                let hi = a ?? n - 1
                let lo = b ?? -1
                return hi > lo ? Array(stride(from: hi, to: lo, by: st)) : []
            }
        }
        switch v {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .string(let s):
            try charge(s.utf8.count / Interpreter.bytesPerWorkUnit)
            let u = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try indices(u.count) { out.append(u[i]) }
            return .string(String(out))
        case .undefined: return v
        default: throw fail("\(v.typeName) cannot be sliced")
        }
    }

    /// Python `==`, bounded in depth (values may nest through namespaces without end) and charged
    /// per node, so `unique` or `in` over big lists stays inside the work budget.
    func equal(_ a: Value, _ b: Value, depth: Int = 0) throws -> Bool {
        try charge()
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)):
            try charge(min(x.utf8.count, y.utf8.count) / Interpreter.bytesPerWorkUnit)
            return x == y
        case (.list(let x), .list(let y)):
            if depth >= Interpreter.maxValueDepth { throw tooDeep("comparing values") }
            guard x.count == y.count else { return false }
            for (p, q) in zip(x, y) where !(try equal(p, q, depth: depth + 1)) { return false }
            return true
        case (.dict(let x), .dict(let y)):
            if depth >= Interpreter.maxValueDepth { throw tooDeep("comparing values") }
            guard x.count == y.count else { return false }
            for k in x.keys {
                guard let q = y[k], try equal(x[k] ?? .none, q, depth: depth + 1) else { return false }
            }
            return true
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.function(let x), .function(let y)): return x === y
        default:
            if let x = number(a), let y = number(b) { return x == y }
            return false
        }
    }

    func number(_ v: Value) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    func integer(_ v: Value) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    func contains(_ container: Value, _ item: Value) throws -> Bool {
        switch container {
        case .undefined: return false
        case .string(let s):
            guard case .string(let sub) = item else { throw fail("'in <string>' requires a string on the left, got \(item.typeName)") }
            return sub.isEmpty || s.contains(sub)
        case .list(let l): return try l.contains { try equal($0, item) }
        case .dict(let d):
            if case .string(let k) = item { return d[k] != nil }
            return false
        case .namespace(let n):
            if case .string(let k) = item { return n.dict[k] != nil }
            return false
        default: throw fail("argument of type \(container.typeName) is not iterable ('in')")
        }
    }

    func compare(_ a: Value, _ b: Value) throws -> Int {
        if case .string(let x) = a, case .string(let y) = b {
            // Python compares by code point.
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) { $0.value < $1.value } ? -1 : (x == y ? 0 : 1)
        }
        if let x = number(a), let y = number(b) { return x < y ? -1 : (x == y ? 0 : 1) }
        throw fail("cannot compare \(a.typeName) with \(b.typeName)")
    }

    func binary(_ op: String, _ a: Value, _ b: Value) throws -> Value {
        switch op {
        case "==": return .bool(try equal(a, b))
        case "!=": return .bool(!(try equal(a, b)))
        case "<": return .bool(try compare(a, b) < 0)
        case ">": return .bool(try compare(a, b) > 0)
        case "<=": return .bool(try compare(a, b) <= 0)
        case ">=": return .bool(try compare(a, b) >= 0)
        case "in": return .bool(try contains(b, a))
        case "not in": return .bool(!(try contains(b, a)))
        case "~":
            let x = try str(a)
            let y = try str(b)
            try reserveString(x.utf8.count + y.utf8.count, "'~'")
            return .string(x + y)
        default: break
        }
        if case .undefined(let n) = a { throw fail("'\(n)' is undefined (operator '\(op)')") }
        if case .undefined(let n) = b { throw fail("'\(n)' is undefined (operator '\(op)')") }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            try reserveString(x.utf8.count + y.utf8.count, "'+'")
            return .string(x + y)
        case ("+", .list(let x), .list(let y)):
            try reserveList(x.count + y.count, "'+'")
            return .list(x + y)
        case ("*", .string(let x), .int(let n)), ("*", .int(let n), .string(let x)):
            let (bytes, overflow) = x.utf8.count.multipliedReportingOverflow(by: max(0, n))
            try reserveString(overflow ? -1 : bytes, "string repetition '*'")
            return .string(String(repeating: x, count: max(0, n)))
        case ("*", .list(let x), .int(let n)), ("*", .int(let n), .list(let x)):
            let (count, overflow) = x.count.multipliedReportingOverflow(by: max(0, n))
            try reserveList(overflow ? -1 : count, "list repetition '*'")
            return .list(Array([[Value]](repeating: x, count: max(0, n)).joined()))
        default: break
        }
        if let x = integer(a), let y = integer(b) {
            switch op {
            case "+":
                let (r, o) = x.addingReportingOverflow(y)
                if !o { return .int(r) }
            case "-":
                let (r, o) = x.subtractingReportingOverflow(y)
                if !o { return .int(r) }
            case "*":
                let (r, o) = x.multipliedReportingOverflow(by: y)
                if !o { return .int(r) }
            case "//":
                guard y != 0 else { throw fail("integer division by zero") }
                if x == Int.min && y == -1 { break }
                var q = x / y
                if (x % y != 0) && ((x < 0) != (y < 0)) { q -= 1 }
                return .int(q)
            case "%":
                guard y != 0 else { throw fail("integer modulo by zero") }
                if x == Int.min && y == -1 { return .int(0) }
                var r = x % y
                if r != 0 && ((r < 0) != (y < 0)) { r += y }
                return .int(r)
            case "**":
                if y >= 0 {
                    var r = 1
                    var o = false
                    for _ in 0..<min(y, 64) where !o { (r, o) = r.multipliedReportingOverflow(by: x) }
                    if !o && (y <= 64 || x == 0 || x == 1) { return .int(r) }
                }
            default: break
            }
        }
        guard let x = number(a), let y = number(b) else {
            throw fail("unsupported operand types for '\(op)': \(a.typeName) and \(b.typeName)")
        }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw fail("division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw fail("division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw fail("modulo by zero") }
            let r = fmod(x, y)
            return .double(r != 0 && ((r < 0) != (y < 0)) ? r + y : r)
        case "**": return .double(pow(x, y))
        default: throw fail("unsupported operator '\(op)'")
        }
    }
}
