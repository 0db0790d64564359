import Foundation
import Tessera
import TesseraNN
import TesseraTraining

/// The `TrainingCoordinator` of a data-parallel run over MPI: K processes (ranks) train one
/// model, each on its share of every batch, and end with the weights and metrics of one run.
///
/// From Swift, on every rank (under `mpirun -np K`):
///
/// ```swift
/// let comm = try Communicator()
/// var config = TrainConfig(data: path, out: "runs/r20-dp")
/// config.threads = comm.suggestedComputeThreads
/// let coordinator = DistributedCoordinator(communicator: comm)
/// let run = try TrainingRun(config: config, shard: coordinator.shard)   // B/K images of every batch
/// try coordinator.attach(to: run)                  // refuses ranks configured differently
/// try run.trainer.fit()                            // rank 0 writes the outputs
/// try comm.finalize()
/// ```
///
/// What it does at the Trainer's agreement points:
///
/// - **Start** (``synchronizeStart(model:optimizer:)``): rank 0's parameters, buffers and
///   optimizer state are broadcast, whatever each rank initialized or loaded; then a
///   ``GradientReducer`` is laid out over the trainable parameters and each of them gets a
///   gradient-ready hook (`Tensor.onGradientReady`) that hands its gradient to the reducer as
///   soon as backward has finished it, so the buckets' allreduces start and progress while
///   backward computes the earlier layers.
/// - **Gradients** (``reduceGradients()``, right after `backward()`): waits for the buckets and
///   writes each gradient's mean over the ranks; then averages the floating-point buffers
///   (batch-norm running statistics: 1,376 floats in ResNet-20) over the ranks, one small
///   allreduce of each rank's change in the step, so that the buffers,
///   like the parameters and the optimizer state, are the same on every rank after every step:
///   a checkpoint written at any step holds the whole state of the run, and `--resume` continues
///   it bit for bit. Batch statistics stay local (no SyncBatchNorm): each rank normalizes its
///   B/K images with their own mean and variance.
/// - **Loss and stop** (``agreedLoss(_:)``, ``agreedStop(_:)``): one small allreduce each per
///   step, so that a non-finite loss or a signal on any rank stops every rank at the same step.
/// - **Evaluation and checkpoints** (``synchronizeBuffers(model:)``): the buffers are compared
///   by digest and averaged only if they differ; ``sum(_:)`` adds the ranks' totals.
/// - **Outputs**: rank 0 writes them (``writesOutputs``).
///
/// Every collective runs under the ``Communicator``'s watchdog: a rank that dies or hangs makes
/// the others throw an error naming it within the timeout.
public final class DistributedCoordinator: TrainingCoordinator {
    /// The ranks of the run.
    public let communicator: Communicator
    /// The cap of the first gradient bucket, in bytes.
    public let firstBucketBytes: Int
    /// The cap of the later gradient buckets, in bytes.
    public let bucketBytes: Int
    /// The reducer over the trainable parameters, once ``synchronizeStart(model:optimizer:)`` has run.
    public private(set) var reducer: GradientReducer?
    /// Time spent waiting in this coordinator's collectives since it was created.
    public private(set) var timing = CommunicationTiming()

    private var hooks: [GradientHook] = []
    /// The floating-point buffers averaged after every step; their values after the last
    /// averaging (the same on every rank), and room for the step's changes.
    private var averagedBuffers: [Tensor] = []
    private var agreedBuffers: [Float] = []
    private var bufferChanges: [Float] = []

    /// A coordinator over `communicator`'s ranks; the bucket caps are those of ``GradientReducer``.
    public init(communicator: Communicator, firstBucketBytes: Int = BucketLayout.defaultFirstBucketBytes,
                bucketBytes: Int = BucketLayout.defaultBucketBytes) {
        self.communicator = communicator
        self.firstBucketBytes = firstBucketBytes
        self.bucketBytes = bucketBytes
    }

