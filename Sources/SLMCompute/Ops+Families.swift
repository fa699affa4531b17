import CSLMKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Operations used by the architectures beyond llama: LayerNorm, NEOX RoPE, GELU/GeGLU, scaling
/// and soft-capping. Each follows the order of operations of llama.cpp's CPU backend.
extension Ops {
    /// y = (x - mean) / sqrt(var + eps) * weight + bias over one row of `count` floats (ggml_norm,
    /// then ggml_mul and ggml_add). In-place safe.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
        eps: Float, count: Int, into y: UnsafeMutablePointer<Float>
    ) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(x[i]) }
        let mean = Float(sum) / Float(count)
        var squares: Double = 0
        for i in 0..<count {
            let centered = x[i] - mean
            y[i] = centered
            squares += Double(centered * centered)
        }
        let scale = 1 / (Float(squares) / Float(count) + eps).squareRoot()
        for i in 0..<count { y[i] *= scale }
        if let weight { for i in 0..<count { y[i] *= weight[i] } }
        if let bias { for i in 0..<count { y[i] += bias[i] } }
    }

    /// Rotates split halves (x[i], x[i + rotaryDims/2]) of each head (ggml's NEOX mode); dimensions
    /// past `rotaryDims` are left as they are (partial rotary).
    public static func ropeNeox(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, rotaryDims: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        slm_rope_neox(x, Int64(heads), Int64(headDim), Int64(rotaryDims), cos, sin)
    }

    /// gate = gelu(gate) * up (GeGLU, tanh GELU rounded through F16 as ggml does).
    public static func geglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        slm_geglu(gate, up, gate, Int64(count))
    }

    /// x = gelu(x) in place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        slm_gelu(x, x, Int64(count))
    }

    /// x *= s over `count` floats.
    /// x := H·x in blocks of `block` (`slm_hadamard_rotate`), for the rotation around a
    /// quantized KV cache (`KVCacheTypes.keyRotationBlock`).
    public static func hadamardRotate(_ x: UnsafeMutablePointer<Float>, count: Int, block: Int) {
        slm_hadamard_rotate(x, Int64(count), Int64(block))
    }

    public static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { x[i] *= s }
    }

    /// x = cap · tanh(x / cap): ggml_scale by 1/cap, ggml_tanh, ggml_scale by cap.
    public static func softcap(_ x: UnsafeMutablePointer<Float>, cap: Float, count: Int) {
        let inverse = 1 / cap
        for i in 0..<count { x[i] = tanhf(x[i] * inverse) * cap }
    }
}
