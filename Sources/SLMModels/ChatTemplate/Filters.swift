import SLMJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Filters (`x|f`), tests (`x is t`), methods on strings, dicts and lists, and global functions.

extension Interpreter {
    private func arg(_ args: [Value], _ kwargs: [(String, Value)], _ i: Int, _ name: String) -> Value? {
        if let kw = kwargs.first(where: { $0.0 == name }) { return kw.1 }
        return i < args.count ? args[i] : nil
    }

    private func stringArg(_ v: Value?, _ what: String) throws -> String? {
        guard let v else { return nil }
        switch v {
        case .string(let s): return s
        case .none, .undefined: return nil
        default: throw fail("\(what) must be a string, got \(v.typeName)")
        }
    }

    func applyFilter(_ name: String, _ v: Value, _ args: [Value], _ kwargs: [(String, Value)]) throws -> Value {
        try charge()
        switch name {
        case "trim":
            return .string(pyStrip(try str(v), try stringArg(arg(args, kwargs, 0, "chars"), "trim chars"), left: true, right: true))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .namespace(let n): return .int(n.dict.count)
            case .undefined: return .int(0)
            default: throw fail("filter 'length': \(v.typeName) has no length")
            }
        case "tojson":
            let indent = arg(args, kwargs, 0, "indent").flatMap { integer($0) }.map { min(max($0, 0), 64) }
            let sortKeys = arg(args, kwargs, 3, "sort_keys")?.truthy ?? false
            let ensureASCII = arg(args, kwargs, 1, "ensure_ascii")?.truthy ?? false
            var itemSep = indent == nil ? ", " : ","
            var keySep = ": "
            if case .list(let seps)? = arg(args, kwargs, 2, "separators"), seps.count == 2 {
                itemSep = try str(seps[0])
                keySep = try str(seps[1])
            }
            var out = ""
            try writeJSON(v, into: &out, indent: indent, level: 0, itemSep: itemSep, keySep: keySep, sortKeys: sortKeys, ascii: ensureASCII)
            return .string(out)
        case "first":
            let items = try iterate(v)
            return items.first ?? .undefined("first")
        case "last":
            let items = try iterate(v)
            return items.last ?? .undefined("last")
        // Case mapping grows a string by at most 3× (e.g. 'ΐ' → 3 scalars), so the input's size
        // bounds the allocation; the result is checked like every other string.
        case "upper": return try checked(try str(v).uppercased(), "filter 'upper'")
        case "lower": return try checked(try str(v).lowercased(), "filter 'lower'")
        case "capitalize": return try checked(pyCapitalize(try str(v)), "filter 'capitalize'")
        case "title": return try checked(pyTitle(try str(v)), "filter 'title'")
        case "replace":
            guard let old = try stringArg(arg(args, kwargs, 0, "old"), "replace old"),
                let new = try stringArg(arg(args, kwargs, 1, "new"), "replace new")
            else {
                throw fail("filter 'replace' needs two string arguments")
            }
            return .string(try replace(try str(v), old, new, arg(args, kwargs, 2, "count").flatMap { integer($0) } ?? -1))
        case "join":
            let sep = try stringArg(arg(args, kwargs, 0, "d"), "join separator") ?? ""
            var items = try iterate(v)
            if let attr = try stringArg(arg(args, kwargs, 1, "attribute"), "join attribute") {
                items = try items.map { try attribute(of: $0, attr) }
            }
            return .string(try join(items, sep))
        case "default", "d":
            let fallback = arg(args, kwargs, 0, "default_value") ?? .string("")
            let boolean = arg(args, kwargs, 1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return fallback }
            return v
        case "items", "dictitems":
            switch v {
            case .dict(let d): return .list(d.pairs.map { .list([.string($0.0), $0.1]) })
            case .namespace(let n): return .list(n.dict.pairs.map { .list([.string($0.0), $0.1]) })
            case .undefined: return .list([])
            default: throw fail("filter 'items' needs a mapping, got \(v.typeName)")
            }
        case "list": return .list(try iterate(v))
        case "string": return .string(try str(v))
        case "safe", "e", "escape", "forceescape":
            if name == "safe" { return v }
            let text = try str(v)
            // Escaping grows each of & < > " ' to 4–5 bytes: size the result before making it.
            let special = countUTF8(text) { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }
            try reserveString(text.utf8.count + 4 * special, "filter '\(name)'")
            return .string(htmlEscape(text))
        case "int":
            let def = arg(args, kwargs, 0, "default").flatMap { integer($0) } ?? 0
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite && abs(d) < 9e18 ? .int(Int(d)) : .int(def)
            case .string(let s):
                let t = pyStrip(s, nil, left: true, right: true)
                if let i = Int(t) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9e18 { return .int(Int(d)) }
                return .int(def)
            default: return .int(def)
            }
        case "float":
            switch v {
            case .string(let s): return .double(Double(pyStrip(s, nil, left: true, right: true)) ?? 0)
            default: return .double(number(v) ?? 0)
            }
        case "abs":
            switch v {
            case .int(let i): return .int(i == Int.min ? i : abs(i))
            case .double(let d): return .double(abs(d))
            default: throw fail("filter 'abs' needs a number, got \(v.typeName)")
            }
        case "reverse":
            if case .string(let s) = v { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .list(try iterate(v).reversed())
        case "unique":
            var out: [Value] = []
            for item in try iterate(v) where !(try out.contains(where: { try equal($0, item) })) { out.append(item) }
            return .list(out)
        case "sort":
            let reverse = arg(args, kwargs, 0, "reverse")?.truthy ?? false
            let attr = try stringArg(arg(args, kwargs, 2, "attribute"), "sort attribute")
            var items = try iterate(v).map { ($0, $0) }
            try charge(items.count * 20)  // n log n comparisons, n ≤ maxListItems = 2^18
            if let attr { items = try items.map { ($0.0, try attribute(of: $0.0, attr)) } }
            var failure: ChatTemplateError? = nil
            items.sort { a, b in
                do { return try compare(a.1, b.1) < 0 } catch {
                    failure = error as? ChatTemplateError
                    return false
                }
            }
            if let failure { throw failure }
            return .list(reverse ? items.map(\.0).reversed() : items.map(\.0))
        case "map":
            let items = v.truthy ? try iterate(v) : []  // jinja2 maps/selects over a falsy value as empty
            if let attr = try stringArg(kwargs.first(where: { $0.0 == "attribute" })?.1, "map attribute") {
                let def = kwargs.first(where: { $0.0 == "default" })?.1
                return .list(
                    try items.map {
                        let r = try attribute(of: $0, attr)
                        return r.isUndefined ? (def ?? r) : r
                    })
            }
            guard let f = try stringArg(args.first, "map filter name") else { throw fail("filter 'map' needs a filter name or attribute=") }
            let rest = Array(args.dropFirst())
            return .list(try items.map { try applyFilter(f, $0, rest, kwargs) })
        case "select", "reject", "selectattr", "rejectattr":
            let byAttr = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            var rest = args
            var attr: String? = nil
            if byAttr {
                guard let a = try stringArg(rest.first, "\(name) attribute") else { throw fail("filter '\(name)' needs an attribute name") }
                attr = a
                rest.removeFirst()
            }
            let testName = try stringArg(rest.first, "\(name) test name")
            let testArgs = Array(rest.dropFirst())
            var out: [Value] = []
            for item in v.truthy ? try iterate(v) : [] {
                let subject = try attr.map { try attribute(of: item, $0) } ?? item
                let r = try testName.map { try applyTest($0, subject, testArgs) } ?? subject.truthy
                if r == keep { out.append(item) }
            }
            return .list(out)
        case "indent":
            let width = arg(args, kwargs, 0, "width").flatMap { integer($0) } ?? 4
            let first = arg(args, kwargs, 1, "first")?.truthy ?? false
            let blank = arg(args, kwargs, 2, "blank")?.truthy ?? false
            let pad = String(repeating: " ", count: max(0, min(width, 256)))
            let text = try str(v)
            let lineCount = 1 + countUTF8(text) { $0 == 0x0A }
            try reserveString(text.utf8.count + lineCount * pad.utf8.count, "filter 'indent'")
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var out = ""
            for (i, l) in lines.enumerated() {
                if i > 0 { out += "\n" }
                if (i > 0 || first) && (blank || !l.isEmpty) { out += pad }
                out += l
            }
            return .string(out)
        case "round":
            let precision = arg(args, kwargs, 0, "precision").flatMap { integer($0) } ?? 0
            guard let x = number(v) else { throw fail("filter 'round' needs a number") }
            var scale = 1.0
            for _ in 0..<max(0, min(precision, 15)) { scale *= 10 }
            return .double((x * scale).rounded(.toNearestOrEven) / scale)
        case "wordcount":
            return .int(try str(v).split(whereSeparator: { $0.isWhitespace }).count)
        default:
            throw ChatTemplateError(.unsupported, "unknown filter '\(name)'", line: line)
        }
    }

    func applyTest(_ name: String, _ v: Value, _ args: [Value]) throws -> Bool {
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string":
            if case .string = v { return true }
            return false
        case "number":
            switch v {
            case .int, .double: return true
            default: return false
            }
        case "integer":
            if case .int = v { return true }
            return false
        case "float":
            if case .double = v { return true }
            return false
        case "boolean":
            if case .bool = v { return true }
            return false
        case "true":
            if case .bool(true) = v { return true }
            return false
        case "false":
            if case .bool(false) = v { return true }
            return false
        case "mapping":
            switch v {
            case .dict, .namespace: return true
            default: return false
            }
        case "iterable":
            switch v {
            case .list, .dict, .string, .namespace: return true
            default: return false
            }
        case "sequence":
            switch v {
            case .list, .dict, .string: return true
            default: return false
            }
        case "callable":
            if case .function = v { return true }
            return false
        case "lower":
            let text = try str(v)
            return text == text.lowercased()
        case "upper":
            let text = try str(v)
            return text == text.uppercased()
        case "odd", "even", "divisibleby":
            guard let i = integer(v) else { throw fail("test '\(name)' needs an integer, got \(v.typeName)") }
            if name == "odd" { return i % 2 != 0 }
            if name == "even" { return i % 2 == 0 }
            guard let d = args.first.flatMap({ integer($0) }), d != 0 else { throw fail("test 'divisibleby' needs a non-zero integer") }
            return i % d == 0
        case "equalto", "eq", "==", "sameas": return try equal(v, args.first ?? .none)
        case "ne", "!=": return !(try equal(v, args.first ?? .none))
        case "lt", "lessthan", "<": return try compare(v, args.first ?? .none) < 0
        case "le", "<=": return try compare(v, args.first ?? .none) <= 0
        case "gt", "greaterthan", ">": return try compare(v, args.first ?? .none) > 0
        case "ge", ">=": return try compare(v, args.first ?? .none) >= 0
        case "in": return try contains(args.first ?? .undefined("in"), v)
        default:
            throw ChatTemplateError(.unsupported, "unknown test '\(name)'", line: line)
        }
    }

    func stringMethod(_ s: String, _ name: String) -> Function? {
        let fn: ([Value], [(String, Value)]) throws -> Value
        switch name {
        case "strip", "lstrip", "rstrip":
            fn = { args, kw in
                let chars = try self.stringArg(self.arg(args, kw, 0, "chars"), "\(name) chars")
                return .string(pyStrip(s, chars, left: name != "rstrip", right: name != "lstrip"))
            }
        case "upper": fn = { _, _ in .string(s.uppercased()) }
        case "lower": fn = { _, _ in .string(s.lowercased()) }
        case "title": fn = { _, _ in .string(pyTitle(s)) }
        case "capitalize": fn = { _, _ in .string(pyCapitalize(s)) }
        case "startswith", "endswith":
            fn = { args, _ in
                var candidates: [Value] = []
                if case .list(let l)? = args.first { candidates = l } else if let a = args.first { candidates = [a] }
                for c in candidates {
                    guard case .string(let p) = c else { throw self.fail("\(name) needs a string argument") }
                    if name == "startswith"
                        ? s.unicodeScalars.starts(with: p.unicodeScalars)
                        : s.unicodeScalars.reversed().starts(with: p.unicodeScalars.reversed())
                    {
                        return .bool(true)
                    }
                }
                return .bool(false)
            }
        case "split", "rsplit":
            fn = { args, kw in
                let sep = try self.stringArg(self.arg(args, kw, 0, "sep"), "split separator")
                let maxsplit = self.arg(args, kw, 1, "maxsplit").flatMap { self.integer($0) } ?? -1
                if let sep, sep.isEmpty { throw self.fail("split: empty separator") }
                // At most one part per scalar (+1): size the list before splitting.
                if s.utf8.count >= Interpreter.maxListItems {
                    try self.reserveList(s.unicodeScalars.count + 1, "\(name)()")
                }
                try self.charge(s.utf8.count / Interpreter.bytesPerWorkUnit)
                return .list(pySplit(s, sep, maxsplit, fromRight: name == "rsplit").map { .string($0) })
            }
        case "splitlines":
            fn = { _, _ in
                try self.charge(s.utf8.count / Interpreter.bytesPerWorkUnit)
                if s.utf8.count >= Interpreter.maxListItems {
                    try self.reserveList(1 + countUTF8(s) { $0 == 0x0A }, "splitlines()")
                }
                return .list(
                    s.split(separator: "\n", omittingEmptySubsequences: false).map { .string(String($0)) }.dropLast(
                        s.hasSuffix("\n") ? 1 : 0))
            }
        case "replace":
            fn = { args, kw in
                guard let old = try self.stringArg(self.arg(args, kw, 0, "old"), "replace old"),
                    let new = try self.stringArg(self.arg(args, kw, 1, "new"), "replace new")
                else {
                    throw self.fail("replace needs two string arguments")
                }
                return .string(try self.replace(s, old, new, self.arg(args, kw, 2, "count").flatMap { self.integer($0) } ?? -1))
            }
        case "find", "index", "rfind", "count":
            fn = { args, _ in
                guard let sub = try self.stringArg(args.first, "\(name) argument") else { throw self.fail("\(name) needs a string") }
                let hay = Array(s.unicodeScalars)
                let needle = Array(sub.unicodeScalars)
                // The naive search costs up to |hay| × |needle| scalar comparisons.
                try self.charge(hay.count / Interpreter.bytesPerWorkUnit * max(1, needle.count))
                var hits: [Int] = []
                if needle.count <= hay.count {
                    var i = 0
                    while i + needle.count <= hay.count {
                        if hay[i..<(i + needle.count)].elementsEqual(needle) {
                            hits.append(i)
                            if name == "find" || name == "index" { break }
                            i += max(1, name == "count" ? needle.count : 1)
                        } else {
                            i += 1
                        }
                    }
                }
                if name == "count" { return .int(hits.count) }
                if name == "rfind" { return .int(hits.last ?? -1) }
                if name == "index", hits.isEmpty { throw self.fail("substring not found") }
                return .int(hits.first ?? -1)
            }
        case "join":
            fn = { args, _ in .string(try self.join(try self.iterate(args.first ?? .list([])), s)) }
        case "format":
            fn = { args, kw in .string(try self.pyFormat(s, args, kw)) }
        case "isdigit":
            fn = { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isspace":
            fn = { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isWhitespace }) }
        default: return nil
        }
        return Function("str." + name, fn)
    }

    /// Python str.format with `{}`, `{0}`, `{name}` fields (no format specs) and `{{` / `}}`.
    func pyFormat(_ s: String, _ args: [Value], _ kwargs: [(String, Value)]) throws -> String {
        var out = ""
        var auto = 0
        var it = s.makeIterator()
        while let c = it.next() {
            if c == "}" {
                guard it.next() == "}" else { throw fail("format: single '}' in format string") }
                out += "}"
                continue
            }
            guard c == "{" else {
                out.append(c)
                continue
            }
            var field = ""
            var closed = false
            while let d = it.next() {
                if d == "{" && field.isEmpty {
                    out += "{"
                    closed = true
                    field = "\u{0}"
                    break
                }
                if d == "}" {
                    closed = true
                    break
                }
                field.append(d)
            }
            guard closed else { throw fail("format: unterminated '{' field") }
            if field == "\u{0}" { continue }
            let value: Value?
            if field.isEmpty {
                value = auto < args.count ? args[auto] : nil
                auto += 1
            } else if let i = Int(field) {
                value = i >= 0 && i < args.count ? args[i] : nil
            } else if field.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                value = kwargs.first { $0.0 == field }?.1
            } else {
                throw ChatTemplateError(.unsupported, "format: unsupported field '{\(field)}'", line: line)
            }
            guard let value else { throw fail("format: no argument for field '{\(field)}'") }
            let text = try str(value)
            try reserveString(out.utf8.count + text.utf8.count + s.utf8.count, "format()")
            out += text
        }
        return out
    }

    func dictMethod(_ d: OrderedDict, _ name: String) -> Function? {
        switch name {
        case "get":
            return Function("dict.get") { args, _ in
                guard case .string(let k)? = args.first else { return args.count > 1 ? args[1] : .none }
                return d[k] ?? (args.count > 1 ? args[1] : .none)
            }
        case "items": return Function("dict.items") { _, _ in .list(d.pairs.map { .list([.string($0.0), $0.1]) }) }
        case "keys": return Function("dict.keys") { _, _ in .list(d.keys.map { .string($0) }) }
        case "values": return Function("dict.values") { _, _ in .list(d.values) }
        default: return nil
        }
    }

    func listMethod(_ l: [Value], _ name: String) -> Function? {
        switch name {
        case "index":
            return Function("list.index") { [unowned self] args, _ in
                guard let x = args.first, let i = try l.firstIndex(where: { try self.equal($0, x) }) else {
                    throw self.fail("value is not in list")
                }
                return .int(i)
            }
        case "count":
            return Function("list.count") { [unowned self] args, _ in
                .int(try l.filter { try self.equal($0, args.first ?? .none) }.count)
            }
        default: return nil
        }
    }

    /// The globals every template sees: namespace, range, dict, raise_exception, strftime_now.
    func builtins() -> [(String, Value)] {
        [
            (
                "namespace",
                .function(
                    Function("namespace") { [unowned self] args, kwargs in
                        var d = OrderedDict()
                        if case .dict(let initial)? = args.first { d = initial }
                        for (k, v) in kwargs { d[k] = v }
                        try self.checkNesting(kwargs.map(\.1), "namespace()")
                        let n = Namespace(d)
                        self.namespaces.append(n)
                        return .namespace(n)
                    })
            ),
            (
                "dict",
                .function(
                    Function("dict") { [unowned self] args, kwargs in
                        var d = OrderedDict()
                        if case .dict(let initial)? = args.first { d = initial }
                        for (k, v) in kwargs { d[k] = v }
                        try self.checkNesting(kwargs.map(\.1), "dict()")
                        return .dict(d)
                    })
            ),
            (
                "range",
                .function(
                    Function("range") { [unowned self] args, _ in
                        let ints = args.compactMap { self.integer($0) }
                        guard ints.count == args.count, (1...3).contains(ints.count) else {
                            throw self.fail("range() needs 1 to 3 integers")
                        }
                        let start = ints.count > 1 ? ints[0] : 0
                        let stop = ints.count > 1 ? ints[1] : ints[0]
                        let step = ints.count > 2 ? ints[2] : 1
                        guard step != 0 else { throw self.fail("range() step must not be zero") }
                        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
                        let count = (span / abs(Double(step))).rounded(.up)
                        // The count is computed in Double so a span near Int.max cannot overflow.
                        guard count <= Double(Interpreter.maxListItems) else {
                            throw self.limit("range() of \(count) items is larger than \(Interpreter.maxListItems) items (maxListItems)")
                        }
                        let n = max(0, Int(count))
                        try self.reserveList(n, "range()")
                        return .list((0..<n).map { .int(start + $0 * step) })
                    })
            ),
            (
                "raise_exception",
                .function(
                    Function("raise_exception") { [unowned self] args, _ in
                        throw ChatTemplateError(
                            .raised, "raise_exception: \(try args.first.map { try self.str($0) } ?? "")", line: self.line)
                    })
            ),
            (
                "strftime_now",
                .function(
                    Function("strftime_now") { [unowned self] args, _ in
                        guard case .string(let format)? = args.first else { throw self.fail("strftime_now needs a format string") }
                        return .string(formatTime(self.now, format))
                    })
            ),
        ]
    }

    func writeJSON(
        _ v: Value, into out: inout String, indent: Int?, level: Int, itemSep: String, keySep: String, sortKeys: Bool, ascii: Bool
    ) throws {
        if level >= Interpreter.maxValueDepth { throw tooDeep("tojson") }
        try charge()
        try checkStringSize(out.utf8.count, "tojson")
        func newline(_ l: Int) throws {
            guard let indent else { return }
            let pad = max(0, indent) * l
            try reserveString(out.utf8.count + pad + 1, "tojson")
            out += "\n" + String(repeating: " ", count: pad)
        }
        switch v {
        case .undefined, .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? pythonFloat(d) : (d.isNaN ? "NaN" : (d < 0 ? "-Infinity" : "Infinity"))
        case .string(let s):
            try reserveString(out.utf8.count + jsonQuotedSizeBound(s, ascii: ascii), "tojson")
            out += JSONValue.quoted(s, escaping: .python(asciiOnly: ascii))
        case .list(let l):
            if l.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, item) in l.enumerated() {
                if i > 0 { out += itemSep }
                try newline(level + 1)
                try writeJSON(
                    item, into: &out, indent: indent, level: level + 1, itemSep: itemSep, keySep: keySep, sortKeys: sortKeys, ascii: ascii)
            }
            try newline(level)
            out += "]"
        case .dict, .namespace:
            var pairs: [(String, Value)]
            if case .dict(let d) = v { pairs = d.pairs } else if case .namespace(let n) = v { pairs = n.dict.pairs } else { pairs = [] }
            if sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) { $0.value < $1.value } } }
            if pairs.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            for (i, (k, item)) in pairs.enumerated() {
                if i > 0 { out += itemSep }
                try newline(level + 1)
                try reserveString(out.utf8.count + jsonQuotedSizeBound(k, ascii: ascii) + keySep.utf8.count, "tojson")
                out += JSONValue.quoted(k, escaping: .python(asciiOnly: ascii)) + keySep
                try writeJSON(
                    item, into: &out, indent: indent, level: level + 1, itemSep: itemSep, keySep: keySep, sortKeys: sortKeys, ascii: ascii)
            }
            try newline(level)
            out += "}"
        case .function: throw fail("tojson: a function is not JSON serializable")
        }
    }
}

