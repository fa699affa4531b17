import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

final class ThreadPoolTests: XCTestCase {
    func testEveryWorkerRunsEveryJobOnce() {
        let pool = ThreadPool(threads: 4)
        XCTAssertEqual(pool.effectiveCount, 4)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: 4)
        for _ in 0..<2000 {
            pool.run { worker, total in
                XCTAssertEqual(total, 4)
                counts[worker] += 1
            }
        }
        XCTAssertEqual((0..<4).map { counts[$0] }, [2000, 2000, 2000, 2000])
    }

    /// What a worker writes before `barrier` is seen by every worker after it, barrier after
    /// barrier in one job and across jobs (the prompt matmuls quantize, meet, then multiply).
    func testBarrierSeparatesPhases() {
        for threads in [1, 2, 3, 4] {
            let pool = ThreadPool(threads: threads)
            let slots = UnsafeMutablePointer<Int>.allocate(capacity: threads)
            defer { slots.deallocate() }
            slots.initialize(repeating: -1, count: threads)
            let mismatches = UnsafeMutablePointer<Int>.allocate(capacity: threads)
            defer { mismatches.deallocate() }
            mismatches.initialize(repeating: 0, count: threads)
            for job in 0..<300 {
                pool.run { worker, workers in
                    for phase in 0..<3 {
                        let stamp = job * 3 + phase
                        slots[worker] = stamp
                        pool.barrier(workers)
                        for other in 0..<workers where slots[other] != stamp { mismatches[worker] += 1 }
                        pool.barrier(workers)
                    }
                }
            }
            XCTAssertEqual((0..<threads).map { mismatches[$0] }, Array(repeating: 0, count: threads), "\(threads) threads")
        }
    }

    func testParallelForCoversTheRangeExactlyOnce() {
        let pool = ThreadPool(threads: 3)
        for count in [0, 1, 2, 3, 7, 100, 1001] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            pool.parallelFor(count) { range in
                for i in range { hits[i] += 1 }
            }
            XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count)")
            hits.deallocate()
        }
    }

    func testChunksPartitionTheRange() {
        for count in [0, 5, 64, 1000] {
            for parts in 1...7 {
                let ranges = (0..<parts).map { ThreadPool.chunk(count, index: $0, of: parts) }
                XCTAssertEqual(ranges.map(\.count).reduce(0, +), count)
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                XCTAssertLessThanOrEqual((ranges.map(\.count).max() ?? 0) - (ranges.map(\.count).min() ?? 0), 1)
            }
        }
    }

    func testDynamicChunksCoverTheRangeExactlyOnce() {
        let pool = ThreadPool(threads: 3)
        for (count, grain) in [(0, 4), (1, 4), (10, 3), (100, 16), (1001, 7), (5, 100)] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            pool.parallelForDynamic(count, grain: grain) { range in
                XCTAssertLessThanOrEqual(range.count, grain)
                for i in range { hits[i] += 1 }
            }
            XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count) grain \(grain)")
            hits.deallocate()
        }
    }

    /// Pinned workers run on their CPU (where the kernel allows pinning at all).
    func testPinnedWorkersRunOnTheirCPU() throws {
        let available = CPUTopology.current().available
        let cpu = available.last!
        // The calling thread becomes worker 0 and stays pinned: undo that for the other tests.
        defer { CPUTopology.pinCurrentThread(toAnyOf: available) }
        let pool = ThreadPool(threads: 2, cpus: [cpu])
        XCTAssertEqual(pool.cpus, [cpu, cpu])
        let masks = UnsafeMutablePointer<[Int]?>.allocate(capacity: 2)
        masks.initialize(repeating: nil, count: 2)
        defer {
            masks.deinitialize(count: 2)
            masks.deallocate()
        }
        pool.run { worker, _ in masks[worker] = CPUTopology.affinityMask() }
        if pool.unpinnedWorkers > 0 { throw XCTSkip("the kernel refused pinning here") }
        XCTAssertEqual(masks[0], [cpu])
        XCTAssertEqual(masks[1], [cpu])
    }

    /// A lent caller thread works pinned and gets its own CPUs back afterwards.
    func testCallerThreadGetsItsAffinityBack() throws {
        // Earlier tests' engines leave this thread pinned as their worker 0: unpin it first (the
        // kernel keeps only the CPUs the process may use).
        CPUTopology.pinCurrentThread(toAnyOf: Array(0..<max(1, sysconf(Int32(_SC_NPROCESSORS_CONF)))))
        let available = CPUTopology.current().available
        guard available.count > 1, let before = CPUTopology.affinityMask() else {
            throw XCTSkip("needs two CPUs and an affinity mask")
        }
        let cpu = available.last!
        let pool = ThreadPool(threads: 2, cpus: [cpu])
        var during: [Int]? = nil
        pool.withCallerThreadRestored {
            pool.run { worker, _ in if worker == 0 { during = CPUTopology.affinityMask() } }
        }
        if pool.unpinnedWorkers > 0 { throw XCTSkip("the kernel refused pinning here") }
        XCTAssertEqual(during, [cpu])
        XCTAssertEqual(CPUTopology.affinityMask(), before)
        // A second scope pins again (the pool must not think the thread is still pinned).
        pool.withCallerThreadRestored {
            pool.run { worker, _ in if worker == 0 { during = CPUTopology.affinityMask() } }
        }
        XCTAssertEqual(during, [cpu])
        XCTAssertEqual(CPUTopology.affinityMask(), before)
    }

    /// Pools are created and destroyed with their engines; destroying one must stop and join its
    /// threads, including ones parked after spinning.
    func testPoolsShutDownCleanly() throws {
        let before = try Self.threadsInProcess()
        for i in 0..<50 {
            weak var released: ThreadPool?
            do {
                let pool = ThreadPool(threads: 3)
                released = pool
                if i % 2 == 0 { usleep(2000) }  // let the workers park first
                if i % 3 != 0 { pool.run { _, _ in } }  // and some pools never run a job
            }
            XCTAssertNil(released, "pool \(i) outlived its last owner")
        }
        // Every worker was joined: no thread is left behind (each pool started two).
        XCTAssertEqual(try Self.threadsInProcessSettled(at: before), before)
        XCTAssertEqual(ThreadPool(threads: 0).effectiveCount, 1)
        XCTAssertEqual(ThreadPool(threads: 100_000).threadCount, ThreadPool.maxThreads)
    }

    /// The thread count once it is back at `expected`, or after 2 s: XCTest and Foundation start
    /// and end threads of their own (one was seen finishing just after a count), and a pool's
    /// joined workers are gone at once, so only a leak keeps the count up for that long.
    static func threadsInProcessSettled(at expected: Int) throws -> Int {
        var count = try threadsInProcess()
        for _ in 0..<200 where count != expected {
            usleep(10_000)
            count = try threadsInProcess()
        }
        return count
    }

    /// Threads of this process, from /proc (Linux).
    static func threadsInProcess() throws -> Int {
        guard let dir = opendir("/proc/self/task") else { throw XCTSkip("no /proc/self/task") }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first != UInt8(ascii: ".") { count += 1 }
        }
        return count
    }

    /// A pool dropped right after it is created, while its workers are still starting, must
    /// still stop and join them on the dropping thread (a failed model load does exactly this).
    func testPoolDroppedWhileWorkersStartIsJoined() throws {
        let before = try Self.threadsInProcess()
        for _ in 0..<300 { _ = ThreadPool(threads: 2) }
        XCTAssertEqual(try Self.threadsInProcessSettled(at: before), before)
    }
}
