import SLMJSON

/// Reads a JSON Schema document into `SchemaNode`s, deciding what each subschema is the way
/// llama.cpp's `common_chat_schema_from_json` does (so the grammar text matches), but refusing
/// what it would drop. Every keyword of a subschema must be one of:
/// - an annotation (`title`, `description`, …), a definitions container, or an `x-` extension;
/// - used by the rule the subschema becomes;
/// - about a JSON type the rule cannot produce (`minLength` beside `"type": "integer"`), which
///   JSON Schema itself says has no effect there.
/// Anything else — an unknown keyword, one the grammar cannot express (`multipleOf`, `not`, …),
/// or one llama.cpp reads but then ignores in that position (`minimum` without a `type`, `minLength`
/// beside `pattern`, siblings of `$ref`) — is an error naming the keyword and where it is.
struct SchemaReader {
    let document: JSONValue
    /// Targets of every `$ref` met, by the reference text.
    private(set) var references: [String: SchemaNode] = [:]
    /// Where each reference's target sits in the document, for errors found later.
    private var referencePointers: [String: String] = [:]
    private var subschemasRead = 0
    /// `type` beside `anyOf` is allowed when it only restates the alternatives' types; that can
    /// be judged only once every `$ref` is read.
    private var pendingTypeChecks: [(pointer: String, declared: ValueTypes, alternatives: [SchemaNode])] = []

    init(document: JSONValue) {
        self.document = document
    }

    mutating func readDocument() throws(JSONSchemaError) -> SchemaNode {
        let root = try read(document, at: "", depth: 0)
        for check in pendingTypeChecks {
            for alternative in check.alternatives {
                var visiting = Set<String>()
                let types = valueTypes(of: alternative, visiting: &visiting)
                if !check.declared.isSuperset(of: types) {
                    throw JSONSchemaError(
                        pointer: JSONSchemaError.pointer(check.pointer, "type"),
                        reason: "\"type\" beside anyOf/oneOf must admit every alternative (it would otherwise be ignored)")
                }
            }
        }
        try refuseLeftRecursion()
        return root
    }

    // MARK: keywords

