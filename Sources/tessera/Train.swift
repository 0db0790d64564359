import ArgumentParser
import Foundation
import Tessera
import TesseraModels
import TesseraTraining
import TesseraVision

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model; metrics, config, curves and checkpoints go to --out.",
        discussion: """
            Example: tessera train --model resnet20 --epochs 30 --out runs/r20
            Resume an interrupted run (same seed: the same weights as an uninterrupted one):
              tessera train --resume runs/r20
            Fine-tune weights exported from PyTorch (safetensors.torch.save_file(model.state_dict(), path)):
              tessera train --model resnet18_cifar --init-from w.safetensors --freeze backbone
            """)

    @Option(help: ArgumentHelp("Model name.", discussion: ModelZoo.names.joined(separator: ", ")))
    var model = "resnet20"
    @Option(help: "Data folder: CIFAR-10 binary, an image folder with train/ and test/, or MNIST/Fashion-MNIST IDX files. Default: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin.")
    var data: String?
    @Option(parsing: .unconditional, help: "Epochs to train (1 or more).") var epochs = 30
    @Option(parsing: .unconditional, help: "Images per batch (1 to 65536).") var batchSize = 128
    @Option(help: "Optimizer: \(OptimizerKind.helpList(\.summary)).") var optimizer = OptimizerKind.sgd
    @Option(parsing: .unconditional, help: "Peak learning rate (finite, above 0).") var lr: Float = 0.1
    @Option(parsing: .unconditional, help: "Momentum (SGD, RMSProp), in [0, 1).") var momentum: Float = 0.9
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay (L2 for SGD/Adam/RMSProp, decoupled for AdamW), 0 or more.") var weightDecay: Float = 5e-4
    @Option(help: "LR schedule over the run: \(ScheduleKind.helpList(\.summary)).") var schedule = ScheduleKind.onecycle
    @Option(parsing: .unconditional, help: "Epochs of linear warm-up before the schedule (0 up to --epochs).") var warmupEpochs = 0
    @Option(parsing: .unconditional, help: "Label smoothing of the training loss, in [0, 1).") var labelSmoothing: Float = 0.1
    @Option(help: "Seed for initialization, shuffling and augmentation.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Threads Tessera computes with (1 to 1024).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(parsing: .unconditional, help: "Train on the first N training images only (quick runs; 1 or more).") var subset: Int?
    @Option(parsing: .unconditional, help: "Evaluate on the first N test images only (quick runs; 1 or more).") var testSubset: Int?
    @Flag(inversion: .prefixedNo, help: "Random crop (reflect padding) and horizontal flip for RGB images.") var augment = true
    @Option(help: "Horizontal flip: \(FlipMode.helpList(\.summary)). Default: random.") var flip: FlipMode?
    @Option(parsing: .unconditional, help: "Random-crop padding in pixels (default: image size / 8, 4 for CIFAR).") var translate: Int?
    @Option(parsing: .unconditional, help: "Learning-rate multiplier for batch-norm biases (their weight decay is divided by it); above 0.") var normBiasLrScale: Float = 1
    @Option(help: "Initialize from a safetensors state dict (e.g. exported from PyTorch); the head is replaced for the data's classes.") var initFrom: String?
    @Option(help: "Freeze parameters: \(FreezeMode.helpList(\.summary)).") var freeze = FreezeMode.none
    @Option(help: "Output folder (metrics.jsonl, config.json, curves.png, last.safetensors). Default: runs/<model>-<time>.") var out: String?
    @Option(help: "Continue the run in this folder from its last.safetensors, with its config.json.") var resume: String?

    func validate() throws {
        try Check.positive(epochs, "--epochs")
        try Check.range(batchSize, 1...65536, "--batch-size")
        try Check.finite(lr, above: 0, "--lr")
        try Check.fraction(momentum, "--momentum")
        try Check.finite(weightDecay, atLeast: 0, "--weight-decay")
        try Check.range(warmupEpochs, 0...epochs, "--warmup-epochs")
        try Check.fraction(labelSmoothing, "--label-smoothing")
        try Check.range(threads, 1...1024, "--threads")
        if let subset { try Check.positive(subset, "--subset") }
        if let testSubset { try Check.positive(testSubset, "--test-subset") }
        if let translate { try Check.range(translate, 0...1024, "--translate") }
        try Check.finite(normBiasLrScale, above: 0, "--norm-bias-lr-scale")
        guard ModelZoo.names.contains(model) else {
            throw ValidationError("--model: unknown model '\(model)'; available: \(ModelZoo.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        do {
            var config: TrainConfig
            if let resume {
                config = try TrainingRun.readConfig(runDirectory: resume)
                config.out = resume
            } else {
                guard let dataPath = data ?? DataSource.defaultPath() else { throw DataSourceError.none }
                let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
                config = TrainConfig(data: dataPath, out: out ?? "runs/\(model)-\(stamp)")
                config.model = model; config.epochs = epochs; config.batchSize = batchSize
                config.optimizer = optimizer; config.lr = lr; config.momentum = momentum; config.nesterov = nesterov
                config.weightDecay = weightDecay; config.schedule = schedule; config.warmupEpochs = warmupEpochs
                config.labelSmoothing = labelSmoothing; config.seed = seed; config.threads = threads
                config.subset = subset; config.testSubset = testSubset; config.augment = augment; config.initFrom = initFrom; config.freeze = freeze
                config.flip = flip; config.translate = translate; config.normBiasLRScale = normBiasLrScale
            }
            let run = try TrainingRun(config: config)
            if let resume {
                let ckpt = URL(fileURLWithPath: resume).appendingPathComponent("last.safetensors")
                try run.trainer.resume(from: ckpt)
                print("resuming \(resume) after epoch \(run.trainer.completedEpochs) of \(config.epochs)")
            } else {
                try run.writeConfig()
            }
            let trainCount = config.subset.map { min($0, run.source.train.count) } ?? run.source.train.count
            let testCount = config.testSubset.map { min($0, run.source.test.count) } ?? run.source.test.count
            print("model \(config.model): \(run.model.parameterCount) parameters (\(run.model.trainableParameterCount) trainable); "
                  + "data \(run.source.kind) at \(config.data): \(trainCount) train / \(testCount) test images; "
                  + "OpenBLAS \(BLAS.coreName), kernels \(Runtime.isa), \(Runtime.threads) threads; output \(config.out)")
            Trainer.installInterruptHandler()
            let history = try run.trainer.fit()
            if let last = history.last, let acc = last.testAccuracy {
                print(String(format: "final test accuracy %.2f%% after %d epochs (checkpoint %@)", acc * 100, last.epoch,
                             run.trainer.lastCheckpointURL?.path ?? "-"))
            }
        } catch let e as TrainingError {
            if case .interrupted = e { print(e); return }
            fail(e)
        } catch {
            fail(error)
        }
    }
}
