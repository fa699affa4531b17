import SLMCompute

extension Ops {
    /// cos/sin tables for one position from a `RopeTable` (magnitude multiplies both, as ggml's
    /// attn_factor does).
    static func ropeAngles(
        position: Int, dimensions: Int, table: RopeTable, factors: UnsafePointer<Float>?,
        cos cosOut: UnsafeMutablePointer<Float>, sin sinOut: UnsafeMutablePointer<Float>
    ) {
        ropeAngles(
            position: position, dimensions: dimensions, base: table.base, frequencyScale: table.frequencyScale,
            frequencyFactors: factors, cos: cosOut, sin: sinOut)
        if table.magnitude != 1 {
            for i in 0..<(dimensions / 2) {
                cosOut[i] *= table.magnitude
                sinOut[i] *= table.magnitude
            }
        }
    }
}
