import CSLMHeader
import SLMCore
import SLMStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The conversation store: slm_store_open … slm_store_delete, slm_session_attach/detach.

/// `slm_store`. The database closes when the last reference goes: the caller's handle and every
/// session attached through it.
final class StoreHandle: OpaqueHandle {
    let store: ConversationStore
    init(store: ConversationStore) { self.store = store }
    deinit { store.close() }
}

/// A session's binding to a stored conversation; keeps the store open.
final class AttachedConversation {
    let storeHandle: StoreHandle
    let chat: PersistentChat

    init(storeHandle: StoreHandle, chat: PersistentChat) {
        self.storeHandle = storeHandle
        self.chat = chat
    }

    /// One stored turn: a cancelled reply is stored (marked) and stays in the history; a full
    /// context or another error stores nothing.
    func turn(
        _ message: String, options: GenerationOptions, on session: SessionHandle,
        onToken: slm_token_callback?, userData: UnsafeMutableRawPointer?
    ) throws {
        let generation = try chat.startTurn(userMessage: message, options: options)
        do {
            _ = try session.drive(generation, onToken: onToken, userData: userData)
        } catch CAPIError.cancelled {
            try chat.finishTurn(generation)
            throw CAPIError.cancelled
        }
        try chat.finishTurn(generation)
    }
}

/// Conversations belong to the Unix user running the program, as they do in slmd.
private func currentOwner() -> OwnerID { OwnerID(getuid()) }

private func storeArgument(_ store: OpaquePointer?) throws -> StoreHandle {
    guard let handle = StoreHandle.borrow(store) else { throw CAPIError.invalidArgument("store is NULL") }
    return handle
}

@_cdecl("slm_store_open")
public func exportedStoreOpen(_ path: UnsafePointer<CChar>?, _ outStore: UnsafeMutablePointer<OpaquePointer?>?) -> slm_status {
    exported {
        guard let path else { throw CAPIError.invalidArgument("path is NULL") }
        guard let outStore else { throw CAPIError.invalidArgument("out_store is NULL") }
        let store = try ConversationStore(path: String(cString: path))
        outStore.pointee = StoreHandle(store: store).retained()
        return SLM_OK
    }
}

@_cdecl("slm_store_close")
public func exportedStoreClose(_ store: OpaquePointer?) {
    StoreHandle.release(store)
}

@_cdecl("slm_session_attach")
public func exportedSessionAttach(
    _ session: OpaquePointer?, _ store: OpaquePointer?, _ conversation: Int64,
    _ outConversation: UnsafeMutablePointer<Int64>?
) -> slm_status {
    exported {
        guard let handle = SessionHandle.borrow(session) else { throw CAPIError.invalidArgument("session is NULL") }
        let storeHandle = try storeArgument(store)
        if conversation < 0 { throw CAPIError.invalidArgument("conversation id \(conversation) is negative (0 = a new one)") }
        try handle.exclusive {
            let persistent = try PersistentChat(
                store: storeHandle.store, session: handle.session, owner: currentOwner(),
                conversation: conversation == 0 ? nil : conversation)
            // slm.h promises the id at once, so a new conversation is created here, empty.
            let id = try persistent.createConversationNow()
            handle.conversation = AttachedConversation(storeHandle: storeHandle, chat: persistent)
            handle.chat = persistent.chat
            outConversation?.pointee = id
        }
        return SLM_OK
    }
}

@_cdecl("slm_session_detach")
public func exportedSessionDetach(_ session: OpaquePointer?) -> slm_status {
    exported {
        guard let handle = SessionHandle.borrow(session) else { throw CAPIError.invalidArgument("session is NULL") }
        try handle.exclusive { handle.conversation = nil }
        return SLM_OK
    }
}

@_cdecl("slm_store_list")
public func exportedStoreList(
    _ store: OpaquePointer?, _ limit: Int32, _ offset: Int32,
    _ onConversation: slm_conversation_callback?, _ userData: UnsafeMutableRawPointer?
) -> slm_status {
    exported {
        let handle = try storeArgument(store)
        guard let onConversation else { throw CAPIError.invalidArgument("on_conversation is NULL") }
        guard limit >= 1 && Int(limit) <= ConversationStore.maxListLimit else {
            throw CAPIError.invalidArgument("limit must be 1...\(ConversationStore.maxListLimit), got \(limit)")
        }
        guard offset >= 0 else { throw CAPIError.invalidArgument("offset is negative (\(offset))") }
        let conversations = try handle.store.listConversations(owner: currentOwner(), limit: Int(limit), offset: Int(offset))
        for c in conversations {
            let keepGoing = c.title.withCString { title in
                var entry = slm_conversation(
                    id: c.id, title: title, created_at_ms: c.createdAt, updated_at_ms: c.updatedAt,
                    message_count: Int32(clamping: c.messageCount))
                return onConversation(&entry, userData)
            }
            if !keepGoing { break }
        }
        return SLM_OK
    }
}

@_cdecl("slm_store_messages")
public func exportedStoreMessages(
    _ store: OpaquePointer?, _ conversation: Int64,
    _ onMessage: slm_message_callback?, _ userData: UnsafeMutableRawPointer?
) -> slm_status {
    exported {
        let handle = try storeArgument(store)
        guard let onMessage else { throw CAPIError.invalidArgument("on_message is NULL") }
        for m in try handle.store.messages(of: conversation, owner: currentOwner()) {
            let keepGoing = m.role.withCString { role in
                m.content.withCString { content in
                    var entry = slm_message(role: role, content: content, cancelled: m.cancelled)
                    return onMessage(&entry, userData)
                }
            }
            if !keepGoing { break }
        }
        return SLM_OK
    }
}

@_cdecl("slm_store_delete")
public func exportedStoreDelete(_ store: OpaquePointer?, _ conversation: Int64) -> slm_status {
    exported {
        let handle = try storeArgument(store)
        try handle.store.deleteConversation(conversation, owner: currentOwner())
        return SLM_OK
    }
}
