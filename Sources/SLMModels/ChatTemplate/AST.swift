// Syntax tree of a parsed template.

struct Expr {
    let kind: ExprKind
    let line: Int
    /// Height of this subtree. Operator and filter chains (`a + b + …`, `x|f|g|…`) are parsed in
    /// loops, not recursion, so the parser bounds this instead: a tree too tall to evaluate would
    /// also be released recursively, off the stack.
    let depth: Int

    init(kind: ExprKind, line: Int) {
        self.kind = kind
        self.line = line
        func h(_ e: Expr?) -> Int { e?.depth ?? 0 }
        func h(_ es: [Expr]) -> Int { es.reduce(0) { max($0, $1.depth) } }
        let below: Int
        switch kind {
        case .literal, .name: below = 0
        case .list(let items), .tuple(let items): below = h(items)
        case .dict(let pairs): below = pairs.reduce(0) { max($0, $1.0.depth, $1.1.depth) }
        case .attribute(let b, _): below = b.depth
        case .index(let b, let i): below = max(b.depth, i.depth)
        case .slice(let b, let x, let y, let z): below = max(b.depth, h(x), h(y), h(z))
        case .call(let f, let args, let kwargs): below = max(f.depth, h(args), h(kwargs.map(\.1)))
        case .filter(let b, _, let args, let kwargs): below = max(b.depth, h(args), h(kwargs.map(\.1)))
        case .test(let b, _, let args, _): below = max(b.depth, h(args))
        case .unary(_, let x): below = x.depth
        case .binary(_, let x, let y), .and(let x, let y), .or(let x, let y): below = max(x.depth, y.depth)
        case .conditional(let c, let t, let o): below = max(c.depth, t.depth, h(o))
        }
        depth = below + 1
    }
}

indirect enum ExprKind {
    case literal(Value)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case index(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case unary(String, Expr)  // "not", "-", "+"
    case binary(String, Expr, Expr)  // arithmetic, comparisons, "~", "in", "not in"
    case and(Expr, Expr)
    case or(Expr, Expr)
    case conditional(Expr, then: Expr, else: Expr?)
}

enum SetTarget {
    case names([String])
    case attribute(String, String)  // `ns.attr`
}

struct MacroParameter {
    let name: String
    let defaultValue: Expr?
}

indirect enum Stmt {
    case text(String)
    case output(Expr)
    case ifChain([(Expr, [Stmt])], otherwise: [Stmt])
    case forLoop(targets: [String], iterable: Expr, condition: Expr?, body: [Stmt], otherwise: [Stmt], line: Int)
    case set(SetTarget, Expr, line: Int)
    case setBlock(String, [Stmt], line: Int)
    case macro(String, [MacroParameter], [Stmt], line: Int)
    case callBlock(Expr, [MacroParameter], [Stmt], line: Int)
    case filterBlock(String, [Expr], [(String, Expr)], [Stmt], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}
