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
    /// SIGINT arrived; the current weights were saved to `savedTo`.
    case interrupted(epoch: Int, step: Int, savedTo: String?)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, step, value):
            return "training stopped: loss is \(value) at epoch \(epoch), step \(step) (try a lower learning rate)"
        case let .interrupted(epoch, step, saved):
            return "interrupted at epoch \(epoch), step \(step)" + (saved.map { "; weights saved to \($0)" } ?? "")
                + "; `--resume` continues from the last completed epoch"
        }
    }
}

/// Set by SIGINT; the trainer checks it after every step.
enum Interrupt {
    /// Set from the signal handler: a plain C atomic-free flag is what async-signal safety allows;
    /// it is only ever set to true, and read after each step.
    nonisolated(unsafe) static var requested = false
}

/// Trains a classifier: epochs of (forward, loss, backward, step), evaluation after each,
/// metrics, checkpoints and curves in an output folder, and exact resume.
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
public final class Trainer {
    /// The model being trained.
    public let model: Module
    /// Its optimizer.
    public let optimizer: Optimizer
    /// Learning rate for each global step (0-based), e.g. from an LR schedule.
    public var learningRate: (Int) -> Float
    /// Label smoothing of the training loss.
    public var labelSmoothing: Float = 0
    /// Total epochs of the run.
    public var epochs: Int
    /// Where metrics, checkpoints and curves go (nil: nowhere).
    public var outputDirectory: URL?
    /// What every checkpoint records about the model and its data (the trainer fills in the epoch,
    /// step and generator state); nil writes checkpoints without it.
    public var checkpointInfo: CheckpointInfo?
    /// Print progress (bar on a terminal, periodic lines otherwise).
    public var showProgress = true

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
    /// `<out>/last.safetensors`, rewritten after every epoch.
    public var lastCheckpointURL: URL? { outputDirectory?.appendingPathComponent("last.safetensors") }

    /// Restores model, optimizer, step counters, the process-wide RNG and the metrics history
    /// from a checkpoint written by this trainer.
    public func resume(from url: URL) throws {
        let ckpt = try Checkpoint.load(from: url)
        guard let info = ckpt.info else { throw CheckpointError.missingMetadata(path: url.path, key: "tessera (epoch, step, generator)") }
        do { _ = try model.loadStateDict(ckpt.model, strict: true) } catch {
            throw CheckpointError.incompatible(path: url.path, reason: "\(error)")
        }
        try optimizer.loadStateDict(ckpt.optimizer)
        completedEpochs = ckpt.epoch
        globalStep = ckpt.globalStep
        if let rng = info.rng.flatMap(SeededGenerator.init(words:)) {
            GlobalRandom.with { $0 = rng }
        }
        history = []
        if let m = metricsURL, let text = try? String(contentsOf: m, encoding: .utf8) {
            let decoder = JSONDecoder()
            history = text.split(separator: "\n").compactMap { try? decoder.decode(EpochMetrics.self, from: Data($0.utf8)) }
                .filter { $0.epoch <= completedEpochs }
        }
    }

