// Batching, per-epoch shuffling and background prefetch.
import Foundation
import Tessera

/// One batch from a `DataLoader`.
public struct Batch {
    /// The images, [N, C, H, W] Float32.
    public let images: Tensor
    /// The labels as a Float32 tensor [N] of class indices (what `crossEntropy` takes).
    public let labels: Tensor
    /// The labels as integers.
    public let labelIndices: [Int]
    /// The dataset index of each sample.
    public let indices: [Int]
    /// This batch's position in its epoch (0-based).
    public let index: Int
    /// Number of samples.
    public var count: Int { indices.count }
}

/// The dataset indices a `DataLoader` visits per epoch when the caller chooses them — for
/// example one rank's share from TesseraDistributed's `DistributedSampler`: `count` indices
/// every epoch, `indices(epoch)` in visiting order (repeats allowed).
public struct SampleOrder: Sendable {
    /// Indices per epoch.
    public let count: Int
    /// The indices of an epoch, in order.
    public let indices: @Sendable (_ epoch: Int) -> [Int]
    /// For the sample at each position of this order, its position in a larger order that
    /// several loaders share (one rank's share of a distributed order): the sample is augmented
    /// from that position, as a single loader over the larger order would augment it.
    public let globalPosition: @Sendable (_ position: Int) -> Int

    /// An order of `count` indices per epoch given by `indices`; `globalPosition` maps a
    /// position to the one its augmentation is drawn from (by default itself).
    public init(count: Int, indices: @escaping @Sendable (_ epoch: Int) -> [Int],
                globalPosition: @escaping @Sendable (_ position: Int) -> Int = { $0 }) {
        precondition(count >= 0, "SampleOrder: count must be >= 0, got \(count)")
        self.count = count
        self.indices = indices
        self.globalPosition = globalPosition
    }
}

/// Images per second measured by `DataLoader.measureThroughput`.
public struct Throughput: CustomStringConvertible {
    /// Images delivered.
    public let images: Int
    /// Batches delivered.
    public let batches: Int
    /// Wall-clock seconds from the first request to the last batch.
    public let seconds: Double
    /// `images / seconds`.
    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
    public var description: String {
        String(format: "%d images in %d batches, %.3f s: %.0f images/s", images, batches, seconds, imagesPerSecond)
    }
}

/// Yields [N, C, H, W] batches and labels from a `Dataset`, optionally shuffled per epoch and
/// augmented by a `Transform`, with the next batches prepared on background threads.
///
/// Determinism: the order of epoch `e` is a permutation drawn from a generator seeded by
/// (`seed`, `e`), and the sample at position `k` of that order is augmented with a generator
/// seeded by (`seed`, `e`, `k`) — with a `SampleOrder`, `k` is its `globalPosition`. Batches therefore depend only on the seed and the epoch —
/// not on prefetch depth, worker count or thread timing — and successive epochs differ.
///
/// Memory: each worker owns one `SampleBuffer`; the only allocations per batch are the batch
/// tensors and its small index arrays.
public final class DataLoader: Sendable {
    /// The source of samples.
    public let dataset: any Dataset
    /// Samples per batch (the last batch may be smaller unless `dropLast`).
    public let batchSize: Int
    /// Whether each epoch visits the samples in a fresh random order.
    public let shuffle: Bool
    /// Whether a final batch smaller than `batchSize` is left out.
    public let dropLast: Bool
    /// The seed of the shuffle and augmentation generators.
    public let seed: UInt64
    /// The per-sample transform, if any.
    public let transform: (any Transform)?
    /// How many batches may be prepared ahead of the consumer; 0 prepares each batch on the
    /// calling thread when it is requested.
    public let prefetch: Int
    /// Background threads preparing batches (used when `prefetch > 0`).
    public let workers: Int
    /// The shape of each sample in a batch (after the transform).
    public let sampleShape: SampleShape
    /// The caller's visiting order, if any (else `shuffle` decides).
    public let sampleOrder: SampleOrder?
    let workspaceCount: Int