    deinit { for h in hooks { h.remove() } }

    /// This rank's part of the data, for `TrainingRun.init(config:shard:)`.
    public var shard: DataShard { DataShard(rank: communicator.rank, count: communicator.size) }

    /// Refuses to train unless every rank has the same run (``checkConsistency(of:)``), then
    /// becomes the coordinator of `run`'s trainer. Call it after a resume, so the resume points
    /// are compared too.
    public func attach(to run: TrainingRun) throws {
        try checkConsistency(of: run)
        run.trainer.coordinator = self
    }

    /// Throws ``DistributedError/configurationMismatch(what:details:)`` unless every rank has the
    /// same configuration (all but the data folder, the output folder and the threads, which may
    /// differ between hosts), the same data (kind, training and test samples, classes, image
    /// shape), the same model size, the same batches, and the same resume point.
    public func checkConsistency(of run: TrainingRun) throws {
        var config = run.config
        (config.data, config.out, config.threads) = ("", "", 0)
        let summary = RunSummary(config: config, tesseraVersion: TesseraVersion.string, dataKind: run.source.kind,
                                 trainSamples: run.trainer.checkpointInfo?.trainSamples ?? run.trainer.trainLoader.dataset.count,
                                 testSamples: run.trainer.testLoader?.dataset.count ?? 0, classes: run.source.train.classCount,
                                 imageShape: run.source.train.sampleShape.dims, parameters: run.model.parameterCount,
                                 trainableParameters: run.model.trainableParameterCount, processes: run.shard.count,
                                 batchPerProcess: run.trainer.trainLoader.batchSize, batchesPerEpoch: run.trainer.trainLoader.batchCount,
                                 completedEpochs: run.trainer.completedEpochs, globalStep: run.trainer.globalStep)
        try communicator.checkConsistency(summary, of: "training run")
    }

    /// What ``checkConsistency(of:)`` compares.
    struct RunSummary: Encodable {
        var config: TrainConfig
        var tesseraVersion: String
        var dataKind: String
        var trainSamples: Int, testSamples: Int, classes: Int, imageShape: [Int]
        var parameters: Int, trainableParameters: Int
        var processes: Int, batchPerProcess: Int, batchesPerEpoch: Int
        var completedEpochs: Int, globalStep: Int
    }

    // MARK: TrainingCoordinator

    /// Rank 0 writes the run's files; the others write nothing.
    public var writesOutputs: Bool { communicator.rank == 0 }

    /// Broadcasts rank 0's parameters, buffers and optimizer state, and lays out the gradient
    /// buckets over the parameters that require gradients, with their gradient-ready hooks.
    public func synchronizeStart(model: Module, optimizer: Optimizer) throws {
        try communicator.broadcastParameters(of: model)
        try communicator.broadcastState(of: optimizer)
        for h in hooks { h.remove() }
        hooks = []
        let parameters = model.namedParameters().filter { $0.tensor.requiresGrad }
        let reducer = try GradientReducer(parameters: parameters, communicator: communicator,
                                          firstBucketBytes: firstBucketBytes, bucketBytes: bucketBytes)
        self.reducer = reducer
        for (i, p) in parameters.enumerated() {
            hooks.append(p.tensor.onGradientReady { [unowned reducer] _ in reducer.noteGradientReady(i) })
        }
        let floating: Set<DType> = [.float32, .float64, .float16, .bfloat16]
        averagedBuffers = model.namedBuffers().filter { floating.contains($0.dtype) }.map(\.tensor)
        agreedBuffers = [Float](repeating: 0, count: averagedBuffers.reduce(0) { $0 + $1.count })
        bufferChanges = agreedBuffers
        recordAgreedBuffers()
    }

    /// Keeps the buffers' current values, the same on every rank, as the base of the next average.
    private func recordAgreedBuffers() {
        agreedBuffers.withUnsafeMutableBufferPointer { Communicator.pack(averagedBuffers, into: $0) }
    }

