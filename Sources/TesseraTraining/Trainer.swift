import Foundation
import Tessera
import TesseraNN
import TesseraVision

/// The figures of one epoch, one line of `metrics.jsonl`.
public struct EpochMetrics: Codable, Equatable {
    /// The epoch (1-based).
    public var epoch: Int
    /// Mean training loss over the epoch.
    public var trainLoss: Double
    /// Training accuracy over the epoch (in training mode, as seen by the optimizer).
    public var trainAccuracy: Double
    /// Mean test loss (nil without evaluation).
    public var testLoss: Double?
    /// Test accuracy (nil without evaluation).
    public var testAccuracy: Double?
    /// Learning rate of the epoch's last step.
    public var lr: Double
    /// Wall time of the epoch (training and evaluation).
    public var seconds: Double
    /// Training images per second.
    public var imagesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case epoch, lr, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_acc", testLoss = "test_loss", testAccuracy = "test_acc"
        case imagesPerSecond = "images_per_sec"
    }
}

/// Why a run stopped early.
public enum TrainingError: Error, CustomStringConvertible {
    /// The loss became NaN or infinite.
    case nonFiniteLoss(epoch: Int, step: Int, value: Float)
    /// A signal (SIGINT, SIGTERM, SIGHUP) arrived; the run was saved to `savedTo`, which
    /// `--resume` continues from that step.
    case interrupted(signal: Int32, epoch: Int, step: Int, savedTo: String?)
    /// A resume whose checkpoint does not fit the run as configured now.
    case cannotResume(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, step, value):
            return "training stopped: loss is \(value) at epoch \(epoch), step \(step) (try a lower learning rate)"
        case let .interrupted(signal, epoch, step, saved):
            return "interrupted by \(Interruption.name(signal)) at epoch \(epoch), step \(step)"
                + (saved.map { "; saved to \($0): `--resume` continues from this step" } ?? "")
        case let .cannotResume(path, reason):
            return "cannot resume from \(path): \(reason)"
        }
    }

    /// The exit status a command reports: 128 + the signal for an interruption (130 for Ctrl-C), else 1.
    public var exitStatus: Int32 {
        if case let .interrupted(signal, _, _, _) = self { return 128 + signal }
        return 1
    }
}

/// Trains a classifier: epochs of (forward, loss, backward, step), evaluation after each,
/// metrics, checkpoints and curves in an output folder, and exact resume — from the end of an
/// epoch, or from the step where a signal stopped it.
///
/// The loop it runs is the plain one:
/// ```swift
/// for batch in batches {
///     let loss = crossEntropy(model(batch.images), batch.labelIndices, labelSmoothing: 0.1)
///     optimizer.zeroGrad()
///     loss.backward()
///     optimizer.step()
/// }
/// ```
///
/// Batch norms whose parameters are all frozen (`Module/freeze(prefix:)`, `--freeze
/// backbone`) run in evaluation mode during training, the usual fine-tuning practice: their
/// running statistics stay those of the weights loaded.
public final class Trainer {
    /// The model being trained.
    public let model: Module
    /// Its optimizer.
    public let optimizer: Optimizer
    /// Learning rate for each global step (0-based), e.g. from an LR schedule.
    public var learningRate: (Int) -> Float
    /// Momentum (Adam's β₁) for each global step from a schedule that cycles it, set on the
    /// optimizer before the step (its `scheduledMomentum`); nil leaves the optimizer's alone.
    public var momentum: ((Int) -> Float?)?
    /// A running average of the weights, updated after every optimizer step: an EMA is what
    /// the trainer evaluates and, at the end of the last epoch, what it keeps as the model; a
    /// lookahead rewrites the weights itself every few steps.
    public var averaging: WeightAveraging?
    /// Called at the start of every epoch (1-based), a resumed one included, before its first
    /// batch: e.g. to freeze parameters after some epochs.
    public var beforeEpoch: ((_ epoch: Int) -> Void)?
    /// Label smoothing of the training loss.
    public var labelSmoothing: Float = 0
    /// Total epochs of the run.
    public var epochs: Int
    /// Where metrics, checkpoints and curves go (nil: nowhere).
    public var outputDirectory: URL?
    /// What every checkpoint records about the model and its data (the trainer fills in the epoch,
    /// step, generator state and data size); nil writes checkpoints without it.
    public var checkpointInfo: CheckpointInfo?
    /// Print progress (bar on a terminal, periodic lines otherwise).
    public var showProgress = true
    /// The other processes of a data-parallel run (nil: this process trains alone).
    public var coordinator: TrainingCoordinator?
    /// Called after every optimizer step with the epoch (1-based) and the step within it (1-based),
    /// before the trainer checks for a signal: for logging, or to stop a run programmatically.
    public var afterStep: ((_ epoch: Int, _ step: Int) -> Void)?

