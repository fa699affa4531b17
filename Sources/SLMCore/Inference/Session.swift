import SLMCompute
import SLMGrammar
import SLMModels
import Synchronization

/// What one generation may do besides sampling.
public struct GenerationOptions: Sendable {
    public var sampling = SamplingParameters()
    /// nil: until end of generation or a full context.
    public var maxTokens: Int? = nil
    /// Generation stops when the text would contain one of these; the stop text is not emitted.
    public var stopSequences: [String] = []

    public init() {}
}

/// One conversation's engine state: a KV cache and the tokens it holds. A new prompt that shares
/// a prefix with what is cached (the history of a chat, a repeated system prompt) only runs the
/// tokens after that prefix. Not thread-safe: one generation at a time per session.
public final class Session: @unchecked Sendable {
    public let engine: Engine
    public let state: InferenceState
    /// Tokens whose keys and values are in the cache, in order (`state.position == cachedTokens.count`).
    public private(set) var cachedTokens: [Int32] = []

    public init(engine: Engine, contextLength: Int? = nil, cacheTypes: KVCacheTypes = .f16) throws {
        self.engine = engine
        self.state = try engine.makeState(contextLength: contextLength, cacheTypes: cacheTypes)
    }

    /// Wraps an existing state (its contents are forgotten).
    public init(engine: Engine, state: InferenceState) {
        self.engine = engine
        self.state = state
        state.reset()
    }

    public var contextLength: Int { state.contextLength }

    /// Forgets the cache.
    public func reset() {
        state.reset()
        cachedTokens.removeAll(keepingCapacity: true)
    }

    /// Forgets the cache and returns its memory (and the scratch buffers') to the system; the
    /// next generation pages it back in as it goes.
    public func releaseMemory() {
        cachedTokens.removeAll(keepingCapacity: false)
        state.releaseMemory()
    }

    /// Refuses a prompt text that cannot fit the context whatever it tokenizes to, before it is
    /// tokenized: tokenizing costs time in proportion to the text (a second for 1 MiB), spent
    /// on the thread every generation of a daemon shares.
    public func checkFits(promptBytes: Int) throws(ModelError) {
        let fewest = engine.tokenizer.fewestTokens(forBytes: promptBytes)
        if fewest >= state.contextLength { throw .contextFull(contextLength: state.contextLength, needed: fewest + 1) }
    }

    /// Starts generating after `promptTokens`; drive it with `Generation.step()`.
    /// - Parameter placement: how the prompt tokens after the reused prefix are placed in
    ///   llama.cpp's micro-batches (see `PrefillPlacement`).
    public func startGeneration(
        promptTokens: [Int32], options: GenerationOptions, placement: PrefillPlacement = .afterReusedPrefix
    ) throws -> Generation {
        try options.sampling.validate()
        guard !promptTokens.isEmpty else { throw ModelError.emptyInput }
        let constraint = try engine.makeConstraint(for: options.sampling)
        try engine.tokenizer.validate(promptTokens)
        guard promptTokens.count < state.contextLength else {
            throw ModelError.contextFull(contextLength: state.contextLength, needed: promptTokens.count + 1)
        }
        // Reuse the longest cached prefix, but always run at least the last prompt token: its
        // logits are what the first sample needs.
        var shared = 0
        let limit = min(cachedTokens.count, promptTokens.count - 1)
        while shared < limit && cachedTokens[shared] == promptTokens[shared] { shared += 1 }
        // Placed as the whole prompt, the rest starts where an empty-cache run starts a chunk.
        if placement == .wholePrompt { shared = shared / Engine.promptBatch * Engine.promptBatch }
        state.truncate(to: shared)
        cachedTokens.removeSubrange(shared...)
        return Generation(
            session: self, promptTokens: promptTokens, reused: shared, placementBase: placement == .wholePrompt ? 0 : shared,
            options: options, constraint: constraint)
    }

    /// Sets the cached tokens after a snapshot's cache was copied in.
    func restoreCachedTokens(_ tokens: [Int32]) { cachedTokens = tokens }

    /// Records tokens the model has just run (called by `Generation`).
    fileprivate func didEvaluate<C: Collection>(_ tokens: C) where C.Element == Int32 {
        cachedTokens.append(contentsOf: tokens)
    }
}

