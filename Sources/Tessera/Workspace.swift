import Foundation

/// A pool of reusable scratch buffers for kernels (im2col columns, gathered gradients).
///
/// A kernel borrows a buffer for the duration of a closure; the buffer goes back to the pool
/// afterwards, so a training loop allocates its workspaces once, in the first step. Borrowing
/// is thread-safe: concurrent or nested borrowers get distinct buffers.
public enum Workspace {
    private final class Buffer {
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
        init(capacity: Int) {
            self.capacity = capacity
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: max(capacity, 1))
        }
        deinit { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Buffer] = []

    /// Runs `body` with a scratch buffer of at least `count` floats (contents unspecified).
    static func borrow<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        lock.lock()
        var buffer: Buffer
        // Smallest free buffer that is big enough; otherwise replace the largest one.
        if let i = free.indices.filter({ free[$0].capacity >= count }).min(by: { free[$0].capacity < free[$1].capacity }) {
            buffer = free.remove(at: i)
            lock.unlock()
        } else {
            if let i = free.indices.max(by: { free[$0].capacity < free[$1].capacity }) { free.remove(at: i) }
            lock.unlock()
            buffer = Buffer(capacity: count)
        }
        defer { lock.lock(); free.append(buffer); lock.unlock() }
        return try body(buffer.pointer)
    }

    /// Bytes currently held by idle workspace buffers.
    public static var idleBytes: Int { lock.lock(); defer { lock.unlock() }; return free.reduce(0) { $0 + $1.capacity * 4 } }

    /// Releases every idle workspace buffer.
    public static func releaseAll() { lock.lock(); free.removeAll(); lock.unlock() }
}
