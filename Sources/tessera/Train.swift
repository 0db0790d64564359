import ArgumentParser
import Foundation
import Tessera
import TesseraTraining

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

    @Option(help: "Model name (see `tessera models`).") var model = "resnet20"
    @Option(help: "Data folder: CIFAR-10 binary, an image folder with train/ and test/, or MNIST/Fashion-MNIST IDX files. Default: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin.")
    var data: String?
    @Option(help: "Epochs to train.") var epochs = 30
    @Option(help: "Images per batch.") var batchSize = 128
    @Option(help: "Optimizer: sgd, adam, adamw or rmsprop.") var optimizer = "sgd"
    @Option(help: "Peak learning rate.") var lr: Float = 0.1
    @Option(help: "Momentum (SGD, RMSProp).") var momentum: Float = 0.9
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "Weight decay (L2 for SGD/Adam/RMSProp, decoupled for AdamW).") var weightDecay: Float = 5e-4
    @Option(help: "LR schedule over the run: onecycle (cosine one-cycle), triangle (linear from lr/5 up to lr over the first 20% of steps, then down to 0), cosine, step, multistep or constant.") var schedule = "onecycle"
    @Option(help: "Epochs of linear warm-up before the schedule.") var warmupEpochs = 0
    @Option(help: "Label smoothing of the training loss.") var labelSmoothing: Float = 0.1
    @Option(help: "Seed for initialization, shuffling and augmentation.") var seed: UInt64 = 0
    @Option(help: "OpenBLAS threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Train on the first N training images only (quick runs).") var subset: Int?
    @Option(help: "Evaluate on the first N test images only (quick runs).") var testSubset: Int?
    @Flag(inversion: .prefixedNo, help: "Random crop (reflect padding) and horizontal flip for RGB images.") var augment = true
    @Option(help: "Horizontal flip: random (probability 1/2 per image and epoch; the default), alternating (a fixed random orientation per image, all mirrored every odd epoch) or none.") var flip: String?
    @Option(help: "Random-crop padding in pixels (default: image size / 8, 4 for CIFAR).") var translate: Int?
    @Option(help: "Learning-rate multiplier for batch-norm biases (their weight decay is divided by it).") var normBiasLrScale: Float = 1
    @Option(help: "Initialize from a safetensors state dict (e.g. exported from PyTorch); the head is replaced for the data's classes.") var initFrom: String?
    @Option(help: "Freeze parameters: none, or backbone (train the head only).") var freeze = "none"
    @Option(help: "Output folder (metrics.jsonl, config.json, curves.png, last.safetensors). Default: runs/<model>-<time>.") var out: String?
    @Option(help: "Continue the run in this folder from its last.safetensors, with its config.json.") var resume: String?
    @Option(help: "Refuse images of an image folder with more pixels (width x height) than this (default 89478485).") var maxPixels: Int?

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
            if let maxPixels {
                guard maxPixels > 0 else { throw TrainSetupError.invalid("--max-pixels must be positive, got \(maxPixels)") }
                config.maxPixels = maxPixels
            }
            let run = try TrainingRun(config: config)
            if let resume {
                let ckpt = URL(fileURLWithPath: resume).appendingPathComponent("last.safetensors")
                try run.trainer.resume(from: ckpt)
                print("resuming \(resume) after epoch \(run.trainer.completedEpochs) of \(config.epochs)")
            } else {
                try run.writeConfig()
            }
            print("model \(config.model): \(run.model.parameterCount) parameters (\(run.model.trainableParameterCount) trainable); "
                  + "data \(run.source.kind) at \(config.data): \(config.subset.map { min($0, run.source.train.count) } ?? run.source.train.count) train / \(run.source.test.count) test images; "
                  + "OpenBLAS \(BLAS.coreName), \(BLAS.threads) threads; output \(config.out)")
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