/// Where the prompt tokens after a reused cache prefix sit in llama.cpp's micro-batches, which
/// decides their numerics (`AttentionMode.microBatch`, `Engine.evaluateChunk`).
public enum PrefillPlacement: Sendable, Equatable {
    /// As a request of their own, offsets from the reuse point: what llama.cpp computes when a
    /// conversation continues after its cached history (chat turns, `ChatSession`).
    case afterReusedPrefix
    /// As part of the whole prompt, as an empty cache would compute them: the result is then
    /// bit for bit that of an empty-cache run, provided the reused positions hold what such a
    /// run puts there (`PromptCache` reuses only those). The reuse point is rounded down to a
    /// multiple of `Engine.promptBatch`, so the chunks fall where an empty-cache run's do.
    case wholePrompt
}

/// Progress of a generation, one token at a time, so a scheduler can interleave several.
public enum GenerationStep: Sendable {
    /// Some progress; `text` (possibly empty) is newly complete UTF-8 to show.
    case text(String)
    /// The generation is over; `text` is what was still held back (show it first). No more steps.
    case finished(text: String, stats: GenerationStats)
}

/// A generation in progress. `step()` runs one prompt chunk or one token; `cancel()` may be called
/// from any thread and ends the generation at its next step with `.cancelled`.
public final class Generation: @unchecked Sendable {
    public let session: Session
    public let promptTokens: [Int32]
    /// Prompt tokens whose cache entries were reused from an earlier call.
    public let reusedPromptTokens: Int
    /// Where the micro-batches of the prefill are counted from: 0 (the whole prompt is the
    /// request) or `reusedPromptTokens` (the rest is a request of its own).
    let placementBase: Int
    public let options: GenerationOptions
    /// Everything emitted so far (stop text excluded).
    public private(set) var text = ""
    public private(set) var generatedTokens: [Int32] = []
    public private(set) var stats = GenerationStats()
    public private(set) var isFinished = false

    private let cancelled = Atomic<Bool>(false)
    private var sampler: Sampler
    /// The grammar the output must match, if the options ask for one.
    private let constraint: TokenConstraint?
    private var decoder: StreamingDecoder
    private var stopFilter: StopSequenceFilter
    private var logits: [Float]
    private var prefillDone: Int
    /// The sampled token that still has to run through the model before the next sample.
    private var pendingToken: Int32? = nil
    /// The one-token batch fed per decode step, reused so the token loop does not allocate.
    private var decodeBatch: [Int32] = [0]
    private let started: Double
    private var firstTokenAt: Double? = nil

    init(
        session: Session, promptTokens: [Int32], reused: Int, placementBase: Int, options: GenerationOptions,
        constraint: TokenConstraint?
    ) {
        self.session = session
        self.placementBase = placementBase
        self.constraint = constraint
        self.promptTokens = promptTokens
        self.reusedPromptTokens = reused
        self.options = options
        sampler = Sampler(parameters: options.sampling)
        for t in promptTokens { sampler.accept(t) }
        decoder = StreamingDecoder(tokenizer: session.engine.tokenizer)
        stopFilter = StopSequenceFilter(stops: options.stopSequences)
        logits = [Float](repeating: 0, count: session.engine.model.vocabularySize)
        prefillDone = reused
        stats.promptTokens = promptTokens.count
        started = MonotonicClock.now()
    }

    /// Asks the generation to end; safe from any thread.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Whether the prompt is still being processed.
    public var isPrefilling: Bool { prefillDone < promptTokens.count }