    /// The training batches (shuffled and augmented per epoch from its seed: resume is exact).
    public let trainLoader: DataLoader
    /// The evaluation batches, or nil to skip evaluation.
    public let testLoader: DataLoader?

    /// Epochs completed so far (after ``resume(from:)``, those of the earlier run).
    public private(set) var completedEpochs = 0
    /// Optimizer steps taken so far.
    public private(set) var globalStep = 0
    /// Metrics of the completed epochs.
    public private(set) var history: [EpochMetrics] = []
    /// Steps of epoch ``completedEpochs`` + 1 already done (by a resumed run), with their totals and time.
    private var partialSteps = 0, partialTotals = EpochTotals(), partialSeconds = 0.0

    /// A trainer for `epochs` epochs over `train`, evaluating on `test` after each.
    public init(model: Module, optimizer: Optimizer, epochs: Int, learningRate: @escaping (Int) -> Float,
                train: DataLoader, test: DataLoader?) {
        precondition(epochs >= 0, "Trainer: epochs must be >= 0, got \(epochs)")
        self.model = model
        self.optimizer = optimizer
        self.epochs = epochs
        self.learningRate = learningRate
        self.trainLoader = train
        self.testLoader = test
    }

    var metricsURL: URL? { outputDirectory?.appendingPathComponent("metrics.jsonl") }
    /// `<out>/last.safetensors`, rewritten after every epoch and when a signal stops the run.
    public var lastCheckpointURL: URL? { outputDirectory?.appendingPathComponent("last.safetensors") }
    private var writesOutputs: Bool { coordinator?.writesOutputs ?? true }

    /// Restores model, optimizer, step counters, the process-wide RNG and the metrics history
    /// from a checkpoint written by this trainer. Returns notes for the user (what was not exact).
    /// Throws when the checkpoint does not fit the run: other data (a different number of batches
    /// per epoch), fewer epochs configured than already done.
    @discardableResult
    public func resume(from url: URL) throws -> [String] {
        let ckpt = try Checkpoint.load(from: url)
        guard let info = ckpt.info else { throw CheckpointError.missingMetadata(path: url.path, key: "tessera (epoch, step, generator)") }
        let batches = trainLoader.batchCount
        if let written = info.batchesPerEpoch, written != batches {
            throw TrainingError.cannotResume(path: url.path, reason: "the run had \(written) batches per epoch"
                + (info.trainSamples.map { " (\($0) training images)" } ?? "")
                + "; the data now gives \(batches) (\(trainLoader.dataset.count) images): the data changed since the run started")
        }
        if info.batchesPerEpoch == nil, info.globalStep != info.epoch * batches + info.stepInEpoch {
            throw TrainingError.cannotResume(path: url.path, reason: "\(info.globalStep) steps in \(info.epoch) epochs do not fit "
                + "\(batches) batches per epoch: the data changed since the run started")
        }
        if info.epoch > epochs || (info.epoch == epochs && info.stepInEpoch > 0) {
            throw TrainingError.cannotResume(path: url.path, reason: "the run has done \(info.epoch) epochs; --epochs is \(epochs)")
        }
        if info.stepInEpoch >= batches {
            throw TrainingError.cannotResume(path: url.path, reason: "step \(info.stepInEpoch) of an epoch of \(batches) batches")
        }
        let (written, now) = (info.processes ?? 1, checkpointInfo?.processes ?? 1)
        if written != now {
            throw TrainingError.cannotResume(path: url.path, reason: "the run was trained by \(written) process\(written == 1 ? "" : "es") and "
                + "this one has \(now): each process's batch, and with --lr-scaling linear the learning rate, depend on it; resume it "
                + (written == 1 ? "without --distributed" : "with `mpirun -np \(written) tessera train --distributed --resume …`"))
        }
        do { _ = try model.loadStateDict(ckpt.model, strict: true) } catch {
            throw CheckpointError.incompatible(path: url.path, reason: "\(error)")
        }
        var notes: [String] = []
        if let averaging {
            if ckpt.average.isEmpty {
                notes.append("\(url.path) has no weight average: it starts again from the weights")
            } else {
                do { try averaging.loadStateDict(ckpt.average) } catch {
                    throw CheckpointError.incompatible(path: url.path, reason: "its weight average: \(error)")
                }
            }
        }
        if ckpt.optimizer.isEmpty {
            notes.append("\(url.path) has no optimizer state: the optimizer starts afresh (no momentum), so this run will not "
                         + "match one that was never interrupted")
        } else {
            try optimizer.loadStateDict(ckpt.optimizer)
        }
        completedEpochs = info.epoch
        globalStep = info.globalStep
        partialSteps = info.stepInEpoch
        partialTotals = info.partialEpoch ?? EpochTotals()
        partialSeconds = info.partialEpochSeconds ?? 0
        if let rng = info.rng.flatMap(SeededGenerator.init(words:)) {
            GlobalRandom.with { $0 = rng }
        } else {
            notes.append("\(url.path) has no generator state: initializations after this point differ from the original run")
        }
        history = []
        if let m = metricsURL, let text = try? String(contentsOf: m, encoding: .utf8) {
            let decoder = JSONDecoder()
            history = text.split(separator: "\n").compactMap { try? decoder.decode(EpochMetrics.self, from: Data($0.utf8)) }
                .filter { $0.epoch <= completedEpochs }
        }
        return notes
    }

