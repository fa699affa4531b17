import CSLMHeader
import SLMCore
import SLMJSON

// Sampling, sessions, generation and statistics: slm_sampling_default_params … slm_session_stats.

@_cdecl("slm_sampling_default_params")
public func exportedSamplingDefaultParams() -> slm_sampling_params {
    var c = slm_sampling_params()
    var defaults = SamplingParameters()
    mapSampling(&c, &defaults, .toC)
    c.seed = seedRandom
    c.max_tokens = -1
    return c
}

/// SLM_SEED_RANDOM (a macro Swift does not import): a fresh seed per call.
let seedRandom = UInt64.max

enum MappingDirection { case toC, fromC }

/// slm_sampling_params ⇄ SamplingParameters, one line per field: a new field is mapped here once,
/// for the defaults (`toC`, from SamplingParameters' own) and for every call (`fromC`). The seed
/// and max_tokens have C-only meanings (SLM_SEED_RANDOM, -1) and are handled by the callers;
/// grammar and json_schema are C strings read by `generationOptions` (the defaults are NULL).
func mapSampling(_ c: inout slm_sampling_params, _ swift: inout SamplingParameters, _ direction: MappingDirection) {
    map(&c.temperature, &swift.temperature, direction)
    map(&c.top_k, &swift.topK, direction)
    map(&c.top_p, &swift.topP, direction)
    map(&c.min_p, &swift.minP, direction)
    map(&c.repeat_penalty, &swift.repeatPenalty, direction)
    map(&c.repeat_last_n, &swift.repeatLastN, direction)
}

private func map(_ c: inout Float, _ swift: inout Float, _ direction: MappingDirection) {
    if direction == .toC { c = swift } else { swift = c }
}

/// Swift's defaults fit in int32; C values always fit in Int.
private func map(_ c: inout Int32, _ swift: inout Int, _ direction: MappingDirection) {
    if direction == .toC { c = Int32(swift) } else { swift = Int(c) }
}

/// The engine's options for C sampling parameters (NULL = defaults); a bad value throws
/// `SamplingError`, which names the field (slm_last_error) and is SLM_ERR_INVALID_ARGUMENT.
func generationOptions(_ params: UnsafePointer<slm_sampling_params>?) throws -> GenerationOptions {
    var c = params?.pointee ?? exportedSamplingDefaultParams()
    var sampling = SamplingParameters()
    mapSampling(&c, &sampling, .fromC)
    sampling.seed = c.seed == seedRandom ? SamplingParameters.randomSeed() : c.seed
    if let text = c.grammar { sampling.grammar = String(cString: text) }
    if let text = c.json_schema {
        do {
            sampling.jsonSchema = try JSONParser.parse(String(cString: text))
        } catch {
            throw SamplingError.invalidGrammar(field: "json_schema", message: "not valid JSON: \(error)")
        }
    }
    try sampling.validate()
    if c.max_tokens < -1 { throw CAPIError.invalidArgument("max_tokens must be -1 (no limit) or >= 0, got \(c.max_tokens)") }
    var options = GenerationOptions()
    options.sampling = sampling
    options.maxTokens = c.max_tokens < 0 ? nil : Int(c.max_tokens)
    if c.keep < Int32(ContextShift.keepWholePrompt) {
        throw CAPIError.invalidArgument("keep must be -1 (the whole prompt) or >= 0, got \(c.keep)")
    }
    if c.context_shift { options.contextShift = ContextShift(keep: Int(c.keep)) }
    return options
}

@_cdecl("slm_session_create")
public func exportedSessionCreate(_ model: OpaquePointer?, _ outSession: UnsafeMutablePointer<OpaquePointer?>?) -> slm_status {
    exported {
        guard let model = ModelHandle.borrow(model) else { throw CAPIError.invalidArgument("model is NULL") }
        guard let outSession else { throw CAPIError.invalidArgument("out_session is NULL") }
        outSession.pointee = try SessionHandle(model: model).retained()
        return SLM_OK
    }
}

