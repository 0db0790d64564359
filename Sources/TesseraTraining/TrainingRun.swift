import Foundation
import Tessera
import TesseraModels
import TesseraNN
import TesseraVision

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
    /// This process's part of a data-parallel run (``DataShard/whole`` for a single process).
    public let shard: DataShard
    /// What the user should know about this run's set-up (adapted weights, a model that expects
    /// other images than the data's).
    public private(set) var warnings: [String] = []

    /// Sets everything up; throws for unusable data, unknown names or incompatible weights.
    ///
    /// With a `shard` of K processes (a data-parallel run; TesseraDistributed's
    /// `DistributedCoordinator` then becomes ``Trainer/coordinator``), `config.batchSize` is the
    /// global batch, which must be a multiple of K: the training loader takes this process's
    /// share of the order a single process would visit, B/K images of every batch, each augmented
    /// as in the single process; the test loader takes its block of the test set; the learning
    /// rate is multiplied by K with ``TrainConfig/lrScaling`` `.linear`.
    public init(config: TrainConfig, shard: DataShard = .whole) throws {
        try config.validate()
        self.config = config
        self.shard = shard
        Runtime.threads = config.threads
        GlobalRandom.seed(config.seed)
        let source = try DataSource.open(config.data, maxPixels: config.maxPixels ?? Image.defaultMaxPixels)
        self.source = source
        let train: any Dataset = config.subset.map { SubsetDataset(source.train, first: $0) } ?? source.train
        let classes = source.train.classCount
        let shape = try TrainingRun.inputShape(config, source: source)

        let (model, adapted) = try TrainingRun.makeModel(config.model, classes: classes, inputShape: shape.dims, initFrom: config.initFrom)
        self.model = model
        warnings += adapted
        if let expected = try? ModelZoo.entry(config.model).inputShape, !(try ModelZoo.entry(config.model)).sizesToInput,
           expected[1] > 2 * shape.height, config.resize == nil {
            warnings.append("\(config.model) is built for \(expected[1])×\(expected[2]) images and the data's are \(shape.height)×\(shape.width): "
                            + "its stem downsamples them to \(max(shape.height / 32, 1))×\(max(shape.width / 32, 1)) by the last stage; "
                            + "pass --resize \(expected[1]) to train at its size, or use a _cifar variant")
        }
        if config.freeze == .backbone { model.freezeBackbone() }

        let trainTransform = try TrainingRun.trainTransform(config, source: source)
        let test: any Dataset = config.testSubset.map { SubsetDataset(source.test, first: $0) } ?? source.test
        let trainLoader: DataLoader, testLoader: DataLoader
        if shard.count == 1 {
            trainLoader = DataLoader(dataset: train, batchSize: config.batchSize, shuffle: true, dropLast: false,
                                     seed: config.seed, transform: trainTransform, prefetch: 2)
            testLoader = DataLoader(dataset: test, batchSize: max(config.batchSize, 256), shuffle: false,
                                    transform: TrainingRun.evaluationTransform(config, source: source), prefetch: 2)
        } else {
            // The single process's loader gives the global order; this process takes its share.
            let global = DataLoader(dataset: train, batchSize: config.batchSize, shuffle: true, dropLast: false, seed: config.seed, prefetch: 0)
            trainLoader = DataLoader(dataset: train, batchSize: try shard.batchSize(global: config.batchSize), dropLast: false,
                                     seed: config.seed, transform: trainTransform, prefetch: 2, sampleOrder: shard.trainingOrder(of: global))
            testLoader = DataLoader(dataset: test, batchSize: max(config.batchSize, 256), shuffle: false,
                                    transform: TrainingRun.evaluationTransform(config, source: source), prefetch: 2,
                                    sampleOrder: shard.evaluationOrder(samples: test.count))
        }

        if let initialized = model as? DataInitializedModel, config.initFrom == nil {
            // Data-dependent layers are set from (up to) 5,000 normalized training images.
            let sample = DataLoader(dataset: SubsetDataset(train, first: 5000), batchSize: 5000, shuffle: false,
                                    transform: TrainingRun.evaluationTransform(config, source: source), prefetch: 0)
            if let batch = try sample.epoch(0).next() { try initialized.initialize(fromData: batch.images) }
        }
        let optimizer = try TrainingRun.makeOptimizer(config, model: model)
        self.optimizer = optimizer

        let stepsPerEpoch = trainLoader.batchCount
        schedule = TrainingRun.makeSchedule(config, stepsPerEpoch: stepsPerEpoch, processes: shard.count)
        let sched = schedule
        trainer = Trainer(model: model, optimizer: optimizer, epochs: config.epochs,
                          learningRate: { Float(sched.lr(at: $0)) }, train: trainLoader, test: testLoader)
        trainer.labelSmoothing = config.labelSmoothing
        if sched.scheduledMomentum(at: 0) != nil {
            guard optimizer.scheduledMomentum != nil else {
                throw TrainSetupError.invalid("--schedule onecycle cycles the momentum, which \(config.optimizer.rawValue) does not have: pass --no-cycle-momentum")
            }
            trainer.momentum = { sched.scheduledMomentum(at: $0).map(Float.init) }
        }
        switch config.averaging {
        case .none: break
        case .ema:
            guard config.emaDecay > 0 && config.emaDecay < 1 else { throw TrainSetupError.invalid("--ema-decay must be in (0, 1), got \(config.emaDecay)") }
            trainer.averaging = .ema(ExponentialMovingAverage(model, decay: config.emaDecay))
        case .lookahead:
            trainer.averaging = .lookahead(Lookahead(model, totalSteps: max(config.epochs * stepsPerEpoch, 1)))
        }
        if let epochs = config.whiteningBiasEpochs {
            guard let net = model as? CIFARFastNet else {
                throw TrainSetupError.invalid("--whitening-bias-epochs applies to the fastnet models (a whitening stem); \(config.model) has none")
            }
            // Trained for `epochs` epochs, frozen from the next one on (again after a resume).
            trainer.beforeEpoch = { epoch in if epoch > epochs { _ = net.freezeWhiteningBias() } }
        }
        trainer.outputDirectory = URL(fileURLWithPath: config.out)
        trainer.checkpointInfo = CheckpointInfo(model: config.model, classNames: source.train.classNames, inputShape: shape.dims,
                                                mean: source.mean, std: source.std)
        if shard.count > 1 {
            trainer.checkpointInfo?.processes = shard.count
            trainer.checkpointInfo?.trainSamples = train.count
        }
        if config.freeze == .backbone {
            let frozenNorms = model.namedModules().filter { ($0.module as? BatchNorm).map { !$0.ownParameters.isEmpty && $0.ownParameters.allSatisfy { !$0.tensor.requiresGrad } } ?? false }.count
            if frozenNorms > 0 { warnings.append("--freeze backbone: \(frozenNorms) frozen batch norms run in evaluation mode (their running statistics stay the loaded ones)") }
        }
    }

    /// The shape the model sees: the data's, or `--resize`'s square.
    static func inputShape(_ config: TrainConfig, source: DataSource) throws -> SampleShape {
        let s = source.train.sampleShape
        guard let r = config.resize else { return s }
        guard r >= 8 && r <= 4096 else { throw TrainSetupError.invalid("--resize must be in 8…4096, got \(r)") }
        return SampleShape(channels: s.channels, height: r, width: r)
    }

    /// `--resize` (bilinear, to a square), then normalization: what evaluation sees.
    static func evaluationTransform(_ config: TrainConfig, source: DataSource) -> Compose {
        var transforms: [any Transform] = []
        if let r = config.resize { transforms.append(Resize(height: r, width: r)) }
        transforms.append(Normalize(mean: source.mean, std: source.std))
        return Compose(transforms)
    }

    /// Random crop (reflect padding) and horizontal flip for square RGB images, then normalization.
    static func trainTransform(_ config: TrainConfig, source: DataSource) throws -> Compose {
        let shape = try inputShape(config, source: source)
        var transforms: [any Transform] = []
        if let r = config.resize { transforms.append(Resize(height: r, width: r)) }
        let augments = config.augment && shape.height == shape.width && shape.height >= 16 && shape.channels == 3
        if !augments && (config.flip != nil || config.translate != nil) {
            throw TrainSetupError.invalid("--flip and --translate apply to augmented square RGB images; this run has "
                                          + (config.augment ? "\(shape) images" : "augmentation off"))
        }
        if augments {
            let pad = config.translate ?? shape.height / 8
            guard pad >= 0 && pad < shape.height else { throw TrainSetupError.invalid("--translate must be in 0..<\(shape.height), got \(pad)") }
            if pad > 0 { transforms.append(RandomCrop(size: shape.height, padding: pad, mode: .reflect)) }
            switch config.flip ?? .random {
            case .random: transforms.append(RandomHorizontalFlip())
            case .alternating: transforms.append(AlternatingHorizontalFlip(seed: config.seed))
            case .none: break
            }
        }
        transforms.append(Normalize(mean: source.mean, std: source.std))
        if let c = config.cutout {
            guard c > 0 && c <= min(shape.height, shape.width) else {
                throw TrainSetupError.invalid("--cutout must be in 1…\(min(shape.height, shape.width)), got \(c)")
            }
            // After normalization, as the speed-run recipes do: the square reads as the data's mean.
            transforms.append(Cutout(size: c))
        }
        return Compose(transforms)
    }

    /// The configured optimizer over the model's trainable parameters (with the batch-norm bias group).
    static func makeOptimizer(_ config: TrainConfig, model: ClassifierModel) throws -> Optimizer {
        let params = model.namedParameters().filter { $0.tensor.requiresGrad }
        let optimizer: Optimizer
        switch config.optimizer {
        case .sgd: optimizer = SGD(parameters: params, lr: config.lr, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay)
        case .adam: optimizer = Adam(parameters: params, lr: config.lr, weightDecay: config.weightDecay)
        case .adamw: optimizer = AdamW(parameters: params, lr: config.lr, weightDecay: config.weightDecay)
        case .rmsprop: optimizer = RMSProp(parameters: params, lr: config.lr, weightDecay: config.weightDecay, momentum: config.momentum)
        }
        if let scale = config.normBiasLRScale, scale != 1 {
            guard scale > 0 && scale.isFinite else { throw TrainSetupError.invalid("--norm-bias-lr-scale must be > 0, got \(scale)") }
            let trainable = Set(params.map(\.name))
            let biases = model.namedModules().filter { $0.module is BatchNorm }
                .map { $0.name.isEmpty ? "bias" : $0.name + ".bias" }.filter(trainable.contains)
            optimizer.groups = [ParameterGroup(names: biases, lrScale: scale, weightDecay: config.weightDecay / scale)]
        }
        return optimizer
    }

    /// The configured schedule over `config.epochs × stepsPerEpoch` steps, after the warm-up.
    /// With ``LRScaling/linear`` over K `processes` the rate is `config.lr × K`, and a warm-up
    /// rises from `config.lr` to it (Goyal et al.); otherwise a warm-up starts from a tenth.
    static func makeSchedule(_ config: TrainConfig, stepsPerEpoch: Int, processes: Int = 1) -> LRSchedule {
        let total = max(config.epochs * stepsPerEpoch, 1)
        let scale: Float = config.lrScaling == .linear ? Float(processes) : 1
        let lr = config.lr * scale
        var base: LRSchedule
        switch config.schedule {
        case .onecycle: base = OneCycleLR(maxLR: lr, totalSteps: total, cycleMomentum: config.cycleMomentum)
        case .cosine: base = CosineAnnealingLR(baseLR: lr, tMax: total)
        case .step: base = StepLR(baseLR: lr, stepSize: max(total / 3, 1), gamma: 0.1)
        case .multistep: base = MultiStepLR(baseLR: lr, milestones: [total / 2, total * 3 / 4], gamma: 0.1)
        case .constant: base = ConstantLR(baseLR: lr, factor: 1, totalIters: 0)
        case .triangle:
            // Linear from lr/5 up to lr over the first fifth of the run, then linearly down to ~0.
            base = OneCycleLR(maxLR: lr, totalSteps: total, pctStart: 0.2, anneal: .linear, divFactor: 5, finalDivFactor: 1e6,
                              cycleMomentum: false)
        }
        if config.warmupEpochs > 0 {
            let warmup = config.lrScaling == .linear ? LinearWarmup(baseLR: lr, warmupSteps: config.warmupEpochs * stepsPerEpoch, startFactor: 1 / scale)
                : LinearWarmup(baseLR: lr, warmupSteps: config.warmupEpochs * stepsPerEpoch)
            base = ChainedLR([warmup, base])
        }
        return base
    }

    /// A model from the registry for `classes` outputs and inputs of `inputShape`, optionally
    /// initialized from a safetensors state dict whose head is then replaced for `classes`.
    /// Returns the model and what was adapted to load the weights (see ``StateDictAdapter``).
    public static func makeModel(_ name: String, classes: Int, inputShape: [Int], initFrom: String?) throws -> (ClassifierModel, [String]) {
        guard let initFrom else { return (try ModelZoo.make(name, classes: classes, inputShape: inputShape), []) }
        guard FileManager.default.fileExists(atPath: initFrom) else { throw CheckpointError.notFound(path: initFrom) }
        let ckpt = try Checkpoint.load(from: URL(fileURLWithPath: initFrom))
        // Build with the head the weights were trained with, load strictly, then swap the head.
        let probe = try ModelZoo.make(name, classes: classes, inputShape: inputShape)
        var (weights, notes) = StateDictAdapter.adapt(ckpt.model, to: probe)
        let headKey = probe.headPath + ".weight"
        let weightClasses = weights[headKey]?.shape.first ?? classes
        let model = weightClasses == classes ? probe : try ModelZoo.make(name, classes: weightClasses, inputShape: inputShape)
        if weightClasses != classes { (weights, notes) = StateDictAdapter.adapt(ckpt.model, to: model) }
        do { _ = try model.loadStateDict(weights, strict: true) } catch {
            throw CheckpointError.incompatible(path: initFrom, reason: "\(error)")
        }
        if weightClasses != classes {
            model.replaceHead(classes: classes)
            notes.append("the head \(headKey) was trained for \(weightClasses) classes: a new \(classes)-class head was initialized")
        }
        return (model, notes.map { "--init-from \(initFrom): " + $0 })
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
            "openblas_config": BLAS.config, "kernel_isa": Runtime.isa.rawValue, "host": ProcessInfo.processInfo.hostName,
        ]
        var object: [String: Any] = ["config": configObject, "tessera_version": TesseraVersion.string, "machine": machine,
                                     "parameters": model.parameterCount, "data_kind": source.kind,
                                     "class_names": source.train.classNames, "mean": source.mean, "std": source.std]
        if shard.count > 1 {
            object["distributed"] = ["processes": shard.count, "batch_per_process": trainer.trainLoader.batchSize,
                                     "lr": schedule.baseLR]
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: dir.appendingPathComponent("config.json"))
    }

    /// Reads the configuration of an earlier run from `<dir>/config.json`.
    public static func readConfig(runDirectory dir: String) throws -> TrainConfig {
        let url = URL(fileURLWithPath: dir).appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else { throw TrainSetupError.invalid("cannot read \(url.path): is '\(dir)' a run folder?") }
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any], let config = obj["config"] else {
            throw TrainSetupError.invalid("\(url.path) has no \"config\" object")
        }
        let decoded: TrainConfig
        do { decoded = try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: config)) } catch {
            throw TrainSetupError.invalid("\(url.path): the \"config\" object cannot be read: \(error)")
        }
        try decoded.validate(source: url.path)
        return decoded
    }
}

/// A training option that cannot be used.
public enum TrainSetupError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String { switch self { case let .invalid(m): return m } }
}
