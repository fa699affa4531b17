import CSLMHeader
import SLMCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Library information, status names and models: slm_abi_version … slm_tokenize in slm.h.

/// Longest text `slm_tokenize` accepts; keeps every count inside the int32 the ABI returns.
let maxTokenizeBytes = 64 << 20

@_cdecl("slm_abi_version")
public func exportedABIVersion() -> UInt32 { UInt32(SLM_ABI_VERSION) }

private let versionCString = UnsafePointer(strdup(EngineVersion.string)!)

@_cdecl("slm_version")
public func exportedVersion() -> UnsafePointer<CChar> { versionCString }

@_cdecl("slm_status_string")
public func exportedStatusString(_ status: slm_status) -> UnsafePointer<CChar> {
    let name: StaticString
    switch status {
    case SLM_OK: name = "SLM_OK"
    case SLM_ERR_INVALID_ARGUMENT: name = "SLM_ERR_INVALID_ARGUMENT"
    case SLM_ERR_IO: name = "SLM_ERR_IO"
    case SLM_ERR_FORMAT: name = "SLM_ERR_FORMAT"
    case SLM_ERR_UNSUPPORTED: name = "SLM_ERR_UNSUPPORTED"
    case SLM_ERR_NO_MEMORY: name = "SLM_ERR_NO_MEMORY"
    case SLM_ERR_CONTEXT_FULL: name = "SLM_ERR_CONTEXT_FULL"
    case SLM_ERR_CANCELLED: name = "SLM_ERR_CANCELLED"
    case SLM_ERR_STORE: name = "SLM_ERR_STORE"
    case SLM_ERR_INTERNAL: name = "SLM_ERR_INTERNAL"
    default: name = "SLM_ERR_UNKNOWN"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("slm_last_error")
public func exportedLastError() -> UnsafePointer<CChar> { LastError.current }

@_cdecl("slm_model_default_params")
public func exportedModelDefaultParams() -> slm_model_params {
    slm_model_params(
        n_threads: 0, cpus: nil, n_cpus: 0, context_length: 0, use_mlock: false,
        cache_type_k: Int32(SLM_CACHE_F16.rawValue), cache_type_v: Int32(SLM_CACHE_F16.rawValue))
}

/// The KV cache type an `slm_cache_type` value names.
func cacheType(_ value: Int32, field: String) throws -> KVCacheType {
    switch value {
    case Int32(SLM_CACHE_F16.rawValue): return .f16
    case Int32(SLM_CACHE_Q8_0.rawValue): return .q8_0
    case Int32(SLM_CACHE_Q4_0.rawValue): return .q4_0
    default:
        throw CAPIError.invalidArgument(
            "\(field) must be SLM_CACHE_F16 (0), SLM_CACHE_Q8_0 (1) or SLM_CACHE_Q4_0 (2), got \(value)")
    }
}

/// The worker placement `slm_model_params` asks for: the listed CPUs (or the big cores when none
/// are listed), `n_threads` of them round-robin when set; checked by SLMCore's `WorkerPlacement`.
func workerPlacement(_ params: slm_model_params) throws -> WorkerPlacement {
    // size_t arrives as Int: read it back as unsigned, so SIZE_MAX is not -1 slipping past the checks.
    let nCPUs = UInt(bitPattern: params.n_cpus)
    if nCPUs > 0 && params.cpus == nil { throw CAPIError.invalidArgument("n_cpus is \(nCPUs) but cpus is NULL") }
    if nCPUs > UInt(CPUTopology.maxListLength) {
        throw CAPIError.invalidArgument("n_cpus must be at most \(CPUTopology.maxListLength), got \(nCPUs)")
    }
    let cpus = params.cpus.map { Array(UnsafeBufferPointer(start: $0, count: Int(nCPUs))).map(Int.init) } ?? []
    if let bad = cpus.first(where: { $0 < 0 }) { throw CAPIError.invalidArgument("CPU id \(bad) is negative") }
    // n_threads 0 is "automatic"; anything else, negative included, meets the one range check.
    return WorkerPlacement(threads: params.n_threads == 0 ? nil : Int(params.n_threads), cpus: cpus.isEmpty ? nil : cpus)
}

@_cdecl("slm_model_load")
public func exportedModelLoad(
    _ path: UnsafePointer<CChar>?, _ params: UnsafePointer<slm_model_params>?,
    _ outModel: UnsafeMutablePointer<OpaquePointer?>?
) -> slm_status {
    exported {
        guard let path else { throw CAPIError.invalidArgument("path is NULL") }
        guard let outModel else { throw CAPIError.invalidArgument("out_model is NULL") }
        let p = params?.pointee ?? exportedModelDefaultParams()
        let placement = try workerPlacement(p)
        if p.context_length < 0 || (p.context_length > 0 && p.context_length < 8) {
            throw CAPIError.invalidArgument("context_length must be 0 (automatic) or at least 8, got \(p.context_length)")
        }
        let cacheTypes = KVCacheTypes(
            key: try cacheType(p.cache_type_k, field: "cache_type_k"), value: try cacheType(p.cache_type_v, field: "cache_type_v"))
        let pool: ThreadPool
        do throws(CPUSelectionError) {
            pool = try placement.makePool()
        } catch {
            throw CAPIError.invalidArgument(error.message(threadsName: "n_threads", cpusName: "cpus"))
        }
        let engine = try Engine(modelPath: String(cString: path), pool: pool)
        if p.use_mlock { try engine.file.file.lockInMemory() }
        let model = ModelHandle(
            engine: engine, contextLength: p.context_length == 0 ? nil : Int(p.context_length), cacheTypes: cacheTypes)
        // A cache type the model's shape cannot take fails here, not at the first session.
        if cacheTypes != .f16 { _ = try engine.makeState(contextLength: 8, cacheTypes: cacheTypes) }
        outModel.pointee = model.retained()
        return SLM_OK
    }
}

@_cdecl("slm_model_free")
public func exportedModelFree(_ model: OpaquePointer?) {
    ModelHandle.release(model)
}

@_cdecl("slm_tokenize")
public func exportedTokenize(
    _ model: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ textLength: UInt,  // size_t: unsigned, so SIZE_MAX is not -1
    _ tokens: UnsafeMutablePointer<Int32>?, _ maxTokens: Int32,
    _ addSpecial: Bool, _ parseSpecial: Bool
) -> Int32 {
    var result = Int32.min
    let status = exported {
        guard let model = ModelHandle.borrow(model) else { throw CAPIError.invalidArgument("model is NULL") }
        guard let text else { throw CAPIError.invalidArgument("text is NULL") }
        if maxTokens < 0 { throw CAPIError.invalidArgument("max_tokens is negative (\(maxTokens))") }
        if maxTokens > 0 && tokens == nil { throw CAPIError.invalidArgument("tokens is NULL but max_tokens is \(maxTokens)") }
        if textLength > UInt(maxTokenizeBytes) {
            throw CAPIError.invalidArgument("text is \(textLength) bytes; slm_tokenize takes at most \(maxTokenizeBytes)")
        }
        let string = String(decoding: UnsafeRawBufferPointer(start: text, count: Int(textLength)), as: UTF8.self)
        let ids = model.engine.tokenizer.encode(string, addSpecial: addSpecial, parseSpecial: parseSpecial)
        if ids.count > Int(maxTokens) {
            result = -Int32(ids.count)
            return SLM_OK
        }
        if let tokens, !ids.isEmpty { ids.withUnsafeBufferPointer { tokens.update(from: $0.baseAddress!, count: ids.count) } }
        result = Int32(ids.count)
        return SLM_OK
    }
    if status != SLM_OK { return Int32.min }
    if result < 0 { LastError.set("the token buffer holds \(maxTokens) tokens; \(-result) are needed") }
    return result
}
