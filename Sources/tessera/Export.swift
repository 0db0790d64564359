import ArgumentParser
import Foundation
import Tessera
import TesseraNN
import TesseraTraining

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model as the plain state dict PyTorch loads (no optimizer, no prefixes).",
        discussion: """
            The file holds exactly model.state_dict()'s keys, so in Python:
              model.load_state_dict(safetensors.torch.load_file("model.safetensors"), strict=True)
            Its metadata (and a config.json beside it) records the model, the class names and the
            normalization (mean, std) the inputs need.
            """)

    @Option(help: "Checkpoint (last.safetensors of a run).") var checkpoint: String
    @Option(help: "Output safetensors file.") var out: String

    func run() throws {
        do {
            let url = URL(fileURLWithPath: checkpoint)
            let ckpt = try Checkpoint.load(from: url)
            guard let info = ckpt.info else {
                throw CheckpointError.missingMetadata(path: checkpoint, key: "tessera (model, classes, normalization): is this a Tessera checkpoint?")
            }
            // Load into the model once, so only a complete, matching state dict is exported.
            let loaded = try LoadedModel(checkpoint: checkpoint)
            var sd = loaded.model.stateDict()
            let names = try JSONEncoder().encode(info.classNames)
            sd.metadata = [
                "format": "pt", "model": info.model, "class_names": String(decoding: names, as: UTF8.self),
                "mean": info.mean.map { "\($0)" }.joined(separator: ","), "std": info.std.map { "\($0)" }.joined(separator: ","),
                "input_shape": info.inputShape.map(String.init).joined(separator: ","), "tessera_version": TesseraVersion.string,
            ]
            let target = URL(fileURLWithPath: out)
            try Safetensors.save(sd, to: target)
            let config: [String: Any] = ["model": info.model, "class_names": info.classNames, "mean": info.mean, "std": info.std,
                                         "input_shape": info.inputShape, "classes": info.classes, "weights": target.lastPathComponent]
            let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            let configURL = target.deletingPathExtension().appendingPathExtension("json")
            try AtomicFile.write(json, to: configURL)
            print("wrote \(target.path) (\(sd.count) tensors, the state dict of \(info.model)) and \(configURL.path)")
        } catch {
            fail(error)
        }
    }
}
