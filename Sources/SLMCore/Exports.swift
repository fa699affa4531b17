// SLMCore is the engine's front: the CLI, the daemon, the store and the C library import it
// alone and see the layers below it too.
@_exported import SLMCompute
@_exported import SLMGrammar
@_exported import SLMModels
