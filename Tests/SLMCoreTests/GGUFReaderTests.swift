import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

final class GGUFReaderTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUp() { dir = TemporaryDirectory() }
    override func tearDown() { dir = nil }

    /// A small valid file: every value type, a nested array, and two F32 tensors.
    func validBuilder() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.set("general.architecture", .string("llama"))
        b.set("test.u8", .uint8(200))
        b.set("test.i8", .int8(-5))
        b.set("test.u16", .uint16(60000))
        b.set("test.i16", .int16(-30000))
        b.set("test.u32", .uint32(4_000_000_000))
        b.set("test.i32", .int32(-2_000_000_000))
        b.set("test.f32", .float32(1.5))
        b.set("test.bool", .bool(true))
        b.set("test.string", .string("héllo ✓"))
        b.set("test.u64", .uint64(1 << 40))
        b.set("test.i64", .int64(-(1 << 40)))
        b.set("test.f64", .float64(-2.25))
        b.set("test.nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        b.set("test.strings", .array([.string("a"), .string(""), .string("ccc")]))
        b.addF32("a.weight", dimensions: [4, 2], values: (0..<8).map(Float.init))
        b.addF32("b.weight", dimensions: [3], values: [1, 2, 3])
        return b
    }

    func load(_ b: GGUFBuilder) throws -> GGUFFile {
        try GGUFFile(path: dir.write(b.bytes(), name: "model.gguf"))
    }

    func assertError(
        _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line,
        _ matches: (GGUFError) -> Bool
    ) {
        let path = dir.write(bytes, name: "broken.gguf")
        do {
            _ = try GGUFFile(path: path)
            XCTFail("loaded a broken file", file: file, line: line)
        } catch {
            XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(path), "error should name the file: \(error)", file: file, line: line)
        }
    }

    // MARK: - Valid files

    func testReadsEveryValueTypeAndNestedArrays() throws {
        let f = try load(validBuilder())
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.string("general.architecture"), "llama")
        XCTAssertEqual(f.metadata["test.u8"], .uint8(200))
        XCTAssertEqual(f.metadata["test.i8"], .int8(-5))
        XCTAssertEqual(f.metadata["test.u16"], .uint16(60000))
        XCTAssertEqual(f.metadata["test.i16"], .int16(-30000))
        XCTAssertEqual(f.int("test.u32"), 4_000_000_000)
        XCTAssertEqual(f.int("test.i32"), -2_000_000_000)
        XCTAssertEqual(f.float("test.f32"), 1.5)
        XCTAssertEqual(f.bool("test.bool"), true)
        XCTAssertEqual(f.string("test.string"), "héllo ✓")
        XCTAssertEqual(f.int("test.u64"), 1 << 40)
        XCTAssertEqual(f.int("test.i64"), -(1 << 40))
        XCTAssertEqual(f.float("test.f64"), -2.25)
        XCTAssertEqual(f.metadata["test.nested"], .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        XCTAssertEqual(f.stringArray("test.strings"), ["a", "", "ccc"])
        XCTAssertEqual(f.metadataKeys.first, "general.architecture")
    }

    func testTensorsAreViewsIntoTheMapping() throws {
        let f = try load(validBuilder())
        XCTAssertEqual(f.tensors.count, 2)
        let a = try XCTUnwrap(f.tensor(named: "a.weight"))
        XCTAssertEqual(a.dimensions, [4, 2])
        XCTAssertEqual(a.type, .f32)
        XCTAssertEqual(a.byteCount, 32)
        XCTAssertEqual(a.fileOffset % f.alignment, 0)
        let p = f.data(of: a)
        let base = f.file.bytes.baseAddress!
        XCTAssertTrue(p >= base && p + a.byteCount <= base + f.file.size, "tensor data must point into the mapping")
        let values = (0..<8).map { p.load(fromByteOffset: $0 * 4, as: Float.self) }
        XCTAssertEqual(values, (0..<8).map(Float.init))
        let b = try XCTUnwrap(f.tensor(named: "b.weight"))
        XCTAssertEqual(f.data(of: b).load(fromByteOffset: 8, as: Float.self), 3)
    }

    func testVersion2AndCustomAlignment() throws {
        var b = validBuilder()
        b.version = 2
        b.alignment = 64
        b.set("general.alignment", .uint32(64))
        let f = try load(b)
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.data(of: f.tensor(named: "b.weight")!).load(as: Float.self), 1)
    }

    // MARK: - One test per class of malformed file

    func testBadMagic() {
        var b = validBuilder()
        b.magic = 0x4C4D_5347
        assertError(b.bytes()) {
            if case .badMagic = $0 { return true }
            return false
        }
    }

    func testUnsupportedVersion() {
        for version: UInt32 in [1, 4, 0xFFFF_FFFF] {
            var b = validBuilder()
            b.version = version
            assertError(b.bytes()) {
                if case .unsupportedVersion(_, let v) = $0 { return v == version }
                return false
            }
        }
    }

    func testTruncatedHeader() {
        let full = validBuilder().bytes()
        // Cut inside the magic, the counts, a key, a value, and a tensor info.
        for cut in [0, 3, 10, 30, 60, 200] where cut < full.count {
            assertError(Array(full.prefix(cut))) {
                switch $0 {
                case .truncated, .lengthPastEnd, .countPastEnd: return true
                default: return false
                }
            }
        }
    }

    func testStringLengthPastEnd() {
        var bytes = validBuilder().bytes()
        // The first key's length field sits right after the 24-byte header.
        let huge = UInt64(1) << 40
        withUnsafeBytes(of: huge.littleEndian) { bytes.replaceSubrange(24..<32, with: $0) }
        assertError(bytes) {
            if case .lengthPastEnd(_, 24, huge, _) = $0 { return true }
            return false
        }
    }

    func testArrayCountPastEnd() {
        var b = GGUFBuilder()
        b.set("general.architecture", .string("llama"))
        b.set("big", .array([.uint32(1), .uint32(2)]))
        var bytes = b.bytes()
        // Find the array's count (u64 2 after element type u32 4) and inflate it.
        let pattern: [UInt8] = [4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        let at = (0...(bytes.count - pattern.count)).first { Array(bytes[$0..<$0 + pattern.count]) == pattern }!
        withUnsafeBytes(of: UInt64(1 << 50).littleEndian) { bytes.replaceSubrange((at + 4)..<(at + 12), with: $0) }
        assertError(bytes) {
            if case .countPastEnd = $0 { return true }
            return false
        }

        var counts = validBuilder()
        counts.kvCountOverride = UInt64.max
        assertError(counts.bytes()) {
            if case .countPastEnd = $0 { return true }
            return false
        }
        counts = validBuilder()
        counts.tensorCountOverride = 1 << 40
        assertError(counts.bytes()) {
            if case .countPastEnd = $0 { return true }
            return false
        }
    }

    func testTensorDataPastEndOfFile() {
        var b = validBuilder()
        b.tensors[1].offset = 1 << 20
        var bytes = b.bytes()
        bytes.removeLast(bytes.count - 4096)
        assertError(bytes) {
            if case .tensorPastEnd(_, "b.weight", _, _) = $0 { return true }
            return false
        }

        let full = validBuilder().bytes()
        assertError(Array(full.dropLast(4))) {
            if case .tensorPastEnd = $0 { return true }
            return false
        }
    }

    func testTensorMisaligned() {
        var b = validBuilder()
        b.tensors[1].offset = 33
        assertError(b.bytes()) {
            if case .tensorMisaligned(_, "b.weight", 33, 32) = $0 { return true }
            return false
        }
    }

    func testDimensionProductOverflows() {
        var b = validBuilder()
        b.tensors[0].dimensions = [1 << 31 - 1, 1 << 31 - 1, 1 << 31 - 1, 1 << 31 - 1]
        assertError(b.bytes()) {
            if case .dimensionOverflow(_, "a.weight", _) = $0 { return true }
            return false
        }
        b = validBuilder()
        b.tensors[0].dimensions = [0, 2]
        assertError(b.bytes()) {
            if case .badDimension = $0 { return true }
            return false
        }
        b = validBuilder()
        b.tensors[0].dimensions = [1, 1, 1, 1, 8]
        assertError(b.bytes()) {
            if case .tooManyDimensions = $0 { return true }
            return false
        }
    }

    func testUnknownTensorType() {
        var b = validBuilder()
        b.tensors[0].type = 99
        assertError(b.bytes()) {
            if case .unknownTensorType(_, "a.weight", 99) = $0 { return true }
            return false
        }
        b = validBuilder()
        b.tensors[0].type = 2  // Q4_0 with a row of 4 elements: not a whole block
        assertError(b.bytes()) {
            if case .rowNotBlockAligned = $0 { return true }
            return false
        }
    }

    func testUnknownValueTypeAndDuplicates() {
        var b = validBuilder()
        b.set("general.alignment", .uint32(48))
        assertError(b.bytes()) {
            if case .badAlignment(_, 48) = $0 { return true }
            return false
        }
        var bytes = validBuilder().bytes()
        // The first value's type code follows the 24-byte header and the key "general.architecture".
        let typeAt = 24 + 8 + "general.architecture".utf8.count
        bytes[typeAt] = 77
        assertError(bytes) {
            if case .unknownValueType(_, "general.architecture", 77) = $0 { return true }
            return false
        }
        b = validBuilder()
        b.metadata.append(("test.u8", .uint8(1)))
        assertError(b.bytes()) {
            if case .duplicateKey(_, "test.u8") = $0 { return true }
            return false
        }
        b = validBuilder()
        b.tensors.append(b.tensors[0])
        assertError(b.bytes()) {
            if case .duplicateTensor(_, "a.weight") = $0 { return true }
            return false
        }
    }

    func testMissingRequiredKey() throws {
        var b = validBuilder()
        b.metadata.removeAll { $0.0 == "general.architecture" }
        let f = try load(b)
        XCTAssertThrowsError(try f.architecture()) { error in
            XCTAssertEqual(error as? GGUFError, .missingKey(path: f.path, key: "general.architecture"))
        }
        XCTAssertThrowsError(try ModelRegistry.load(f)) { error in
            XCTAssertTrue("\(error)".contains("general.architecture"), "\(error)")
        }
        // A llama file without its hyperparameters names the missing one.
        let g = try load(validBuilder())
        XCTAssertThrowsError(try ModelRegistry.load(g)) { error in
            XCTAssertEqual(error as? GGUFError, .missingKey(path: g.path, key: "llama.embedding_length"))
        }
    }

    func testUnsupportedArchitectureListsSupportedOnes() throws {
        var b = validBuilder()
        b.set("general.architecture", .string("mamba"))
        let f = try load(b)
        XCTAssertThrowsError(try ModelRegistry.load(f)) { error in
            XCTAssertEqual(
                error as? ModelError,
                .unsupportedArchitecture(
                    "mamba", supported: ["llama", "qwen2", "gemma3", "gemma2", "phi3", "stablelm", "phi2", "bert"]))
        }
    }

    func testEmptyAndNonRegularFiles() {
        assertError([]) {
            if case .truncated = $0 { return true }
            return false
        }
        XCTAssertThrowsError(try GGUFFile(path: dir.path)) { XCTAssertTrue("\($0)".contains("not a regular file")) }
        XCTAssertThrowsError(try GGUFFile(path: dir.path + "/missing.gguf")) { XCTAssertTrue("\($0)".contains("cannot open")) }
    }

    // MARK: - Fuzz

    /// 10,000 randomly corrupted or truncated copies of a small GGUF: each must load or throw;
    /// a crash fails the whole test run.
    func testFuzzCorruptedCopiesNeverCrash() throws {
        let original = validBuilder().bytes()
        var random = SeededGenerator(seed: 0x5EED)
        var loaded = 0
        var rejected = 0
        let path = dir.path + "/fuzz.gguf"
        for _ in 0..<10_000 {
            var bytes = original
            switch random.next() % 4 {
            case 0:  // truncate
                bytes.removeLast(Int(random.next() % UInt64(bytes.count)))
            case 1:  // flip a few random bytes
                for _ in 0..<(1 + random.next() % 8) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            case 2:  // overwrite a length-like field with a large or odd value
                let at = Int(random.next() % UInt64(bytes.count - 8))
                let value: UInt64 = [UInt64.max, 1 << 32, 1 << 62, 0, 7, UInt64(bytes.count)][Int(random.next() % 6)]
                withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(at..<(at + 8), with: $0) }
            default:  // insert or delete a run of bytes
                let at = Int(random.next() % UInt64(bytes.count))
                if random.next() % 2 == 0 {
                    bytes.insert(
                        contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: random.next()), count: 1 + Int(random.next() % 16)), at: at
                    )
                } else {
                    bytes.removeSubrange(at..<min(bytes.count, at + 1 + Int(random.next() % 16)))
                }
            }
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                let f = try GGUFFile(path: path)
                // Whatever loads must be safe to read end to end.
                var checksum: UInt8 = 0
                for t in f.tensors where t.byteCount > 0 {
                    let p = f.data(of: t)
                    checksum ^= p.load(as: UInt8.self) ^ p.load(fromByteOffset: t.byteCount - 1, as: UInt8.self)
                }
                _ = checksum
                _ = try? ModelRegistry.load(f)
                loaded += 1
            } catch {
                rejected += 1
            }
        }
        XCTAssertEqual(loaded + rejected, 10_000)
        XCTAssertGreaterThan(rejected, 1000)
        print("fuzz: \(loaded) loaded, \(rejected) rejected with an error")
    }
}