    /// Keywords that say nothing about which values are valid.
    static let annotations: Set<String> = [
        "title", "description", "$schema", "$id", "examples", "default", "$comment", "deprecated",
        "readOnly", "writeOnly",
    ]
    /// Hold subschemas for `$ref`; a definition constrains only where it is referenced.
    static let containers: Set<String> = ["$defs", "definitions"]
    /// The keywords this converter turns into grammar (somewhere).
    static let understood: Set<String> = [
        "type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum", "properties", "required",
        "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "pattern",
        "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    ]

    /// The JSON types a keyword constrains; a keyword is vacuous on a value of any other type.
    static func constrainedTypes(of keyword: String) -> ValueTypes {
        switch keyword {
        case "properties", "required", "additionalProperties": return .object
        case "items", "prefixItems", "minItems", "maxItems": return .array
        case "pattern", "minLength", "maxLength", "format": return .string
        case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum": return [.fractional, .integer]
        default: return .all
        }
    }

    static func isIgnorable(_ key: String) -> Bool {
        annotations.contains(key) || containers.contains(key) || key.hasPrefix("x-")
    }

    /// Refuses each keyword of `fields` that the rule being built neither uses (`used`) nor can
    /// ignore because it only constrains types the rule never produces (`produces`).
    private func refuseUnused(
        _ fields: [(String, JSONValue)], used: Set<String>, produces: ValueTypes, as what: String,
        at pointer: String
    ) throws(JSONSchemaError) {
        for (key, value) in fields where !Self.isIgnorable(key) && !used.contains(key) {
            if key == "additionalProperties", value == .bool(true) { continue }
            if Self.constrainedTypes(of: key).isDisjoint(with: produces) { continue }
            throw JSONSchemaError(
                pointer: JSONSchemaError.pointer(pointer, key),
                reason: "\"\(key)\" is not supported in \(what) (the grammar could not enforce it)")
        }
    }

    // MARK: subschemas

    mutating func read(_ schema: JSONValue, at pointer: String, depth: Int) throws(JSONSchemaError) -> SchemaNode {
        guard depth <= JSONSchemaLimits.maxNesting else {
            throw JSONSchemaError(pointer: pointer, reason: "schema nested deeper than \(JSONSchemaLimits.maxNesting) levels")
        }
        try countSubschema(at: pointer)
        switch schema {
        case .bool(true):
            return .any
        case .bool(false):
            throw JSONSchemaError(pointer: pointer, reason: "the schema false (no value is valid) is not supported")
        case .object(let fields):
            for (key, _) in fields where !Self.isIgnorable(key) && !Self.understood.contains(key) {
                throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, key), reason: "keyword \"\(key)\" is not supported")
            }
            return try readObjectSchema(fields, at: pointer, depth: depth, typeAlreadyChecked: false)
        default:
            throw JSONSchemaError(pointer: pointer, reason: "a schema must be an object or a boolean")
        }
    }

    private mutating func countSubschema(at pointer: String) throws(JSONSchemaError) {
        subschemasRead += 1
        guard subschemasRead <= JSONSchemaLimits.maxSubschemas else {
            throw JSONSchemaError(
                pointer: pointer, reason: "schema has more than \(JSONSchemaLimits.maxSubschemas) subschemas (counting type-array copies)")
        }
    }

    /// The decision order is llama.cpp's: `$ref`, then `oneOf`/`anyOf`, a `type` array, `const`,
    /// `enum`, and then the type (or, without one, the structural keywords present).
    private mutating func readObjectSchema(
        _ fields: [(String, JSONValue)], at pointer: String, depth: Int, typeAlreadyChecked: Bool
    ) throws(JSONSchemaError) -> SchemaNode {
        let schema = JSONValue.object(fields)
        func has(_ key: String) -> Bool { schema[key] != nil }

        if let ref = schema["$ref"] {
            try refuseUnused(fields, used: ["$ref"], produces: .all, as: "a schema with $ref", at: pointer)
            return try readReference(ref, at: JSONSchemaError.pointer(pointer, "$ref"), depth: depth)
        }

        if has("oneOf") || has("anyOf") {
            if has("oneOf") && has("anyOf") {
                throw JSONSchemaError(
                    pointer: JSONSchemaError.pointer(pointer, "anyOf"), reason: "anyOf and oneOf in one schema are not supported")
            }
            let key = has("oneOf") ? "oneOf" : "anyOf"
            let alternatives = try readAlternatives(schema[key]!, at: JSONSchemaError.pointer(pointer, key), depth: depth)
            var used: Set<String> = [key]
            if let type = schema["type"] {
                pendingTypeChecks.append((pointer, try Self.declaredTypes(type, at: pointer), alternatives))
                used.insert("type")
            }
            try refuseUnused(fields, used: used, produces: .all, as: "a schema with \(key)", at: pointer)
            return .anyOf(alternatives)
        }

        let type = schema["type"]
        if case .array(let names)? = type {
            // {"type": ["a", "b"], …} is {"anyOf": [{"type": "a", …}, {"type": "b", …}]}.
            let declared = try Self.declaredTypes(type!, at: pointer)
            try checkValues(of: schema, admittedBy: declared, at: pointer)
            var alternatives: [SchemaNode] = []
            for name in names {
                let copy = fields.map { $0.0 == "type" ? ("type", name) : $0 }
                try countSubschema(at: pointer)
                alternatives.append(try readObjectSchema(copy, at: pointer, depth: depth + 1, typeAlreadyChecked: true))
            }
            return .anyOf(alternatives)
        }

        if let value = schema["const"] {
            var used: Set<String> = ["const", "type"]
            if let values = schema["enum"] {
                guard case .array(let list) = values, list.contains(value) else {
                    throw JSONSchemaError(
                        pointer: JSONSchemaError.pointer(pointer, "enum"), reason: "enum beside const must list the const value")
                }
                used.insert("enum")
            }
            if !typeAlreadyChecked, let type { try checkValues(of: schema, admittedBy: Self.declaredTypes(type, at: pointer), at: pointer) }
            try refuseUnused(fields, used: used, produces: ValueTypes(of: value), as: "a schema with const", at: pointer)
            return .constant(value)
        }
        if let values = schema["enum"] {
            guard case .array(let list) = values, !list.isEmpty else {
                throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, "enum"), reason: "enum must be a non-empty array")
            }
            if !typeAlreadyChecked, let type { try checkValues(of: schema, admittedBy: Self.declaredTypes(type, at: pointer), at: pointer) }
            let produced = list.reduce(into: ValueTypes()) { $0.formUnion(ValueTypes(of: $1)) }
            try refuseUnused(fields, used: ["enum", "type"], produces: produced, as: "a schema with enum", at: pointer)
            return .enumeration(list)
        }

        var typeName: String?
        if let type {
            guard case .string(let name) = type else {
                throw JSONSchemaError(
                    pointer: JSONSchemaError.pointer(pointer, "type"), reason: "type must be a string or an array of strings")
            }
            guard ValueTypes(typeName: name) != nil else {
                throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, "type"), reason: "unknown type \"\(name)\"")
            }
            typeName = name
        }
        // A known format is checked up front, so that an unknown one is reported as such rather
        // than as a keyword the chosen rule does not use.
        let format = try Self.readFormat(schema, at: pointer)
        let hasObjectKeywords = has("properties") || (has("additionalProperties") && schema["additionalProperties"] != .bool(true))

        switch typeName {
        case nil:
            if hasObjectKeywords { return try readObject(fields, at: pointer, depth: depth) }
            if has("allOf") { return try readAllOf(fields, declaredType: nil, at: pointer, depth: depth) }
            if has("items") || has("prefixItems") { return try readArray(fields, at: pointer, depth: depth) }
            if has("pattern") || has("minLength") || has("maxLength") || format != nil {
                return try readString(fields, format: format, at: pointer)
            }
            try refuseUnused(fields, used: [], produces: .all, as: "a schema without \"type\"", at: pointer)
            return .any
        case "object":
            if !hasObjectKeywords && has("allOf") { return try readAllOf(fields, declaredType: "object", at: pointer, depth: depth) }
            return try readObject(fields, at: pointer, depth: depth)
        case "string":
            if has("allOf") { return try readAllOf(fields, declaredType: "string", at: pointer, depth: depth) }
            return try readString(fields, format: format, at: pointer)
        case "array":
            return try readArray(fields, at: pointer, depth: depth)
        case "integer":
            return try readInteger(fields, at: pointer)
        case "number":
            return try readNumber(fields, at: pointer)
        case "boolean":
            try refuseUnused(fields, used: ["type"], produces: .boolean, as: "a boolean schema", at: pointer)
            return .boolean
        default:
            try refuseUnused(fields, used: ["type"], produces: .null, as: "a null schema", at: pointer)
            return .null
        }
    }

    private mutating func readAlternatives(_ value: JSONValue, at pointer: String, depth: Int) throws(JSONSchemaError) -> [SchemaNode] {
        guard case .array(let list) = value, !list.isEmpty else {
            throw JSONSchemaError(pointer: pointer, reason: "must be a non-empty array of schemas")
        }
        var nodes: [SchemaNode] = []
        for (i, item) in list.enumerated() {
            nodes.append(try read(item, at: pointer + "/\(i)", depth: depth + 1))
        }
        return nodes
    }

    private mutating func readAllOf(
        _ fields: [(String, JSONValue)], declaredType: String?, at pointer: String, depth: Int
    ) throws(JSONSchemaError) -> SchemaNode {
        let allOfPointer = JSONSchemaError.pointer(pointer, "allOf")
        let components = try readAlternatives(JSONValue.object(fields)["allOf"]!, at: allOfPointer, depth: depth)
        let produces = declaredType.flatMap { ValueTypes(typeName: $0) } ?? []
        try refuseUnused(fields, used: ["allOf", "type"], produces: produces, as: "a schema with allOf", at: pointer)
        return .allOf(AllOfSchema(components: components, declaredType: declaredType, pointer: allOfPointer))
    }

    private mutating func readObject(_ fields: [(String, JSONValue)], at pointer: String, depth: Int) throws(JSONSchemaError) -> SchemaNode
    {
        let schema = JSONValue.object(fields)
        var requiredNames: [String] = []
        if let required = schema["required"] {
            let requiredPointer = JSONSchemaError.pointer(pointer, "required")
            guard case .array(let list) = required else {
                throw JSONSchemaError(pointer: requiredPointer, reason: "required must be an array of property names")
            }
            for (i, item) in list.enumerated() {
                guard case .string(let name) = item else {
                    throw JSONSchemaError(pointer: requiredPointer + "/\(i)", reason: "required must list property names (strings)")
                }
                requiredNames.append(name)
            }
        }
        var properties: [SchemaProperty] = []
        if let value = schema["properties"] {
            let propertiesPointer = JSONSchemaError.pointer(pointer, "properties")
            guard case .object(let list) = value else {
                throw JSONSchemaError(pointer: propertiesPointer, reason: "properties must be an object")
            }
            for (name, propertySchema) in list {
                let node = try read(propertySchema, at: JSONSchemaError.pointer(propertiesPointer, name), depth: depth + 1)
                properties.append(SchemaProperty(name: name, schema: node, required: requiredNames.contains(name)))
            }
        }
        for (i, name) in requiredNames.enumerated() where !properties.contains(where: { $0.name == name }) {
            throw JSONSchemaError(
                pointer: JSONSchemaError.pointer(pointer, "required") + "/\(i)",
                reason: "required property \"\(name)\" is not listed in properties")
        }
        var additional: SchemaNode?
        var restrictsAdditional = false
        switch schema["additionalProperties"] {
        case nil:
            // {"type": "object"} on its own is any object; with properties, only those.
            if schema["properties"] == nil { additional = .any }
        case .bool(true)?:
            additional = .any
        case .bool(false)?:
            restrictsAdditional = true
        case .object(let sub)?:
            restrictsAdditional = true
            additional = try read(.object(sub), at: JSONSchemaError.pointer(pointer, "additionalProperties"), depth: depth + 1)
        default:
            throw JSONSchemaError(
                pointer: JSONSchemaError.pointer(pointer, "additionalProperties"),
                reason: "additionalProperties must be a boolean or a schema")
        }
        try refuseUnused(
            fields, used: ["type", "properties", "required", "additionalProperties"], produces: .object, as: "an object schema", at: pointer
        )
        return .object(
            ObjectSchema(properties: properties, additional: additional, restrictsAdditional: restrictsAdditional, pointer: pointer))
    }

    private mutating func readArray(_ fields: [(String, JSONValue)], at pointer: String, depth: Int) throws(JSONSchemaError) -> SchemaNode {
        let schema = JSONValue.object(fields)
        if schema["items"] != nil && schema["prefixItems"] != nil {
            // llama.cpp keeps items and drops prefixItems; both together are not expressible here.
            throw JSONSchemaError(
                pointer: JSONSchemaError.pointer(pointer, "prefixItems"), reason: "prefixItems together with items is not supported")
        }
        let minItems = try Self.readCount(schema, "minItems", at: pointer) ?? 0
        let maxItems = try Self.readCount(schema, "maxItems", at: pointer)
        if let maxItems, minItems > maxItems {
            throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, "minItems"), reason: "minItems is greater than maxItems")
        }
        let used: Set<String> = ["type", "items", "prefixItems", "minItems", "maxItems"]
        let key = schema["items"] != nil ? "items" : "prefixItems"
        guard let items = schema[key] else {
            try refuseUnused(fields, used: used, produces: .array, as: "an array schema", at: pointer)
            return .array(items: .any, minItems: minItems, maxItems: maxItems)
        }
        let itemsPointer = JSONSchemaError.pointer(pointer, key)
        if case .array(let list) = items {
            // A tuple is written with exactly its items, so the counts must allow that many.
            if minItems > list.count || (maxItems ?? Int.max) < list.count {
                throw JSONSchemaError(pointer: pointer, reason: "minItems/maxItems contradict the \(list.count) items of \(key)")
            }
            var nodes: [SchemaNode] = []
            for (i, item) in list.enumerated() {
                nodes.append(try read(item, at: itemsPointer + "/\(i)", depth: depth + 1))
            }
            try refuseUnused(fields, used: used, produces: .array, as: "an array schema", at: pointer)
            return .tuple(nodes)
        }
        let itemNode = try read(items, at: itemsPointer, depth: depth + 1)
        try refuseUnused(fields, used: used, produces: .array, as: "an array schema", at: pointer)
        return .array(items: itemNode, minItems: minItems, maxItems: maxItems)
    }

    private func readString(_ fields: [(String, JSONValue)], format: StringFormat?, at pointer: String) throws(JSONSchemaError)
        -> SchemaNode
    {
        let schema = JSONValue.object(fields)
        var string = StringSchema()
        // One of pattern, format, length bounds decides the rule; a second beside it is refused
        // by refuseUnused because the rule would not enforce it.
        var used: Set<String> = ["type"]
        if let pattern = schema["pattern"] {
            string.patternPointer = JSONSchemaError.pointer(pointer, "pattern")
            guard case .string(let text) = pattern else {
                throw JSONSchemaError(pointer: string.patternPointer, reason: "pattern must be a string")
            }
            string.pattern = text
            used.insert("pattern")
        } else if let format {
            string.format = format
            used.insert("format")
        } else {
            string.minLength = try Self.readCount(schema, "minLength", at: pointer) ?? 0
            string.maxLength = try Self.readCount(schema, "maxLength", at: pointer)
            if let maxLength = string.maxLength, string.minLength > maxLength {
                throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, "minLength"), reason: "minLength is greater than maxLength")
            }
            used.formUnion(["minLength", "maxLength"])
        }
        try refuseUnused(fields, used: used, produces: .string, as: "this string schema", at: pointer)
        return .string(string)
    }

    private func readInteger(_ fields: [(String, JSONValue)], at pointer: String) throws(JSONSchemaError) -> SchemaNode {
        let schema = JSONValue.object(fields)
        // A fractional bound is rounded inwards, towards the integers it still admits; when both
        // an inclusive and an exclusive bound are given, the tighter one wins.
        var minimum: Int64?
        var maximum: Int64?
        if let bound = try Self.readBound(schema, "minimum", at: pointer, roundUp: true) { minimum = bound }
        if let bound = try Self.readBound(schema, "exclusiveMinimum", at: pointer, roundUp: false) {
            minimum = max(minimum ?? Int64.min, bound + 1)
        }
        if let bound = try Self.readBound(schema, "maximum", at: pointer, roundUp: false) { maximum = bound }
        if let bound = try Self.readBound(schema, "exclusiveMaximum", at: pointer, roundUp: true) {
            maximum = min(maximum ?? Int64.max, bound - 1)
        }
        if let minimum, let maximum, minimum > maximum {
            throw JSONSchemaError(pointer: pointer, reason: "no integer lies between the minimum and the maximum")
        }
        try refuseUnused(
            fields, used: ["type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"], produces: .integer,
            as: "an integer schema", at: pointer)
        return .integer(minimum: minimum, maximum: maximum)
    }

    private func readNumber(_ fields: [(String, JSONValue)], at pointer: String) throws(JSONSchemaError) -> SchemaNode {
        let schema = JSONValue.object(fields)
        // When a side has both an inclusive and an exclusive bound, the tighter one wins (the
        // exclusive one when they are equal).
        var minimum = try Self.readDecimalBound(schema, "minimum", exclusive: false, at: pointer)
        if let bound = try Self.readDecimalBound(schema, "exclusiveMinimum", exclusive: true, at: pointer),
            minimum.map({ bound.value >= $0.value }) ?? true
        {
            minimum = bound
        }
        var maximum = try Self.readDecimalBound(schema, "maximum", exclusive: false, at: pointer)
        if let bound = try Self.readDecimalBound(schema, "exclusiveMaximum", exclusive: true, at: pointer),
            maximum.map({ bound.value <= $0.value }) ?? true
        {
            maximum = bound
        }
        if let minimum, let maximum,
            maximum.value < minimum.value || (maximum.value == minimum.value && (minimum.isExclusive || maximum.isExclusive))
        {
            throw JSONSchemaError(pointer: pointer, reason: "no number lies between the minimum and the maximum")
        }
        try refuseUnused(
            fields, used: ["type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"], produces: [.fractional, .integer],
            as: "a number schema", at: pointer)
        return .number(minimum: minimum, maximum: maximum)
    }

    // MARK: $ref

    private mutating func readReference(_ value: JSONValue, at pointer: String, depth: Int) throws(JSONSchemaError) -> SchemaNode {
        guard case .string(let ref) = value else {
            throw JSONSchemaError(pointer: pointer, reason: "$ref must be a string")
        }
        guard ref == "#" || ref.hasPrefix("#/") else {
            throw JSONSchemaError(
                pointer: pointer, reason: "$ref \"\(ref)\" is not supported: only references into the same document (#/...) are")
        }
        if referencePointers[ref] == nil {
            // Registered before the target is read, so a cycle back to this $ref stops here.
            let targetPointer = String(ref.dropFirst())
            referencePointers[ref] = targetPointer
            let target = try resolve(targetPointer, ref: ref, at: pointer)
            references[ref] = try read(target, at: targetPointer, depth: depth + 1)
        }
        return .reference(ref)
    }

    /// The value at a JSON pointer (RFC 6901) of the document.
    private func resolve(_ targetPointer: String, ref: String, at pointer: String) throws(JSONSchemaError) -> JSONValue {
        var target = document
        guard !targetPointer.isEmpty else { return target }
        for rawToken in targetPointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = String(rawToken).replacingTilde()
            switch target {
            case .object:
                guard let next = target[token] else {
                    throw JSONSchemaError(pointer: pointer, reason: "cannot resolve $ref \(ref): \"\(token)\" not found")
                }
                target = next
            case .array(let items):
                guard !token.isEmpty, token.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let index = Int(token), index < items.count else {
                    throw JSONSchemaError(pointer: pointer, reason: "cannot resolve $ref \(ref): \"\(token)\" is not an index of the array")
                }
                target = items[index]
            default:
                throw JSONSchemaError(pointer: pointer, reason: "cannot resolve $ref \(ref): \"\(token)\" not found")
            }
        }
        return target
    }

    /// A `$ref` that reaches itself again before any bracket is written would make the grammar
    /// left-recursive (a rule that expands to itself forever): refuse it.
    private func refuseLeftRecursion() throws(JSONSchemaError) {
        for ref in references.keys.sorted() {
            var seen = Set<String>()
            var pending = leadingReferences(of: references[ref]!)
            while let next = pending.popLast() {
                if next == ref {
                    throw JSONSchemaError(
                        pointer: referencePointers[ref] ?? "", reason: "$ref \(ref) refers to itself before any input (left recursion)")
                }
                if seen.insert(next).inserted, let target = references[next] {
                    pending += leadingReferences(of: target)
                }
            }
        }
    }

    /// The references a node's rule may start with, without first writing any text.
    private func leadingReferences(of node: SchemaNode) -> [String] {
        switch node {
        case .reference(let ref): return [ref]
        case .anyOf(let alternatives): return alternatives.flatMap { leadingReferences(of: $0) }
        default: return []
        }
    }

    func valueTypes(of node: SchemaNode, visiting: inout Set<String>) -> ValueTypes {
        switch node {
        case .any: return .all
        case .reference(let ref):
            // A cycle contributes no type of its own.
            guard let target = references[ref], visiting.insert(ref).inserted else { return [] }
            defer { visiting.remove(ref) }
            return valueTypes(of: target, visiting: &visiting)
        case .anyOf(let alternatives):
            return alternatives.reduce(into: ValueTypes()) { $0.formUnion(valueTypes(of: $1, visiting: &visiting)) }
        case .allOf(let allOf):
            return allOf.components.reduce(into: ValueTypes.all) { $0.formIntersection(valueTypes(of: $1, visiting: &visiting)) }
        case .constant(let value): return ValueTypes(of: value)
        case .enumeration(let values): return values.reduce(into: ValueTypes()) { $0.formUnion(ValueTypes(of: $1)) }
        case .null: return .null
        case .boolean: return .boolean
        case .number: return [.fractional, .integer]
        case .integer: return .integer
        case .string: return .string
        case .array, .tuple: return .array
        case .object: return .object
        }
    }

    // MARK: values of keywords

    static func declaredTypes(_ type: JSONValue, at pointer: String) throws(JSONSchemaError) -> ValueTypes {
        let typePointer = JSONSchemaError.pointer(pointer, "type")
        switch type {
        case .string(let name):
            guard let types = ValueTypes(typeName: name) else {
                throw JSONSchemaError(pointer: typePointer, reason: "unknown type \"\(name)\"")
            }
            return types
        case .array(let names):
            guard !names.isEmpty else { throw JSONSchemaError(pointer: typePointer, reason: "type must not be an empty array") }
            var seen = Set<String>()
            var types = ValueTypes()
            for (i, item) in names.enumerated() {
                guard case .string(let name) = item, let named = ValueTypes(typeName: name) else {
                    throw JSONSchemaError(pointer: typePointer + "/\(i)", reason: "type must list known type names")
                }
                guard seen.insert(name).inserted else {
                    throw JSONSchemaError(pointer: typePointer + "/\(i)", reason: "type lists \"\(name)\" twice")
                }
                types.formUnion(named)
            }
            return types
        default:
            throw JSONSchemaError(pointer: typePointer, reason: "type must be a string or an array of strings")
        }
    }

    /// `const`/`enum` values must all be of the declared type: the rule lists them as they are,
    /// so one of another type would slip through.
    private func checkValues(of schema: JSONValue, admittedBy declared: ValueTypes, at pointer: String) throws(JSONSchemaError) {
        if let value = schema["const"], !declared.isSuperset(of: ValueTypes(of: value)) {
            throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, "const"), reason: "const value is not of the declared type")
        }
        if case .array(let values)? = schema["enum"] {
            for (i, value) in values.enumerated() where !declared.isSuperset(of: ValueTypes(of: value)) {
                throw JSONSchemaError(
                    pointer: JSONSchemaError.pointer(pointer, "enum") + "/\(i)", reason: "enum value is not of the declared type")
            }
        }
    }

    static func readFormat(_ schema: JSONValue, at pointer: String) throws(JSONSchemaError) -> StringFormat? {
        guard let value = schema["format"] else { return nil }
        let formatPointer = JSONSchemaError.pointer(pointer, "format")
        guard case .string(let name) = value else {
            throw JSONSchemaError(pointer: formatPointer, reason: "format must be a string")
        }
        switch name {
        case "date": return .date
        case "time": return .time
        case "date-time": return .dateTime
        case "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5": return .uuid
        default:
            throw JSONSchemaError(
                pointer: formatPointer, reason: "format \"\(name)\" is not supported (supported: date, time, date-time, uuid)")
        }
    }

    static func readCount(_ schema: JSONValue, _ key: String, at pointer: String) throws(JSONSchemaError) -> Int? {
        guard let value = schema[key] else { return nil }
        guard let count = value.integerValue, count >= 0 else {
            throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, key), reason: "\(key) must be a non-negative integer")
        }
        guard count <= Int64(JSONSchemaLimits.maxRepetition) else {
            throw JSONSchemaError(
                pointer: JSONSchemaError.pointer(pointer, key), reason: "\(key) above \(JSONSchemaLimits.maxRepetition) is not supported")
        }
        return Int(count)
    }

    static func readBound(_ schema: JSONValue, _ key: String, at pointer: String, roundUp: Bool) throws(JSONSchemaError) -> Int64? {
        guard let value = schema[key] else { return nil }
        let limit = JSONSchemaLimits.maxIntegerBound
        guard let number = value.numberValue, number.isFinite, abs(number) <= Double(limit) else {
            throw JSONSchemaError(pointer: JSONSchemaError.pointer(pointer, key), reason: "\(key) must be a number within ±2^53")
        }
        if let exact = value.integerValue { return exact }
        return Int64(roundUp ? number.rounded(.up) : number.rounded(.down))
    }
}

