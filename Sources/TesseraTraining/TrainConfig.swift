import Foundation
import Tessera
import TesseraModels

/// The version of Tessera.
public enum TesseraVersion {
    /// Semantic version of this build.
    public static let string = "0.2.0"
}

/// Everything that defines a training run; written to `<out>/config.json` and read back by `--resume`.
public struct TrainConfig: Codable, Equatable, Sendable {
    /// Model name in `ModelZoo` (`tessera models` lists them).
    public var model = "resnet20"
    /// Data folder (CIFAR-10 binary, image folder with train/ and test/, or IDX files).
    public var data: String
    /// Epochs to train.
    public var epochs = 30
    /// Images per batch.
    public var batchSize = 128
    /// The optimizer.
    public var optimizer = OptimizerKind.sgd
    /// Peak learning rate.
    public var lr: Float = 0.1
    /// Momentum (SGD, RMSProp).
    public var momentum: Float = 0.9
    /// Nesterov momentum (SGD).
    public var nesterov = false
    /// Weight decay (decoupled for AdamW).
    public var weightDecay: Float = 5e-4
    /// Learning-rate schedule over the run.
    public var schedule = ScheduleKind.onecycle
    /// Epochs of linear warm-up before the schedule.
    public var warmupEpochs = 0
    /// How a data-parallel run scales the learning rate with its number of processes (nil: not
    /// at all, ``LRScaling/none``).
    public var lrScaling: LRScaling?
    /// Label smoothing of the training loss.
    public var labelSmoothing: Float = 0.1
    /// Seed of initialization, shuffling and augmentation.
    public var seed: UInt64 = 0
    /// Threads Tessera computes with (`Runtime/threads`).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Train on the first N training images only (nil: all).
    public var subset: Int?
    /// Evaluate on the first N test images only (quick runs; nil: all).
    public var testSubset: Int?
    /// Random crop and horizontal flip for square RGB images.
    public var augment = true
    /// Horizontal flip when augmenting (nil: random).
    public var flip: FlipMode?
    /// Padding of the random crop, in pixels (nil: an eighth of the image size, 4 for CIFAR).
    public var translate: Int?
    /// Learning-rate multiplier of the batch-norm biases; their weight decay is divided by it, which
    /// keeps the decay per step the same for SGD and AdamW (Adam and RMSProp normalize the decay
    /// with the gradient, so there it only weakens it). nil: 1.
    public var normBiasLRScale: Float?
    /// Safetensors state dict to initialize from (the head is replaced for the data).
    public var initFrom: String?
    /// Parameters to freeze.
    public var freeze = FreezeMode.none
    /// Resize every image to this square before augmentation (nil: the data's own size), e.g.
    /// 224 for an ImageNet-stem model on CIFAR.
    public var resize: Int?
    /// With the `onecycle` schedule, cycle the momentum (Adam's β₁) from 0.95 down to 0.85 at the
    /// peak rate and back, as PyTorch's `OneCycleLR` does by default; false keeps `momentum`.
    public var cycleMomentum = true
    /// A running average of the weights (EMA or airbench's lookahead).
    public var averaging = AveragingKind.none
    /// Decay of the exponential moving average.
    public var emaDecay: Float = 0.999
    /// Train a whitening stem's bias (`fastnet`) for this many epochs, then freeze it (nil: never freeze).
    public var whiteningBiasEpochs: Int?
    /// Cutout: a square of this side, zero after normalization, at a random place in every
    /// training image (nil: none).
    public var cutout: Int?
    /// Output folder of the run.
    public var out: String
    /// The most pixels an image of an image folder may have (nil: `Image.defaultMaxPixels`).
    public var maxPixels: Int?

    /// A configuration with defaults for everything but the data folder and output folder.
    public init(data: String, out: String) {
        self.data = data
        self.out = out
    }

