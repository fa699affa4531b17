// Limits of one rendering. A chat template comes from a GGUF file, which may be hostile: whatever
// it does, rendering ends quickly with a result or a `ChatTemplateError` of kind `.limit` naming
// the limit — never a stack overflow, a hang or an allocation the size of the machine.
//
// The values are generous for real templates: the golden set (llama.cpp's models/templates plus
// the GGUFs' own templates) renders a 1000-turn conversation with tools far inside every one of
// them (see ChatTemplateLimitTests.testLongRealConversationFitsTheLimits).

extension Interpreter {
    /// Deepest nesting of lists, dicts and namespaces a value may have when it is built, printed,
    /// serialised (`tojson`) or compared. Message JSON is parsed with a depth limit of 256
    /// (`TemplateValue.maxJSONNesting`), but real messages and tool schemas nest < 20 deep; 128
    /// leaves room for both while keeping each recursion to a few kilobytes of stack per level, so
    /// even a 512 KiB worker-thread stack holds it. A namespace that contains itself has infinite
    /// depth and is refused here instead of recursing off the stack.
    static let maxValueDepth = 128

    /// Largest string any step may produce (`~`, `+`, `*`, `replace`, `join`, `format`, `indent`,
    /// `tojson`, printing a value): 4 MiB of UTF-8. A prompt that large is ~1 M tokens, beyond the
    /// context of every model slm runs, so a real template never needs more; the whole rendering is
    /// bounded separately by `maxOutputBytes`.
    static let maxStringBytes = 4 << 20

    /// Most items any list may hold (`range`, `+`, `*`, iterating a string, `list`, `items`):
    /// 2^18 = 262,144 items, ≈ 6 MiB of values (24 bytes each). Real templates build lists of
    /// messages or tools, thousands at most.
    static let maxListItems = 1 << 18

    /// Work units one rendering may spend: one per expression node evaluated, statement executed,
    /// loop iteration and filter / method / macro call, plus one per `bytesPerWorkUnit` bytes a
    /// string operation produces or a value walk visits. 2^24 ≈ 16.8 M units. Measured on a
    /// 1000-turn conversation (1 MB of text) through the golden templates: most spend 60–140 k
    /// units; gemma-4, which rescans the messages for every turn, 2.8 M — a sixth of the budget.
    /// A unit costs ~5 µs in a debug build and a fraction of a microsecond in release, so the
    /// budget ends a runaway loop in seconds at worst instead of never.
    static let maxWork = 1 << 24

    /// Bytes of string work that cost one work unit: copying 64 bytes costs about what evaluating
    /// one node does, so a template cannot spin on big strings under a node-count budget.
    static let bytesPerWorkUnit = 64

    func limit(_ message: String) -> ChatTemplateError { ChatTemplateError(.limit, message, line: line) }

    /// Spends `units` of the rendering's work budget.
    func charge(_ units: Int = 1) throws {
        work &+= units
        if work > workBudget {
            throw limit("rendering needs more than \(workBudget) work units (maxWork: loop iterations, expressions, calls)")
        }
    }

    /// Checks a string of `bytes` UTF-8 bytes may be made (call before building it) and charges its copy.
    func reserveString(_ bytes: Int, _ what: String) throws {
        try checkStringSize(bytes, what)
        try charge(bytes / Interpreter.bytesPerWorkUnit)
    }

    /// The size check of `reserveString` alone, for a string that grows piece by piece (each piece
    /// is charged as it is appended).
    func checkStringSize(_ bytes: Int, _ what: String) throws {
        if bytes > Interpreter.maxStringBytes || bytes < 0 {
            throw limit("\(what) would make a string larger than \(Interpreter.maxStringBytes) bytes (maxStringBytes)")
        }
    }

    /// Checks a list of `count` items may be made (call before building it) and charges its copy.
    func reserveList(_ count: Int, _ what: String) throws {
        if count > Interpreter.maxListItems || count < 0 {
            throw limit("\(what) would make a list of more than \(Interpreter.maxListItems) items (maxListItems)")
        }
        try charge(count / 8)
    }

    func tooDeep(_ what: String) -> ChatTemplateError {
        limit("\(what): value nested deeper than \(Interpreter.maxValueDepth) (maxValueDepth; a namespace that contains itself?)")
    }