    /// A loader over `dataset`.
    /// - Parameters:
    ///   - dataset: the samples.
    ///   - batchSize: samples per batch.
    ///   - shuffle: reshuffle every epoch (from `seed` and the epoch number).
    ///   - dropLast: leave out a final incomplete batch.
    ///   - seed: fixes the shuffles and the augmentation.
    ///   - transform: applied to every sample (e.g. `Compose([RandomCrop(size: 32, padding: 4),
    ///     RandomHorizontalFlip(), Normalize.cifar10])`).
    ///   - prefetch: batches prepared ahead on background threads (0: none).
    ///   - workers: background threads (at least 1 when prefetching).
    ///   - sampleOrder: the indices to visit each epoch, when the caller chooses them (one rank's
    ///     share of a distributed sampler); `shuffle` is then ignored.
    public init(dataset: any Dataset, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                seed: UInt64 = 0, transform: (any Transform)? = nil, prefetch: Int = 2, workers: Int = 1,
                sampleOrder: SampleOrder? = nil) {
        precondition(batchSize > 0, "DataLoader: batchSize must be positive, got \(batchSize)")
        precondition(prefetch >= 0 && workers >= 1, "DataLoader: prefetch must be >= 0 and workers >= 1 (got \(prefetch), \(workers))")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.seed = seed
        self.transform = transform
        self.prefetch = prefetch
        self.workers = workers
        self.sampleOrder = sampleOrder
        let input = dataset.sampleShape
        self.sampleShape = transform?.outputShape(for: input) ?? input
        self.workspaceCount = max(transform?.workspaceCount(for: input) ?? input.count, sampleShape.count)
    }

    /// Batches per epoch.
    public var batchCount: Int {
        let n = sampleOrder?.count ?? dataset.count
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize
    }

    /// The order in which epoch `epoch` visits the dataset.
    public func order(epoch: Int) -> [Int] {
        if let sampleOrder {
            let order = sampleOrder.indices(epoch)
            let n = dataset.count
            precondition(order.count == sampleOrder.count && order.allSatisfy { $0 >= 0 && $0 < n },
                         "DataLoader: sampleOrder gave \(order.count) indices for epoch \(epoch), expected \(sampleOrder.count) in 0..<\(n)")
            return order
        }
        var order = Array(0..<dataset.count)
        guard shuffle else { return order }
        var g = SeededGenerator(seed: DataLoader.mix(DataLoader.mix(seed, 0x5348_5546_464C_4521), UInt64(bitPattern: Int64(epoch))))
        var i = order.count - 1
        while i > 0 {
            let j = uniformInt(i + 1, &g)
            order.swapAt(i, j)
            i -= 1
        }
        return order
    }

    /// The generator that augments the sample at `position` of epoch `epoch`.
    public func sampleGenerator(epoch: Int, position: Int) -> SeededGenerator {
        SeededGenerator(seed: DataLoader.mix(DataLoader.mix(DataLoader.mix(seed, 0x4155_474D_454E_5421),
                                                            UInt64(bitPattern: Int64(epoch))),
                                             UInt64(bitPattern: Int64(position))))
    }

