/// Matches text against a grammar one byte at a time, as llama.cpp's grammar does one code point
/// at a time: the parser's position is a set of pushdown stacks, each a path through the rules
/// whose top is a terminal (a character set or a token reference), or empty where the grammar
/// may end. Bytes of a UTF-8 character that has not finished are carried as a partial character,
/// so a token may end inside a character and the next one finish it (byte-level vocabularies do).
///
/// Everything is interned so sampling is cheap: a stack is an id into a pool of (top, rest)
/// nodes, a position (stack set and partial character) is a state id, and the move of a state
/// on a byte is cached. Checking a token is then one cached lookup per byte of it; a state seen
/// before costs nothing to expand again. The caches are bounded: past `maxStates` or `maxStacks`
/// they start over at the next token, keeping only the current position. The work of one token
/// is bounded too (`maxNewStatesPerToken`, `maxStacksPerState`, `workLimitPerToken`): past a
/// bound, `overflowed` is set and nothing matches until the next move.
public final class GrammarMatcher {
    public let grammar: Grammar
    private let elements: [GrammarElement]
    private let ruleStarts: [Int32]
    private let hasTokenReferences: Bool

    // Stacks: node 0 is the empty stack.
    private var stackTop: [Int32] = [-1]
    private var stackRest: [Int32] = [0]
    private var stackIndex: [Int64: Int32] = [:]
    /// Terminal-topped (or empty) stacks each stack expands to; nil = not computed yet.
    private var expansions: [[Int32]?] = [nil]

    // States: state 0 is the dead state (no stacks).
    private struct StateKey: Hashable {
        var stacks: [Int32]
        var partialValue: UInt32
        var partialRemaining: Int8
    }
    private var states: [StateKey] = []
    private var stateIndex: [StateKey: Int32] = [:]
    /// A direct-mapped cache of moves: slot `hash(state, byte)` holds the key `state << 8 | byte`
    /// (-1: empty) and the state after. A miss recomputes the move from the interned states.
    private var moveKeys = [Int64](repeating: -1, count: GrammarMatcher.moveCacheSize)
    private var moveTargets = [Int32](repeating: 0, count: GrammarMatcher.moveCacheSize)
    /// `states.count` when the current token began, for `maxNewStatesPerToken`.
    private var statesAtTokenStart = 0
    /// A computation since the last move went past one of the per-token bounds; it matched
    /// nothing, and no answer it gave was cached.
    public private(set) var overflowed = false

    /// The current position.
    public private(set) var state: Int32 = 0

    /// The most states kept between tokens before the caches start over (each is its stack
    /// list, tens of bytes).
    public static let maxStates = 1 << 16
    /// The most interned stacks kept between tokens (each is about 40 bytes with its index entry).
    public static let maxStacks = 1 << 18
    /// The most states one token's checks may create: a grammar that needs more is refused at
    /// that point (`overflowed`) instead of growing without bound.
    public static let maxNewStatesPerToken = 1 << 17
    /// The most stacks one position may have: an ambiguous grammar (`r ::= x? r{2,}`) can
    /// multiply them with every character.
    public static let maxStacksPerState = 1 << 12
    /// The default `workLimitPerToken`: stacks expanded or collected into new positions between
    /// two moves. Far above what llama.cpp's grammars and the schema tests need on a 151k
    /// vocabulary; a hostile grammar reaches it in about 20 ms on a Zen 3 core.
    public static let defaultWorkLimitPerToken = 1 << 18
    /// The work allowed between two moves before `overflowed` is set; lower it to bound the
    /// time one token may take more tightly.
    public var workLimitPerToken = GrammarMatcher.defaultWorkLimitPerToken
    /// Work done since the last move.
    private var work = 0
    static let moveCacheSize = 1 << 16

    public init(grammar: Grammar) {
        self.grammar = grammar
        elements = grammar.elements
        ruleStarts = grammar.ruleStarts
        hasTokenReferences = grammar.elements.contains { $0.kind == .token || $0.kind == .tokenNot }
        stackIndex.reserveCapacity(256)
        appendState(StateKey(stacks: [], partialValue: 0, partialRemaining: 0))  // 0: dead
        state = initialState()
    }

    /// Back to the start of the grammar.
    public func reset() {
        overflowed = false
        work = 0
        statesAtTokenStart = states.count
        state = initialState()
    }

