import SLMJSON

/// Writes the GBNF rules for a read schema. Rule names come from where a subschema sits
/// (`root`, `a-kv`, `item`, `alternative-0`, `ref-defs-node`), with llama.cpp's conventions for
/// collisions (a reserved name gets a trailing `-`, a taken one a number), and the grammar lists
/// rules sorted by name, so the text equals the reference converter's.
struct GrammarEmitter {
    let references: [String: SchemaNode]
    private var rules: [String: String] = ["space": GrammarPrimitives.space]
    private var referencesInProgress = Set<String>()
    private var grammarBytes = 0
    private var visits = 0

    /// Subschema visits (each `$ref` use and each merged `allOf` property counts): with the byte
    /// bound, it keeps a schema that multiplies its own size from running long.
    static let maxVisits = 200_000

    init(references: [String: SchemaNode]) {
        self.references = references
    }

    mutating func emitRoot(_ node: SchemaNode) throws(JSONSchemaError) {
        _ = try visit(node, name: "")
    }

    /// One `name ::= body` line per rule, sorted by the bytes of the name (as a C++ std::map of
    /// std::string orders them).
    func grammarText() -> String {
        let names = rules.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var out = ""
        for name in names { out += name + " ::= " + rules[name]! + "\n" }
        return out
    }

    // MARK: rules

    /// Adds a rule under `name` (made a valid rule name) and returns the name it got: the same
    /// name when free or already holding this body, else the name with the first free number.
    mutating func addRule(_ name: String, _ body: String) throws(JSONSchemaError) -> String {
        let base = GrammarPrimitives.ruleName(name)
        var key = base
        if let existing = rules[base], existing != body {
            var i = 0
            while let taken = rules[base + String(i)], taken != body { i += 1 }
            key = base + String(i)
        }
        if rules[key] == nil {
            grammarBytes += key.utf8.count + body.utf8.count + 6
            guard grammarBytes <= JSONSchemaLimits.maxGrammarBytes else {
                throw JSONSchemaError(pointer: "", reason: "the grammar would exceed \(JSONSchemaLimits.maxGrammarBytes) bytes")
            }
        }
        rules[key] = body
        return key
    }

    /// A fixed rule under `name`, with the fixed rules it uses (each added once, under its own name).
    mutating func addPrimitive(_ name: String, _ primitive: String) throws(JSONSchemaError) -> String {
        let rule = GrammarPrimitives.rule(named: primitive)!
        let added = try addRule(name, rule.body)
        for dependency in rule.dependencies where rules[dependency] == nil {
            _ = try addPrimitive(dependency, dependency)
        }
        return added
    }

    /// A primitive used as a whole subschema: named after its type, except at the root.
    private mutating func visitPrimitive(_ ruleName: String, _ type: String) throws(JSONSchemaError) -> String {
        try addPrimitive(ruleName == "root" ? "root" : type, type)
    }

    // MARK: subschemas

