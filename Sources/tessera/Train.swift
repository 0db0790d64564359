import ArgumentParser
import Foundation
import Tessera
import TesseraDistributed
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
            On --resume, --epochs (more epochs: the schedule is stretched from the current step),
            --data (the same data moved) and --threads may change; any other option is refused.
            Ctrl-C, SIGTERM and SIGHUP save the run at the current step and exit with 128 + the
            signal; --resume continues from that step.
            Fine-tune weights exported from PyTorch (safetensors.torch.save_file(model.state_dict(), path)):
              tessera train --model resnet18_cifar --init-from w.safetensors --freeze backbone
            Data-parallel on K processes, the same run as one process with the options:
              scripts/train-distributed.sh -np 2 --model resnet20 --out runs/r20-dp2
            runs `mpirun -np 2 tessera train --distributed …`. --batch-size is the
            global batch (a multiple of K); each process takes its share of every
            batch with cores / K threads; rank 0 prints and writes the outputs.
            Resume with the same K. SIGUSR1 (mpirun forwards it) stops like SIGTERM.
            """)

    private static let defaults = TrainConfig(data: "", out: "")

    @Option(help: ArgumentHelp("Model name (default \(defaults.model)).", discussion: ModelZoo.names.joined(separator: ", ")))
    var model: String?
    @Option(help: "Data folder: CIFAR-10 binary, an image folder with train/ and test/, or MNIST/Fashion-MNIST IDX files. Default: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin.")
    var data: String?
    @Option(parsing: .unconditional, help: "Epochs to train, 1 or more (default \(defaults.epochs)).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Images per batch, 1 to 65536 (default \(defaults.batchSize)).") var batchSize: Int?
    @Option(help: "Optimizer: \(OptimizerKind.helpList(\.summary)). Default \(defaults.optimizer.rawValue).") var optimizer: OptimizerKind?
    @Option(parsing: .unconditional, help: "Peak learning rate, finite and above 0 (default \(defaults.lr)).") var lr: Float?
    @Option(parsing: .unconditional, help: "Momentum (SGD, RMSProp), in [0, 1) (default \(defaults.momentum)).") var momentum: Float?
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay (L2 for SGD/Adam/RMSProp, decoupled for AdamW), 0 or more (default \(defaults.weightDecay)).")
    var weightDecay: Float?
    @Option(help: "LR schedule over the run: \(ScheduleKind.helpList(\.summary)). Default \(defaults.schedule.rawValue).") var schedule: ScheduleKind?
    @Option(parsing: .unconditional, help: "Epochs of linear warm-up before the schedule, 0 up to --epochs (default 0).") var warmupEpochs: Int?
    @Option(parsing: .unconditional, help: "Label smoothing of the training loss, in [0, 1) (default \(defaults.labelSmoothing)).") var labelSmoothing: Float?
    @Option(help: "Seed for initialization, shuffling and augmentation (default 0).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Threads Tessera computes with, 1 to 1024 (default: all cores).") var threads: Int?
    @Option(parsing: .unconditional, help: "Train on the first N training images only (quick runs; 1 or more).") var subset: Int?
    @Option(parsing: .unconditional, help: "Evaluate on the first N test images only (quick runs; 1 or more).") var testSubset: Int?
    @Flag(inversion: .prefixedNo, help: "Random crop (reflect padding) and horizontal flip for RGB images.") var augment = true
    @Option(help: "Horizontal flip: \(FlipMode.helpList(\.summary)). Default: random.") var flip: FlipMode?
    @Option(parsing: .unconditional, help: "Random-crop padding in pixels (default: image size / 8, 4 for CIFAR).") var translate: Int?
    @Option(parsing: .unconditional, help: "Learning-rate multiplier for batch-norm biases (their weight decay is divided by it); above 0.")
    var normBiasLrScale: Float?
    @Option(help: "Initialize from a safetensors state dict (e.g. exported from PyTorch); the head is replaced for the data's classes.") var initFrom: String?
    @Option(help: "Freeze parameters: \(FreezeMode.helpList(\.summary)). Frozen batch norms stay in evaluation mode.") var freeze: FreezeMode?
    @Flag(inversion: .prefixedNo, help: "With --schedule onecycle, cycle the momentum (Adam's beta1) 0.95 -> 0.85 at the peak rate -> 0.95, as PyTorch's OneCycleLR (--no-cycle-momentum keeps --momentum).")
    var cycleMomentum = true
    @Option(help: "Average of the weights: \(AveragingKind.helpList(\.summary)). Default none.") var average: AveragingKind?
    @Option(parsing: .unconditional, help: "Decay of --average ema, in (0, 1) (default 0.999).") var emaDecay: Float?
    @Option(parsing: .unconditional, help: "Train fastnet's whitening bias this many epochs, then freeze it (airbench: 3).") var whiteningBiasEpochs: Int?
    @Option(parsing: .unconditional, help: "Cutout: zero a square of this side at a random place in every training image, after normalization.")
    var cutout: Int?
    @Option(parsing: .unconditional, help: "Resize every image to this square before augmentation, 8 to 4096 (e.g. 224 for an ImageNet-stem model on CIFAR; default: the data's size).")
    var resize: Int?
    @Option(parsing: .unconditional, help: "Refuse images of an image folder with more pixels (width x height) than this (default 89478485, PIL's warning limit).")
    var maxPixels: Int?
    @Option(help: "Output folder (metrics.jsonl, config.json, curves.png, last.safetensors). Default: runs/<model>-<time>.") var out: String?
    @Option(help: "Continue the run in this folder from its last.safetensors, with its config.json.") var resume: String?
    @Flag(help: "Data-parallel training over MPI, one process per rank under mpirun (scripts/train-distributed.sh -np K …).")
    var distributed = false
    @Option(help: "Learning rate of a --distributed run of K processes: \(LRScaling.helpList(\.summary)). Default none.")
    var lrScaling: LRScaling?

    func validate() throws {
        if let epochs { try Check.positive(epochs, "--epochs") }
        if let batchSize { try Check.range(batchSize, TrainConfig.Limits.batchSize, "--batch-size") }
        if let lr { try Check.finite(lr, above: 0, "--lr") }
        if let momentum { try Check.fraction(momentum, "--momentum") }
        if let weightDecay { try Check.finite(weightDecay, atLeast: 0, "--weight-decay") }
        if let warmupEpochs { try Check.range(warmupEpochs, 0...(epochs ?? Train.defaults.epochs), "--warmup-epochs") }
        if let labelSmoothing { try Check.fraction(labelSmoothing, "--label-smoothing") }
        if let threads { try Check.range(threads, TrainConfig.Limits.threads, "--threads") }
        if let subset { try Check.positive(subset, "--subset") }
        if let testSubset { try Check.positive(testSubset, "--test-subset") }
        if let translate { try Check.range(translate, TrainConfig.Limits.translate, "--translate") }
        if let normBiasLrScale { try Check.finite(normBiasLrScale, above: 0, "--norm-bias-lr-scale") }
        if let resize { try Check.range(resize, TrainConfig.Limits.resize, "--resize") }
        if let emaDecay {
            guard emaDecay > 0 && emaDecay < 1 else { throw ValidationError("--ema-decay must be in (0, 1), got \(emaDecay)") }
        }
        if let whiteningBiasEpochs { try Check.range(whiteningBiasEpochs, TrainConfig.Limits.whiteningBiasEpochs, "--whitening-bias-epochs") }
        if let cutout { try Check.range(cutout, TrainConfig.Limits.cutout, "--cutout") }
        if let maxPixels { try Check.positive(maxPixels, "--max-pixels") }
        if let model, !ModelZoo.names.contains(model) {
            throw ValidationError("--model: unknown model '\(model)'; available: \(ModelZoo.names.joined(separator: ", "))")
        }
        if resume != nil, out != nil { throw ValidationError("--out cannot be given with --resume (the run's folder is --resume's)") }
    }

    /// The options this command line set that a resumed run cannot change (everything but
    /// --epochs, --data, --threads and --max-pixels).
    private var fixedOnResume: [String] {
        var given: [String] = []
        func note(_ set: Bool, _ name: String) { if set { given.append(name) } }
        note(model != nil, "--model"); note(batchSize != nil, "--batch-size"); note(optimizer != nil, "--optimizer")
        note(lr != nil, "--lr"); note(momentum != nil, "--momentum"); note(nesterov, "--nesterov")
        note(weightDecay != nil, "--weight-decay"); note(schedule != nil, "--schedule"); note(warmupEpochs != nil, "--warmup-epochs")
        note(labelSmoothing != nil, "--label-smoothing"); note(seed != nil, "--seed"); note(subset != nil, "--subset")
        note(testSubset != nil, "--test-subset"); note(!augment, "--no-augment"); note(flip != nil, "--flip")
        note(translate != nil, "--translate"); note(normBiasLrScale != nil, "--norm-bias-lr-scale"); note(initFrom != nil, "--init-from")
        note(freeze != nil, "--freeze"); note(lrScaling != nil, "--lr-scaling"); note(resize != nil, "--resize")
        note(!cycleMomentum, "--no-cycle-momentum"); note(average != nil, "--average"); note(emaDecay != nil, "--ema-decay")
        note(whiteningBiasEpochs != nil, "--whitening-bias-epochs"); note(cutout != nil, "--cutout")
        return given
    }

    func run() throws {
        // A data-parallel run: one process per rank; rank 0 prints and writes, every rank names
        // itself in its errors.
        var communicator: Communicator?
        var prefix: String { communicator.map { "rank \($0.rank): " } ?? "" }
        do {
            if distributed { communicator = try Communicator() }
            let writes = (communicator?.rank ?? 0) == 0
            func say(_ line: String) { if writes { print(line); fflush(nil) } }
            var config = try configuration()
            if let communicator {
                if threads == nil { config.threads = communicator.suggestedComputeThreads }
                if resume == nil && out == nil {
                    // The default folder is named after the time: rank 0's.
                    var name = Array(config.out.utf8)
                    try communicator.broadcast(&name)
                    config.out = String(decoding: name, as: UTF8.self)
                }
            }
            // The folder is this process's until it exits: a second run on it fails here.
            let lock = writes ? try RunLock(directory: URL(fileURLWithPath: config.out)) : nil
            let coordinator = communicator.map { DistributedCoordinator(communicator: $0) }
            let run = try TrainingRun(config: config, shard: coordinator?.shard ?? .whole)
            let checkpoint = URL(fileURLWithPath: config.out).appendingPathComponent("last.safetensors")
            if let resume, FileManager.default.fileExists(atPath: checkpoint.path) {
                for note in try run.trainer.resume(from: checkpoint) { say("note: " + note) }
                let at = run.trainer.completedEpochs
                say("resuming \(resume) after epoch \(at) of \(config.epochs)" + (run.trainer.globalStep > at * run.trainer.trainLoader.batchCount
                    ? " and \(run.trainer.globalStep - at * run.trainer.trainLoader.batchCount) steps of the next" : ""))
            } else if let resume {
                say("note: \(resume) has no last.safetensors yet (stopped in its first epoch): starting it over")
            }
            if writes { try run.writeConfig() }
            try coordinator?.attach(to: run)
            for warning in run.warnings { say("warning: " + warning) }
            let trainCount = config.subset.map { min($0, run.source.train.count) } ?? run.source.train.count
            let testCount = config.testSubset.map { min($0, run.source.test.count) } ?? run.source.test.count
            // Signals are handled from here on (before the line below, which is what a supervisor
            // may wait for before it signals the run).
            Interruption.install(adding: distributed ? [SIGUSR1] : [])
            let processes = run.shard.count > 1
                ? "; \(run.shard.count) processes, each \(run.trainer.trainLoader.batchSize) images of every batch of \(config.batchSize)" : ""
            say("model \(config.model): \(run.model.parameterCount) parameters (\(run.model.trainableParameterCount) trainable); "
                + "data \(run.source.kind) at \(config.data): \(trainCount) train / \(testCount) test images; "
                + "OpenBLAS \(BLAS.coreName), kernels \(Runtime.isa), \(Runtime.threads) threads\(processes); output \(config.out)")
            let history = try run.trainer.fit()
            if let last = history.last, let acc = last.testAccuracy {
                say(String(format: "final test accuracy %.2f%% after %d epochs (checkpoint %@)", acc * 100, last.epoch,
                           run.trainer.lastCheckpointURL?.path ?? "-"))
            }
            try communicator?.finalize()
            withExtendedLifetime(lock) {}
        } catch let e as TrainingError {
            if case .interrupted = e, let communicator {
                // Every rank stops at the same step; the others wait here until rank 0 has saved.
                if communicator.rank == 0 { FileHandle.standardError.write(Data("\(e)\n".utf8)) }
                try? communicator.finalize()
            } else {
                FileHandle.standardError.write(Data("\(prefix)\(e)\n".utf8))
            }
            Foundation.exit(e.exitStatus)
        } catch let e as ValidationError {
            FileHandle.standardError.write(Data("\(prefix)error: \(e.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            FileHandle.standardError.write(Data("\(prefix)error: \(error)\n".utf8))
            // Every rank reports an agreed failure before any exits (mpirun stops the job at the first exit).
            if (error as? DistributedError)?.isRaisedOnEveryRank == true { try? communicator?.barrier() }
            Foundation.exit(1)
        }
    }

    /// The run's configuration: a fresh one from the options, or the resumed run's config.json
    /// with the options a resume may change.
    private func configuration() throws -> TrainConfig {
        var config: TrainConfig
        if let resume {
            config = try TrainingRun.readConfig(runDirectory: resume)
            let refused = fixedOnResume
            if !refused.isEmpty {
                throw ValidationError("\(refused.joined(separator: ", ")) cannot change on --resume: the run continues with the "
                                      + "configuration in \(resume)/config.json (start a new run with --out elsewhere to change it)")
            }
            config.out = resume
            if let epochs {
                guard epochs >= config.epochs else {
                    throw ValidationError("--epochs \(epochs) is fewer than the run's \(config.epochs); it can only grow on --resume")
                }
                config.epochs = epochs
            }
            if let data { config.data = absolutePath(data) }
            if let threads { config.threads = threads }
            if let maxPixels { config.maxPixels = maxPixels }
        } else {
            guard let dataPath = data ?? DataSource.defaultPath() else { throw DataSourceError.none }
            let name = model ?? Train.defaults.model
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
            config = TrainConfig(data: absolutePath(dataPath), out: out ?? "runs/\(name)-\(stamp)")
            let d = Train.defaults
            config.model = name; config.epochs = epochs ?? d.epochs; config.batchSize = batchSize ?? d.batchSize
            config.optimizer = optimizer ?? d.optimizer; config.lr = lr ?? d.lr; config.momentum = momentum ?? d.momentum
            config.nesterov = nesterov; config.weightDecay = weightDecay ?? d.weightDecay; config.schedule = schedule ?? d.schedule
            config.warmupEpochs = warmupEpochs ?? d.warmupEpochs; config.labelSmoothing = labelSmoothing ?? d.labelSmoothing
            config.seed = seed ?? d.seed; config.threads = threads ?? d.threads
            config.subset = subset; config.testSubset = testSubset; config.augment = augment
            config.initFrom = initFrom.map(absolutePath); config.freeze = freeze ?? d.freeze
            config.flip = flip; config.translate = translate; config.normBiasLRScale = normBiasLrScale
            config.lrScaling = lrScaling; config.resize = resize; config.maxPixels = maxPixels
            config.cycleMomentum = cycleMomentum; config.averaging = average ?? d.averaging; config.emaDecay = emaDecay ?? d.emaDecay
            config.whiteningBiasEpochs = whiteningBiasEpochs; config.cutout = cutout
        }
        return config
    }
}

/// `path` made absolute against the current directory, so a run started with a relative
/// `--data` resumes from any folder.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}
