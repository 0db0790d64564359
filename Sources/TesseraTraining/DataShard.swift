import TesseraVision

/// One process's part of a data-parallel run: process ``rank`` of ``count``, each taking an
/// equal share of every batch. The arithmetic of the shares lives here, without MPI, so that
/// ``TrainingRun`` can build a process's loaders (TesseraDistributed's `DistributedSampler` and
/// `EvaluationShard` use the same functions).
///
/// **Training** follows PyTorch's `DistributedSampler`: every process takes the same global order
/// of an epoch (the order a single process's loader would visit), padded to a multiple of
/// ``count`` with indices from its start, and process `r` takes positions `r, r + count, …`. With
/// a per-process batch `B / count`, step `s` of all processes together is positions
/// `s·B ..< (s + 1)·B` of the order: the batch of step `s` of a single process with batch `B`.
/// Each sample is augmented from its position in the global order (``globalPosition(_:)``), so
/// those batches are also augmented as the single process augments them.
///
/// **Evaluation** splits the test set into contiguous blocks without padding
/// (``evaluationRange(count:)``), so the processes' sums count every test image exactly once.
public struct DataShard: Equatable, Sendable, Codable {
    /// This process, `0 ..< count`.
    public let rank: Int
    /// The number of processes.
    public let count: Int

    /// The whole data for a single process.
    public static let whole = DataShard(rank: 0, count: 1)

    /// Process `rank` of `count`.
    /// - Precondition: `count >= 1` and `0 <= rank < count`.
    public init(rank: Int, count: Int) {
        precondition(count >= 1 && rank >= 0 && rank < count, "DataShard: rank \(rank) is not in 0..<\(count)")
        self.rank = rank
        self.count = count
    }

    /// Samples each process visits per epoch of `samples` training samples: ⌈samples / count⌉,
    /// or ⌊samples / count⌋ with `dropLast`.
    public func trainingCount(samples: Int, dropLast: Bool = false) -> Int {
        dropLast ? samples / count : (samples + count - 1) / count
    }

    /// This process's indices of a global `order`, in visiting order: the order padded with its
    /// first indices (repeated when it is shorter than the padding) to `count ×`
    /// ``trainingCount(samples:dropLast:)`` — or cut to that length with `dropLast` — and every
    /// `count`-th position from ``rank``.
    public func trainingIndices(of order: [Int], dropLast: Bool = false) -> [Int] {
        let total = trainingCount(samples: order.count, dropLast: dropLast) * count
        var padded = order
        if !dropLast && !order.isEmpty {
            padded.reserveCapacity(total)
            while padded.count < total { padded.append(contentsOf: order.prefix(total - padded.count)) }
        }
        return Array(stride(from: rank, to: total, by: count).map { padded[$0] })
    }

    /// The position in the (padded) global order of this process's sample at `position` of its
    /// own order.
    public func globalPosition(_ position: Int) -> Int { position * count + rank }

    /// This process's block of an evaluation set of `count` samples: `⌊rank·count/processes⌋ ..<
    /// ⌊(rank+1)·count/processes⌋` (the blocks differ by one sample at most).
    public func evaluationRange(count samples: Int) -> Range<Int> {
        (rank * samples / count)..<((rank + 1) * samples / count)
    }

    /// The batch each process takes of a global batch of `globalBatch`.
    /// - Throws: ``TrainSetupError`` unless `globalBatch` is a multiple of ``count``: the
    ///   processes' gradients are averaged with equal weights, which is the gradient of the
    ///   global batch only when their batches are equal.
    public func batchSize(global globalBatch: Int) throws -> Int {
        guard globalBatch % count == 0 else {
            let lower = max(count, globalBatch / count * count)
            throw TrainSetupError.invalid("--batch-size \(globalBatch) is the global batch and must be a multiple of the "
                                          + "\(count) processes, each taking an equal share of it (e.g. \(lower) or \(lower + count))")
        }
        return globalBatch / count
    }

    /// The visiting order of this process's training loader: its share of `global`'s order every
    /// epoch (padded, never cut), each sample augmented from its global position.
    func trainingOrder(of global: DataLoader) -> SampleOrder {
        let shard = self
        return SampleOrder(count: trainingCount(samples: global.dataset.count),
                           indices: { shard.trainingIndices(of: global.order(epoch: $0)) },
                           globalPosition: { shard.globalPosition($0) })
    }

    /// The visiting order of this process's evaluation loader over `samples` samples.
    func evaluationOrder(samples: Int) -> SampleOrder {
        let range = evaluationRange(count: samples)
        return SampleOrder(count: range.count) { _ in Array(range) }
    }
}
