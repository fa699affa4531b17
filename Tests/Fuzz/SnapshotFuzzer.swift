// libFuzzer target `snapshot`: the KV snapshot decoder (`SessionSnapshot(serialized:)`), which
// reads blobs back from the store. A blob carries a checksum over everything before it, so
// random bytes would almost never get past it; the harness appends the right checksum to the
// input, unless the input's first byte is odd, in which case the input is decoded as is (the
// checksum path itself gets exercised too).
@testable import SLMCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var blob = Array(UnsafeBufferPointer(start: data, count: size))
    if size > 0, data[0] & 1 == 0 {
        let sum = blob.withUnsafeBytes { snapshotChecksum($0) }
        for shift in stride(from: 0, to: 64, by: 8) { blob.append(UInt8(truncatingIfNeeded: sum >> UInt64(shift))) }
    }
    if let snapshot = try? SessionSnapshot(serialized: blob) {
        // What decodes must encode to the same bytes (the store rewrites snapshots it keeps);
        // only for an ASCII identity, since other bytes decode to U+FFFD and cannot come back.
        // A version-2 blob is written back as version 3, which must decode to the same snapshot.
        let current = blob.starts(with: SessionSnapshot.magic)
        if blob[8..<24].allSatisfy({ $0 < 0x80 }),
            current
                ? snapshot.serialized() != blob
                : (try? SessionSnapshot(serialized: snapshot.serialized())) != snapshot
        {
            fatalError("snapshot does not re-serialize to its input")
        }
    }
    return 0
}
