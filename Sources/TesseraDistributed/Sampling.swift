import Tessera
import TesseraTraining

/// Which training samples each rank visits per epoch, with PyTorch's `DistributedSampler`
/// semantics:
///
/// - every rank draws the same permutation of `0 ..< count` for an epoch (from `seed + epoch`;
///   or uses the given global order, see ``indices(epoch:order:)``);
/// - unless ``dropLast``, the order is padded to a multiple of the number of ranks with indices
///   from its start (repeated if it is shorter than the padding), so every rank gets
///   ``samplesPerRank`` = ⌈count / ranks⌉ samples and runs the same number of steps; with
///   ``dropLast``, the tail is dropped instead and each rank gets ⌊count / ranks⌋;
/// - rank `r` takes positions `r, r + ranks, r + 2·ranks, …` of the padded order.
///
/// So step `s` of rank `r` with per-rank batch `b` holds global positions
/// `(s·b + j)·ranks + r`, and the ranks' batches of a step together are positions
/// `s·b·ranks ..< (s + 1)·b·ranks` of the order: the batch a single process with batch
/// `b·ranks` would take at step `s`.
public struct DistributedSampler: Equatable, Sendable {
    /// Samples in the dataset.
    public let count: Int
    /// This rank.
    public let rank: Int
    /// The number of ranks.
    public let ranks: Int
    /// Whether each epoch uses a fresh permutation (else the natural order).
    public let shuffle: Bool
    /// The seed of the permutations.
    public let seed: UInt64
    /// Drop the tail instead of padding.
    public let dropLast: Bool

    /// A sampler for rank `rank` of `ranks`.
    /// - Precondition: `count >= 0`, `ranks >= 1`, `0 <= rank < ranks`.
    public init(count: Int, rank: Int, ranks: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        precondition(count >= 0, "DistributedSampler: count must be >= 0, got \(count)")
        precondition(ranks >= 1 && rank >= 0 && rank < ranks, "DistributedSampler: rank \(rank) is not in 0..<\(ranks)")
        self.count = count
        self.rank = rank
        self.ranks = ranks
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
    }

    /// A sampler for this process's rank in `communicator`.
    public init(count: Int, communicator: Communicator, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        self.init(count: count, rank: communicator.rank, ranks: communicator.size, shuffle: shuffle, seed: seed, dropLast: dropLast)
    }

    /// This rank's share as TesseraTraining computes it (the arithmetic is there, MPI-free).
    public var shard: DataShard { DataShard(rank: rank, count: ranks) }
    /// Samples each rank visits per epoch.
    public var samplesPerRank: Int { shard.trainingCount(samples: count, dropLast: dropLast) }
    /// Samples visited per epoch over all ranks (padding included).
    public var totalSize: Int { samplesPerRank * ranks }

    /// The global order of epoch `epoch`, the same on every rank: a Fisher–Yates permutation
    /// driven by `SeededGenerator(seed: seed &+ epoch)` when shuffling, else `0 ..< count`.
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<count)
        guard shuffle, count > 1 else { return order }
        var g = SeededGenerator(seed: seed &+ UInt64(bitPattern: Int64(epoch)))
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(truncatingIfNeeded: g.next().multipliedFullWidth(by: UInt64(i + 1)).high)
            order.swapAt(i, j)
        }
        return order
    }

    /// This rank's dataset indices for epoch `epoch`, in visiting order.
    public func indices(epoch: Int) -> [Int] { indices(epoch: epoch, order: permutation(epoch: epoch)) }

    /// This rank's share of a caller's global order (for instance a single-process loader's
    /// `order(epoch:)`, so that a distributed run visits the same global sequence), padded or
    /// cut as described on the type.
    /// - Precondition: `order.count == count`.
    public func indices(epoch: Int, order: [Int]) -> [Int] {
        precondition(order.count == count, "DistributedSampler.indices: order has \(order.count) indices, the sampler \(count)")
        return shard.trainingIndices(of: order, dropLast: dropLast)
    }
}

/// This rank's part of an evaluation set: every sample exactly once over the ranks, without
/// padding (unlike ``DistributedSampler``), so sums of per-rank results (``MetricTotals``) count
/// each sample once. Rank `r` takes the contiguous block `⌊r·count/ranks⌋ ..< ⌊(r+1)·count/ranks⌋`,
/// so ranks may differ by one sample — and run different numbers of batches, which is fine as
/// long as no collective is called per batch.
public struct EvaluationShard: Equatable, Sendable {
    /// Samples in the evaluation set.
    public let count: Int
    /// This rank.
    public let rank: Int
    /// The number of ranks.
    public let ranks: Int

    /// The shard of rank `rank` of `ranks`.
    /// - Precondition: `count >= 0`, `ranks >= 1`, `0 <= rank < ranks`.
    public init(count: Int, rank: Int, ranks: Int) {
        precondition(count >= 0, "EvaluationShard: count must be >= 0, got \(count)")
        precondition(ranks >= 1 && rank >= 0 && rank < ranks, "EvaluationShard: rank \(rank) is not in 0..<\(ranks)")
        self.count = count
        self.rank = rank
        self.ranks = ranks
    }

    /// The shard of this process's rank in `communicator`.
    public init(count: Int, communicator: Communicator) {
        self.init(count: count, rank: communicator.rank, ranks: communicator.size)
    }

    /// This rank's dataset indices, in order.
    public var range: Range<Int> { DataShard(rank: rank, count: ranks).evaluationRange(count: count) }
    /// This rank's dataset indices as an array.
    public var indices: [Int] { Array(range) }
}

/// Running sums of a classifier's loss and accuracy, added up over the ranks with
/// ``Communicator/sum(_:)`` — so means are weighted by the samples each rank saw. The same type as
/// the Trainer's `EpochTotals`.
public typealias MetricTotals = EpochTotals

extension EpochTotals {
    /// Adds a batch of `count` samples whose mean loss is `meanLoss`, `correct` of them right.
    public mutating func add(meanLoss: Double, count: Int, correct: Int) {
        lossSum += meanLoss * Double(count)
        self.correct += correct
        seen += count
    }
}

extension Communicator {
    /// `totals` summed over the ranks (one allreduce; the counts travel as exact doubles).
    public func sum(_ totals: EpochTotals) throws -> EpochTotals {
        var values = [totals.lossSum, Double(totals.correct), Double(totals.seen)]
        try allreduceSum(&values)
        return EpochTotals(lossSum: values[0], correct: Int(values[1]), seen: Int(values[2]))
    }
}
