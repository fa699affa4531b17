import Foundation

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Writes GGUF files byte by byte for tests, including deliberately broken ones: every field can
/// be overridden, and `bytes()` can be edited before writing.
struct GGUFBuilder {
    struct Tensor {
        var name: String
        var dimensions: [UInt64]
        var type: UInt32
        var data: [UInt8]
        /// nil: placed automatically at the next aligned offset.
        var offset: UInt64? = nil
    }

    var magic: UInt32 = 0x4655_4747
    var version: UInt32 = 3
    var metadata: [(String, GGUFValue)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    /// Overrides of the counts written in the header.
    var tensorCountOverride: UInt64? = nil
    var kvCountOverride: UInt64? = nil

    mutating func set(_ key: String, _ value: GGUFValue) {
        metadata.removeAll { $0.0 == key }
        metadata.append((key, value))
    }

    mutating func addF32(_ name: String, dimensions: [Int], values: [Float]) {
        precondition(values.count == dimensions.reduce(1, *))
        var data: [UInt8] = []
        for v in values { appendLE(&data, v.bitPattern) }
        tensors.append(Tensor(name: name, dimensions: dimensions.map(UInt64.init), type: 0, data: data))
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        appendLE(&out, magic)
        appendLE(&out, version)
        appendLE(&out, tensorCountOverride ?? UInt64(tensors.count))
        appendLE(&out, kvCountOverride ?? UInt64(metadata.count))
        for (key, value) in metadata {
            Self.appendString(&out, key)
            appendLE(&out, Self.typeCode(value))
            Self.appendValue(&out, value)
        }
        var offsets: [UInt64] = []
        var next: UInt64 = 0
        for t in tensors {
            let offset = t.offset ?? next
            offsets.append(offset)
            next = max(next, (offset + UInt64(t.data.count) + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment))
        }
        for (t, offset) in zip(tensors, offsets) {
            Self.appendString(&out, t.name)
            appendLE(&out, UInt32(t.dimensions.count))
            for d in t.dimensions { appendLE(&out, d) }
            appendLE(&out, t.type)
            appendLE(&out, offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        for (t, offset) in zip(tensors, offsets) {
            let end = dataStart + Int(offset) + t.data.count
            if out.count < end { out.append(contentsOf: [UInt8](repeating: 0, count: end - out.count)) }
            out.replaceSubrange((dataStart + Int(offset))..<end, with: t.data)
        }
        return out
    }

    static func typeCode(_ value: GGUFValue) -> UInt32 {
        switch value {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array, .scalarArray: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    static func appendString(_ out: inout [UInt8], _ s: String) {
        appendLE(&out, UInt64(s.utf8.count))
        out.append(contentsOf: Array(s.utf8))
    }

    static func appendValue(_ out: inout [UInt8], _ value: GGUFValue) {
        switch value {
        case .uint8(let v): out.append(v)
        case .int8(let v): out.append(UInt8(bitPattern: v))
        case .uint16(let v): appendLE(&out, v)
        case .int16(let v): appendLE(&out, v)
        case .uint32(let v): appendLE(&out, v)
        case .int32(let v): appendLE(&out, v)
        case .float32(let v): appendLE(&out, v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let s): appendString(&out, s)
        case .uint64(let v): appendLE(&out, v)
        case .int64(let v): appendLE(&out, v)
        case .float64(let v): appendLE(&out, v.bitPattern)
        case .array(let items):
            appendLE(&out, items.first.map(typeCode) ?? 4)
            appendLE(&out, UInt64(items.count))
            for item in items { appendValue(&out, item) }
        case .scalarArray(let a):
            appendLE(&out, a.elementType.rawValue)
            appendLE(&out, UInt64(a.count))
            out.append(contentsOf: a.storage)
        }
    }
}

func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}

/// A scratch directory removed at the end of the test case.
final class TemporaryDirectory {
    let path: String

    init() {
        let template = NSTemporaryDirectory() + "slm-test-XXXXXX"
        var chars = Array(template.utf8CString)
        let made = chars.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? NSTemporaryDirectory()
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ bytes: [UInt8], name: String) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
        return file
    }
}
