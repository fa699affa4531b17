import SLMCompute

/// The one table from `general.architecture` to a model constructor.
public enum ModelRegistry {
    public typealias Constructor = (GGUFFile) throws -> any LanguageModel

    public static let constructors: [(architecture: String, make: Constructor)] = [
        (Llama.architecture, Llama.load),
        (Qwen2.architecture, Qwen2.load),
        (Gemma3.architecture, Gemma3.load),
        (Gemma2.architecture, Gemma2.load),
        (Phi3.architecture, Phi3.load),
        (StableLM.architecture, StableLM.load),
        (Phi2.architecture, Phi2.load),
        (Bert.architecture, Bert.load),
    ]

    public static var supportedArchitectures: [String] { constructors.map(\.architecture) }
    /// The architectures that give embeddings only (no text generation).
    public static let encoderArchitectures: Set<String> = [Bert.architecture]

    public static func load(_ file: GGUFFile) throws -> any LanguageModel {
        let architecture = try file.architecture()
        guard let entry = constructors.first(where: { $0.architecture == architecture }) else {
            throw ModelError.unsupportedArchitecture(architecture, supported: supportedArchitectures)
        }
        return try entry.make(file)
    }
}

/// What the runtime needs of any architecture. The model holds only read-only weights; all
/// mutable state lives in the `InferenceState` so one model can serve several conversations.
public protocol LanguageModel: AnyObject, Sendable {
    var architecture: String { get }
    var vocabularySize: Int { get }
    /// The context length the model was trained with (`{arch}.context_length`).
    var trainedContextLength: Int { get }
    /// Allocates the KV cache (K and V rows in `cacheTypes`) and scratch buffers for
    /// `contextLength` positions and batches of up to `maxBatch` tokens.
    func makeState(contextLength: Int, maxBatch: Int, cacheTypes: KVCacheTypes) throws -> InferenceState
    /// The sizes of the states `makeState` makes (for memory predictions, without allocating).
    var stateShape: StateShape { get }
    /// Runs `tokens` at positions `state.position ..< state.position + tokens.count`, appends them
    /// to the KV cache and writes logits: of the last token only, or of every token when
    /// `allLogits` (row-major (tokens.count, vocabularySize)).
    func forward(
        _ tokens: UnsafeBufferPointer<Int32>, state: InferenceState, pool: ThreadPool,
        allLogits: Bool, logits: UnsafeMutablePointer<Float>) throws

    /// Why this model's cache cannot be shifted with `shiftPositions` (llama.cpp's context
    /// shift), or nil when it can: a sliding-window layer has already forgotten what lies outside
    /// its window, so moving its rows would not give what it would have computed.
    var contextShiftUnsupportedReason: String? { get }
    /// Re-rotates the cached keys of positions `range` by `delta` positions, so that a key
    /// computed at position p holds what it would at p + delta (RoPE rotations add up: rotating
    /// by the angle of `delta` is exact up to rounding). llama.cpp's K shift after
    /// `llama_kv_self_seq_add`; context shift calls it with a negative delta after moving rows
    /// down (`InferenceState.moveRows`). Values carry no position and stay as they are. Throws
    /// `ModelError.unsupportedFeature` when `contextShiftUnsupportedReason` is set.
    func shiftPositions(state: InferenceState, range: Range<Int>, by delta: Int) throws

    /// Whether the model generates text. An encoder (BERT) only gives embeddings; its `forward`
    /// throws.
    var generatesText: Bool { get }
    /// Width of the hidden states `hiddenStates` writes.
    var embeddingLength: Int { get }
    /// The pooling the file names (`<arch>.pooling_type`), nil when it names none.
    var filePooling: Pooling? { get }
    /// The final hidden states (after the model's last norm) of every token of several
    /// independent sequences packed back to back: `sequences` are consecutive ranges of `tokens`
    /// starting at 0, each one whole input from its first position. A decoder runs each sequence
    /// causally from an empty cache, an encoder all of them at once with each token seeing its
    /// own sequence only. `state` must hold `tokens.count` positions and batches as large
    /// (encoders) or the longest sequence (decoders). output: (tokens.count, embeddingLength).
    func hiddenStates(
        _ tokens: UnsafeBufferPointer<Int32>, sequences: [Range<Int>], state: InferenceState, pool: ThreadPool,
        into output: UnsafeMutablePointer<Float>) throws
}

extension LanguageModel {
    /// A state with the default F16 cache.
    public func makeState(contextLength: Int, maxBatch: Int) throws -> InferenceState {
        try makeState(contextLength: contextLength, maxBatch: maxBatch, cacheTypes: .f16)
    }
}
