import XCTest

@testable import SLMCore

/// The snapshot decoder on crafted blobs (no model needed): sizes from the header are checked
/// against the blob's length with overflow checks, so a hostile header is a `.malformed` error,
/// never a trap or an allocation larger than the blob.
final class SessionSnapshotTests: XCTestCase {
    /// A blob with the given header counts, `payload` bytes after the header, and a valid checksum
    /// (so the size checks, not the checksum, are what refuses it).
    static func crafted(layers: UInt32, keyWidth: UInt32, valueWidth: UInt32, tokens: UInt32, payload: Int = 0) -> [UInt8] {
        var bytes = Array("SLMKV002".utf8) + Array("aaaaaaaaaaaaaaaa".utf8)
        for v in [layers, keyWidth, valueWidth, tokens] { bytes += (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) } }
        bytes += [UInt8](repeating: 0, count: payload)
        let sum = bytes.withUnsafeBytes { snapshotChecksum($0) }
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: sum >> ($0 * 8)) }
        return bytes
    }

    func assertMalformed(_ bytes: [UInt8], _ why: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SessionSnapshot(serialized: bytes), why, file: file, line: line) {
            guard case .malformed(let reason) = $0 as? SnapshotError else {
                return XCTFail("\(why): expected malformed, got \($0)", file: file, line: line)
            }
            XCTAssertTrue(reason.contains("sizes do not add up"), reason, file: file, line: line)
        }
    }

    func testAValidSnapshotRoundTrips() throws {
        let snapshot = SessionSnapshot(
            modelIdentity: "aaaaaaaaaaaaaaaa", tokens: [1, 2, 3], layers: 2, keyWidth: 4, valueWidth: 2,
            cache: (0..<(2 * 3 * 6 * 2)).map { UInt8($0) })
        XCTAssertEqual(try SessionSnapshot(serialized: snapshot.serialized()), snapshot)
        // The same shape through the crafting helper: only the counts and the length matter.
        XCTAssertNoThrow(try SessionSnapshot(serialized: Self.crafted(layers: 2, keyWidth: 4, valueWidth: 2, tokens: 3, payload: 12 + 72)))
    }

    func testHugeCountsWhoseProductOverflowsAreMalformed() {
        let max = UInt32.max
        assertMalformed(Self.crafted(layers: max, keyWidth: max, valueWidth: max, tokens: max), "every count at UInt32.max")
        assertMalformed(Self.crafted(layers: 1, keyWidth: max, valueWidth: max, tokens: max), "widths × tokens × 2 overflow")
        assertMalformed(Self.crafted(layers: max, keyWidth: 1, valueWidth: 0, tokens: max, payload: 64), "layers × tokens overflow")
    }

    func testACacheSizeThatFitsButOverflowsWithTheHeaderIsMalformed() {
        // 2 × 2^30 × (2^32 − 1) = 2^63 − 2^31 bytes of cache: representable, but adding the header
        // and 4 × (2^32 − 1) token bytes passes Int.max.
        XCTAssertNotNil(SessionSnapshot.cacheBytes(layers: 1, keyWidth: 1 << 30, valueWidth: 0, tokens: Int(UInt32.max)))
        assertMalformed(Self.crafted(layers: 1, keyWidth: 1 << 30, valueWidth: 0, tokens: UInt32.max), "sum overflows")
        XCTAssertNil(SessionSnapshot.cacheBytes(layers: 1, keyWidth: (1 << 30) + 1, valueWidth: 0, tokens: Int(UInt32.max)))
        XCTAssertNil(SessionSnapshot.cacheBytes(layers: 1, keyWidth: Int.max, valueWidth: 1, tokens: 1), "width sum overflows")
    }

    /// Found by the fuzzer: widths of 0 with layers × tokens past Int.max (2^31.6 × 2^31.6).
    func testZeroWidthsWithHugeLayerAndTokenCountsAreMalformed() {
        assertMalformed(Self.crafted(layers: 0xC304_0000, keyWidth: 0, valueWidth: 0, tokens: 0xC000_0000, payload: 88), "0 × huge")
    }

    func testCountsThatDoNotMatchTheBlobLengthAreRefusedBeforeAllocating() {
        // 1 GiB of claimed cache (no overflow) in a blob of a few bytes: refused on the length.
        assertMalformed(Self.crafted(layers: 32, keyWidth: 1024, valueWidth: 1024, tokens: 8192, payload: 16), "claims 1 GiB")
        // One byte short and one byte long of a consistent shape.
        assertMalformed(Self.crafted(layers: 2, keyWidth: 4, valueWidth: 2, tokens: 3, payload: 12 + 71), "one byte short")
        assertMalformed(Self.crafted(layers: 2, keyWidth: 4, valueWidth: 2, tokens: 3, payload: 12 + 73), "one byte long")
        // Zero-sized shapes are consistent (an empty cache) and decode.
        XCTAssertNoThrow(try SessionSnapshot(serialized: Self.crafted(layers: 0, keyWidth: 0, valueWidth: 0, tokens: 0)))
    }

    func testTruncatedAndForeignBlobsAreMalformed() {
        XCTAssertThrowsError(try SessionSnapshot(serialized: []))
        XCTAssertThrowsError(try SessionSnapshot(serialized: Array("SLMKV002".utf8)))
        var wrongMagic = Self.crafted(layers: 0, keyWidth: 0, valueWidth: 0, tokens: 0)
        wrongMagic[0] = UInt8(ascii: "X")
        XCTAssertThrowsError(try SessionSnapshot(serialized: wrongMagic)) {
            XCTAssertEqual($0 as? SnapshotError, .malformed("not an slm KV snapshot"))
        }
    }
}
