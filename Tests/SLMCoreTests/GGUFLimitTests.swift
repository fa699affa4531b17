import Foundation
import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

/// Hostile GGUF metadata (crafted bytes, parsed from memory): every count and length is checked
/// against the bytes left before anything is allocated, and scalar arrays cost what they weigh.
final class GGUFLimitTests: XCTestCase {
    /// A header with one key whose value bytes are `value` (type code first).
    private func file(key: String = "k", _ value: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        appendLE(&out, UInt32(0x4655_4747))
        appendLE(&out, UInt32(3))
        appendLE(&out, UInt64(0))  // tensors
        appendLE(&out, UInt64(1))  // keys
        GGUFBuilder.appendString(&out, key)
        out += value
        return out
    }

    private func array(type: UInt32, count: UInt64, _ payload: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = []
        appendLE(&out, UInt32(9))
        appendLE(&out, type)
        appendLE(&out, count)
        return out + payload
    }

    private func assertFails(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line, _ match: (GGUFError) -> Bool) {
        let start = Date()
        do {
            _ = try GGUFFile(bytes: bytes)
            XCTFail("parsed", file: file, line: line)
        } catch {
            XCTAssertTrue(match(error), "\(error)", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.5, file: file, line: line)
    }

    func testHugeCountsFailAtOnce() {
        for type: UInt32 in [0, 1, 4, 6, 7, 8, 9, 10, 12] {
            assertFails(self.file(array(type: type, count: 1 << 60, [1, 2, 3, 4]))) {
                if case .countPastEnd(_, _, 1 << 60, _) = $0 { return true }
                return false
            }
            assertFails(self.file(array(type: type, count: UInt64.max))) {
                if case .countPastEnd(_, _, UInt64.max, _) = $0 { return true }
                return false
            }
        }
    }

    func testHugeStringLengthsFail() {
        var string: [UInt8] = []
        appendLE(&string, UInt32(8))
        appendLE(&string, UInt64(1) << 62)
        assertFails(file(string + [0x41])) {
            if case .lengthPastEnd(_, _, 1 << 62, _) = $0 { return true }
            return false
        }
        // Inside an array: the second element's length is past the end.
        var payload: [UInt8] = []
        appendLE(&payload, UInt64(1))
        payload.append(0x61)
        appendLE(&payload, UInt64.max)
        assertFails(file(array(type: 8, count: 2, payload))) {
            if case .lengthPastEnd(_, _, UInt64.max, _) = $0 { return true }
            return false
        }
    }

    func testTruncatedArraysFail() {
        // 1000 u32 announced, 10 present.
        assertFails(file(array(type: 4, count: 1000, [UInt8](repeating: 7, count: 40)))) {
            if case .countPastEnd = $0 { return true }
            return false
        }
        // 3 u64 announced, 20 bytes left: the count is refused before the elements are read.
        assertFails(file(array(type: 10, count: 3, [UInt8](repeating: 7, count: 20)))) {
            if case .countPastEnd = $0 { return true }
            return false
        }
        // Strings announced that the bytes left could hold by count, but whose data is missing.
        var payload: [UInt8] = []
        for _ in 0..<3 { appendLE(&payload, UInt64(0)) }
        appendLE(&payload, UInt64(5))
        assertFails(file(array(type: 8, count: 4, payload + [0x61]))) {
            if case .lengthPastEnd = $0 { return true }
            return false
        }
    }

    func testNestedArraysAreBounded() {
        // Arrays of arrays nested past maxArrayDepth, each claiming one element.
        var value: [UInt8] = []
        appendLE(&value, UInt32(9))
        for _ in 0..<20 {
            appendLE(&value, UInt32(9))
            appendLE(&value, UInt64(1))
        }
        assertFails(file(value + [UInt8](repeating: 0, count: 64))) {
            if case .arrayTooDeep = $0 { return true }
            return false
        }
        // A nested array whose inner count is past the end.
        var inner: [UInt8] = []
        appendLE(&inner, UInt32(0))
        appendLE(&inner, UInt64(1) << 59)
        assertFails(file(array(type: 9, count: 1, inner))) {
            if case .countPastEnd = $0 { return true }
            return false
        }
    }

    /// Scalar arrays are stored as the file's bytes and read back exactly through every accessor.
    func testScalarArraysAreCompactAndExact() throws {
        var b = GGUFBuilder()
        b.set("u8", .array((0..<300).map { .uint8(UInt8($0 % 256)) }))
        b.set("i32", .array([.int32(-7), .int32(Int32.max), .int32(0)]))
        b.set("f32", .array([.float32(1.5), .float32(-0.25)]))
        b.set("bools", .array([.bool(true), .bool(false)]))
        b.set("u64", .array([.uint64(UInt64.max), .uint64(1)]))
        b.set("strings", .array([.string("a"), .string("bc")]))
        let f = try GGUFFile(bytes: b.bytes())
        guard case .scalarArray(let u8)? = f.value("u8") else { return XCTFail("u8 array not compact") }
        XCTAssertEqual(u8.count, 300)
        XCTAssertEqual(u8.storageBytes, 300)
        XCTAssertEqual(u8[299], .uint8(43))
        XCTAssertEqual(f.value("u8"), .array((0..<300).map { .uint8(UInt8($0 % 256)) }))
        XCTAssertEqual(f.value("u8")?.typeName, "arr[u8]")
        XCTAssertEqual(f.int32Array("i32"), [-7, Int32.max, 0])
        XCTAssertEqual(f.floatArray("f32"), [1.5, -0.25])
        XCTAssertEqual(f.floatArray("i32"), [-7, Float(Int32.max), 0])
        XCTAssertEqual(f.array("bools"), [.bool(true), .bool(false)])
        XCTAssertNil(f.int32Array("u64"))  // UInt64.max does not fit
        XCTAssertEqual(f.array("u64"), [.uint64(UInt64.max), .uint64(1)])
        XCTAssertEqual(f.stringArray("strings"), ["a", "bc"])
        XCTAssertNil(f.stringArray("u8"))
    }

    /// A 1 MiB u8 array costs ~1 MiB once loaded (it cost 24 MiB as one enum per element).
    func testOneMiBByteArrayCostsAboutOneMiB() throws {
        let n = 1 << 20
        var b = GGUFBuilder()
        b.set("general.architecture", .string("llama"))
        b.set("blob", .scalarArray(try XCTUnwrap(GGUFScalarArray((0..<n).map { .uint8(UInt8($0 & 0xFF)) }))))
        let bytes = b.bytes()
        let before = residentBytes()
        let f = try GGUFFile(bytes: bytes)
        let after = residentBytes()
        guard case .scalarArray(let blob)? = f.value("blob") else { return XCTFail("not compact") }
        XCTAssertEqual(blob.count, n)
        XCTAssertEqual(blob.storageBytes, n)
        // The in-memory copy of the file (1 MiB) plus the array (1 MiB), with slack for the allocator.
        let grown = after - before
        XCTAssertLessThan(grown, 6 << 20, "RSS grew by \(grown) bytes")
        print("GGUF 1 MiB u8 array: RSS +\(grown / 1024) KiB (file copy + array)")
        XCTAssertEqual(blob[n - 1], .uint8(0xFF))
    }

    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }
}