@_cdecl("slm_session_free")
public func exportedSessionFree(_ session: OpaquePointer?) {
    SessionHandle.release(session)
}

@_cdecl("slm_session_reset")
public func exportedSessionReset(_ session: OpaquePointer?) -> slm_status {
    exported {
        guard let handle = SessionHandle.borrow(session) else { throw CAPIError.invalidArgument("session is NULL") }
        try handle.exclusive {
            handle.conversation = nil
            handle.chat.reset()
            handle.lastStats = nil
        }
        return SLM_OK
    }
}

@_cdecl("slm_session_cancel")
public func exportedSessionCancel(_ session: OpaquePointer?) {
    SessionHandle.borrow(session)?.cancel()
}

@_cdecl("slm_generate")
public func exportedGenerate(
    _ session: OpaquePointer?, _ prompt: UnsafePointer<CChar>?,
    _ params: UnsafePointer<slm_sampling_params>?,
    _ onToken: slm_token_callback?, _ userData: UnsafeMutableRawPointer?
) -> slm_status {
    exported {
        guard let handle = SessionHandle.borrow(session) else { throw CAPIError.invalidArgument("session is NULL") }
        guard let prompt else { throw CAPIError.invalidArgument("prompt is NULL") }
        if prompt.pointee == 0 { throw CAPIError.invalidArgument("prompt is empty") }
        let options = try generationOptions(params)
        return try handle.exclusive {
            var request = GenerationRequest(prompt: String(cString: prompt))
            request.addSpecial = true
            request.parseSpecial = true
            let tokens = handle.model.engine.promptTokens(for: request)
            let generation = try handle.session.startGeneration(promptTokens: tokens, options: options)
            _ = try handle.drive(generation, onToken: onToken, userData: userData)
            return SLM_OK
        }
    }
}

@_cdecl("slm_chat")
public func exportedChat(
    _ session: OpaquePointer?, _ userMessage: UnsafePointer<CChar>?,
    _ params: UnsafePointer<slm_sampling_params>?,
    _ onToken: slm_token_callback?, _ userData: UnsafeMutableRawPointer?
) -> slm_status {
    exported {
        guard let handle = SessionHandle.borrow(session) else { throw CAPIError.invalidArgument("session is NULL") }
        guard let userMessage else { throw CAPIError.invalidArgument("user_message is NULL") }
        let options = try generationOptions(params)
        let message = String(cString: userMessage)
        return try handle.exclusive {
            try handle.chatTurn(message, options: options, onToken: onToken, userData: userData)
            return SLM_OK
        }
    }
}

@_cdecl("slm_session_stats")
public func exportedSessionStats(_ session: OpaquePointer?, _ outStats: UnsafeMutablePointer<slm_stats>?) -> slm_status {
    exported {
        guard let handle = SessionHandle.borrow(session) else { throw CAPIError.invalidArgument("session is NULL") }
        guard let outStats else { throw CAPIError.invalidArgument("out_stats is NULL") }
        // Like every call on a session, it takes the busy guard: the statistics are written by
        // the running call, so reading them meanwhile (another thread, or the token callback)
        // would race with it.
        let last = try handle.exclusive { handle.lastStats }
        if let s = last {
            outStats.pointee = slm_stats(
                prompt_tokens: Int32(s.promptTokens), generated_tokens: Int32(s.generatedTokens),
                ttft_ms: s.timeToFirstToken * 1000, tokens_per_second: s.generationTokensPerSecond,
                truncated_turns: Int32(clamping: s.truncatedTurns), context_shifts: Int32(clamping: s.contextShifts))
        } else {
            outStats.pointee = slm_stats(
                prompt_tokens: 0, generated_tokens: 0, ttft_ms: 0, tokens_per_second: 0, truncated_turns: 0, context_shifts: 0)
        }
        return SLM_OK
    }
}
