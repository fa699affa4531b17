import SLMCore
import SLMProtocol

/// The conversation store as the daemon uses it. Placeholder until SLMStore lands (branch
/// `store`): without it `chat` and `conversations.*` answer `unsupported`.
final class StoreAccess {
    var chatBackend: ChatBackend? { nil }

    func perform(_ op: Operation, id: RequestID, owner: UInt32, connection: UInt64, daemon: Daemon) {
        daemon.deliver(Reply.error(id: id, code: .unsupported, message: "no conversation store"), to: connection)
    }

    func close() {}
}

func classifyStoreError(_ error: any Error) -> (ErrorCode, String)? { nil }

extension StoreAccess {
    static func open(config: DaemonConfig, engine: Engine) throws(DaemonError) -> StoreAccess? { nil }
}