extension SchemaReader {
    /// A number bound as the exact decimal written. Limited to what the digit-by-digit grammar
    /// handles in a bounded size: integral parts within ±2^53 (as integer bounds, where every JSON
    /// client reads the same number) and no more than `maxNumberBoundFractionDigits` after the point.
    static func readDecimalBound(
        _ schema: JSONValue, _ key: String, exclusive: Bool, at pointer: String
    ) throws(JSONSchemaError) -> NumberBound? {
        guard let value = schema[key] else { return nil }
        let fractionLimit = JSONSchemaLimits.maxNumberBoundFractionDigits
        guard let decimal = ExactDecimal(value), let integral = decimal.integralValue,
            integral <= JSONSchemaLimits.maxIntegerBound, decimal.fractionDigits.count <= fractionLimit
        else {
            throw JSONSchemaError(
                pointer: JSONSchemaError.pointer(pointer, key),
                reason: "\(key) must be a number within ±2^53 with at most \(fractionLimit) digits after the point")
        }
        return NumberBound(value: decimal, isExclusive: exclusive)
    }
}

extension String {
    /// A JSON pointer token decoded (`~1` is `/`, `~0` is `~`, in that order per RFC 6901).
    func replacingTilde() -> String {
        guard contains("~") else { return self }
        var out = ""
        var pendingTilde = false
        for ch in unicodeScalars {
            if pendingTilde {
                out += ch == "1" ? "/" : ch == "0" ? "~" : "~" + String(ch)
                pendingTilde = false
            } else if ch == "~" {
                pendingTilde = true
            } else {
                out.unicodeScalars.append(ch)
            }
        }
        if pendingTilde { out += "~" }
        return out
    }
}