    /// Trains the remaining epochs. Throws ``TrainingError`` on a non-finite loss or SIGINT.
    @discardableResult
    public func fit() throws -> [EpochMetrics] {
        if let dir = outputDirectory {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try rewriteMetrics()
        }
        let progress = ProgressReporter()
        while completedEpochs < epochs {
            let epoch = completedEpochs + 1
            let start = Date()
            model.train()
            var lossSum = 0.0, correct = 0, seen = 0, step = 0
            var lr = learningRate(globalStep)
            let batchesPerEpoch = trainLoader.batchCount
            let batches = trainLoader.epoch(completedEpochs)
            while let batch = try batches.next() {
                step += 1
                lr = learningRate(globalStep)
                optimizer.lr = lr
                let logits = model(batch.images)
                let loss = crossEntropy(logits, batch.labelIndices, labelSmoothing: labelSmoothing)
                let value = loss.item()
                guard value.isFinite else { throw TrainingError.nonFiniteLoss(epoch: epoch, step: step, value: value) }
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                globalStep += 1
                let n = batch.count
                lossSum += Double(value) * Double(n)
                correct += Trainer.correctCount(logits, batch.labelIndices)
                seen += n
                if showProgress {
                    let elapsed = Date().timeIntervalSince(start)
                    let rate = Double(seen) / max(elapsed, 1e-9)
                    let eta = elapsed / Double(step) * Double(max(batchesPerEpoch - step, 0))
                    progress.update(epoch: epoch, epochs: epochs, batch: step, batches: batchesPerEpoch, imagesPerSecond: rate,
                                    loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen), eta: eta)
                }
                if Interrupt.requested {
                    progress.finishLine()
                    throw TrainingError.interrupted(epoch: epoch, step: step, savedTo: try saveInterrupted())
                }
            }
            let trainSeconds = Date().timeIntervalSince(start)
            if showProgress { progress.finishLine() }
            var metrics = EpochMetrics(epoch: epoch, trainLoss: seen > 0 ? lossSum / Double(seen) : .nan,
                                       trainAccuracy: seen > 0 ? Double(correct) / Double(seen) : 0,
                                       testLoss: nil, testAccuracy: nil, lr: Double(lr), seconds: 0,
                                       imagesPerSecond: Double(seen) / max(trainSeconds, 1e-9))
            if let testLoader {
                let r = try Trainer.evaluate(model, loader: testLoader)
                metrics.testLoss = r.loss
                metrics.testAccuracy = r.accuracy
            }
            metrics.seconds = Date().timeIntervalSince(start)
            completedEpochs = epoch
            history.append(metrics)
            if showProgress { print(Trainer.summary(metrics, epochs: epochs)); fflush(nil) }
            try writeEpochOutputs(metrics)
        }
        return history
    }

    /// Mean loss (cross-entropy, no smoothing) and accuracy of `model` in evaluation mode.
    public static func evaluate(_ model: Module, loader: DataLoader) throws -> (loss: Double, accuracy: Double) {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var lossSum = 0.0, correct = 0, seen = 0
        try withNoGrad {
            let batches = loader.epoch(0)
            while let batch = try batches.next() {
                let logits = model(batch.images)
                lossSum += Double(crossEntropy(logits, batch.labelIndices, reduction: .sum).item())
                correct += correctCount(logits, batch.labelIndices)
                seen += batch.count
            }
        }
        return (seen > 0 ? lossSum / Double(seen) : .nan, seen > 0 ? Double(correct) / Double(seen) : 0)
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

    private func checkpoint() -> Checkpoint {
        var info = checkpointInfo
        info?.epoch = completedEpochs
        info?.globalStep = globalStep
        info?.rng = GlobalRandom.with { $0.words }
        return Checkpoint(model: model.stateDict(), optimizer: optimizer.stateDict(), info: info)
    }

    private func writeEpochOutputs(_ metrics: EpochMetrics) throws {
        guard let dir = outputDirectory else { return }
        try checkpoint().save(to: dir.appendingPathComponent("last.safetensors"))
        try rewriteMetrics()
        try Curves.write(history, to: dir.appendingPathComponent("curves.png"))
    }

    /// Rewrites metrics.jsonl from the history (atomically), so a resumed run never repeats lines.
    private func rewriteMetrics() throws {
        guard let url = metricsURL else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = ""
        for m in history { text += String(decoding: try encoder.encode(m), as: UTF8.self) + "\n" }
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    private func saveInterrupted() throws -> String? {
        guard let dir = outputDirectory else { return nil }
        let url = dir.appendingPathComponent("interrupted.safetensors")
        try checkpoint().save(to: url)
        return url.path
    }

    /// Makes SIGINT stop training cleanly after the current step (the handler only sets a flag).
    public static func installInterruptHandler() {
        signal(SIGINT) { _ in Interrupt.requested = true }
    }
}