    private func initialState() -> Int32 {
        // The root rule as if referenced: every alternative is a starting stack.
        var stacks: [Int32] = []
        forEachAlternative(ofRule: grammar.rootID) { start in
            let stack = elements[Int(start)].endsAlternative ? 0 : push(start, onto: 0)
            stacks.append(contentsOf: expand(stack))
        }
        return intern(StateKey(stacks: normalized(stacks), partialValue: 0, partialRemaining: 0))
    }

    // MARK: - Queries

    /// No continuation is possible: the text so far cannot be completed.
    public var isDead: Bool { state == 0 }

    /// The text so far is a complete match (end of text is allowed here).
    public var canEnd: Bool { Self.canEnd(states[Int(state)]) }

    /// The text so far is complete and nothing can follow it.
    public var isComplete: Bool {
        let key = states[Int(state)]
        return key.partialRemaining == 0 && key.stacks == [0]
    }

    private static func canEnd(_ key: StateKey) -> Bool { key.partialRemaining == 0 && key.stacks.first == 0 }

    /// Whether the state `state` may end here.
    public func canEnd(state: Int32) -> Bool { Self.canEnd(states[Int(state)]) }

    // MARK: - Moving

    /// The state after `byte` from `from`; 0 when the byte cannot follow.
    @inline(__always)
    public func next(_ from: Int32, byte: UInt8) -> Int32 {
        let key = Int64(from) << 8 | Int64(byte)
        let slot = Int(truncatingIfNeeded: UInt64(bitPattern: key &* -7_046_029_254_386_353_131) >> 48)
        if moveKeys[slot] == key { return moveTargets[slot] }
        let target = computeNext(from, byte: byte)
        // A move cut short by a limit is not a fact about the grammar: not cached.
        if !overflowed {
            moveKeys[slot] = key
            moveTargets[slot] = target
        }
        return target
    }

    /// The state after `bytes` from `from` (0 as soon as one cannot follow).
    public func next<S: Sequence>(_ from: Int32, bytes: S) -> Int32 where S.Element == UInt8 {
        var s = from
        for b in bytes {
            s = next(s, byte: b)
            if s == 0 { return 0 }
        }
        return s
    }

    /// Feeds bytes; returns false (and leaves the position unchanged) if they cannot follow.
    @discardableResult
    public func accept<S: Sequence>(bytes: S) -> Bool where S.Element == UInt8 {
        let target = next(state, bytes: bytes)
        guard target != 0 else { return false }
        move(to: target)
        return true
    }

    /// Feeds one Unicode code point (as UTF-8).
    @discardableResult
    public func accept(codePoint: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(codePoint) else { return false }
        return accept(bytes: Array(String(Character(scalar)).utf8))
    }

    /// The state after token `id`, whose text is `bytes`: the bytes through the character
    /// terminals, or the token itself through token references (`<[id]>`, `!<[id]>`).
    public func next(_ from: Int32, token id: Int32, bytes: [UInt8]) -> Int32 {
        let byText = bytes.isEmpty ? 0 : next(from, bytes: bytes)
        guard hasTokenReferences else { return byText }
        let key = states[Int(from)]
        guard key.partialRemaining == 0 else { return byText }
        var stacks: [Int32] = []
        for stack in key.stacks where stack != 0 {
            let top = Int(stackTop[Int(stack)])
            let element = elements[top]
            let matches =
                element.kind == .token
                ? element.value == UInt32(bitPattern: id)
                : element.kind == .tokenNot ? element.value != UInt32(bitPattern: id) : false
            if matches { stacks.append(contentsOf: expand(after: top + 1, rest: stackRest[Int(stack)])) }
        }
        if stacks.isEmpty { return byText }
        if byText != 0 { stacks.append(contentsOf: states[Int(byText)].stacks) }
        return intern(StateKey(stacks: normalized(stacks), partialValue: 0, partialRemaining: 0))
    }

    /// Feeds a token; returns false (position unchanged) if it cannot follow.
    @discardableResult
    public func accept(token id: Int32, bytes: [UInt8]) -> Bool {
        let target = next(state, token: id, bytes: bytes)
        guard target != 0 else { return false }
        move(to: target)
        return true
    }

