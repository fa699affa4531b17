// libFuzzer target `http`: the bytes a client writes to an HTTP connection. The first byte sets
// the size of the reads the daemon would see (1 to 256 bytes; a stream split anywhere must parse
// the same); the rest goes through `HTTPRequestParser` as slmd feeds it, one request at a time,
// with small limits so that every limit's path is reached. A request or an `HTTPRequestError` is
// a normal outcome; a trap, a sanitizer report, a hang, or a request over the limits is a finding.
// Each request's body also goes through the OpenAI and Ollama decoders slmd would run on it.
import SLMProtocol

private let limits = HTTPLimits(maxHeaderBytes: 2048, maxHeaderCount: 16, maxBodyBytes: 4096)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let step = Int(data[0]) + 1
    let stream = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let parser = HTTPRequestParser(limits: limits)
    var start = 0
    do {
        while start < stream.count {
            let end = min(stream.count, start + step)
            var offset = start
            while offset < end {
                let (consumed, request) = try parser.parse(UnsafeRawBufferPointer(rebasing: stream[offset..<end]))
                precondition(consumed <= end - offset, "the parser used more bytes than it was given")
                offset += consumed
                if let request {
                    precondition(request.body.count <= limits.maxBodyBytes, "a body over the limit")
                    precondition(request.headers.count <= limits.maxHeaderCount, "more headers than the limit")
                    _ = request.path
                    _ = request.query
                    decodeAsEveryEndpoint(request.body)
                } else if consumed == 0 {
                    break
                }
            }
            start = end
        }
        try parser.finish()
    } catch {
        precondition([400, 413, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
    }
    return 0
}

/// A refusal (`APIError`, status 400) is normal; anything else is a finding.
private func decodeAsEveryEndpoint(_ body: [UInt8]) {
    for endpoint in 0..<4 {
        do throws(APIError) {
            let generation: APIGeneration
            switch endpoint {
            case 0: generation = try OpenAI.decodeChat(body)
            case 1: generation = try OpenAI.decodeCompletion(body)
            case 2: generation = try Ollama.decodeGenerate(body)
            default: generation = try Ollama.decodeChat(body)
            }
            precondition(generation.fields.stop.count <= ProtocolLimits.maxStopSequences, "too many stop sequences")
        } catch {
            precondition(error.status == 400, "unexpected status \(error.status)")
        }
    }
    // The embedding endpoints: at least one input, and token ids that fit an Int32 ≥ 0.
    for endpoint in 0..<3 {
        do throws(APIError) {
            let embedding: APIEmbedding
            switch endpoint {
            case 0: embedding = try OpenAI.decodeEmbeddings(body)
            case 1: embedding = try Ollama.decodeEmbed(body, legacy: false)
            default: embedding = try Ollama.decodeEmbed(body, legacy: true)
            }
            precondition(embedding.request.count > 0, "an embedding request without inputs")
            if case .tokens(let lists) = embedding.request.inputs {
                precondition(lists.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= 0 } }, "bad token ids")
            }
        } catch {
            precondition(error.status == 400, "unexpected status \(error.status)")
        }
    }
}
