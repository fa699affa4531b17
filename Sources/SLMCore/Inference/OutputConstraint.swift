import SLMGrammar
import SLMModels
import Synchronization

/// Grammars and JSON Schemas applied to a model: its vocabulary as the grammar sees it (built
/// once), and one `TokenConstraint` per generation that asks for one.
extension Engine {
    /// Every token id the model can output with its bytes (`Tokenizer.piece`, so control tokens
    /// have none), arranged for grammar checks. Built on first use: a trie over the vocabulary
    /// costs tens of milliseconds and a few MiB, which models never given a grammar do not pay.
    public var grammarVocabulary: GrammarVocabulary {
        grammarVocabularyStore.withLock { stored in
            if let stored { return stored }
            let pieces = (0..<model.vocabularySize).map { tokenizer.piece(Int32($0), special: false) }
            let endOfGeneration = (0..<Int32(tokenizer.vocabularySize)).filter { tokenizer.isEndOfGeneration($0) }
            let built = GrammarVocabulary(pieces: pieces, endOfGeneration: endOfGeneration)
            stored = built
            return built
        }
    }

    /// The constraint `sampling` asks for (`grammar` or `json_schema`), ready to match from the
    /// start; nil when it asks for none. `<text>` token references resolve through this model's
    /// tokenizer (the text must be exactly one token, control tokens included).
    public func makeConstraint(for sampling: SamplingParameters) throws(SamplingError) -> TokenConstraint? {
        guard let text = try sampling.constraintGrammar() else { return nil }
        let tokenizer = self.tokenizer
        do throws(GrammarError) {
            let grammar = try Grammar(parsing: text) { spelled in
                let ids = tokenizer.encode(spelled, addSpecial: false, parseSpecial: true)
                return ids.count == 1 ? UInt32(ids[0]) : nil
            }
            return TokenConstraint(grammar: grammar, vocabulary: grammarVocabulary)
        } catch {
            guard sampling.grammar == nil else { throw .invalidGrammar(field: "grammar", message: "\(error)") }
            // A schema's grammar is written by the converter: an error in it is slm's bug.
            throw .invalidGrammar(
                field: "json_schema", message: "the grammar made from this schema does not parse (a bug in slm): \(error)")
        }
    }
}
