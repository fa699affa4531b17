import CSLMHeader
import SLMCore
import SLMStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Failures the C API finds itself, before or around the engine.
enum CAPIError: Error, Equatable, CustomStringConvertible {
    case invalidArgument(String)
    case sessionBusy
    case cancelled
    case internalFailure(String)

    var description: String {
        switch self {
        case .invalidArgument(let what): return what
        case .sessionBusy: return "the session is already running a call (one call per session at a time)"
        case .cancelled: return "cancelled by slm_session_cancel"
        case .internalFailure(let what): return "internal error: \(what)"
        }
    }
}

/// The one place where Swift errors become `slm_status` codes; the message is the error's own
/// description, which names the file, key or limit involved.
func status(for error: any Error) -> slm_status {
    switch error {
    case let e as CAPIError:
        switch e {
        case .invalidArgument, .sessionBusy: return SLM_ERR_INVALID_ARGUMENT
        case .cancelled: return SLM_ERR_CANCELLED
        case .internalFailure: return SLM_ERR_INTERNAL
        }
    case let e as GGUFError:
        if case .cannotOpen = e { return SLM_ERR_IO }
        return SLM_ERR_FORMAT
    case let e as ComputeError:
        switch e {
        case .unsupportedTensorType, .unsupportedCacheType: return SLM_ERR_UNSUPPORTED
        case .allocationFailed: return SLM_ERR_NO_MEMORY
        }
    case let e as ModelError:
        switch e {
        case .unsupportedArchitecture, .unsupportedFeature: return SLM_ERR_UNSUPPORTED
        case .invalidHyperparameter: return SLM_ERR_FORMAT
        case .contextTooSmall, .tokenOutOfRange, .emptyInput: return SLM_ERR_INVALID_ARGUMENT
        case .contextFull, .messageLongerThanContext: return SLM_ERR_CONTEXT_FULL
        }
    case let e as TokenizerError:
        switch e {
        case .unsupportedModel, .unsupportedPreTokenizer: return SLM_ERR_UNSUPPORTED
        case .missingKey, .invalidValue, .badMergeLine: return SLM_ERR_FORMAT
        case .tokenOutOfRange: return SLM_ERR_INVALID_ARGUMENT
        }
    case is SamplingError, is EmbeddingError:
        return SLM_ERR_INVALID_ARGUMENT
    case is ChatTemplateError:
        return SLM_ERR_UNSUPPORTED  // the model's chat template uses what slm cannot render
    case is JSONParseError:
        return SLM_ERR_FORMAT
    case is SnapshotError:
        return SLM_ERR_STORE
    case let e as StoreError:
        switch e {
        case .tooLarge, .invalidText: return SLM_ERR_INVALID_ARGUMENT
        case .notFound, .diskFull, .newerSchema, .quotaExceeded, .busy, .sqlite, .io: return SLM_ERR_STORE
        }
    default:
        return SLM_ERR_INTERNAL
    }
}

/// Runs the body of an exported call: clears this thread's last error (also at the end of a
/// successful call, in case a callback made a failing call meanwhile), and turns a thrown error
/// into its status and message.
func exported(_ body: () throws -> slm_status) -> slm_status {
    LastError.clear()
    do {
        let status = try body()
        LastError.clear()
        return status
    } catch {
        LastError.set("\(error)")
        return status(for: error)
    }
}

/// `slm_last_error`'s storage: one malloc'd C string per thread, freed when it is replaced and
/// when the thread exits.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()
    private static let empty: StaticString = ""

    static func set(_ message: String) {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, strdup(message))
        free(previous)
    }

    static func clear() {
        guard let previous = pthread_getspecific(key) else { return }
        pthread_setspecific(key, nil)
        free(previous)
    }

    static var current: UnsafePointer<CChar> {
        if let message = pthread_getspecific(key) { return UnsafePointer(message.assumingMemoryBound(to: CChar.self)) }
        return UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
