import Foundation
import Tessera
import TesseraModels
import TesseraNN
import TesseraVision

/// The version of Tessera.
public enum TesseraVersion {
    /// Semantic version of this build.
    public static let string = "0.1.0"
}

/// Everything that defines a training run; written to `<out>/config.json` and read back by `--resume`.
public struct TrainConfig: Codable, Equatable {
    /// Model name in `ModelZoo` (or `mlp`, sized for the data).
    public var model = "resnet20"
    /// Data folder (CIFAR-10 binary, image folder with train/ and test/, or IDX files).
    public var data: String
    /// Epochs to train.
    public var epochs = 30
    /// Images per batch.
    public var batchSize = 128
    /// Optimizer: sgd, adam, adamw or rmsprop.
    public var optimizer = "sgd"
    /// Peak learning rate.
    public var lr: Float = 0.1
    /// Momentum (SGD, RMSProp).
    public var momentum: Float = 0.9
    /// Nesterov momentum (SGD).
    public var nesterov = false
    /// Weight decay (decoupled for AdamW).
    public var weightDecay: Float = 5e-4
    /// LR schedule over the run: onecycle, triangle, cosine, step, multistep or constant.
    public var schedule = "onecycle"
    /// Epochs of linear warm-up before the schedule.
    public var warmupEpochs = 0
    /// Label smoothing of the training loss.
    public var labelSmoothing: Float = 0.1
    /// Seed of initialization, shuffling and augmentation.
    public var seed: UInt64 = 0
    /// Threads Tessera computes with (`BLAS.setThreads`).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Train on the first N training images only (nil: all).
    public var subset: Int?
    /// Evaluate on the first N test images only (quick runs; nil: all).
    public var testSubset: Int?
    /// Random crop and horizontal flip for square RGB images.
    public var augment = true
    /// Horizontal flip when augmenting: random (each image with probability ½ every epoch) or
    /// alternating (a fixed random orientation per image, all mirrored every odd epoch). nil: random.
    public var flip: String?
    /// Padding of the random crop, in pixels (nil: an eighth of the image size, 4 for CIFAR).
    public var translate: Int?
    /// Learning-rate multiplier of the batch-norm biases; their weight decay is divided by it, which
    /// keeps the decay per step the same for SGD and AdamW (Adam and RMSProp normalize the decay
    /// with the gradient, so there it only weakens it). nil: 1.
    public var normBiasLRScale: Float?
    /// Safetensors state dict to initialize from (the head is replaced for the data).
    public var initFrom: String?
    /// Parameters to freeze: none, or backbone (train the head only).
    public var freeze = "none"
    /// Output folder of the run.
    public var out: String
    /// The most pixels an image of an image folder may have (nil: `Image.defaultMaxPixels`).
    public var maxPixels: Int?

    /// A configuration with defaults for everything but the data folder and output folder.
    public init(data: String, out: String) {
        self.data = data
        self.out = out
    }
}

/// Builds the pieces of a run (data, model, optimizer, schedule, trainer) from a ``TrainConfig``.
public struct TrainingRun {
    /// The configuration the run was built from.
    public let config: TrainConfig
    /// The training and test data.
    public let source: DataSource
    /// The model being trained.
    public let model: ClassifierModel
    /// The optimizer over the trainable parameters.
    public let optimizer: Optimizer
    /// The learning rate per step.
    public let schedule: LRSchedule
    /// The trainer that runs the epochs.
    public let trainer: Trainer

