import SLMJSON

/// A schema reduced to what the grammar can say, one case per shape of rule the emitter writes.
/// Built by `SchemaReader`, which has already refused every keyword the grammar would not enforce.
indirect enum SchemaNode {
    /// Any JSON value (the empty schema, `true`, or annotations only).
    case any
    /// A local `$ref`, by its text (`#/$defs/item`); the target lives in the reader's table, so a
    /// recursive schema is a finite graph.
    case reference(String)
    /// `anyOf`, `oneOf` (treated as `anyOf`, as llama.cpp does) or a `type` array.
    case anyOf([SchemaNode])
    /// `allOf`: objects merged into one object rule, or enums intersected.
    case allOf(AllOfSchema)
    case constant(JSONValue)
    case enumeration([JSONValue])
    case null
    case boolean
    /// Bounds with exclusive and inclusive ones of a side merged (the tighter kept); nil is unbounded.
    case number(minimum: NumberBound?, maximum: NumberBound?)
    /// Inclusive bounds, exclusive ones already folded in; nil is unbounded.
    case integer(minimum: Int64?, maximum: Int64?)
    case string(StringSchema)
    case array(items: SchemaNode, minItems: Int, maxItems: Int?)
    /// `prefixItems` (or an `items` array): exactly these items, in order.
    case tuple([SchemaNode])
    case object(ObjectSchema)
}

struct AllOfSchema {
    var components: [SchemaNode]
    /// The schema's own `type` beside `allOf`, which every component must agree with.
    var declaredType: String?
    var pointer: String
}

struct StringSchema {
    var pattern: String?
    var format: StringFormat?
    var minLength = 0
    var maxLength: Int?
    /// Where the pattern is, for errors found while translating it.
    var patternPointer = ""
}

/// The `format` values with a grammar (llama.cpp's set); any other value is refused.
enum StringFormat: Equatable {
    case date, time, dateTime, uuid
}

struct SchemaProperty {
    var name: String
    var schema: SchemaNode
    var required: Bool
}

struct ObjectSchema {
    /// In schema order, which is the order the grammar makes the model write them.
    var properties: [SchemaProperty]
    /// nil: no other key is allowed. A schema without `additionalProperties` but with
    /// `properties` allows no other key either: llama.cpp's choice, kept so the model does not
    /// invent keys.
    var additional: SchemaNode?
    /// `additionalProperties` was written with a value other than `true` (matters inside
    /// `allOf`, whose merge cannot honour it).
    var restrictsAdditional: Bool
    var pointer: String
}

/// The JSON types a value under a schema may have, as JSON Schema's `type` names them.
struct ValueTypes: OptionSet {
    let rawValue: UInt8
    static let null = ValueTypes(rawValue: 1)
    static let boolean = ValueTypes(rawValue: 2)
    /// A number with a fraction or exponent part; `integer` is the rest.
    static let fractional = ValueTypes(rawValue: 4)
    static let integer = ValueTypes(rawValue: 8)
    static let string = ValueTypes(rawValue: 16)
    static let array = ValueTypes(rawValue: 32)
    static let object = ValueTypes(rawValue: 64)
    static let all: ValueTypes = [.null, .boolean, .fractional, .integer, .string, .array, .object]

    /// The types a `type` keyword's name admits ("number" admits integers too).
    init?(typeName: String) {
        switch typeName {
        case "null": self = .null
        case "boolean": self = .boolean
        case "number": self = [.fractional, .integer]
        case "integer": self = .integer
        case "string": self = .string
        case "array": self = .array
        case "object": self = .object
        default: return nil
        }
    }

    init(rawValue: UInt8) { self.rawValue = rawValue }

    init(of value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool: self = .boolean
        case .int: self = .integer
        case .double: self = value.integerValue != nil ? .integer : .fractional
        case .string: self = .string
        case .array: self = .array
        case .object: self = .object
        }
    }
}