    /// SplitMix64-based combination of two words.
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        func splitMix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return splitMix(a ^ splitMix(b))
    }

    /// The batches of epoch `epoch`, produced in the background when `prefetch > 0`.
    /// Call `next()` until it returns nil; dropping the iterator early stops the workers.
    /// `startingAt` skips the first batches without building them (a resumed run continues
    /// mid-epoch with the same batches it would have had).
    public func epoch(_ epoch: Int, startingAt first: Int = 0) -> Epoch { Epoch(loader: self, epoch: epoch, first: first) }

    /// Calls `body` with every batch of epoch `epoch`, in order.
    public func forEachBatch(epoch: Int, _ body: (Batch) throws -> Void) throws {
        let it = self.epoch(epoch)
        while let batch = try it.next() { try body(batch) }
    }

    /// Runs through (up to `maxBatches` of) epoch `epoch` doing nothing with the batches and
    /// reports the rate at which the loader delivered them. For benchmarks; tests must not
    /// assert on it.
    public func measureThroughput(epoch: Int = 0, maxBatches: Int? = nil) throws -> Throughput {
        let clock = ContinuousClock()
        let start = clock.now
        var images = 0, batches = 0
        let it = self.epoch(epoch)
        while batches < (maxBatches ?? Int.max), let batch = try it.next() {
            images += batch.count
            batches += 1
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Throughput(images: images, batches: batches, seconds: seconds)
    }

    /// Builds batch `b` of an epoch whose visiting order is `order`, using `workspace`.
    func makeBatch(_ b: Int, epoch: Int, order: [Int], workspace: SampleBuffer) throws -> Batch {
        let start = b * batchSize
        let n = min(batchSize, order.count - start)
        let inShape = dataset.sampleShape, outShape = sampleShape, outCount = outShape.count
        let indices = Array(order[start..<(start + n)])
        var labels = [Int](repeating: 0, count: n)
        let images = try Tensor(shape: [n, outShape.channels, outShape.height, outShape.width]) { out in
            for k in 0..<n {
                let index = indices[k]
                labels[k] = dataset.label(at: index)
                workspace.reset(shape: inShape)
                workspace.sampleIndex = index
                workspace.epoch = epoch
                try dataset.writeSample(at: index, into: workspace.values)
                if let transform {
                    var g = sampleGenerator(epoch: epoch, position: sampleOrder?.globalPosition(start + k) ?? start + k)
                    transform.apply(to: workspace, generator: &g)
                    precondition(workspace.shape == outShape,
                                 "DataLoader: transform produced \(workspace.shape), expected \(outShape)")
                }
                (out.baseAddress! + k * outCount).update(from: workspace.values.baseAddress!, count: outCount)
            }
        }
        let labelTensor = Tensor(labels.map(Float.init), shape: [n])
        return Batch(images: images, labels: labelTensor, labelIndices: labels, indices: indices, index: b)
    }

    /// The batches of one epoch, in order. Not thread-safe: consume it from one thread.
    public final class Epoch {
        /// The loader this epoch belongs to.
        public let loader: DataLoader
        /// The epoch number.
        public let epoch: Int
        /// The visiting order of this epoch.
        public let order: [Int]
        /// Batches in this epoch.
        public let batchCount: Int
        private var nextBatch: Int
        private var failed = false
        private let state: PrefetchState?
        private let workspace: SampleBuffer?

        init(loader: DataLoader, epoch: Int, first: Int) {
            precondition(first >= 0, "DataLoader.epoch: startingAt must be >= 0, got \(first)")
            self.loader = loader
            self.epoch = epoch
            let order = loader.order(epoch: epoch)
            self.order = order
            self.batchCount = loader.batchCount
            nextBatch = min(first, batchCount)
            if loader.prefetch > 0 && batchCount > nextBatch {
                workspace = nil
                let state = PrefetchState(total: batchCount, depth: loader.prefetch, first: min(first, batchCount))
                self.state = state
                let workers = min(loader.workers, batchCount)
                state.running = workers
                for w in 0..<workers {
                    let thread = Thread {
                        let buffer = SampleBuffer(capacity: loader.workspaceCount, shape: loader.dataset.sampleShape)
                        state.work { b in
                            try loader.makeBatch(b, epoch: epoch, order: order, workspace: buffer)
                        }
                    }
                    thread.name = "TesseraVision.DataLoader.\(w)"
                    thread.start()
                }
            } else {
                state = nil
                workspace = SampleBuffer(capacity: loader.workspaceCount, shape: loader.dataset.sampleShape)
            }
        }

        deinit { state?.cancelAndWait() }

        /// The next batch, or nil after the last one. Rethrows a dataset error (e.g. an
        /// unreadable image), after which the epoch ends.
        public func next() throws -> Batch? {
            guard !failed, nextBatch < batchCount else { return nil }
            let b = nextBatch
            nextBatch += 1
            do {
                if let state { return try state.take(b) }
                return try loader.makeBatch(b, epoch: epoch, order: order, workspace: workspace!)
            } catch {
                failed = true
                state?.cancelAndWait()
                throw error
            }
        }
    }
}

/// The bounded hand-off between prefetch workers and the consumer.
final class PrefetchState: @unchecked Sendable {
    private let condition = NSCondition()
    private var ready: [Int: Result<Batch, Error>] = [:]
    private var claimed = 0
    private var consumed = 0
    private var cancelled = false
    var running = 0
    let total: Int
    let depth: Int

    init(total: Int, depth: Int, first: Int = 0) {
        self.total = total
        self.depth = depth
        claimed = first
        consumed = first
    }

    /// A worker's loop: claim the next batch index while fewer than `depth` batches are ahead
    /// of the consumer, produce it outside the lock, publish it.
    func work(_ produce: (Int) throws -> Batch) {
        condition.lock()
        defer {
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
        while true {
            while !cancelled && claimed < total && claimed >= consumed + depth { condition.wait() }
            if cancelled || claimed >= total { return }
            let b = claimed
            claimed += 1
            condition.unlock()
            let result = Result { try produce(b) }
            condition.lock()
            if cancelled { return }
            ready[b] = result
            condition.broadcast()
        }
    }

    /// Waits for batch `b` and hands it over.
    func take(_ b: Int) throws -> Batch {
        condition.lock()
        while ready[b] == nil { condition.wait() }
        let result = ready.removeValue(forKey: b)!
        consumed = b + 1
        condition.broadcast()
        condition.unlock()
        return try result.get()
    }

    /// Stops the workers and waits until they have returned.
    func cancelAndWait() {
        condition.lock()
        cancelled = true
        ready.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