    /// Trains the remaining epochs. Throws ``TrainingError`` on a non-finite loss or a signal
    /// (after saving the run, so `--resume` continues from that step).
    @discardableResult
    public func fit() throws -> [EpochMetrics] {
        if let dir = outputDirectory, writesOutputs {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            AtomicFile.removeLeftovers(in: dir)
            try rewriteMetrics()
        }
        try coordinator?.synchronizeStart(model: model, optimizer: optimizer)
        let progress = ProgressReporter()
        while completedEpochs < epochs {
            let epoch = completedEpochs + 1
            let start = Date()
            beforeEpoch?(epoch)
            model.train()
            Trainer.keepFrozenBatchNormsInEvaluation(model)
            // The totals of the steps before a resume are sums over all processes: the process that
            // writes the outputs carries them, the others start from zero, so a sum counts them once.
            var totals = writesOutputs ? partialTotals : EpochTotals(), step = partialSteps
            let carried = partialSeconds
            (partialSteps, partialTotals, partialSeconds) = (0, EpochTotals(), 0)
            var lr = learningRate(globalStep)
            let batchesPerEpoch = trainLoader.batchCount
            let firstStep = step
            let batches = trainLoader.epoch(completedEpochs, startingAt: step)
            while let batch = try batches.next() {
                step += 1
                lr = learningRate(globalStep)
                optimizer.lr = lr
                if let m = momentum?(globalStep) { optimizer.scheduledMomentum = m }
                let logits = model(batch.images)
                let loss = crossEntropy(logits, batch.labelIndices, labelSmoothing: labelSmoothing)
                let value = try coordinator?.agreedLoss(loss.item()) ?? loss.item()
                guard value.isFinite else { throw TrainingError.nonFiniteLoss(epoch: epoch, step: step, value: value) }
                optimizer.zeroGrad()
                loss.backward()
                try coordinator?.reduceGradients()
                optimizer.step()
                globalStep += 1
                averaging?.afterStep()
                let n = batch.count
                totals.lossSum += Double(loss.item()) * Double(n)
                totals.correct += Trainer.correctCount(logits, batch.labelIndices)
                totals.seen += n
                if showProgress && writesOutputs {
                    let elapsed = Date().timeIntervalSince(start)
                    let rate = Double(totals.seen) / max(elapsed + carried, 1e-9)
                    let eta = elapsed / Double(max(step - firstStep, 1)) * Double(max(batchesPerEpoch - step, 0))
                    progress.update(epoch: epoch, epochs: epochs, batch: step, batches: batchesPerEpoch, imagesPerSecond: rate,
                                    loss: totals.meanLoss, accuracy: totals.accuracy, eta: eta)
                }
                afterStep?(epoch, step)
                let stop = try coordinator?.agreedStop(Interruption.pending != nil) ?? (Interruption.pending != nil)
                if stop && step < batchesPerEpoch {
                    progress.finishLine()
                    let saved = try saveMidEpoch(step: step, totals: totals, seconds: carried + Date().timeIntervalSince(start))
                    throw TrainingError.interrupted(signal: Interruption.pending ?? SIGTERM, epoch: epoch, step: step, savedTo: saved)
                }
            }
            let trainSeconds = carried + Date().timeIntervalSince(start)
            if showProgress && writesOutputs { progress.finishLine() }
            totals = try coordinator?.sum(totals) ?? totals
            var metrics = EpochMetrics(epoch: epoch, trainLoss: totals.meanLoss, trainAccuracy: totals.accuracy,
                                       testLoss: nil, testAccuracy: nil, lr: Double(lr), seconds: 0,
                                       imagesPerSecond: Double(totals.seen) / max(trainSeconds, 1e-9))
            try coordinator?.synchronizeBuffers(model: model)
            if epoch == epochs { averaging?.finish() }
            if let testLoader {
                let evaluate = { try self.coordinator?.sum(Trainer.evaluationTotals(self.model, loader: testLoader))
                    ?? Trainer.evaluationTotals(self.model, loader: testLoader) }
                let r = try averaging?.evaluated(evaluate) ?? evaluate()
                metrics.testLoss = r.meanLoss
                metrics.testAccuracy = r.accuracy
            }
            metrics.seconds = carried + Date().timeIntervalSince(start)
            completedEpochs = epoch
            history.append(metrics)
            if showProgress && writesOutputs { print(Trainer.summary(metrics, epochs: epochs)); fflush(nil) }
            try writeEpochOutputs(metrics)
            let stop = try coordinator?.agreedStop(Interruption.pending != nil) ?? (Interruption.pending != nil)
            if stop, completedEpochs < epochs {
                throw TrainingError.interrupted(signal: Interruption.pending ?? SIGTERM, epoch: epoch, step: step,
                                                savedTo: writesOutputs ? lastCheckpointURL?.path : nil)
            }
        }
        return history
    }