    /// Runs the next piece of work: one `Engine.promptBatch` of the prompt, or one token.
    public func step() throws -> GenerationStep {
        if isFinished { return .finished(text: "", stats: stats) }
        if isCancelled { return finish(.cancelled) }
        let engine = session.engine
        let state = session.state
        do {
            if prefillDone < promptTokens.count {
                let end = min(promptTokens.count, prefillDone + Engine.promptBatch)
                let chunk = promptTokens[prefillDone..<end]
                try engine.evaluateChunk(
                    chunk, at: prefillDone - placementBase,
                    ofRequestSized: promptTokens.count - placementBase,
                    state: state, into: &logits)
                session.didEvaluate(chunk)
                prefillDone = end
                if prefillDone == promptTokens.count { stats.promptSeconds = MonotonicClock.now() - started }
                return .text("")
            }
            if let token = pendingToken {
                if state.position >= state.contextLength { return finish(.contextFull) }
                decodeBatch[0] = token
                try engine.evaluate(decodeBatch, state: state, into: &logits)
                session.didEvaluate(CollectionOfOne(token))
                pendingToken = nil
            }
        } catch {
            isFinished = true
            throw error
        }
        if stats.generatedTokens >= (options.maxTokens ?? Int.max) { return finish(.maxTokens) }
        // A complete grammar allows only end of generation: the model ends here.
        if let constraint, constraint.isComplete { return finish(.endOfGeneration) }

        let token: Int32
        do {
            token = try logits.withUnsafeMutableBufferPointer { (l) throws(SamplingError) in
                try sampler.sample(logits: l, constraint: constraint)
            }
        } catch {
            isFinished = true
            throw error
        }
        if firstTokenAt == nil { firstTokenAt = MonotonicClock.now() }
        if engine.tokenizer.isEndOfGeneration(token) { return finish(.endOfGeneration) }
        stats.generatedTokens += 1
        generatedTokens.append(token)
        sampler.accept(token)
        if let constraint, !constraint.accept(token) {
            // Sampled from what the constraint allowed, so only a matcher limit refuses it.
            isFinished = true
            throw SamplingError.invalidGrammar(field: "grammar", message: "\(GrammarLimitError())")
        }
        pendingToken = token
        let (visible, stopped) = stopFilter.push(decoder.push(token))
        text += visible
        if stopped { return finish(.stopSequence, last: visible) }
        if stats.generatedTokens >= (options.maxTokens ?? Int.max) { return finish(.maxTokens, last: visible) }
        return .text(visible)
    }

    /// Ends the generation; the text still held back (an unfinished character, a partial stop
    /// sequence) goes out with the final step.
    private func finish(_ reason: GenerationStats.StopReason, last: String = "") -> GenerationStep {
        isFinished = true
        stats.stopReason = reason
        var tail = last
        if reason != .stopSequence {
            let (visible, stopped) = stopFilter.push(decoder.finish())
            text += visible
            tail += visible
            if stopped {
                stats.stopReason = .stopSequence
            } else {
                let rest = stopFilter.flush()
                text += rest
                tail += rest
            }
        }
        let finished = MonotonicClock.now()
        if stats.promptSeconds == 0 { stats.promptSeconds = finished - started }
        stats.timeToFirstToken = (firstTokenAt ?? finished) - started
        stats.generationSeconds = finished - (firstTokenAt ?? finished)
        return .finished(text: tail, stats: stats)
    }

    /// Runs to the end, handing each piece of text to `onText`; returning false from it cancels.
    @discardableResult
    public func run(onText: (String) -> Bool) throws -> GenerationStats {
        while true {
            switch try step() {
            case .text(let piece):
                if !piece.isEmpty && !onText(piece) { cancel() }
            case .finished(let tail, let stats):
                if !tail.isEmpty { _ = onText(tail) }
                return stats
            }
        }
    }
}

/// Holds back generated text that could be the start of a stop sequence until it is clear.
/// Works on UTF-8 bytes: a match of valid UTF-8 inside valid UTF-8 always falls on character
/// boundaries, so what is released is always whole characters.
struct StopSequenceFilter: Sendable {
    private let stops: [[UInt8]]
    private var held: [UInt8] = []

    init(stops: [String]) { self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty } }

    /// Adds text; returns what may be shown and whether a stop sequence was reached (then the
    /// returned text is everything before it).
    mutating func push(_ text: String) -> (String, Bool) {
        if stops.isEmpty { return (text, false) }
        held.append(contentsOf: text.utf8)
        var earliest: Int? = nil
        for stop in stops {
            if let at = Self.find(stop, in: held), at < (earliest ?? Int.max) { earliest = at }
        }
        if let at = earliest {
            let visible = String(decoding: held[..<at], as: UTF8.self)
            held.removeAll()
            return (visible, true)
        }
        // Keep the longest tail that is a prefix of some stop sequence.
        var keepFrom = held.count
        for start in stride(from: max(0, held.count - (stops.map(\.count).max()! - 1)), to: held.count, by: 1) {
            let tail = held[start...]
            if stops.contains(where: { $0.count > tail.count && $0.starts(with: tail) }) {
                keepFrom = start
                break
            }
        }
        let visible = String(decoding: held[..<keepFrom], as: UTF8.self)
        held.removeFirst(keepFrom)
        return (visible, false)
    }

    /// Releases what is held at the end of generation.
    mutating func flush() -> String {
        defer { held.removeAll() }
        return String(decoding: held, as: UTF8.self)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }
}
