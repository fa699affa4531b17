#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Measures how fast the worker threads can stream memory, the ceiling for decode: generating a
/// token reads every weight once, so tokens/s can be at most bandwidth ÷ bytes of weights.
public enum MemoryBandwidth {
    /// Default buffer: far larger than any last-level cache, so reads come from DRAM.
    public static let defaultBytes = 1 << 30
    /// Smallest buffer accepted (below this the probe measures caches, not memory).
    public static let minimumBytes = 1 << 20

    /// Read bandwidth in bytes per second of every repeat: each worker sums its contiguous
    /// slice of a `bytes`-long buffer, the way a matvec walks its rows. One untimed pass first
    /// (page faults, frequency ramp-up).
    public static func measureRead(bytes: Int = defaultBytes, repeats: Int, pool: ThreadPool) throws -> [Double] {
        let words = max(bytes, minimumBytes) / MemoryLayout<SIMD8<UInt64>>.size
        let buffer = try AnonymousBuffer(byteCount: words * MemoryLayout<SIMD8<UInt64>>.size)
        let vectors = buffer.base.bindMemory(to: SIMD8<UInt64>.self, capacity: words)
        pool.parallelFor(words) { range in
            for i in range { vectors[i] = SIMD8(repeating: UInt64(i)) }
        }
        let sums = UnsafeMutablePointer<UInt64>.allocate(capacity: pool.effectiveCount * 8)
        defer { sums.deallocate() }

        func pass() -> Double {
            let started = MonotonicClock.now()
            pool.run { worker, workers in
                let range = ThreadPool.chunk(words, index: worker, of: workers)
                // Four independent accumulators keep several loads in flight.
                var a = SIMD8<UInt64>()
                var b = SIMD8<UInt64>()
                var c = SIMD8<UInt64>()
                var d = SIMD8<UInt64>()
                var i = range.lowerBound
                while i + 4 <= range.upperBound {
                    a &+= vectors[i]
                    b &+= vectors[i + 1]
                    c &+= vectors[i + 2]
                    d &+= vectors[i + 3]
                    i += 4
                }
                while i < range.upperBound {
                    a &+= vectors[i]
                    i += 1
                }
                // Stored so the compiler cannot drop the loads; each worker owns a cache line.
                sums[worker * 8] = (a &+ b &+ c &+ d).wrappedSum()
            }
            return Double(words * MemoryLayout<SIMD8<UInt64>>.size) / max(MonotonicClock.now() - started, 1e-9)
        }

        _ = pass()
        return (0..<max(1, repeats)).map { _ in pass() }
    }
}
