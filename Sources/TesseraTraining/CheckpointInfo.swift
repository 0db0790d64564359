import Foundation
import Tessera

/// What a checkpoint says about itself: one typed, versioned record, stored as JSON under the
/// `tessera` key of the safetensors `__metadata__` (so `safetensors` in Python shows it as is).
public struct CheckpointInfo: Codable, Equatable, Sendable {
    /// The record's version; a reader refuses newer versions it does not know.
    public static let currentVersion = 1

    /// Version of this record.
    public var version = CheckpointInfo.currentVersion
    /// The registry name of the model (`ModelZoo`).
    public var model: String
    /// Output classes.
    public var classes: Int
    /// Class names, indexed by output.
    public var classNames: [String]
    /// The input the model was trained on, [C, H, W].
    public var inputShape: [Int]
    /// Per-channel normalization of the inputs.
    public var mean: [Float], std: [Float]
    /// Epochs completed.
    public var epoch = 0
    /// Optimizer steps taken.
    public var globalStep = 0
    /// The process-wide generator's state (`GlobalRandom`), for an exact resume.
    public var rng: [UInt64]?
    /// Steps done in epoch ``epoch`` + 1 when an interruption saved the run mid-epoch (0 at an epoch's end).
    public var stepInEpoch = 0
    /// The training totals of those steps, so the resumed epoch reports what an uninterrupted one would.
    public var partialEpoch: EpochTotals?
    /// Seconds spent on those steps.
    public var partialEpochSeconds: Double?
    /// Training batches per epoch when written: a resume whose data gives another count is refused.
    public var batchesPerEpoch: Int?
    /// Training images per epoch when written.
    public var trainSamples: Int?
    /// The processes of the data-parallel run that wrote it (nil: one). A resume must run on as many.
    public var processes: Int?
    /// The Tessera version that wrote it.
    public var tesseraVersion = TesseraVersion.string

    /// A record for a model trained on `inputShape` images of `classNames`.
    public init(model: String, classNames: [String], inputShape: [Int], mean: [Float], std: [Float]) {
        self.model = model
        classes = classNames.count
        self.classNames = classNames
        self.inputShape = inputShape
        self.mean = mean
        self.std = std
    }

    enum CodingKeys: String, CodingKey {
        case version, model, classes, epoch, rng, mean, std
        case classNames = "class_names", inputShape = "input_shape", globalStep = "global_step", tesseraVersion = "tessera_version"
        case stepInEpoch = "step_in_epoch", partialEpoch = "partial_epoch", partialEpochSeconds = "partial_epoch_seconds"
        case batchesPerEpoch = "batches_per_epoch", trainSamples = "train_samples", processes
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        model = try c.decode(String.self, forKey: .model)
        classes = try c.decode(Int.self, forKey: .classes)
        classNames = try c.decode([String].self, forKey: .classNames)
        inputShape = try c.decode([Int].self, forKey: .inputShape)
        mean = try c.decode([Float].self, forKey: .mean)
        std = try c.decode([Float].self, forKey: .std)
        epoch = try c.decodeIfPresent(Int.self, forKey: .epoch) ?? 0
        globalStep = try c.decodeIfPresent(Int.self, forKey: .globalStep) ?? 0
        rng = try c.decodeIfPresent([UInt64].self, forKey: .rng)
        tesseraVersion = try c.decodeIfPresent(String.self, forKey: .tesseraVersion) ?? "unknown"
        stepInEpoch = try c.decodeIfPresent(Int.self, forKey: .stepInEpoch) ?? 0
        partialEpoch = try c.decodeIfPresent(EpochTotals.self, forKey: .partialEpoch)
        partialEpochSeconds = try c.decodeIfPresent(Double.self, forKey: .partialEpochSeconds)
        batchesPerEpoch = try c.decodeIfPresent(Int.self, forKey: .batchesPerEpoch)
        trainSamples = try c.decodeIfPresent(Int.self, forKey: .trainSamples)
        processes = try c.decodeIfPresent(Int.self, forKey: .processes)
    }

    /// The first thing wrong with the record, or nil: every field is checked when a checkpoint is
    /// read, so a bad one is refused with a message instead of trapping or predicting one class.
    public var problem: String? {
        if version < 1 || version > CheckpointInfo.currentVersion {
            return "metadata version \(version) is not one this Tessera (\(TesseraVersion.string)) reads (1…\(CheckpointInfo.currentVersion))"
        }
        if model.isEmpty { return "no model name" }
        if classes < 1 { return "classes is \(classes); must be at least 1" }
        if classNames.count != classes { return "\(classNames.count) class names for \(classes) classes" }
        if inputShape.count != 3 || inputShape.contains(where: { $0 < 1 || $0 > 1 << 16 }) {
            return "input_shape \(inputShape) is not [channels, height, width] with each in 1…65536"
        }
        if mean.count != inputShape[0] || std.count != inputShape[0] {
            return "mean \(mean) and std \(std) need one value per channel (\(inputShape[0]))"
        }
        if !mean.allSatisfy(\.isFinite) { return "mean \(mean) is not finite" }
        if !std.allSatisfy({ $0.isFinite && $0 > 0 }) { return "std \(std) must be finite and positive" }
        if epoch < 0 { return "epoch is \(epoch); must be at least 0" }
        if globalStep < 0 { return "global_step is \(globalStep); must be at least 0" }
        if let rng, rng.count != 4 || rng.allSatisfy({ $0 == 0 }) { return "rng state \(rng) is not four words, not all zero" }
        if stepInEpoch < 0 { return "step_in_epoch is \(stepInEpoch); must be at least 0" }
        if let b = batchesPerEpoch, b < 1 { return "batches_per_epoch is \(b); must be at least 1" }
        if let p = processes, p < 1 { return "processes is \(p); must be at least 1" }
        if let b = batchesPerEpoch, globalStep != epoch * b + stepInEpoch {
            return "global_step \(globalStep) is not \(epoch) epochs of \(b) steps plus \(stepInEpoch)"
        }
        if let p = partialEpoch, p.seen < 0 || p.correct < 0 || p.correct > p.seen || !p.lossSum.isFinite {
            return "partial_epoch totals \(p) are not consistent"
        }
        return nil
    }

    /// The record as a JSON string (sorted keys).
    func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// The metadata of a checkpoint written before this record existed (string keys `model`,
    /// `classes`, `class_names`, `input_shape`, `mean`, `std`, `epoch`, `global_step`, `rng`), or nil.
    static func legacy(_ meta: [String: String]) -> CheckpointInfo? {
        guard let model = meta["model"] else { return nil }
        func floats(_ k: String) -> [Float] { (meta[k] ?? "").split(separator: ",").compactMap { Float($0) } }
        let shape = (meta["input_shape"] ?? "").split(separator: ",").compactMap { Int($0) }
        let names = (meta["class_names"] ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var info = CheckpointInfo(model: model, classNames: names, inputShape: shape, mean: floats("mean"), std: floats("std"))
        info.version = 1
        if let c = meta["classes"].flatMap(Int.init) { info.classes = c }
        info.epoch = meta["epoch"].flatMap(Int.init) ?? 0
        info.globalStep = meta["global_step"].flatMap(Int.init) ?? 0
        let words = (meta["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        info.rng = words.count == 4 ? words : nil
        info.tesseraVersion = meta["tessera_version"] ?? "unknown"
        return info
    }
}