    /// Puts into evaluation mode every batch norm with parameters, all of them frozen.
    static func keepFrozenBatchNormsInEvaluation(_ model: Module) {
        for (_, m) in model.namedModules() {
            guard let bn = m as? BatchNorm else { continue }
            let params = bn.ownParameters
            if !params.isEmpty && params.allSatisfy({ !$0.tensor.requiresGrad }) { bn.eval() }
        }
    }

    /// Mean loss (cross-entropy, no smoothing) and accuracy of `model` in evaluation mode.
    public static func evaluate(_ model: Module, loader: DataLoader) throws -> (loss: Double, accuracy: Double) {
        let t = try evaluationTotals(model, loader: loader)
        return (t.meanLoss, t.accuracy)
    }

    /// The loss and accuracy totals of `model` in evaluation mode over `loader`'s batches.
    public static func evaluationTotals(_ model: Module, loader: DataLoader) throws -> EpochTotals {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var totals = EpochTotals()
        try withNoGrad {
            let batches = loader.epoch(0)
            while let batch = try batches.next() {
                let logits = model(batch.images)
                totals.lossSum += Double(crossEntropy(logits, batch.labelIndices, reduction: .sum).item())
                totals.correct += correctCount(logits, batch.labelIndices)
                totals.seen += batch.count
            }
        }
        return totals
    }

    /// How many rows of `logits` [N, C] have their maximum at the label.
    public static func correctCount(_ logits: Tensor, _ labels: [Int]) -> Int {
        let l = logits.detach().contiguous()
        let c = l.shape[1]
        return l.withUnsafeBufferPointer { p in
            var correct = 0
            for (i, label) in labels.enumerated() {
                var best = 0
                for j in 1..<max(c, 1) where p[i * c + j] > p[i * c + best] { best = j }
                if best == label { correct += 1 }
            }
            return correct
        }
    }