    /// Replaces the buffers by their mean over the ranks, computed as the agreed values plus the
    /// mean of each rank's change since then: a buffer no rank changed (a frozen batch norm's)
    /// stays exactly as it was, which a plain mean of K equal values need not (3x/3 rounds).
    private func averageBufferChanges() throws {
        guard !agreedBuffers.isEmpty else { return }
        try bufferChanges.withUnsafeMutableBufferPointer { changes in
            Communicator.pack(averagedBuffers, into: changes)
            try agreedBuffers.withUnsafeMutableBufferPointer { agreed in
                for i in changes.indices { changes[i] -= agreed[i] }
                try communicator.allreduceSum(changes)
                let scale = 1 / Float(communicator.size)
                for i in agreed.indices { agreed[i] += changes[i] * scale }
                Communicator.unpack(agreed, into: averagedBuffers)
            }
        }
    }

    /// Completes the step's gradient allreduces (every `.grad` becomes the mean over the ranks),
    /// then averages the floating-point buffers over the ranks.
    public func reduceGradients() throws {
        guard let reducer else { preconditionFailure("DistributedCoordinator.reduceGradients: synchronizeStart(model:optimizer:) has not run") }
        let start = ContinuousClock.now
        try reducer.finish()
        timing.gradientSeconds += Activity.seconds(since: start)
        let reduced = ContinuousClock.now
        try averageBufferChanges()
        timing.bufferSeconds += Activity.seconds(since: reduced)
        timing.steps += 1
    }

    /// The mean of the ranks' losses: NaN or infinite on every rank when it is so on any.
    public func agreedLoss(_ loss: Float) throws -> Float {
        let start = ContinuousClock.now
        defer { timing.agreementSeconds += Activity.seconds(since: start) }
        var values = [Double(loss)]
        try communicator.allreduceSum(&values)
        return Float(values[0] / Double(communicator.size))
    }

    /// True on every rank when any rank was asked to stop.
    public func agreedStop(_ localStop: Bool) throws -> Bool {
        let start = ContinuousClock.now
        defer { timing.agreementSeconds += Activity.seconds(since: start) }
        var flags = [localStop ? 1 : 0]
        try communicator.allreduceSum(&flags)
        return flags[0] > 0
    }

    /// Makes the buffers the same on every rank: nothing to do when their digests agree (as they
    /// do after ``reduceGradients()``), else their mean (``Communicator/averageBuffers(of:)``).
    public func synchronizeBuffers(model: Module) throws {
        let digest = ConfigurationDigest.digest(of: model.namedBuffers().map(\.tensor))
        let all = try communicator.allgather([Int(bitPattern: UInt(digest))])
        guard all.contains(where: { $0 != all[0] }) else { return }
        try communicator.averageBuffers(of: model)
        recordAgreedBuffers()
    }

    /// The ranks' totals added up.
    public func sum(_ totals: EpochTotals) throws -> EpochTotals { try communicator.sum(totals) }
}

/// Where a rank's training steps wait for the others (``DistributedCoordinator/timing``): the
/// communication a step does not overlap with computation, plus the time the slowest rank
/// takes to catch up.
public struct CommunicationTiming: Sendable, Equatable {
    /// Steps whose gradients were reduced.
    public var steps = 0
    /// Seconds in ``GradientReducer/finish()``: the gradient buckets still in flight at the end
    /// of backward, the last ones started, the mean written back.
    public var gradientSeconds = 0.0
    /// Seconds averaging the buffers after each step.
    public var bufferSeconds = 0.0
    /// Seconds in the per-step agreements on the loss and on stopping.
    public var agreementSeconds = 0.0

    /// No time yet.
    public init() {}

    /// Everything, per step.
    public var secondsPerStep: Double { steps > 0 ? (gradientSeconds + bufferSeconds + agreementSeconds) / Double(steps) : 0 }
}
