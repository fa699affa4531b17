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
    /// nil: a full context ends the generation (`.contextFull`). Set: llama.cpp's context shift
    /// makes room instead (`ContextShift`). For raw generation only; a chat leaves out its oldest
    /// turns instead.
    public var contextShift: ContextShift? = nil

    public init() {}
}

/// llama.cpp's context shift (`--context-shift`): when a generation fills the context, the
/// first tokens stay, the oldest half of the others is forgotten, the rest move down and their
/// keys are re-rotated to their new positions, and generation goes on. The result is close to,
/// not the same as, running the kept tokens afresh: the moved entries were computed while the
/// forgotten tokens were still visible. Refused for models with sliding-window layers (Gemma 2
/// and 3): `LanguageModel.contextShiftUnsupportedReason`.
public struct ContextShift: Sendable, Equatable {
    /// Prompt tokens kept after the first one, which always stays (llama.cpp's `--keep`: 0 keeps
    /// the first token only, -1 the whole prompt; more than the prompt keeps the prompt).
    /// llama.cpp keeps the BOS token when the model adds one and nothing else; slm keeps the
    /// first token whatever it is, because attention leans on it (an "attention sink"): SmolLM2,
    /// which adds no BOS, counts on correctly through shifts that keep its first token and
    /// repeats one number forever after shifts that forget it.
    public var keep: Int

    public static let keepWholePrompt = -1

    public init(keep: Int = 0) { self.keep = keep }

    /// The positions that stay for a prompt of `promptCount` tokens.
    func keptPositions(promptCount: Int) -> Int {
        if keep < 0 { return promptCount }
        return min(promptCount, 1 + keep)
    }
}

/// One conversation's engine state: a KV cache and the tokens it holds. A new prompt that shares
/// a prefix with what is cached (the history of a chat, a repeated system prompt) only runs the
/// tokens after that prefix. Not thread-safe: one generation at a time per session.
public final class Session: @unchecked Sendable {
    public let engine: Engine
    public let state: InferenceState
    /// Tokens whose keys and values are in the cache, in order (`state.position == cachedTokens.count`).
    public private(set) var cachedTokens: [Int32] = []
    /// Cache entries from this index on were moved by a context shift: they are close to, not
    /// the same as, what running their tokens would give, so a later prompt reuses none of them.
    private var shiftedFrom: Int? = nil
    /// The turns the last chat turn on this session left out of its prompt (`ChatWindow`), so
    /// the next turn can keep the same window while the cache holds it. Kept through `reset()`
    /// and snapshot restores (slmd restores a conversation's snapshot every turn): it is only
    /// used when the cache turns out to hold that very window.
    var chatWindowOmittedTurns: Int? = nil

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
        shiftedFrom = nil
    }

    /// Forgets the cache and returns its memory (and the scratch buffers') to the system; the
    /// next generation pages it back in as it goes.
    public func releaseMemory() {
        cachedTokens.removeAll(keepingCapacity: false)
        shiftedFrom = nil
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
        var keptPositions: Int? = nil
        if let shift = options.contextShift {
            if let reason = engine.model.contextShiftUnsupportedReason {
                throw ModelError.unsupportedFeature("context shift: \(reason)")
            }
            let kept = shift.keptPositions(promptCount: promptTokens.count)
            // A shift must free at least one position: two or more must be left to halve.
            guard kept <= state.contextLength - Self.minimumShiftablePositions else {
                throw SamplingError.invalidValue(
                    field: "keep",
                    requirement:
                        "small enough to leave \(Self.minimumShiftablePositions) of the \(state.contextLength) positions to shift",
                    got: "\(shift.keep) (\(kept) positions kept)")
            }
            keptPositions = kept
        }
        // Reuse the longest cached prefix, but always run at least the last prompt token: its
        // logits are what the first sample needs.
        var shared = 0
        let limit = min(cachedTokens.count, promptTokens.count - 1, shiftedFrom ?? Int.max)
        while shared < limit && cachedTokens[shared] == promptTokens[shared] { shared += 1 }
        // Placed as the whole prompt, the rest starts where an empty-cache run starts a chunk.
        if placement == .wholePrompt { shared = shared / Engine.promptBatch * Engine.promptBatch }
        state.truncate(to: shared)
        cachedTokens.removeSubrange(shared...)
        shiftedFrom = nil
        return Generation(
            session: self, promptTokens: promptTokens, reused: shared, placementBase: placement == .wholePrompt ? 0 : shared,
            options: options, constraint: constraint, keptPositions: keptPositions)
    }

    /// Positions beyond the kept ones that a context shift needs to free one.
    static let minimumShiftablePositions = 2

    /// Sets the cached tokens after a snapshot's cache was copied in.
    func restoreCachedTokens(_ tokens: [Int32]) {
        cachedTokens = tokens
        shiftedFrom = nil
    }

    /// llama.cpp's context shift: the first `kept` positions stay, half of the others (the
    /// oldest) are forgotten, and the rest move down with their keys re-rotated. Returns the
    /// positions freed (0 when there is nothing to free).
    func shiftContext(keeping kept: Int) throws -> Int {
        let filled = state.position
        let discarded = (filled - kept) / 2
        guard kept >= 0, discarded > 0 else { return 0 }
        let moved = filled - kept - discarded
        state.moveRows(from: kept + discarded, to: kept, count: moved)
        try engine.model.shiftPositions(state: state, range: kept..<(kept + moved), by: -discarded)
        state.truncate(to: kept + moved)
        cachedTokens.removeSubrange(kept..<(kept + discarded))
        shiftedFrom = min(shiftedFrom ?? kept, kept)
        return discarded
    }

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

    /// Positions a context shift keeps (nil: no context shift).
    private let keptPositions: Int?

    init(
        session: Session, promptTokens: [Int32], reused: Int, placementBase: Int, options: GenerationOptions,
        constraint: TokenConstraint?, keptPositions: Int?
    ) {
        self.session = session
        self.placementBase = placementBase
        self.keptPositions = keptPositions
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

    /// Records how many turns of a chat's history the prompt left out.
    public func noteTruncatedTurns(_ count: Int) { stats.truncatedTurns = count }

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
                if state.position >= state.contextLength {
                    guard let kept = keptPositions, try session.shiftContext(keeping: kept) > 0 else {
                        return finish(.contextFull)
                    }
                    stats.contextShifts += 1
                }
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