    mutating func visit(_ node: SchemaNode, name: String) throws(JSONSchemaError) -> String {
        visits += 1
        guard visits <= Self.maxVisits else {
            throw JSONSchemaError(pointer: "", reason: "schema expands to more than \(Self.maxVisits) subschema visits")
        }
        let ruleName = GrammarPrimitives.isReserved(name) ? name + "-" : name.isEmpty ? "root" : name
        let subName = name.isEmpty ? "" : name + "-"

        switch node {
        case .reference(let ref):
            return try addRule(ruleName, resolveReference(ref))
        case .anyOf(let alternatives):
            var names: [String] = []
            for (i, alternative) in alternatives.enumerated() {
                names.append(try visit(alternative, name: name + (name.isEmpty ? "alternative-" : "-") + String(i)))
            }
            return try addRule(ruleName, names.joined(separator: " | "))
        case .allOf(let allOf):
            return try visitAllOf(allOf, name: name, ruleName: ruleName)
        case .constant(let value):
            return try addRule(ruleName, Self.constantRule(value))
        case .enumeration(let values):
            return try addRule(ruleName, "(" + values.map(Self.constantRule).joined(separator: " | ") + ")")
        case .object(let object):
            if object.properties.isEmpty, case .any? = object.additional {
                return try addRule(ruleName, addPrimitive("object", "object"))
            }
            let properties = object.properties.map { ($0.name, $0.schema) }
            let required = Set(object.properties.filter(\.required).map(\.name))
            return try addRule(ruleName, buildObjectRule(properties, required: required, name: name, additional: object.additional))
        case .tuple(let items):
            var body = #""[" space "#
            for (i, item) in items.enumerated() {
                if i > 0 { body += #" "," space "# }
                body += try visit(item, name: subName + "tuple-" + String(i))
            }
            body += #" space "]""#
            return try addRule(ruleName, body)
        case .array(let items, let minItems, let maxItems):
            if case .any = items, minItems == 0, maxItems == nil {
                return try visitPrimitive(ruleName, "array")
            }
            let itemRule = try visit(items, name: subName + "item")
            let repeated = Self.repetition(itemRule, min: minItems, max: maxItems, separator: #""," space"#)
            return try addRule(ruleName, #""[" space "# + repeated + #" space "]""#)
        case .string(let string):
            if let pattern = string.pattern {
                return try visitPattern(pattern, name: ruleName, pointer: string.patternPointer)
            }
            switch string.format {
            case .uuid?:
                return try visitPrimitive(ruleName, "uuid")
            case .date?:
                return try addRule(ruleName, addPrimitive("date-string", "date-string"))
            case .time?:
                return try addRule(ruleName, addPrimitive("time-string", "time-string"))
            case .dateTime?:
                return try addRule(ruleName, addPrimitive("date-time-string", "date-time-string"))
            case nil:
                break
            }
            if string.minLength > 0 || string.maxLength != nil {
                let charRule = try addPrimitive("char", "char")
                let repeated = Self.repetition(charRule, min: string.minLength, max: string.maxLength, separator: "")
                return try addRule(ruleName, #""\"" "# + repeated + #" "\"""#)
            }
            return try visitPrimitive(ruleName, "string")
        case .integer(let minimum, let maximum):
            if minimum == nil && maximum == nil { return try visitPrimitive(ruleName, "integer") }
            return try addRule(ruleName, IntegerRangeGrammar.body(minimum: minimum, maximum: maximum))
        case .number(let minimum, let maximum):
            if minimum == nil && maximum == nil { return try visitPrimitive(ruleName, "number") }
            return try addRule(ruleName, NumberRangeGrammar.body(minimum: minimum, maximum: maximum))
        case .boolean:
            return try visitPrimitive(ruleName, "boolean")
        case .null:
            return try visitPrimitive(ruleName, "null")
        case .any:
            return try addRule(ruleName, addPrimitive("value", "value"))
        }
    }

    /// The rule a `$ref` stands for: `ref` plus the pointer made a rule name, defined on first use.
    /// A use inside its own definition (recursion) just names the rule being defined.
    private mutating func resolveReference(_ ref: String) throws(JSONSchemaError) -> String {
        let fragment = ref.drop { $0 != "#" }.dropFirst()
        var refName = "ref" + GrammarPrimitives.ruleName(String(fragment))
        if rules[refName] == nil && !referencesInProgress.contains(ref), let target = references[ref] {
            referencesInProgress.insert(ref)
            defer { referencesInProgress.remove(ref) }
            refName = try visit(target, name: refName)
        }
        return refName
    }

    static func constantRule(_ value: JSONValue) -> String {
        GrammarPrimitives.literal(GrammarPrimitives.compactJSON(value))
    }

    /// `item` repeated `min`…`max` times (`max` nil: unbounded), items separated by `separator`
    /// when one is given.
    static func repetition(_ item: String, min: Int, max: Int?, separator: String) -> String {
        if max == 0 { return "" }
        if min == 0 && max == 1 { return item + "?" }
        if separator.isEmpty {
            if min == 1 && max == nil { return item + "+" }
            if min == 0 && max == nil { return item + "*" }
            return item + "{" + String(min) + "," + (max.map { String($0) } ?? "") + "}"
        }
        var result =
            item + " "
            + repetition(
                "(" + separator + " " + item + ")", min: min == 0 ? 0 : min - 1, max: max.map { $0 - 1 }, separator: "")
        if min == 0 { result = "(" + result + ")?" }
        return result
    }

    // MARK: objects

    /// Required properties in schema order, then the optional ones, each optional one allowed to
    /// start the tail so any subset can appear (in order); `*` stands for additional properties.
    mutating func buildObjectRule(
        _ properties: [(String, SchemaNode)], required: Set<String>, name: String, additional: SchemaNode?
    ) throws(JSONSchemaError) -> String {
        let prefix = name.isEmpty ? "" : name + "-"
        var requiredNames: [String] = []
        var optionalNames: [String] = []
        var keyValueRules: [String: String] = [:]
        var propertyNames: [String] = []
        for (propertyName, schema) in properties {
            let valueRule = try visit(schema, name: prefix + propertyName)
            keyValueRules[propertyName] = try addRule(
                prefix + propertyName + "-kv",
                GrammarPrimitives.literal(GrammarPrimitives.compactJSON(.string(propertyName))) + #" space ":" space "# + valueRule)
            if required.contains(propertyName) {
                requiredNames.append(propertyName)
            } else {
                optionalNames.append(propertyName)
            }
            propertyNames.append(propertyName)
        }
        if let additional {
            let subName = prefix + "additional"
            let valueRule: String
            if case .any = additional {
                valueRule = try addPrimitive("value", "value")
            } else {
                valueRule = try visit(additional, name: subName + "-value")
            }
            let keyRule =
                propertyNames.isEmpty
                ? try addPrimitive("string", "string")
                : try addRule(subName + "-k", notStrings(propertyNames))
            keyValueRules["*"] = try addRule(subName + "-kv", keyRule + #" ":" space "# + valueRule)
            optionalNames.append("*")
        }

        if requiredNames.isEmpty && optionalNames.isEmpty { return #""{" space "}""# }

        var rule = #""{" space "#
        rule += requiredNames.map { keyValueRules[$0]! }.joined(separator: #" "," space "#)
        if !optionalNames.isEmpty {
            rule += " ("
            if !requiredNames.isEmpty { rule += #" "," space ( "# }
            var alternatives: [String] = []
            for start in optionalNames.indices {
                alternatives.append(
                    try optionalTail(optionalNames[start...], firstIsOptional: false, prefix: prefix, keyValueRules: keyValueRules))
            }
            rule += alternatives.joined(separator: " | ")
            if !requiredNames.isEmpty { rule += " )" }
            rule += " )?"
        }
        rule += #" space "}""#
        return rule
    }

    /// The optional properties from `names.first` on, each after a comma; the rest of the tail is
    /// a rule of its own (`<name>-rest`) so the alternatives share it instead of repeating it.
    private mutating func optionalTail(
        _ names: ArraySlice<String>, firstIsOptional: Bool, prefix: String, keyValueRules: [String: String]
    ) throws(JSONSchemaError) -> String {
        guard let first = names.first else { return "" }
        let keyValue = keyValueRules[first]!
        let commaThenKeyValue = #"( "," space "# + keyValue + " )"
        var result: String
        if firstIsOptional {
            result = commaThenKeyValue + (first == "*" ? "*" : "?")
        } else {
            result = keyValue + (first == "*" ? " " + commaThenKeyValue + "*" : "")
        }
        if names.count > 1 {
            let rest = try optionalTail(names.dropFirst(), firstIsOptional: true, prefix: prefix, keyValueRules: keyValueRules)
            result += " " + (try addRule(prefix + first + "-rest", rest))
        }
        return result
    }

    /// A JSON string that is none of `strings` (the keys additional properties may not reuse):
    /// walk the trie of the names; at each node either follow a child, or leave with a character
    /// no name continues with.
    private mutating func notStrings(_ strings: [String]) throws(JSONSchemaError) -> String {
        var trie = KeyTrie()
        for string in strings { trie.insert(string) }
        let charRule = try addPrimitive("char", "char")
        var out = #"["] ( "#
        func write(_ index: Int) {
            var rejects = ""
            var first = true
            for (scalar, child) in trie.nodes[index].children.sorted(by: { $0.key < $1.key }) {
                let classChar = Self.classCharacter(scalar)
                rejects += classChar
                if !first { out += " | " }
                first = false
                out += "[" + classChar + "]"
                if !trie.nodes[child].children.isEmpty {
                    out += " ("
                    write(child)
                    out += ")"
                } else {
                    out += " " + charRule + "+"
                }
            }
            if !trie.nodes[index].children.isEmpty {
                out += #" | [^""# + rejects + "] " + charRule + "*"
            }
        }
        write(0)
        out += " )"
        if !trie.nodes[0].isEnd { out += "?" }
        out += #" ["]"#
        return out
    }

    /// A character as it may appear inside a GBNF character class (`[...]`).
    static func classCharacter(_ scalar: UInt32) -> String {
        switch scalar {
        case 0x5C: return "\\\\"
        case 0x5D: return "\\]"
        case 0x2D: return "\\-"
        case 0x5E: return "\\x5E"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0..<0x20, 0x7F: return "\\x" + (scalar < 16 ? "0" : "") + String(scalar, radix: 16, uppercase: true)
        default: return String(Unicode.Scalar(scalar).map { Character($0) } ?? "?")
        }
    }

    // MARK: allOf

    /// llama.cpp's merge: object components' properties become one object (all required when the
    /// component is, optional when it comes from an `anyOf` inside), and enum components
    /// intersect. Components it would skip silently are refused here.
    private mutating func visitAllOf(_ allOf: AllOfSchema, name: String, ruleName: String) throws(JSONSchemaError) -> String {
        var properties: [(String, SchemaNode)] = []
        var required = Set<String>()
        var enumCounts: [String: Int] = [:]
        var enumComponents = 0
        var objectComponents = 0
        let pointer = allOf.pointer

        func refuse(_ reason: String) -> JSONSchemaError { JSONSchemaError(pointer: pointer, reason: reason) }

        func add(_ component: SchemaNode, isRequired: Bool, inAnyOf: Bool, visiting: inout Set<String>) throws(JSONSchemaError) {
            switch component {
            case .reference(let ref):
                guard visiting.insert(ref).inserted, let target = references[ref] else {
                    throw refuse("allOf reaches $ref \(ref) from inside itself")
                }
                try add(target, isRequired: isRequired, inAnyOf: inAnyOf, visiting: &visiting)
                visiting.remove(ref)
            case .object(let object):
                if object.restrictsAdditional {
                    throw refuse("additionalProperties inside allOf is not supported (the merged object cannot honour it)")
                }
                if inAnyOf, object.properties.contains(where: \.required) {
                    throw refuse("required properties inside an anyOf within allOf are not supported")
                }
                for property in object.properties {
                    if properties.contains(where: { $0.0 == property.name }) {
                        throw refuse("property \"\(property.name)\" is defined by more than one allOf component")
                    }
                    properties.append((property.name, property.schema))
                    if isRequired { required.insert(property.name) }
                }
                objectComponents += 1
            case .enumeration(let values) where !inAnyOf:
                var seen = Set<String>()
                for value in values where seen.insert(Self.constantRule(value)).inserted {
                    enumCounts[Self.constantRule(value), default: 0] += 1
                }
                enumComponents += 1
            case .constant(let value) where !inAnyOf:
                enumCounts[Self.constantRule(value), default: 0] += 1
                enumComponents += 1
            case .any:
                break
            case .anyOf(let alternatives) where !inAnyOf && isRequired:
                for alternative in alternatives {
                    try add(alternative, isRequired: false, inAnyOf: true, visiting: &visiting)
                }
            default:
                throw refuse("allOf supports object and enum components (and anyOf of objects) only")
            }
        }

        for component in allOf.components {
            var visiting = Set<String>()
            try add(component, isRequired: true, inAnyOf: false, visiting: &visiting)
        }

        if enumComponents > 0 {
            guard objectComponents == 0 else { throw refuse("allOf mixing enum and object components is not supported") }
            let common = enumCounts.filter { $0.value == enumComponents }.keys
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            guard !common.isEmpty else { throw refuse("the enums of allOf have no value in common") }
            return try addRule(ruleName, "(" + common.joined(separator: " | ") + ")")
        }
        guard objectComponents > 0 else { throw refuse("allOf needs at least one object or enum component") }
        if allOf.declaredType == "string" {
            throw refuse("allOf of objects under \"type\": \"string\"")
        }
        return try addRule(ruleName, buildObjectRule(properties, required: required, name: name, additional: nil))
    }
}

/// The trie of property names behind `notStrings`, by Unicode scalar.
private struct KeyTrie {
    struct Node {
        var children: [UInt32: Int] = [:]
        var isEnd = false
    }
    var nodes = [Node()]

    mutating func insert(_ word: String) {
        var current = 0
        for scalar in word.unicodeScalars {
            if let child = nodes[current].children[scalar.value] {
                current = child
            } else {
                nodes.append(Node())
                nodes[current].children[scalar.value] = nodes.count - 1
                current = nodes.count - 1
            }
        }
        nodes[current].isEnd = true
    }
}
