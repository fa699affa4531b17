import XCTest

@testable import SLMCompute
@testable import SLMCore
@testable import SLMModels

final class CPUTopologyTests: XCTestCase {
    func testListsAndRangesParse() throws {
        XCTAssertEqual(try CPUTopology.parseList("0,2-3"), [0, 2, 3])
        XCTAssertEqual(try CPUTopology.parseList(" 5, 1-2,2 \n"), [1, 2, 5])
        XCTAssertEqual(try CPUTopology.parseList("7-7"), [7])
        for bad in ["", ",", "1,", "a", "1-", "-1", "3-1", "1-2-3", "0,99999", "1.5"] {
            XCTAssertThrowsError(try CPUTopology.parseList(bad), "'\(bad)'") { error in
                guard case CPUSelectionError.invalidList = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(CPUTopology.format([4, 0, 2, 3, 3]), "0,2-4")
        XCTAssertEqual(CPUTopology.format([]), "")
    }

    /// An RK3588-like board: four little cores at 1.8 GHz, four big ones at 2.4 GHz.
    func testBigCoresAreTheFastestOnes() throws {
        var frequencies: [Int: Int] = [:]
        for cpu in 0..<4 { frequencies[cpu] = 1_800_000 }
        for cpu in 4..<8 { frequencies[cpu] = 2_400_000 }
        let board = CPUTopology(available: Array(0..<8), maxFrequencyKHz: frequencies)
        let choice = board.bigCores()
        XCTAssertEqual(choice.cpus, [4, 5, 6, 7])
        XCTAssertTrue(choice.reason.contains("2400 MHz") && choice.reason.contains("1800"), choice.reason)
        XCTAssertEqual(try board.workerCPUs(threads: nil, requested: nil), [4, 5, 6, 7])
        XCTAssertEqual(try board.workerCPUs(threads: 2, requested: nil), [4, 5])
        XCTAssertEqual(try board.workerCPUs(threads: 3, requested: [0, 7]), [0, 7, 0])
        XCTAssertThrowsError(try board.workerCPUs(threads: nil, requested: [8]))
        XCTAssertThrowsError(try board.workerCPUs(threads: 0, requested: nil))
    }

    /// The one thread-count check and its wording, which every front end prefixes with its name
    /// for the setting.
    func testPlacementChecksTheThreadCountOnce() throws {
        let board = CPUTopology(available: [0, 1, 2, 3], maxFrequencyKHz: [:])
        for bad in [0, -1, ThreadPool.maxThreads + 1] {
            XCTAssertThrowsError(try WorkerPlacement(threads: bad, cpuList: nil)) { error in
                XCTAssertEqual(error as? CPUSelectionError, .invalidThreadCount(bad, maximum: ThreadPool.maxThreads))
                XCTAssertEqual(
                    (error as? CPUSelectionError)?.message(threadsName: "-t", cpusName: "--cpus"),
                    "-t: thread count must be between 1 and \(ThreadPool.maxThreads), got \(bad)")
            }
            XCTAssertThrowsError(try WorkerPlacement(threads: bad).workerCPUs(on: board))
        }
        XCTAssertThrowsError(try WorkerPlacement(threads: 2, cpuList: "3-1")) { error in
            XCTAssertTrue(
                (error as? CPUSelectionError)?.message(threadsName: "n_threads", cpusName: "cpus").hasPrefix("cpus: invalid CPU list")
                    ?? false)
        }
        XCTAssertEqual(try WorkerPlacement(threads: 3, cpuList: "1-2").workerCPUs(on: board), [1, 2, 1])
        XCTAssertEqual(try WorkerPlacement().workerCPUs(on: board), [0, 1, 2, 3])
        XCTAssertThrowsError(try WorkerPlacement(cpus: [7]).workerCPUs(on: board))
    }

    func testEqualOrUnknownFrequenciesUseEveryCPU() {
        let equal = CPUTopology(available: [0, 1], maxFrequencyKHz: [0: 3_000_000, 1: 3_000_000])
        XCTAssertEqual(equal.bigCores().cpus, [0, 1])
        let unknown = CPUTopology(available: [0, 1, 2], maxFrequencyKHz: [0: 3_000_000])
        XCTAssertEqual(unknown.bigCores().cpus, [0, 1, 2])
        XCTAssertTrue(unknown.bigCores().reason.contains("all 3"), unknown.bigCores().reason)
    }

    func testThisMachineOffersAtLeastOneCPU() {
        let here = CPUTopology.current()
        XCTAssertFalse(here.available.isEmpty)
        XCTAssertFalse(here.bigCores().cpus.isEmpty)
    }
}
