import SLMCompute

/// A merge candidate of a tokenizer's merge loop, ordered by which merge happens first.
protocol MergeCandidate {
    func popsBefore(_ other: Self) -> Bool
}

/// The binary min-heap both merge loops (BPE by rank, SentencePiece by score) pop candidates
/// from. Kept allocated between words: `removeAll` keeps the capacity.
struct MergeQueue<Candidate: MergeCandidate> {
    private var heap: [Candidate] = []

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(_ candidate: Candidate) {
        heap.append(candidate)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !heap[i].popsBefore(heap[parent]) { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < n && heap[l].popsBefore(heap[m]) { m = l }
            if r < n && heap[r].popsBefore(heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}