extension Interpreter {
    /// A string result whose size was bounded by its input; checked and charged like the rest.
    func checked(_ s: String, _ what: String) throws -> Value {
        try reserveString(s.utf8.count, what)
        return .string(s)
    }

    /// `str.join` / `|join`: each item printed, the total size checked before each append.
    func join(_ items: [Value], _ sep: String) throws -> String {
        var out = ""
        for (i, item) in items.enumerated() {
            let text = try str(item)
            try reserveString(out.utf8.count + (i > 0 ? sep.utf8.count : 0) + text.utf8.count, "join")
            if i > 0 { out += sep }
            out += text
        }
        return out
    }

    /// `str.replace` / `|replace` with the result's size computed before it is built.
    func replace(_ s: String, _ old: String, _ new: String, _ count: Int) throws -> String {
        let hay = s.utf8.count
        let needle = old.utf8.count
        try charge(hay / Interpreter.bytesPerWorkUnit * max(1, old.unicodeScalars.count))
        if new.utf8.count > needle {
            // Upper bound on the matches: one per scalar (+1) for an empty `old`, else hay / needle.
            // UTF-8 bytes that do not continue a scalar start one: the scalar count, in a tight loop.
            var matches = needle == 0 ? 1 + countUTF8(s) { $0 & 0xC0 != 0x80 } : hay / needle
            if count >= 0 { matches = min(matches, count) }
            let (growth, o1) = matches.multipliedReportingOverflow(by: new.utf8.count - needle)
            let (total, o2) = hay.addingReportingOverflow(growth)
            if o1 || o2 || total > Interpreter.maxStringBytes {
                // The bound is loose; count exactly before refusing.
                let exact = needle == 0 ? matches : min(count < 0 ? Int.max : count, countOccurrences(s, old))
                try reserveString(hay + exact * (new.utf8.count - needle), "replace")
            }
        }
        return pyReplace(s, old, new, count)
    }

