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

    /// Changes whenever the contents are written in place through the public API (``Tensor/assign(_:)``,
    /// ``Tensor/withUnsafeMutableBufferPointer(_:)``, element subscripts, the optimizer kernels,
    /// batch norm's running statistics), as PyTorch's `_version`: caches of values computed from
    /// the contents (`derived(_:stamp:count:compute:)`) are valid while it stays the same.
    public var version: UInt64 { state.value.version }

    /// The version and the buffers derived from the contents at that version, each with the
    /// stamp it was computed under.
    private struct State {
        var version: UInt64 = 0
        var derived: [DerivedSlot: (stamp: SIMD16<Int>, buffer: TensorStorage)] = [:]
    }
    private let state = Locked(State())

    /// Records that the contents changed: a new ``version``, and every derived buffer dropped.
    public func markMutated() {
        state.withLock { s in
            s.version &+= 1
            if !s.derived.isEmpty { s.derived.removeAll() }
        }
    }

    /// A buffer of `count` floats computed from these contents by `compute` (which overwrites
    /// it), kept in `slot` until the contents change or it is asked for with another `stamp`: an
    /// inference pass reuses, for example, a convolution's transformed weights instead of
    /// transforming them again. `slot` names what is derived (algorithm, layout, vector width,
    /// where in the storage); `stamp`, whatever else it depends on (other tensors' versions).
    /// `compute` runs under this storage's lock: it must not touch this storage's cache.
    func derived(_ slot: DerivedSlot, stamp: SIMD16<Int> = .zero, count: Int,
                 compute: (UnsafeMutablePointer<Float>) -> Void) -> TensorStorage {
        state.withLock { s in
            if let d = s.derived[slot], d.stamp == stamp, d.buffer.count == count { return d.buffer }
            let d = TensorStorage(uninitializedCount: count)
            compute(d.pointer)
            s.derived[slot] = (stamp, d)
            return d
        }
    }

    deinit {
        BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: max(count, 1) * MemoryLayout<Float>.stride)
        LiveBuffers.decrement()
    }
}

/// Names a buffer derived from a storage's contents (see ``TensorStorage/derived(_:stamp:count:compute:)``):
/// what kind of derivation and the numbers that fix its layout.
struct DerivedSlot: Hashable {
    /// Kinds of derived buffers.
    enum Kind: Int { case winogradF23, winogradStride2, foldedBatchNorm, direct3x3, winogradF43 }
    var kind: Kind
    var layout: SIMD8<Int>
}

extension TensorStorage {
    /// Identity and version of this storage, for a stamp.
    var identityAndVersion: (Int, Int) {
        (Int(bitPattern: UInt(bitPattern: ObjectIdentifier(self).hashValue)), Int(truncatingIfNeeded: version))
    }
}
