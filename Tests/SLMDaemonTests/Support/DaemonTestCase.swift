import Foundation
import XCTest

/// The sanitizer scripts/sanitizers.sh runs these tests under (`SLM_TEST_SANITIZER`), if any.
/// Its runtime slows the daemon several times over and reserves shadow memory, so a wall-clock or
/// memory bound would measure the sanitizer, not slm: under one, time bounds widen by `timeScale`,
/// and RSS bounds and address-space limits are not checked (the code paths still run).
enum TestSanitizer {
    static let name: String? = ProcessInfo.processInfo.environment["SLM_TEST_SANITIZER"]
    static var active: Bool { name != nil }
    static var timeScale: Double { active ? 20 : 1 }
}

/// Tests that start daemons of their own settings: each one `daemon(_:)` starts is stopped, and
/// its files removed, after the test.
class DaemonTestCase: XCTestCase {
    private var daemons: [DaemonHarness] = []

    override func tearDown() {
        for d in daemons {
            d.stop()
            d.removeFiles()
        }
        daemons = []
        super.tearDown()
    }

    func daemon(_ arguments: [String] = []) throws -> DaemonHarness {
        let d = try DaemonHarness(arguments: arguments)
        daemons.append(d)
        return d
    }
}
