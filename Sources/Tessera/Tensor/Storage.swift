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