    /// Non-overlapping occurrences of `sub` in `s`, over UTF-8 bytes (see `pyReplace`).
    private func countOccurrences(_ s: String, _ sub: String) -> Int {
        let needle = Array(sub.utf8)
        guard let first = needle.first else { return 0 }
        func count(_ hay: UnsafeBufferPointer<UInt8>) -> Int {
            var n = 0
            var i = 0
            while i + needle.count <= hay.count {
                if hay[i] == first && (needle.count == 1 || hay[i..<(i + needle.count)].elementsEqual(needle)) {
                    n += 1
                    i += needle.count
                } else {
                    i += 1
                }
            }
            return n
        }
        return s.utf8.withContiguousStorageIfAvailable(count) ?? Array(s.utf8).withUnsafeBufferPointer(count)
    }
}

/// An upper bound on the size of `s` as a JSON string literal, to check before escaping: a control
/// byte, quote or backslash becomes at most 6 bytes (`\u00XX`), and in ASCII mode each byte of a
/// non-ASCII scalar at most 3 (`\uXXXX\uXXXX` is 12 bytes for a 4-byte scalar).
func jsonQuotedSizeBound(_ s: String, ascii: Bool) -> Int {
    2 + s.utf8.count + 5 * countUTF8(s) { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } + (ascii ? 2 * countUTF8(s) { $0 >= 0x80 } : 0)
}

