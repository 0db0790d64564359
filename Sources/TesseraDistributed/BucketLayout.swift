/// How a ``GradientReducer`` groups parameters into allreduce buckets, as PyTorch's DDP does:
/// parameters are taken in *reverse* registration order (backward produces the last layers'
/// gradients first), a bucket is closed as soon as it holds at least its cap in bytes (so it may
/// exceed the cap by its last parameter), the first bucket's cap is small so its allreduce
/// starts early in backward, and the later ones are large so that few collectives carry the
/// rest. The layout depends only on the parameter sizes and the caps, so it is the same on
/// every rank, and buckets are always reduced in index order.
public struct BucketLayout: Equatable, Sendable {
    /// One bucket: the parameters it holds, in layout order, and where each starts.
    public struct Bucket: Equatable, Sendable {
        /// Parameter indices (registration order), in the order they are laid out.
        public var parameters: [Int]
        /// The offset, in floats, of each of ``parameters`` in the bucket.
        public var offsets: [Int]
        /// Floats of gradient in the bucket.
        public var count: Int
    }

    /// The default cap of the first bucket: 1 MiB.
    public static let defaultFirstBucketBytes = 1 << 20
    /// The default cap of the later buckets: 25 MiB.
    public static let defaultBucketBytes = 25 << 20

    /// The buckets, in the order their allreduces are started.
    public let buckets: [Bucket]
    /// For each parameter (registration order), the bucket that holds it.
    public let bucketOfParameter: [Int]
    /// For each parameter, its offset in floats within its bucket.
    public let offsetOfParameter: [Int]
    /// The cap of the first bucket, in bytes.
    public let firstBucketBytes: Int
    /// The cap of the later buckets, in bytes.
    public let bucketBytes: Int

    /// The layout for parameters with `parameterCounts` elements each (registration order).
    /// - Precondition: positive caps; non-negative counts.
    public init(parameterCounts: [Int], firstBucketBytes: Int = BucketLayout.defaultFirstBucketBytes,
                bucketBytes: Int = BucketLayout.defaultBucketBytes) {
        precondition(firstBucketBytes > 0 && bucketBytes > 0,
                     "BucketLayout: bucket caps must be positive, got \(firstBucketBytes) and \(bucketBytes)")
        precondition(parameterCounts.allSatisfy { $0 >= 0 }, "BucketLayout: negative parameter count in \(parameterCounts)")
        self.firstBucketBytes = firstBucketBytes
        self.bucketBytes = bucketBytes
        var buckets: [Bucket] = []
        var bucketOf = [Int](repeating: 0, count: parameterCounts.count)
        var offsetOf = [Int](repeating: 0, count: parameterCounts.count)
        var current = Bucket(parameters: [], offsets: [], count: 0)
        for p in parameterCounts.indices.reversed() {
            bucketOf[p] = buckets.count
            offsetOf[p] = current.count
            current.parameters.append(p)
            current.offsets.append(current.count)
            current.count += parameterCounts[p]
            let cap = buckets.isEmpty ? firstBucketBytes : bucketBytes
            if current.count * MemoryLayout<Float>.size >= cap {
                buckets.append(current)
                current = Bucket(parameters: [], offsets: [], count: 0)
            }
        }
        if !current.parameters.isEmpty { buckets.append(current) }
        self.buckets = buckets
        self.bucketOfParameter = bucketOf
        self.offsetOfParameter = offsetOf
    }

    /// The number of parameters laid out.
    public var parameterCount: Int { bucketOfParameter.count }
    /// Floats of gradient over all buckets.
    public var totalCount: Int { buckets.reduce(0) { $0 + $1.count } }
}
