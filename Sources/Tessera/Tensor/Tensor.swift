/// An n-dimensional array of `Float` with optional reverse-mode gradient tracking.
///
/// A `Tensor` is a small value — a shape, strides and an offset into a shared
/// ``TensorStorage``. Views (``reshaped(_:)``, ``permuted(_:)``, ``transposed(_:_:)``,
/// slicing, ``expanded(to:)``) share storage with their source; ``contiguous()`` copies only
/// when the layout needs it. As in PyTorch, writes through one view are seen by all views of
/// the same storage.
///
/// ```swift
/// var w = Tensor.randn([3, 2], generator: &gen)
/// w.requiresGrad = true
/// let loss = (x.matmul(w)).relu().sum()
/// loss.backward()
/// print(w.grad!)
/// ```
///
/// Threads: a tensor may be read from several threads at once (a data loader's batches, a
/// model's weights during evaluation), so it is `Sendable`. As in PyTorch, writing into its
/// storage, or running backward through one graph, from two threads at once is not safe.
public struct Tensor: @unchecked Sendable {
    /// The buffer this tensor views.
    public internal(set) var storage: TensorStorage
    /// The size of each dimension.
    public internal(set) var shape: [Int]
    /// The step, in elements, between neighbours along each dimension (0 for broadcast dimensions).
    public internal(set) var strides: [Int]
    /// Index of the first element in ``storage``.
    public internal(set) var offset: Int
    /// Autograd bookkeeping; non-nil exactly when gradients flow to or through this tensor.
    var node: GradNode?

    init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int = 0) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A new contiguous tensor of `shape` whose elements are not initialized (kernels fill it).
    init(empty shape: [Int]) {
        let n = Shape.count(shape)
        self.init(storage: TensorStorage(uninitializedCount: n), shape: shape,
                  strides: Shape.contiguousStrides(shape))
    }

    /// A tensor holding `scalars` in row-major order.
    /// - Precondition: `scalars.count` equals the product of `shape`.
    public init(_ scalars: [Float], shape: [Int]) {
        Shape.validate(shape, op: "Tensor.init")
        precondition(scalars.count == Shape.count(shape),
                     "Tensor.init: \(scalars.count) scalars do not fill shape \(shape)")
        self.init(empty: shape)
        scalars.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: src.count) }
        }
    }

    /// A 1-D tensor holding `scalars`.
    public init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

    /// A 0-dimensional tensor holding one value.
    public init(scalar: Float) { self.init([scalar], shape: []) }

    /// A tensor of `shape` whose elements are written by `body` into a contiguous buffer.
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        Shape.validate(shape, op: "Tensor.init")
        self.init(empty: shape)
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: Shape.count(shape)))
    }

    // MARK: - Basic properties

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Total number of elements.
    public var count: Int { Shape.count(shape) }
    /// Whether the elements are laid out densely in row-major order, starting at ``offset``.
    public var isContiguous: Bool { Shape.isContiguous(shape: shape, strides: strides) }

    /// The elements in row-major order.
    public var scalars: [Float] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count))
    }

    /// The value of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return storage.pointer[offset]
    }

    /// Reads or writes one element. Writes go to the shared storage (seen by every view).
    public subscript(indices: Int...) -> Float {
        get { storage.pointer[elementOffset(indices)] }
        nonmutating set {
            storage.pointer[elementOffset(indices)] = newValue
            storage.markMutated()
        }
    }

    func elementOffset(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "subscript: \(indices.count) indices for shape \(shape)")
        var o = offset
        for (d, i) in indices.enumerated() {
            let idx = i < 0 ? i + shape[d] : i
            precondition(idx >= 0 && idx < shape[d], "subscript: index \(i) out of range for dimension \(d) of shape \(shape)")
            o += idx * strides[d]
        }
        return o
    }

    /// Calls `body` with the elements in row-major order (copying first if the layout is not contiguous).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = contiguous()
        return try body(UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count))
    }

    /// Calls `body` with writable access to the elements of a contiguous tensor, in place.
    /// - Precondition: the tensor is contiguous (call ``contiguous()`` first otherwise).
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(isContiguous, "withUnsafeMutableBufferPointer: tensor of shape \(shape) with strides \(strides) is not contiguous")
        defer { storage.markMutated() }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer + offset, count: count))
    }

    /// Whether every element is finite (no NaN, no ±∞).
    public var allFinite: Bool {
        withUnsafeBufferPointer { $0.allSatisfy(\.isFinite) }
    }

    /// Pointer to the first element of a contiguous tensor (internal fast path for kernels).
    var ptr: UnsafeMutablePointer<Float> { storage.pointer + offset }
}

// MARK: - Shape arithmetic

/// Helpers on shapes and strides shared by the kernels.
enum Shape {
    static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = s
            s *= max(shape[d], 1)
        }
        return strides
    }

    static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if shape[d] == 0 { return true }
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    /// Whether two different indices can address the same element (a stride-0 dimension).
    static func hasOverlap(shape: [Int], strides: [Int]) -> Bool {
        zip(shape, strides).contains { $0 > 1 && $1 == 0 }
    }

    static func validate(_ shape: [Int], op: String) {
        precondition(shape.allSatisfy { $0 >= 0 }, "\(op): negative dimension in shape \(shape)")
    }

    /// Normalizes a possibly negative axis for a tensor of `rank`.
    static func axis(_ axis: Int, rank: Int, op: String) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) out of range for rank \(rank)")
        return a
    }

    /// NumPy broadcasting of two shapes.
    static func broadcast(_ a: [Int], _ b: [Int], op: String) -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(da == db || da == 1 || db == 1,
                         "\(op): shapes \(a) and \(b) cannot be broadcast together")
            out[i] = da == 1 ? db : da
        }
        return out
    }
}