func htmlEscape(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&#34;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

func pyIsSpace(_ c: Unicode.Scalar) -> Bool {
    c.properties.isWhitespace || (c.value >= 0x1C && c.value <= 0x1F)
}

/// Python str.strip / lstrip / rstrip: whitespace, or any of `chars`.
func pyStrip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
    let set = chars.map { Set($0.unicodeScalars) }
    let strip: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? pyIsSpace(c) }
    let u = Array(s.unicodeScalars)
    var a = 0
    var b = u.count
    if left { while a < b, strip(u[a]) { a += 1 } }
    if right { while b > a, strip(u[b - 1]) { b -= 1 } }
    var out = String.UnicodeScalarView()
    out.append(contentsOf: u[a..<b])
    return String(out)
}

/// Python str.replace, over UTF-8 bytes: a valid UTF-8 needle only matches at scalar boundaries,
/// so byte matching equals scalar matching, and the result is built in one growing byte array
/// (appending to a `String.UnicodeScalarView` copied the whole string each time: quadratic).
func pyReplace(_ s: String, _ old: String, _ new: String, _ count: Int) -> String {
    let hay = Array(s.utf8)
    let needle = Array(old.utf8)
    let replacement = Array(new.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(hay.count)
    var done = 0
    func more() -> Bool { count < 0 || done < count }
    if needle.isEmpty {
        // Before every scalar and at the end, as Python does.
        for b in hay {
            if b & 0xC0 != 0x80, more() {
                out += replacement
                done += 1
            }
            out.append(b)
        }
        if more() { out += replacement }
        return String(decoding: out, as: UTF8.self)
    }
    var i = 0
    while i < hay.count {
        if more(), i + needle.count <= hay.count, hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) {
            out += replacement
            i += needle.count
            done += 1
        } else {
            out.append(hay[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

func pySplit(_ s: String, _ sep: String?, _ maxsplit: Int, fromRight: Bool) -> [String] {
    let u = Array(s.unicodeScalars)
    func str(_ a: Int, _ b: Int) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: u[a..<b])
        return String(v)
    }
    var parts: [String] = []
    if let sep {
        let n = Array(sep.unicodeScalars)
        if fromRight {
            var end = u.count
            var i = u.count - n.count
            while i >= 0 {
                if maxsplit >= 0 && parts.count >= maxsplit { break }
                if u[i..<(i + n.count)].elementsEqual(n) {
                    parts.append(str(i + n.count, end))
                    end = i
                    i -= n.count
                } else {
                    i -= 1
                }
            }
            parts.append(str(0, end))
            return parts.reversed()
        }
        var start = 0
        var i = 0
        while i + n.count <= u.count {
            if maxsplit >= 0 && parts.count >= maxsplit { break }
            if u[i..<(i + n.count)].elementsEqual(n) {
                parts.append(str(start, i))
                i += n.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(str(start, u.count))
        return parts
    }
    // Whitespace split: runs of whitespace, no empty strings.
    var i = 0
    while i < u.count {
        while i < u.count, pyIsSpace(u[i]) { i += 1 }
        if i >= u.count { break }
        if maxsplit >= 0 && parts.count >= maxsplit {
            var end = u.count
            while end > i, pyIsSpace(u[end - 1]) { end -= 1 }
            parts.append(str(i, end))
            break
        }
        let start = i
        while i < u.count, !pyIsSpace(u[i]) { i += 1 }
        parts.append(str(start, i))
    }
    return parts
}

func pyCapitalize(_ s: String) -> String {
    guard let first = s.unicodeScalars.first else { return s }
    return String(first).uppercased() + String(s.unicodeScalars.dropFirst()).lowercased()
}

func pyTitle(_ s: String) -> String {
    var out = ""
    var previousCased = false
    for c in s.unicodeScalars {
        let cased = c.properties.isCased
        out += previousCased ? String(c).lowercased() : String(c).uppercased()
        previousCased = cased
    }
    return out
}

/// strftime in the C locale on a fixed Unix time (UTC), for `strftime_now`.
func formatTime(_ unix: Int, _ format: String) -> String {
    var t = time_t(unix)
    var parts = tm()
    gmtime_r(&t, &parts)
    var buffer = [CChar](repeating: 0, count: 512)
    let n = strftime(&buffer, buffer.count, format, &parts)
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
