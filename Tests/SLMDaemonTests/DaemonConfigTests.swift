import Foundation
import SLMProtocol
import XCTest

/// The config file sets what the command line sets; mistakes stop slmd with a clear message.
final class DaemonConfigTests: XCTestCase {
    func testConfigFileSetsLimitsAndTheCommandLineOverridesIt() throws {
        let directory = NSTemporaryDirectory() + "slmd-config-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/slmd.conf"
        try """
        # slmd settings
        max-clients = 3
        max_active = 2
        max-queue = 5
        log-level = debug
        memory-budget = 1.5G
        prompt_cache_bytes = 48MiB

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let d = try DaemonHarness(arguments: ["--config", config, "--max-queue", "7"], directory: directory)
        defer {
            d.stop()
            d.removeFiles()
        }
        let limits = try XCTUnwrap(d.request(#"{"id":1,"op":"info"}"#)[0]["limits"])
        XCTAssertEqual(limits["max_clients"], .number(3))
        XCTAssertEqual(limits["max_active_generations"], .number(2))
        XCTAssertEqual(limits["max_queued_requests"], .number(7))
        XCTAssertEqual(limits["memory_budget_bytes"], .number(1_610_612_736))
        XCTAssertEqual(limits["prompt_cache_bytes"], .number(50_331_648))
    }

    func testBadSettingsExitWithStatus2AndSayWhy() throws {
        let model = try DaemonHarness.modelPath()
        for (arguments, expected) in [
            (["-m", model, "--max-clients", "lots"], "max-clients must be an integer"),
            (["-m", model, "--bogus", "1"], "unknown option --bogus"),
            (["-m", model, "--memory-budget", "lots"], "memory-budget must be a size"),
            (["-m", model, "--memory-budget", "1.5.2G"], "memory-budget must be a size"),
            (["-m", model, "--prompt-cache-bytes", "-1"], "prompt-cache-bytes must be a size"),
            (["-m", model, "--memory-budget", "99999999T"], "memory-budget must be a size"),
            (["--socket", "/tmp/x.sock"], "no model"),
            (["-m", model, "--cpus", "3-1"], "range 3-1 is descending"),
            (["-m", model, "--cpus", "4000"], "CPU 4000 not available to this process"),
        ] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: DaemonHarness.slmdPath)
            p.arguments = arguments
            let errors = Pipe()
            p.standardError = errors
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 2, "\(arguments)")
            XCTAssertTrue(text.contains(expected), "\(arguments): \(text)")
        }
    }

    func testUsageListsEverySettingWithItsDefault() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: DaemonHarness.slmdPath)
        p.arguments = ["--help"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        for expected in [
            "-m, --model [NAME=]FILE", "-t, --threads N", "--cpus LIST", "-c, --ctx-size N", "--db PATH",
            "--max-clients N", "(default 64)", "--max-pending-write-bytes N", "(default 262144)",
            "--shutdown-grace-ms N", "(default 2000)", "--log-level LEVEL", "(default info)", "--config FILE",
        ] {
            XCTAssertTrue(text.contains(expected), "usage lacks \(expected):\n\(text)")
        }
    }
}
