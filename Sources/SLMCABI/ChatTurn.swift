import CSLMHeader
import SLMCore

extension SessionHandle {
    /// One `slm_chat` turn. The reply joins the history when the generation finished, was stopped
    /// by the callback or was cancelled; on other errors the history is unchanged.
    func chatTurn(
        _ message: String, options: GenerationOptions, onToken: slm_token_callback?,
        userData: UnsafeMutableRawPointer?
    ) throws {
        if let conversation {
            try conversation.turn(message, options: options, on: self, onToken: onToken, userData: userData)
            return
        }
        let generation = try chat.startTurn(userMessage: message, options: options)
        do {
            _ = try drive(generation, onToken: onToken, userData: userData)
        } catch CAPIError.cancelled {
            chat.commitTurn(reply: generation.text)
            throw CAPIError.cancelled
        } catch {
            chat.abandonTurn()
            throw error
        }
        chat.commitTurn(reply: generation.text)
    }
}
