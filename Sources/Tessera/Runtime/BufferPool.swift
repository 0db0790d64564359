import Foundation

/// The one memory pool of the engine: tensor storage and kernel scratch buffers both come from
/// it and go back to it, as a caching allocator does.
///
/// A training step frees its activations at the end of backward and allocates the same sizes
/// again in the next forward; a kernel borrows the same scratch sizes at every call. Returning
/// them to the system and asking again costs a page fault and a kernel zero-fill per 4 KiB page
/// (5–6% of a ResNet-20 step under `perf`); the pool hands the same buffers back instead.
/// Buffers under 64 KiB go straight to `malloc`. At most ``maximumCachedBytes`` are kept idle
/// (an eighth of the machine's memory, from 512 MiB to 4 GiB: a batch of 1024 of `fastnet` frees
/// about 1.5 GiB at the end of each step, and with 512 MiB its steps took 8–15% longer in page
/// faults); ``releaseCached()`` returns them all. Every buffer is 64-byte aligned.
public enum BufferPool {
    /// Smallest buffer the pool keeps; sizes are rounded up to a multiple of this.
    static let granule = 64 << 10

    private struct State {
        var idle: [Int: [UnsafeMutableRawPointer]] = [:]
        var idleBytes = 0
        var maximumCachedBytes = BufferPool.defaultMaximumCachedBytes
    }

    /// An eighth of the physical memory, clamped to 512 MiB…4 GiB.
    static var defaultMaximumCachedBytes: Int {
        let eighth = Int(clamping: ProcessInfo.processInfo.physicalMemory / 8)
        return Swift.min(Swift.max(eighth, 512 << 20), 4 << 30)
    }
    private static let state = Locked(State())

    /// Upper bound on idle bytes kept for reuse (default: an eighth of the physical memory,
    /// from 512 MiB to 4 GiB).
    public static var maximumCachedBytes: Int {
        get { state.value.maximumCachedBytes }
        set {
            precondition(newValue >= 0, "BufferPool.maximumCachedBytes: must be >= 0, got \(newValue)")
            state.withLock { $0.maximumCachedBytes = newValue }
        }
    }

    @inline(__always) private static func sizeClass(_ bytes: Int) -> Int {
        bytes < granule ? bytes : (bytes + granule - 1) / granule * granule
    }

    /// A buffer of at least `bytes` bytes (contents unspecified); give it back with ``release(_:bytes:)``.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(Swift.max(bytes, 1))
        if size >= granule, let p = state.withLock({ s -> UnsafeMutableRawPointer? in
            guard let p = s.idle[size]?.popLast() else { return nil }
            s.idleBytes -= size
            return p
        }) {
            return p
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    /// Returns a buffer from ``allocate(bytes:)`` (with the same `bytes`).
    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        let size = sizeClass(Swift.max(bytes, 1))
        if size >= granule {
            let kept = state.withLock { s -> Bool in
                guard s.idleBytes + size <= s.maximumCachedBytes else { return false }
                s.idle[size, default: []].append(p)
                s.idleBytes += size
                return true
            }
            if kept { return }
        }
        p.deallocate()
    }

    /// Runs `body` with a scratch buffer of at least `count` floats (contents unspecified), which
    /// goes back to the pool afterwards: a training loop allocates its workspaces in its first
    /// step only. Concurrent or nested borrowers get distinct buffers.
    static func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        let raw = allocate(bytes: bytes)
        defer { release(raw, bytes: bytes) }
        return try body(raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1)))
    }

    /// Bytes held idle for reuse.
    public static var cachedBytes: Int { state.value.idleBytes }

    /// Returns every idle buffer to the system.
    public static func releaseCached() {
        let all = state.withLock { s -> [UnsafeMutableRawPointer] in
            let all = s.idle.values.flatMap { $0 }
            s.idle = [:]
            s.idleBytes = 0
            return all
        }
        for p in all { p.deallocate() }
    }
}

/// Counts the tensor buffers alive in the process: a training step that leaks shows as a
/// count that does not return to where it started.
public enum LiveBuffers {
    private static let live = Locked(0)

    /// The number of ``TensorStorage`` buffers currently allocated.
    public static var count: Int { live.value }

    static func increment() { live.withLock { $0 += 1 } }
    static func decrement() { live.withLock { $0 -= 1 } }
}
