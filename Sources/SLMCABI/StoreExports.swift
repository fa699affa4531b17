import CSLMHeader
import SLMCore

// The conversation store: slm_store_open … slm_store_delete. Waits for SLMStore (branch `store`).

/// A session's binding to a stored conversation.
final class AttachedConversation {
    func turn(_ message: String, options: GenerationOptions, on session: SessionHandle,
              onToken: slm_token_callback?, userData: UnsafeMutableRawPointer?) throws {
        throw CAPIError.internalFailure("the conversation store is not built into this library")
    }
}

/// Status codes of the store's errors (nil: not a store error).
func storeStatus(for error: any Error) -> slm_status? { nil }

private func notBuilt() -> slm_status {
    exported { throw CAPIError.internalFailure("the conversation store is not built into this library") }
}

@_cdecl("slm_store_open")
public func exportedStoreOpen(_ path: UnsafePointer<CChar>?, _ outStore: UnsafeMutablePointer<OpaquePointer?>?) -> slm_status { notBuilt() }

@_cdecl("slm_store_close")
public func exportedStoreClose(_ store: OpaquePointer?) {}

@_cdecl("slm_session_attach")
public func exportedSessionAttach(_ session: OpaquePointer?, _ store: OpaquePointer?, _ conversation: Int64,
                                  _ outConversation: UnsafeMutablePointer<Int64>?) -> slm_status { notBuilt() }

@_cdecl("slm_session_detach")
public func exportedSessionDetach(_ session: OpaquePointer?) -> slm_status { notBuilt() }

@_cdecl("slm_store_list")
public func exportedStoreList(_ store: OpaquePointer?, _ limit: Int32, _ offset: Int32,
                              _ onConversation: slm_conversation_callback?, _ userData: UnsafeMutableRawPointer?) -> slm_status { notBuilt() }

@_cdecl("slm_store_messages")
public func exportedStoreMessages(_ store: OpaquePointer?, _ conversation: Int64,
                                  _ onMessage: slm_message_callback?, _ userData: UnsafeMutableRawPointer?) -> slm_status { notBuilt() }

@_cdecl("slm_store_delete")
public func exportedStoreDelete(_ store: OpaquePointer?, _ conversation: Int64) -> slm_status { notBuilt() }
