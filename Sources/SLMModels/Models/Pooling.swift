/// How an embedding model turns the hidden states of a sequence's tokens into one vector:
/// llama.cpp's pooling types, with their numbers in `<arch>.pooling_type`.
public enum Pooling: String, Sendable, CaseIterable {
    /// One vector per token, no pooling.
    case none
    /// The average over every token of the sequence (special tokens included, as
    /// sentence-transformers' mean pooling over the attention mask).
    case mean
    /// The first token's state ([CLS]).
    case cls
    /// The last token's state (decoders, whose last token has seen the whole input).
    case last

    /// llama.cpp's `LLAMA_POOLING_TYPE_*` numbers: NONE 0, MEAN 1, CLS 2, LAST 3 (RANK 4 is a
    /// reranker head, not an embedding).
    public init?(ggufValue: Int) {
        switch ggufValue {
        case 0: self = .none
        case 1: self = .mean
        case 2: self = .cls
        case 3: self = .last
        default: return nil
        }
    }
}
