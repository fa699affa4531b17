// Syntax tree of a parsed template.

struct Expr {
    let kind: ExprKind
    let line: Int
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