    /// Moves to a state computed by `next` since the last move. This is the one point where the
    /// caches may start over, so every other state id held by a caller is void afterwards
    /// (`generation` changes).
    public func move(to target: Int32) {
        precondition(target > 0 && Int(target) < states.count, "not a live state of this matcher")
        state = target
        if states.count > Self.maxStates || stackTop.count > Self.maxStacks { startOver() }
        statesAtTokenStart = states.count
        overflowed = false
        work = 0
    }

    /// Whether the grammar has `<...>` token references (then control tokens may be allowed).
    public var usesTokenReferences: Bool { hasTokenReferences }

    // MARK: - Transitions

    private func computeNext(_ from: Int32, byte: UInt8) -> Int32 {
        let key = states[Int(from)]
        if from == 0 || byte == 0 { return 0 }
        var value: UInt32
        var remaining: Int8
        if key.partialRemaining > 0 {
            guard byte & 0xC0 == 0x80 else { return 0 }
            value = key.partialValue << 6 | UInt32(byte & 0x3F)
            remaining = key.partialRemaining - 1
        } else {
            switch byte {
            case 0x01...0x7F:
                value = UInt32(byte)
                remaining = 0
            case 0xC2...0xDF:
                value = UInt32(byte & 0x1F)
                remaining = 1
            case 0xE0...0xEF:
                value = UInt32(byte & 0x0F)
                remaining = 2
            case 0xF0...0xF4:
                value = UInt32(byte & 0x07)
                remaining = 3
            default: return 0  // a stray continuation byte, an overlong lead or past U+10FFFF
            }
        }
        if remaining > 0 {
            // Keep the stacks some completion of the character could satisfy.
            let stacks = key.stacks.filter { $0 != 0 && partialCouldMatch(top: Int(stackTop[Int($0)]), value: value, remaining: remaining) }
            if stacks.isEmpty { return 0 }
            return intern(StateKey(stacks: stacks, partialValue: value, partialRemaining: remaining))
        }
        var stacks: [Int32] = []
        for stack in key.stacks where stack != 0 {
            let top = Int(stackTop[Int(stack)])
            guard let after = match(top: top, codePoint: value) else { continue }
            stacks.append(contentsOf: expand(after: after, rest: stackRest[Int(stack)]))
        }
        return intern(StateKey(stacks: normalized(stacks), partialValue: 0, partialRemaining: 0))
    }

    /// If the character set at `top` accepts `c`, the index of the element after the set.
    private func match(top: Int, codePoint c: UInt32) -> Int? {
        let first = elements[top]
        let positive: Bool
        switch first.kind {
        case .char, .charAny: positive = true
        case .charNot: positive = false
        default: return nil  // a token reference consumes whole tokens only
        }
        var found = false
        var i = top
        repeat {
            let e = elements[i]
            if elements[i + 1].kind == .charRangeUpper {
                if e.value <= c && c <= elements[i + 1].value { found = true }
                i += 2
            } else if e.kind == .charAny {
                found = true
                i += 1
            } else {
                if e.value == c { found = true }
                i += 1
            }
        } while elements[i].kind == .charAlternative
        return found == positive ? i : nil
    }

    /// Whether some character that starts with the partial bits could satisfy the set at `top`.
    private func partialCouldMatch(top: Int, value: UInt32, remaining: Int8) -> Bool {
        let first = elements[top]
        let positive: Bool
        switch first.kind {
        case .char, .charAny: positive = true
        case .charNot: positive = false
        default: return false
        }
        if remaining == 1 && value < 2 { return false }  // an overlong 2-byte form
        let shift = UInt32(remaining) * 6
        var low = value << shift
        let high = low | ((1 << shift) - 1)
        if low == 0 { low = remaining == 2 ? 1 << 11 : remaining == 3 ? 1 << 16 : low }
        var i = top
        repeat {
            let e = elements[i]
            if elements[i + 1].kind == .charRangeUpper {
                if e.value <= high && low <= elements[i + 1].value { return positive }
                i += 2
            } else if e.kind == .charAny {
                return true
            } else {
                if low <= e.value && e.value <= high { return positive }
                i += 1
            }
        } while elements[i].kind == .charAlternative
        return !positive
    }

    // MARK: - Stacks

    private func push(_ top: Int32, onto rest: Int32) -> Int32 {
        let key = Int64(top) << 32 | Int64(rest)
        if let id = stackIndex[key] { return id }
        let id = Int32(stackTop.count)
        stackTop.append(top)
        stackRest.append(rest)
        expansions.append(nil)
        stackIndex[key] = id
        return id
    }

