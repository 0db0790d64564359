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
    /// weights must fit the model exactly; a mismatch throws an error listing every key. A plain
    /// state dict has no record of its input, normalization or class names: the registry's
    /// default input, mean 0, std 1 and `class i` are used.
    public init(checkpoint path: String, modelName: String? = nil) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.notFound(path: path) }
        let ckpt = try Checkpoint.load(from: URL(fileURLWithPath: path))
        guard let name = modelName ?? ckpt.info?.model else { throw CheckpointError.missingMetadata(path: path, key: "model (pass --model)") }
        let entry = try ModelZoo.entry(name)
        let dims = ckpt.info?.inputShape ?? entry.inputShape
        inputShape = SampleShape(channels: dims[0], height: dims[1], width: dims[2])
        let probe = try ModelZoo.make(name, classes: 1, inputShape: dims)
        guard let headWeight = ckpt.model[probe.headPath + ".weight"], headWeight.rank == 2 else {
            throw CheckpointError.incompatible(path: path, reason: "no '\(probe.headPath).weight' for a \(name) head: is this a \(name) checkpoint?")
        }
        let classes = headWeight.shape[0]
        let model = try ModelZoo.make(name, classes: classes, inputShape: dims)
        do { _ = try model.loadStateDict(ckpt.model, strict: true) } catch {
            throw CheckpointError.incompatible(path: path, reason: "\(error)")
        }
        model.eval()
        self.model = model
        self.name = name
        let c = inputShape.channels
        mean = ckpt.info?.mean ?? [Float](repeating: 0, count: c)
        std = ckpt.info?.std ?? [Float](repeating: 1, count: c)
        let names = ckpt.info?.classNames ?? []
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
