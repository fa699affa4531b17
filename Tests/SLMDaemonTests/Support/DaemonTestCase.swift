import XCTest

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
