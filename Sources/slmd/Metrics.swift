import SLMProtocol

/// Counters and histograms for `GET /metrics` (Prometheus text format 0.0.4) and the `metrics`
/// op. Loop thread only; the gauges (queue, memory) are read when the page is made.
struct Metrics {
    /// A cumulative histogram with fixed upper bounds, in seconds.
    struct Histogram {
        let bounds: [Double]
        private(set) var counts: [Int]
        private(set) var sum = 0.0
        private(set) var count = 0

        init(bounds: [Double]) {
            self.bounds = bounds
            counts = Array(repeating: 0, count: bounds.count)
        }

        /// `times` observations of `value` (a request's mean per-token latency counts once per token).
        mutating func observe(_ value: Double, times: Int = 1) {
            guard times > 0, value.isFinite else { return }
            for (i, bound) in bounds.enumerated() where value <= bound { counts[i] += times }
            sum += value * Double(times)
            count += times
        }
    }

    /// Requests answered, by protocol, endpoint (HTTP path or NDJSON op) and status (HTTP code,
    /// or `ok` / the error code for NDJSON). The endpoint is one the daemon serves or `other`,
    /// so clients cannot grow this map.
    private(set) var requests: [RequestKey: Int] = [:]
    private(set) var promptTokens = 0
    private(set) var generatedTokens = 0
    private(set) var timeToFirstToken = Histogram(bounds: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
    private(set) var perTokenLatency = Histogram(bounds: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1])

    struct RequestKey: Hashable, Comparable {
        var wire: String
        var endpoint: String
        var status: String

        static func < (a: RequestKey, b: RequestKey) -> Bool { (a.wire, a.endpoint, a.status) < (b.wire, b.endpoint, b.status) }
    }

    mutating func countRequest(wire: WireProtocol, endpoint: String, status: String) {
        requests[RequestKey(wire: wire == .http ? "http" : "ndjson", endpoint: endpoint, status: status), default: 0] += 1
    }

    mutating func recordGeneration(_ summary: GenerationSummary) {
        promptTokens += summary.promptTokens
        generatedTokens += summary.generatedTokens
        guard summary.generatedTokens > 0 else { return }
        timeToFirstToken.observe(summary.timeToFirstToken)
        if summary.generatedTokens > 1 {
            perTokenLatency.observe(summary.generationSeconds / Double(summary.generatedTokens - 1), times: summary.generatedTokens - 1)
        }
    }

    /// The page, with the gauges given.
    func exposition(
        counters: [(name: String, help: String, value: Int)] = [], gauges: [(name: String, help: String, value: Double)],
        models: [(name: String, loaded: Bool)]
    ) -> String {
        var out = ""
        func header(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x) }

        header("slm_requests_total", "counter", "Requests answered, by protocol, endpoint and status.")
        for (key, count) in requests.sorted(by: { $0.key < $1.key }) {
            out += "slm_requests_total{protocol=\"\(key.wire)\",endpoint=\"\(key.endpoint)\",status=\"\(key.status)\"} \(count)\n"
        }
        header("slm_prompt_tokens_total", "counter", "Prompt tokens of finished generations.")
        out += "slm_prompt_tokens_total \(promptTokens)\n"
        header("slm_generated_tokens_total", "counter", "Tokens generated.")
        out += "slm_generated_tokens_total \(generatedTokens)\n"
        for counter in counters {
            header(counter.name, "counter", counter.help)
            out += "\(counter.name) \(counter.value)\n"
        }
        for (name, help, histogram) in [
            ("slm_time_to_first_token_seconds", "From a generation's start to its first token.", timeToFirstToken),
            ("slm_time_per_output_token_seconds", "Time between generated tokens.", perTokenLatency),
        ] {
            header(name, "histogram", help)
            for (bound, count) in zip(histogram.bounds, histogram.counts) { out += "\(name)_bucket{le=\"\(bound)\"} \(count)\n" }
            out += "\(name)_bucket{le=\"+Inf\"} \(histogram.count)\n"
            out += "\(name)_sum \(histogram.sum)\n\(name)_count \(histogram.count)\n"
        }
        for gauge in gauges {
            header(gauge.name, "gauge", gauge.help)
            out += "\(gauge.name) \(number(gauge.value))\n"
        }
        header("slm_model_loaded", "gauge", "1 when the model's weights are mapped and it can answer at once.")
        for model in models { out += "slm_model_loaded{model=\"\(Self.escape(model.name))\"} \(model.loaded ? 1 : 0)\n" }
        return out
    }

    /// A label value as the text format requires.
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