    /// Reads a configuration; a setting that an older `config.json` does not have takes its default
    /// (only `data` and `out` are required), so runs from earlier versions still resume.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(data: try c.decode(String.self, forKey: .data), out: try c.decode(String.self, forKey: .out))
        func read<T: Decodable>(_ key: CodingKeys, into value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.model, into: &model)
        try read(.epochs, into: &epochs)
        try read(.batchSize, into: &batchSize)
        try read(.optimizer, into: &optimizer)
        try read(.lr, into: &lr)
        try read(.momentum, into: &momentum)
        try read(.nesterov, into: &nesterov)
        try read(.weightDecay, into: &weightDecay)
        try read(.schedule, into: &schedule)
        try read(.warmupEpochs, into: &warmupEpochs)
        try read(.labelSmoothing, into: &labelSmoothing)
        try read(.seed, into: &seed)
        try read(.threads, into: &threads)
        subset = try c.decodeIfPresent(Int.self, forKey: .subset)
        testSubset = try c.decodeIfPresent(Int.self, forKey: .testSubset)
        try read(.augment, into: &augment)
        flip = try c.decodeIfPresent(FlipMode.self, forKey: .flip)
        translate = try c.decodeIfPresent(Int.self, forKey: .translate)
        normBiasLRScale = try c.decodeIfPresent(Float.self, forKey: .normBiasLRScale)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
        try read(.freeze, into: &freeze)
        resize = try c.decodeIfPresent(Int.self, forKey: .resize)
        maxPixels = try c.decodeIfPresent(Int.self, forKey: .maxPixels)
        lrScaling = try c.decodeIfPresent(LRScaling.self, forKey: .lrScaling)
        // Runs from before momentum cycling kept the momentum constant.
        cycleMomentum = try c.decodeIfPresent(Bool.self, forKey: .cycleMomentum) ?? false
        try read(.averaging, into: &averaging)
        try read(.emaDecay, into: &emaDecay)
        whiteningBiasEpochs = try c.decodeIfPresent(Int.self, forKey: .whiteningBiasEpochs)
        cutout = try c.decodeIfPresent(Int.self, forKey: .cutout)
    }
}

extension TrainConfig {
    /// The allowed values of the settings with a range, shared by the command line's validation
    /// and ``TrainConfig/validate(source:)``.
    public enum Limits {
        /// Images per batch.
        public static let batchSize = 1...65536
        /// Compute threads.
        public static let threads = 1...1024
        /// Random-crop padding, in pixels.
        public static let translate = 0...1024
        /// The side images are resized to.
        public static let resize = 8...4096
        /// Epochs before the whitening bias is frozen.
        public static let whiteningBiasEpochs = 0...100_000
        /// The side of the cutout square.
        public static let cutout = 1...4096
    }

    /// Throws ``TrainSetupError/invalid(_:)`` naming the first setting that no run can use (a
    /// batch of 0, a non-finite rate, a momentum of 1 or more, …): what the command line refuses
    /// when it parses its options, checked again for a configuration from elsewhere — a
    /// `config.json` read by `--resume`, or one built in Swift. `source` names where it came from.
    public func validate(source: String = "the configuration") throws {
        func refuse(_ name: String, _ allowed: String, _ value: Any) throws -> Never {
            throw TrainSetupError.invalid("\(source): \(name) must be \(allowed), got \(value)")
        }
        func inRange(_ value: Int, _ allowed: ClosedRange<Int>, _ name: String) throws {
            if !allowed.contains(value) { try refuse(name, "in \(allowed.lowerBound)…\(allowed.upperBound)", value) }
        }
        func fraction(_ value: Float, _ name: String) throws {
            if !(value.isFinite && value >= 0 && value < 1) { try refuse(name, "in [0, 1)", value) }
        }
        if !ModelZoo.names.contains(model) { try refuse("model", "one of \(ModelZoo.names.joined(separator: ", "))", "'\(model)'") }
        if epochs < 1 { try refuse("epochs", "1 or more", epochs) }
        try inRange(batchSize, Limits.batchSize, "batchSize")
        if !(lr.isFinite && lr > 0) { try refuse("lr", "a finite number above 0", lr) }
        try fraction(momentum, "momentum")
        if !(weightDecay.isFinite && weightDecay >= 0) { try refuse("weightDecay", "a finite number of at least 0", weightDecay) }
        try inRange(warmupEpochs, 0...epochs, "warmupEpochs")
        try fraction(labelSmoothing, "labelSmoothing")
        try inRange(threads, Limits.threads, "threads")
        if let subset, subset < 1 { try refuse("subset", "1 or more", subset) }
        if let testSubset, testSubset < 1 { try refuse("testSubset", "1 or more", testSubset) }
        if let translate { try inRange(translate, Limits.translate, "translate") }
        if let normBiasLRScale, !(normBiasLRScale.isFinite && normBiasLRScale > 0) {
            try refuse("normBiasLRScale", "a finite number above 0", normBiasLRScale)
        }
        if let resize { try inRange(resize, Limits.resize, "resize") }
        if !(emaDecay > 0 && emaDecay < 1) { try refuse("emaDecay", "in (0, 1)", emaDecay) }
        if let whiteningBiasEpochs { try inRange(whiteningBiasEpochs, Limits.whiteningBiasEpochs, "whiteningBiasEpochs") }
        if let cutout { try inRange(cutout, Limits.cutout, "cutout") }
        if let maxPixels, maxPixels < 1 { try refuse("maxPixels", "1 or more", maxPixels) }
    }
}