    /// Sets everything up; throws for unusable data, unknown names or incompatible weights.
    public init(config: TrainConfig) throws {
        self.config = config
        BLAS.setThreads(config.threads)
        GlobalRandom.seed(config.seed)
        let source = try DataSource.open(config.data, maxPixels: config.maxPixels ?? Image.defaultMaxPixels)
        self.source = source
        let train: any Dataset = config.subset.map { SubsetDataset(source.train, first: $0) } ?? source.train
        let classes = source.train.classCount
        let shape = source.train.sampleShape

        let model = try TrainingRun.makeModel(config.model, classes: classes, sampleShape: shape, initFrom: config.initFrom)
        self.model = model
        switch config.freeze {
        case "none": break
        case "backbone": model.freezeBackbone()
        default: throw TrainSetupError.invalid("--freeze must be none or backbone, got '\(config.freeze)'")
        }

        var transforms: [any Transform] = []
        let augments = config.augment && shape.height == shape.width && shape.height >= 16 && shape.channels == 3
        if !augments && (config.flip != nil || config.translate != nil) {
            throw TrainSetupError.invalid("--flip and --translate apply to augmented square RGB images; this run has "
                                          + (config.augment ? "\(shape) images" : "augmentation off"))
        }
        if augments {
            let pad = config.translate ?? shape.height / 8
            guard pad >= 0 && pad < shape.height else { throw TrainSetupError.invalid("--translate must be in 0..<\(shape.height), got \(pad)") }
            if pad > 0 { transforms.append(RandomCrop(size: shape.height, padding: pad, mode: .reflect)) }
            switch config.flip ?? "random" {
            case "random": transforms.append(RandomHorizontalFlip())
            case "alternating": transforms.append(AlternatingHorizontalFlip(seed: config.seed))
            case "none": break
            case let other: throw TrainSetupError.invalid("--flip must be random, alternating or none, got '\(other)'")
            }
        }
        transforms.append(Normalize(mean: source.mean, std: source.std))
        let trainLoader = DataLoader(dataset: train, batchSize: config.batchSize, shuffle: true, dropLast: false,
                                     seed: config.seed, transform: Compose(transforms), prefetch: 2)
        let test: any Dataset = config.testSubset.map { SubsetDataset(source.test, first: $0) } ?? source.test
        let testLoader = DataLoader(dataset: test, batchSize: max(config.batchSize, 256), shuffle: false,
                                    transform: Normalize(mean: source.mean, std: source.std), prefetch: 2)

        if let fast = model as? CIFARFastNet, config.initFrom == nil {
            // The whitening stem is set from the statistics of (up to) 5,000 normalized training images.
            let sample = DataLoader(dataset: SubsetDataset(train, first: 5000), batchSize: 5000, shuffle: false,
                                    transform: Normalize(mean: source.mean, std: source.std), prefetch: 0)
            if let batch = try sample.epoch(0).next() { try fast.initializeWhitening(from: batch.images) }
        }
        let params = model.namedParameters().filter { $0.tensor.requiresGrad }
        switch config.optimizer {
        case "sgd": optimizer = SGD(parameters: params, lr: config.lr, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay)
        case "adam": optimizer = Adam(parameters: params, lr: config.lr, weightDecay: config.weightDecay)
        case "adamw": optimizer = AdamW(parameters: params, lr: config.lr, weightDecay: config.weightDecay)
        case "rmsprop": optimizer = RMSProp(parameters: params, lr: config.lr, weightDecay: config.weightDecay, momentum: config.momentum)
        default: throw TrainSetupError.invalid("--optimizer must be sgd, adam, adamw or rmsprop, got '\(config.optimizer)'")
        }
        if let scale = config.normBiasLRScale, scale != 1 {
            guard scale > 0 && scale.isFinite else { throw TrainSetupError.invalid("--norm-bias-lr-scale must be > 0, got \(scale)") }
            let trainable = Set(params.map(\.name))
            let biases = model.namedModules().filter { $0.module is BatchNorm }
                .map { $0.name.isEmpty ? "bias" : $0.name + ".bias" }.filter(trainable.contains)
            optimizer.groups = [ParameterGroup(names: biases, lrScale: scale, weightDecay: config.weightDecay / scale)]
        }

        let stepsPerEpoch = trainLoader.batchCount
        let total = max(config.epochs * stepsPerEpoch, 1)
        var base: LRSchedule
        switch config.schedule {
        case "onecycle": base = OneCycleLR(maxLR: config.lr, totalSteps: total)
        case "cosine": base = CosineAnnealingLR(baseLR: config.lr, tMax: total)
        case "step": base = StepLR(baseLR: config.lr, stepSize: max(total / 3, 1), gamma: 0.1)
        case "multistep": base = MultiStepLR(baseLR: config.lr, milestones: [total / 2, total * 3 / 4], gamma: 0.1)
        case "constant": base = ConstantLR(baseLR: config.lr, factor: 1, totalIters: 0)
        case "triangle":
            // Linear from lr/5 up to lr over the first fifth of the run, then linearly down to ~0.
            base = OneCycleLR(maxLR: config.lr, totalSteps: total, pctStart: 0.2, anneal: .linear, divFactor: 5, finalDivFactor: 1e6)
        default: throw TrainSetupError.invalid("--schedule must be onecycle, triangle, cosine, step, multistep or constant, got '\(config.schedule)'")
        }
        if config.warmupEpochs > 0 {
            base = ChainedLR([LinearWarmup(baseLR: config.lr, warmupSteps: config.warmupEpochs * stepsPerEpoch), base])
        }
        schedule = base
        let sched = base
        trainer = Trainer(model: model, optimizer: optimizer, epochs: config.epochs,
                          learningRate: { Float(sched.lr(at: $0)) }, train: trainLoader, test: testLoader)
        trainer.labelSmoothing = config.labelSmoothing
        trainer.outputDirectory = URL(fileURLWithPath: config.out)
        trainer.checkpointMetadata = [
            "model": config.model, "classes": String(classes), "class_names": source.train.classNames.joined(separator: "\n"),
            "input_shape": shape.dims.map(String.init).joined(separator: ","),
            "mean": source.mean.map { "\($0)" }.joined(separator: ","), "std": source.std.map { "\($0)" }.joined(separator: ","),
            "tessera_version": TesseraVersion.string,
        ]
    }

