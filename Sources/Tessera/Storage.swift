import Foundation

/// The reference-counted, 64-byte-aligned Float32 buffer behind one or more ``Tensor`` views.
///
/// Views (reshape, transpose, slicing, expand) share one storage; mutating it through any
/// view is visible through all of them, as in PyTorch.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the buffer.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of `Float` elements in the buffer.
    public let count: Int

    /// Allocates `count` uninitialized elements (contents are unspecified until written).
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        pointer = BufferPool.allocate(bytes: bytes).bindMemory(to: Float.self, capacity: max(count, 1))
        LiveBuffers.increment()
    }

    /// Allocates `count` elements set to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: max(count, 1) * MemoryLayout<Float>.stride)
        LiveBuffers.decrement()
    }
}

/// Keeps the large buffers of freed tensors for reuse, as a caching allocator does.
///
/// A training step frees its activations at the end of backward and allocates the same sizes
/// again in the next forward. Returning them to the system and asking again costs a page fault
/// and a kernel zero-fill per 4 KiB page (5–6% of a ResNet-20 step under `perf`); the pool hands
/// the same buffers back instead. Buffers under 64 KiB go straight to `malloc`. At most
/// ``maximumCachedBytes`` are kept idle; ``releaseCached()`` returns them all.
public enum BufferPool {
    /// Smallest buffer the pool keeps; sizes are rounded up to a multiple of this.
    static let granule = 64 << 10
    /// Upper bound on idle bytes kept for reuse (default 512 MiB).
    nonisolated(unsafe) public static var maximumCachedBytes = 512 << 20

    private static let lock = NSLock()
    nonisolated(unsafe) private static var idle: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var idleBytes = 0

    @inline(__always) private static func sizeClass(_ bytes: Int) -> Int {
        bytes < granule ? bytes : (bytes + granule - 1) / granule * granule
    }

    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(bytes)
        if size >= granule {
            lock.lock()
            if let p = idle[size]?.popLast() {
                idleBytes -= size
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        let size = sizeClass(bytes)
        if size >= granule {
            lock.lock()
            if idleBytes + size <= maximumCachedBytes {
                idle[size, default: []].append(p)
                idleBytes += size
                lock.unlock()
                return
            }
            lock.unlock()
        }
        p.deallocate()
    }

    /// Bytes held idle for reuse.
    public static var cachedBytes: Int { lock.lock(); defer { lock.unlock() }; return idleBytes }

    /// Returns every idle buffer to the system.
    public static func releaseCached() {
        lock.lock()
        let all = idle.values.flatMap { $0 }
        idle = [:]
        idleBytes = 0
        lock.unlock()
        for p in all { p.deallocate() }
    }
}

/// Counts the tensor buffers alive in the process: a training step that leaks shows as a
/// count that does not return to where it started.
public enum LiveBuffers {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var _count = 0

    /// The number of ``TensorStorage`` buffers currently allocated.
    public static var count: Int { lock.lock(); defer { lock.unlock() }; return _count }

    static func increment() { lock.lock(); _count += 1; lock.unlock() }
    static func decrement() { lock.lock(); _count -= 1; lock.unlock() }
}
