import CSLMHeader
import SLMCore

// Embeddings: slm_embed_default_params … slm_embed_binary in slm.h.

@_cdecl("slm_embed_default_params")
public func exportedEmbedDefaultParams() -> slm_embed_params {
    slm_embed_params(pooling: -1, dims: 0, normalize: true, truncate: false)
}

@_cdecl("slm_embedding_size")
public func exportedEmbeddingSize(_ model: OpaquePointer?) -> Int32 {
    guard let model = ModelHandle.borrow(model) else { return -1 }
    return Int32(model.engine.model.embeddingLength)
}

@_cdecl("slm_embed")
public func exportedEmbed(
    _ model: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ count: UInt,
    _ params: UnsafePointer<slm_embed_params>?, _ out: UnsafeMutablePointer<Float>?, _ maxFloats: Int32
) -> Int32 {
    embed(model, texts, count, params, binary: false, capacity: maxFloats, outIsNull: out == nil) { embeddings, width in
        for (i, e) in embeddings.enumerated() {
            e.vectors[0].withUnsafeBufferPointer { (out! + i * width).update(from: $0.baseAddress!, count: width) }
        }
    }
}

@_cdecl("slm_embed_binary")
public func exportedEmbedBinary(
    _ model: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ count: UInt,
    _ params: UnsafePointer<slm_embed_params>?, _ out: UnsafeMutablePointer<UInt8>?, _ maxBytes: Int32
) -> Int32 {
    embed(model, texts, count, params, binary: true, capacity: maxBytes, outIsNull: out == nil) { embeddings, width in
        for (i, e) in embeddings.enumerated() {
            e.bits[0].withUnsafeBufferPointer { (out! + i * width).update(from: $0.baseAddress!, count: width) }
        }
    }
}

/// The checks and the run both exports share; `write` copies the results, `width` elements each.
private func embed(
    _ model: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ count: UInt,
    _ params: UnsafePointer<slm_embed_params>?, binary: Bool, capacity: Int32, outIsNull: Bool,
    write: ([Embedding], Int) -> Void
) -> Int32 {
    var result = Int32.min
    let status = exported {
        guard let model = ModelHandle.borrow(model) else { throw CAPIError.invalidArgument("model is NULL") }
        guard let texts else { throw CAPIError.invalidArgument("texts is NULL") }
        if capacity < 0 { throw CAPIError.invalidArgument("the output size is negative (\(capacity))") }
        if capacity > 0 && outIsNull { throw CAPIError.invalidArgument("out is NULL but its size is \(capacity)") }
        if count == 0 || count > UInt(EmbeddingLimits.maxInputs) {
            throw CAPIError.invalidArgument("n_texts must be 1 to \(EmbeddingLimits.maxInputs), got \(count)")
        }
        let p = params?.pointee ?? exportedEmbedDefaultParams()
        let available = model.engine.model.embeddingLength
        if p.dims < 0 || Int(p.dims) > available {
            throw CAPIError.invalidArgument("dims must be 0 (all) to \(available), got \(p.dims)")
        }
        var pooling: Pooling?
        switch p.pooling {
        case -1: pooling = nil
        case 1: pooling = .mean
        case 2: pooling = .cls
        case 3: pooling = .last
        default:
            throw CAPIError.invalidArgument("pooling must be SLM_POOLING_MODEL, _MEAN, _CLS or _LAST, got \(p.pooling)")
        }
        let dims = p.dims == 0 ? available : Int(p.dims)
        let width = binary ? (dims + 7) / 8 : dims
        let needed = Int(count) * width
        guard needed <= Int(Int32.max) else {
            throw CAPIError.invalidArgument("\(count) texts of \(width) values do not fit an int32 count")
        }
        if needed > Int(capacity) {
            result = -Int32(needed)
            return SLM_OK
        }
        var strings: [String] = []
        strings.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            guard let text = texts[i] else { throw CAPIError.invalidArgument("texts[\(i)] is NULL") }
            strings.append(String(cString: text))
        }
        let options = EmbeddingOptions(
            pooling: pooling, normalize: p.normalize, dimensions: p.dims == 0 ? nil : dims, binary: binary, truncate: p.truncate)
        let run = try EmbeddingRun(engine: model.engine, texts: strings, options: options)
        // Pass by pass under the model's lock, so generations on other threads take turns.
        while try !model.compute.withLock({ _ in try model.engine.pool.withCallerThreadRestored { try run.step() } }) {}
        write(run.results, width)
        result = Int32(needed)
        return SLM_OK
    }
    return status == SLM_OK ? result : Int32.min
}