    /// The stacks after the element at `after` in the rule whose rest is `rest`, expanded.
    private func expand(after: Int, rest: Int32) -> [Int32] {
        expand(elements[after].endsAlternative ? rest : push(Int32(after), onto: rest))
    }

    /// `stack` expanded until every stack rests on a terminal or is empty (llama.cpp's
    /// advance_stack). Left recursion was refused, so this ends.
    private func expand(_ stack: Int32) -> [Int32] {
        if let done = expansions[Int(stack)] { return done }
        var result: [Int32] = []
        var seen: Set<Int32> = []
        var todo: [Int32] = [stack]
        while let current = todo.popLast() {
            guard seen.insert(current).inserted else { continue }
            work += 1
            if work > workLimitPerToken {
                overflowed = true
                return []  // not memoized: a limit, not an answer
            }
            if current == 0 {
                result.append(0)
                continue
            }
            let top = Int(stackTop[Int(current)])
            let element = elements[top]
            if element.kind != .ruleRef {
                result.append(current)
                continue
            }
            let rest = stackRest[Int(current)]
            let continuation = elements[top + 1].endsAlternative ? rest : push(Int32(top + 1), onto: rest)
            forEachAlternative(ofRule: element.value) { start in
                todo.append(elements[Int(start)].endsAlternative ? continuation : push(start, onto: continuation))
            }
        }
        result = normalized(result)
        expansions[Int(stack)] = result
        return result
    }

    private func forEachAlternative(ofRule rule: UInt32, _ body: (Int32) -> Void) {
        var i = Int(ruleStarts[Int(rule)])
        while true {
            body(Int32(i))
            while !elements[i].endsAlternative { i += 1 }
            if elements[i].kind == .end { return }
            i += 1
        }
    }

    private func normalized(_ stacks: [Int32]) -> [Int32] {
        if stacks.count < 2 { return stacks }
        var sorted = stacks.sorted()
        var write = 1
        for read in 1..<sorted.count where sorted[read] != sorted[write - 1] {
            sorted[write] = sorted[read]
            write += 1
        }
        sorted.removeLast(sorted.count - write)
        return sorted
    }

    // MARK: - States

    private func intern(_ key: StateKey) -> Int32 {
        if overflowed || key.stacks.isEmpty { return 0 }
        work += key.stacks.count
        if key.stacks.count > Self.maxStacksPerState || work > workLimitPerToken {
            overflowed = true
            return 0
        }
        if let id = stateIndex[key] { return id }
        if states.count - statesAtTokenStart >= Self.maxNewStatesPerToken {
            overflowed = true
            return 0
        }
        let id = Int32(states.count)
        appendState(key)
        return id
    }

    /// Empties every cache (states, transitions, stacks), keeping only the current position,
    /// which becomes state 1. Callers holding other state ids see `generation` change.
    private func startOver() {
        let current = states.indices.contains(Int(state)) ? states[Int(state)] : nil
        // The current stacks as element paths, to intern again in the fresh pool.
        let paths: [[Int32]] = (current?.stacks ?? []).map { stack in
            var path: [Int32] = []
            var s = stack
            while s != 0 {
                path.append(stackTop[Int(s)])
                s = stackRest[Int(s)]
            }
            return path.reversed()
        }
        stackTop = [-1]
        stackRest = [0]
        stackIndex.removeAll(keepingCapacity: true)
        expansions = [nil]
        states.removeAll(keepingCapacity: true)
        stateIndex.removeAll(keepingCapacity: true)
        for i in moveKeys.indices { moveKeys[i] = -1 }
        generation &+= 1
        let dead = StateKey(stacks: [], partialValue: 0, partialRemaining: 0)
        appendState(dead)
        state = 0
        if let current, !current.stacks.isEmpty {
            let stacks = paths.map { path in path.reduce(Int32(0)) { push($1, onto: $0) } }
            appendState(
                StateKey(stacks: normalized(stacks), partialValue: current.partialValue, partialRemaining: current.partialRemaining))
            state = 1
        }
    }

    private func appendState(_ key: StateKey) {
        stateIndex[key] = Int32(states.count)
        states.append(key)
    }

    /// Bumped whenever state ids are renumbered: a cache keyed by state id must drop its entries.
    public private(set) var generation = 0
}
