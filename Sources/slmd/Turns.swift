/// Who was served longest ago, for taking turns (the scheduler's uids and connections, the store
/// queue's connections): a counter per key that has something waiting. A key with nothing left
/// waiting is forgotten, so the map is never larger than the queue it orders, and the key's next
/// arrival goes first.
struct Turns<Key: Hashable> {
    private var lastServed: [Key: UInt64] = [:]
    private var clock: UInt64 = 0

    /// 0 for a key not served since it last had nothing waiting.
    func lastServed(_ key: Key) -> UInt64 { lastServed[key] ?? 0 }

    mutating func served(_ key: Key, stillWaiting: Bool) {
        if stillWaiting {
            clock += 1
            lastServed[key] = clock
        } else {
            lastServed.removeValue(forKey: key)
        }
    }
}
