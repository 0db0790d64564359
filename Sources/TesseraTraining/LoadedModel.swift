import Foundation
import Tessera
import TesseraModels
import TesseraNN
import TesseraVision

/// A model rebuilt from a checkpoint for evaluation or prediction, with what it needs to
/// prepare inputs (input shape, normalization, class names).
public struct LoadedModel {
    /// The model, in evaluation mode.
    public let model: ClassifierModel
    /// Its registry name.
    public let name: String
    /// The input it was trained on, [C, H, W].
    public let inputShape: SampleShape
    /// Per-channel normalization applied to inputs.
    public let mean: [Float], std: [Float]
    /// Class names, indexed by output.
    public let classNames: [String]

    /// Loads `path` (a Tessera checkpoint, or a plain state dict with `modelName` given). The
    /// weights must fit the model exactly; a mismatch throws an error listing every key.
    public init(checkpoint path: String, modelName: String? = nil) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.notFound(path: path) }
        let ckpt = try Checkpoint.load(from: URL(fileURLWithPath: path))
        let meta = ckpt.metadata
        guard let name = modelName ?? meta["model"] else { throw CheckpointError.missingMetadata(path: path, key: "model (pass --model)") }
        let dims = (meta["input_shape"] ?? "").split(separator: ",").compactMap { Int($0) }
        let entry = name == "mlp" ? nil : try ModelZoo.entry(name)
        let shapeDims = dims.count == 3 ? dims : (entry?.inputShape ?? [3, 32, 32])
        inputShape = SampleShape(channels: shapeDims[0], height: shapeDims[1], width: shapeDims[2])
        let probe = try TrainingRun.makeModel(name, classes: 1, sampleShape: inputShape, initFrom: nil)
        guard let headWeight = ckpt.model[probe.headPath + ".weight"], headWeight.rank == 2 else {
            throw CheckpointError.incompatible(path: path, reason: "no '\(probe.headPath).weight' for a \(name) head: is this a \(name) checkpoint?")
        }
        let classes = headWeight.shape[0]
        let model = try TrainingRun.makeModel(name, classes: classes, sampleShape: inputShape, initFrom: nil)
        do { _ = try model.loadStateDict(ckpt.model, strict: true) } catch {
            throw CheckpointError.incompatible(path: path, reason: "\(error)")
        }
        model.eval()
        self.model = model
        self.name = name
        let c = inputShape.channels
        mean = (meta["mean"] ?? "").split(separator: ",").compactMap { Float($0) }.count == c
            ? (meta["mean"] ?? "").split(separator: ",").compactMap { Float($0) } : [Float](repeating: 0, count: c)
        std = (meta["std"] ?? "").split(separator: ",").compactMap { Float($0) }.count == c
            ? (meta["std"] ?? "").split(separator: ",").compactMap { Float($0) } : [Float](repeating: 1, count: c)
        let names = (meta["class_names"] ?? "").split(separator: "\n").map(String.init)
        classNames = names.count == classes ? names : (0..<classes).map { "class \($0)" }
    }

    /// An image of any kind and size prepared as the model's input [1, C, H, W]: converted
    /// to RGB or gray, resized so its short side is the training size, center-cropped, normalized.
    /// Only the crop is resampled (from the source pixels it covers), so a long thin image
    /// costs no more than a square one.
    public func input(from image: Image) -> Tensor {
        let format: PixelFormat = inputShape.channels == 1 ? .gray : .rgb
        let h = image.height, w = image.width
        let scale = Double(max(inputShape.height, inputShape.width)) / Double(min(h, w))
        let rh = max(inputShape.height, Int((Double(h) * scale).rounded())), rw = max(inputShape.width, Int((Double(w) * scale).rounded()))
        var gen = SeededGenerator(seed: 0)
        let t = image.tensor(resizedTo: (rh, rw), centerCroppedTo: (inputShape.height, inputShape.width), as: format)
        return Normalize(mean: mean, std: std)(t, generator: &gen).unsqueezed(0)
    }
}