    /// Checks that a container built from `items` stays within `maxValueDepth`: each item may nest
    /// at most maxValueDepth - 1 deep. The walk stops at the limit, so it ends on cycles, and each
    /// node it visits is charged, so it cannot be used to spin either. Bounding depth at
    /// construction also keeps releasing a value from recursing deeply.
    func checkNesting<S: Sequence>(_ items: S, _ what: String) throws where S.Element == Value {
        for item in items { try checkNesting(item, depth: 1, what) }
    }

    private func checkNesting(_ v: Value, depth: Int, _ what: String) throws {
        switch v {
        case .list, .dict, .namespace: break
        default: return
        }
        if depth >= Interpreter.maxValueDepth { throw tooDeep(what) }
        try charge()
        switch v {
        case .list(let l): for x in l { try checkNesting(x, depth: depth + 1, what) }
        case .dict(let d): for x in d.values { try checkNesting(x, depth: depth + 1, what) }
        case .namespace(let n): for x in n.dict.values { try checkNesting(x, depth: depth + 1, what) }
        default: break
        }
    }

    // MARK: printing values

    /// Python `str()` of the value, which is what `{{ x }}`, `~` and `|string` produce.
    func str(_ v: Value) throws -> String {
        switch v {
        case .undefined: return ""
        case .string(let s): return s
        default: return try repr(v)
        }
    }

    /// Python `repr()`, used for containers (`{{ [1, 'a'] }}` prints `[1, 'a']`), bounded in depth
    /// and size.
    func repr(_ v: Value) throws -> String {
        var out = ""
        try writeRepr(v, into: &out, depth: 0)
        return out
    }

    private func append(_ s: String, to out: inout String) throws {
        try checkStringSize(out.utf8.count + s.utf8.count, "printing a value")
        try charge(s.utf8.count / Interpreter.bytesPerWorkUnit)
        out += s
    }

    private func writeRepr(_ v: Value, into out: inout String, depth: Int) throws {
        try charge()
        switch v {
        case .undefined: return
        case .none: try append("None", to: &out)
        case .bool(let b): try append(b ? "True" : "False", to: &out)
        case .int(let i): try append(String(i), to: &out)
        case .double(let d): try append(pythonFloat(d), to: &out)
        case .string(let s):
            // A control byte, quote or backslash grows to at most 4 bytes (`\xNN`): check before escaping.
            let special = countUTF8(s) { $0 < 0x20 || $0 == 0x7F || $0 == 0x22 || $0 == 0x27 || $0 == 0x5C }
            try checkStringSize(out.utf8.count + s.utf8.count + 3 * special + 2, "printing a value")
            try append(special == 0 ? "'" + s + "'" : pythonRepr(s), to: &out)
        case .function(let f): try append("<function " + f.name + ">", to: &out)
        case .list(let l):
            if depth >= Interpreter.maxValueDepth { throw tooDeep("printing a value") }
            try append("[", to: &out)
            for (i, x) in l.enumerated() {
                if i > 0 { try append(", ", to: &out) }
                try writeRepr(x, into: &out, depth: depth + 1)
            }
            try append("]", to: &out)
        case .dict(let d):
            if depth >= Interpreter.maxValueDepth { throw tooDeep("printing a value") }
            try writeDictRepr(d, into: &out, depth: depth)
        case .namespace(let n):
            if depth >= Interpreter.maxValueDepth { throw tooDeep("printing a value") }
            try append("<Namespace ", to: &out)
            try writeDictRepr(n.dict, into: &out, depth: depth)
            try append(">", to: &out)
        }
    }

    private func writeDictRepr(_ d: OrderedDict, into out: inout String, depth: Int) throws {
        try append("{", to: &out)
        for (i, (k, x)) in d.pairs.enumerated() {
            if i > 0 { try append(", ", to: &out) }
            try writeRepr(.string(k), into: &out, depth: depth + 1)
            try append(": ", to: &out)
            try writeRepr(x, into: &out, depth: depth + 1)
        }
        try append("}", to: &out)
    }
}

/// How many UTF-8 bytes of `s` satisfy `test`, over the contiguous bytes when the string has them
/// (a tight loop even in a debug build, where size checks of multi-megabyte strings run often).
func countUTF8(_ s: String, _ test: (UInt8) -> Bool) -> Int {
    if let n = s.utf8.withContiguousStorageIfAvailable({ bytes -> Int in
        var n = 0
        for b in bytes where test(b) { n += 1 }
        return n
    }) {
        return n
    }
    var n = 0
    for b in s.utf8 where test(b) { n += 1 }
    return n
}
