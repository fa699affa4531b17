/// Refuses grammars whose rules can reach themselves without consuming a character, with an
/// error naming the loop. Two kinds are refused:
///
/// - What llama.cpp refuses: a rule reached again through references at the start of an
///   alternative, where every reference before it is to a rule with a literally empty
///   alternative (left recursion, `a ::= a "x"`; an empty loop, `a ::= ("x"?)*`). llama.cpp's
///   grammars behave the same here.
/// - Beyond llama.cpp: such a loop through rules that are empty only indirectly (`e ::= f`,
///   `f ::= "x" |`) when something follows a reference in the loop, since every lap then grows
///   the parser stack and matching would never end. llama.cpp loops forever on these.
///
/// A loop through indirectly empty rules whose references all end their alternatives
/// (`root ::= ( [x]* )*`) is accepted, as llama.cpp accepts it: it never grows the stack, and
/// the matcher's expansion stops at a stack it has already seen.
enum GrammarChecks {
    private struct Edge {
        var target: Int
        /// More elements follow the reference in its alternative: following the edge grows the stack.
        var grows: Bool
    }

    static func refuseLeftRecursion(_ grammar: Grammar) throws(GrammarError) {
        let rules = grammar.rules
        let literallyEmpty = rules.map(hasEmptyAlternative)
        try refuseLoop(grammar, edges: leftEdges(rules, empty: literallyEmpty), onlyGrowing: false)
        try refuseLoop(grammar, edges: leftEdges(rules, empty: nullableRules(rules)), onlyGrowing: true)
    }

    /// Rule → every rule that can come first in it, after references to rules `empty` marks.
    private static func leftEdges(_ rules: [[GrammarElement]], empty: [Bool]) -> [[Edge]] {
        var edges: [[Edge]] = Array(repeating: [], count: rules.count)
        for (id, rule) in rules.enumerated() {
            var atStart = true
            for (i, element) in rule.enumerated() {
                if element.endsAlternative {
                    atStart = true
                } else if atStart {
                    if element.kind == .ruleRef {
                        edges[id].append(Edge(target: Int(element.value), grows: !rule[i + 1].endsAlternative))
                        atStart = empty[Int(element.value)]
                    } else {
                        atStart = false
                    }
                }
            }
        }
        return edges
    }

    /// Throws for an edge inside a strongly connected component (a loop); with `onlyGrowing`,
    /// only for an edge that grows the stack.
    private static func refuseLoop(_ grammar: Grammar, edges: [[Edge]], onlyGrowing: Bool) throws(GrammarError) {
        let component = stronglyConnectedComponents(edges)
        for (from, list) in edges.enumerated() {
            for edge in list where (edge.grows || !onlyGrowing) && component[edge.target] == component[from] {
                let cycle = path(from: edge.target, to: from, edges: edges, within: component) + [edge.target]
                let names = cycle.map { grammar.name(ofRule: UInt32($0)) }
                let name = grammar.name(ofRule: UInt32(edge.target))
                throw GrammarError(
                    message:
                        "rule \"\(name)\" can reach itself without consuming input (left recursion, or a repetition of something that may be empty): \(names.joined(separator: " → "))",
                    rule: name)
            }
        }
    }

    private static func hasEmptyAlternative(_ rule: [GrammarElement]) -> Bool {
        var atStart = true
        for element in rule {
            if element.endsAlternative {
                if atStart { return true }
                atStart = true
            } else {
                atStart = false
            }
        }
        return false
    }

    /// Which rules can match the empty string (a fixed point over the rules).
    static func nullableRules(_ rules: [[GrammarElement]]) -> [Bool] {
        var nullable = [Bool](repeating: false, count: rules.count)
        var changed = true
        while changed {
            changed = false
            for (id, rule) in rules.enumerated() where !nullable[id] {
                var alternativeEmpty = true
                for element in rule {
                    if element.endsAlternative {
                        if alternativeEmpty {
                            nullable[id] = true
                            changed = true
                            break
                        }
                        alternativeEmpty = true
                    } else if element.kind != .ruleRef || !nullable[Int(element.value)] {
                        alternativeEmpty = false
                    }
                }
            }
        }
        return nullable
    }

    /// Tarjan's algorithm without recursion (grammars may have many rules): a component number per rule.
    private static func stronglyConnectedComponents(_ edges: [[Edge]]) -> [Int] {
        let n = edges.count
        var index = [Int](repeating: -1, count: n)
        var low = [Int](repeating: 0, count: n)
        var onStack = [Bool](repeating: false, count: n)
        var component = [Int](repeating: -1, count: n)
        var stack: [Int] = []
        var counter = 0
        var components = 0
        for root in 0..<n where index[root] < 0 {
            var work: [(node: Int, next: Int)] = [(root, 0)]
            index[root] = counter
            low[root] = counter
            counter += 1
            stack.append(root)
            onStack[root] = true
            while let (node, next) = work.last {
                if next < edges[node].count {
                    work[work.count - 1].next += 1
                    let target = edges[node][next].target
                    if index[target] < 0 {
                        index[target] = counter
                        low[target] = counter
                        counter += 1
                        stack.append(target)
                        onStack[target] = true
                        work.append((target, 0))
                    } else if onStack[target] {
                        low[node] = min(low[node], index[target])
                    }
                    continue
                }
                work.removeLast()
                if let parent = work.last?.node { low[parent] = min(low[parent], low[node]) }
                if low[node] == index[node] {
                    while let member = stack.popLast() {
                        onStack[member] = false
                        component[member] = components
                        if member == node { break }
                    }
                    components += 1
                }
            }
        }
        return component
    }

    /// The rules on a shortest path from `start` to `end` inside one component (breadth first).
    private static func path(from start: Int, to end: Int, edges: [[Edge]], within component: [Int]) -> [Int] {
        var previous = [Int: Int]()
        var queue = [start]
        var head = 0
        previous[start] = start
        while head < queue.count, previous[end] == nil {
            let node = queue[head]
            head += 1
            for edge in edges[node] where component[edge.target] == component[start] && previous[edge.target] == nil {
                previous[edge.target] = node
                queue.append(edge.target)
            }
        }
        var result = [end]
        var node = end
        while node != start, let p = previous[node] {
            result.append(p)
            node = p
        }
        return result.reversed()
    }
}