    static func summary(_ m: EpochMetrics, epochs: Int) -> String {
        var s = String(format: "epoch %d/%d  train loss %.4f acc %.2f%%", m.epoch, epochs, m.trainLoss, m.trainAccuracy * 100)
        if let tl = m.testLoss, let ta = m.testAccuracy { s += String(format: "  test loss %.4f acc %.2f%%", tl, ta * 100) }
        s += String(format: "  lr %.4g  %.0f img/s  %.1fs", m.lr, m.imagesPerSecond, m.seconds)
        return s
    }

    // MARK: Outputs

    private func checkpoint(stepInEpoch: Int = 0, totals: EpochTotals? = nil, seconds: Double? = nil) -> Checkpoint {
        var info = checkpointInfo
        info?.epoch = completedEpochs
        info?.globalStep = globalStep
        info?.rng = GlobalRandom.with { $0.words }
        info?.stepInEpoch = stepInEpoch
        info?.partialEpoch = totals
        info?.partialEpochSeconds = seconds
        info?.batchesPerEpoch = trainLoader.batchCount
        let samples = info?.trainSamples ?? trainLoader.sampleOrder?.count ?? trainLoader.dataset.count
        info?.trainSamples = samples
        return Checkpoint(model: model.stateDict(), optimizer: optimizer.stateDict(), average: averaging?.stateDict() ?? StateDict(),
                          info: info)
    }

    private func writeEpochOutputs(_ metrics: EpochMetrics) throws {
        guard let dir = outputDirectory, writesOutputs else { return }
        try checkpoint().save(to: dir.appendingPathComponent("last.safetensors"))
        try rewriteMetrics()
        try Curves.write(history, to: dir.appendingPathComponent("curves.png"))
    }

    /// The run as it stands after `step` steps of the current epoch, as `last.safetensors`.
    private func saveMidEpoch(step: Int, totals: EpochTotals, seconds: Double) throws -> String? {
        try coordinator?.synchronizeBuffers(model: model)
        let totals = try coordinator?.sum(totals) ?? totals
        guard let url = lastCheckpointURL, writesOutputs else { return nil }
        try checkpoint(stepInEpoch: step, totals: totals, seconds: seconds).save(to: url)
        return url.path
    }

    /// Rewrites metrics.jsonl from the history (atomically), so a resumed run never repeats lines.
    private func rewriteMetrics() throws {
        guard let url = metricsURL else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = ""
        for m in history { text += String(decoding: try encoder.encode(m), as: UTF8.self) + "\n" }
        try AtomicFile.write(Data(text.utf8), to: url)
    }
}

/// A running average of the weights that a ``Trainer`` keeps.
public enum WeightAveraging {
    /// An exponential moving average: updated after every step, evaluated in place of the
    /// weights, and copied into the model at the end of the last epoch.
    case ema(ExponentialMovingAverage)
    /// airbench's lookahead: it rewrites the weights itself (every few steps, and to the average
    /// at its last step); the trainer evaluates the weights as they are.
    case lookahead(Lookahead)

    func afterStep() {
        switch self {
        case .ema(let e): e.update()
        case .lookahead(let l): _ = l.step()
        }
    }

    /// The end of the run: the EMA becomes the model.
    func finish() {
        if case .ema(let e) = self { e.copyAverageIntoModule() }
    }

    /// `body` run with the weights it evaluates: the EMA's in place of the model's.
    func evaluated<R>(_ body: () throws -> R) rethrows -> R {
        switch self {
        case .ema(let e): return try e.withAveragedWeights(body)
        case .lookahead: return try body()
        }
    }

    func stateDict() -> StateDict {
        switch self {
        case .ema(let e): return e.stateDict()
        case .lookahead(let l): return l.stateDict()
        }
    }

    func loadStateDict(_ sd: StateDict) throws {
        switch self {
        case .ema(let e): try e.loadStateDict(sd)
        case .lookahead(let l): try l.loadStateDict(sd)
        }
    }
}