    /// A model from the registry (or an MLP sized for the data), optionally initialized from a
    /// safetensors state dict whose head is then replaced for `classes`.
    public static func makeModel(_ name: String, classes: Int, sampleShape: SampleShape, initFrom: String?) throws -> ClassifierModel {
        func build(_ c: Int) throws -> ClassifierModel {
            if name == "mlp" { return MLP(widths: [sampleShape.count, 512, 256, c]) }
            return try ModelZoo.make(name, classes: c)
        }
        guard let initFrom else { return try build(classes) }
        let ckpt = try Checkpoint.load(from: URL(fileURLWithPath: initFrom))
        // Build with the head the weights were trained with, load strictly, then swap the head.
        let probe = try build(classes)
        let headKey = probe.headPath + ".weight"
        let weightClasses = ckpt.model[headKey]?.shape.first ?? classes
        let model = weightClasses == classes ? probe : try build(weightClasses)
        do { _ = try model.loadStateDict(ckpt.model, strict: true) } catch {
            throw CheckpointError.incompatible(path: initFrom, reason: "\(error)")
        }
        if weightClasses != classes { model.replaceHead(classes: classes) }
        return model
    }

    /// Writes `<out>/config.json` (configuration, version, machine).
    public func writeConfig() throws {
        let dir = URL(fileURLWithPath: config.out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let configObject = try JSONSerialization.jsonObject(with: encoder.encode(config))
        let machine: [String: Any] = [
            "cores": ProcessInfo.processInfo.activeProcessorCount, "openblas_core": BLAS.coreName,
            "openblas_config": BLAS.config, "host": ProcessInfo.processInfo.hostName,
        ]
        let object: [String: Any] = ["config": configObject, "tessera_version": TesseraVersion.string, "machine": machine,
                                     "parameters": model.parameterCount, "data_kind": source.kind]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: dir.appendingPathComponent("config.json"), options: .atomic)
    }

    /// Reads the configuration of an earlier run from `<dir>/config.json`.
    public static func readConfig(runDirectory dir: String) throws -> TrainConfig {
        let url = URL(fileURLWithPath: dir).appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else { throw TrainSetupError.invalid("cannot read \(url.path): is '\(dir)' a run folder?") }
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any], let config = obj["config"] else {
            throw TrainSetupError.invalid("\(url.path) has no \"config\" object")
        }
        return try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: config))
    }
}

/// A training option that cannot be used.
public enum TrainSetupError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String { switch self { case let .invalid(m): return m } }
}
