import Foundation
import Tessera
import TesseraNN

/// A training checkpoint: the model's state dict, the optimizer's state and a ``CheckpointInfo``
/// (model, classes, input, normalization, where the run stands, the generator's state), in one
/// safetensors file.
///
/// Keys are `model.<name>`, `optimizer.<key>` and, for a run that averages its weights,
/// `average.<key>` (the average's own state dict); `__metadata__` holds `format`
/// (`tessera-checkpoint`) and `tessera` (the info as JSON). `tessera eval` and `tessera predict`
/// also accept a plain model state dict (no prefixes, no info), such as one exported from
/// PyTorch with `safetensors.torch.save_file(model.state_dict(), path)`.
public struct Checkpoint {
    /// The model's parameters and buffers.
    public var model: StateDict
    /// The optimizer's per-parameter state (empty for a plain model file).
    public var optimizer: StateDict
    /// The state of a running average of the weights (EMA or lookahead), or empty.
    public var average: StateDict
    /// What the checkpoint says about itself (nil for a plain state dict).
    public var info: CheckpointInfo?

    /// A checkpoint from its parts.
    public init(model: StateDict, optimizer: StateDict = StateDict(), average: StateDict = StateDict(), info: CheckpointInfo? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.average = average
        self.info = info
    }

    /// Epochs completed when the checkpoint was written (0 without info).
    public var epoch: Int { info?.epoch ?? 0 }
    /// Optimizer steps taken when the checkpoint was written (0 without info).
    public var globalStep: Int { info?.globalStep ?? 0 }

    /// Writes the checkpoint atomically (temporary file, then rename).
    public func save(to url: URL) throws {
        var sd = StateDict()
        for (k, e) in model { sd.set("model." + k, e.tensor, dtype: e.dtype) }
        for (k, e) in optimizer { sd.set("optimizer." + k, e.tensor, dtype: e.dtype) }
        for (k, e) in average { sd.set("average." + k, e.tensor, dtype: e.dtype) }
        sd.metadata["format"] = "tessera-checkpoint"
        if let info { sd.metadata["tessera"] = try info.json() }
        try Safetensors.save(sd, to: url)
    }

    /// Reads a checkpoint, or a plain model state dict (then ``optimizer`` is empty and ``info``
    /// nil). Metadata that does not make sense (no classes, a zero standard deviation, a negative
    /// epoch…) is refused here with the reason.
    public static func load(from url: URL) throws -> Checkpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { throw CheckpointError.notFound(path: url.path) }
        if isDir.boolValue {
            let inside = url.appendingPathComponent("last.safetensors")
            throw CheckpointError.notAFile(path: url.path, hint: FileManager.default.fileExists(atPath: inside.path) ? inside.path : nil)
        }
        let sd = try Safetensors.load(from: url)
        let isCheckpoint = sd.metadata["format"] == "tessera-checkpoint" || sd.keys.contains(where: { $0.hasPrefix("model.") })
        var info: CheckpointInfo?
        if let json = sd.metadata["tessera"] {
            do { info = try JSONDecoder().decode(CheckpointInfo.self, from: Data(json.utf8)) } catch {
                throw CheckpointError.invalidMetadata(path: url.path, reason: "the 'tessera' record is not valid: \(error)")
            }
        } else if isCheckpoint {
            info = CheckpointInfo.legacy(sd.metadata)
        }
        if let problem = info?.problem { throw CheckpointError.invalidMetadata(path: url.path, reason: problem) }
        guard isCheckpoint else { return Checkpoint(model: sd, info: info) }
        var model = StateDict(), optimizer = StateDict(), average = StateDict()
        for (k, e) in sd {
            if k.hasPrefix("model.") { model.set(String(k.dropFirst(6)), e.tensor, dtype: e.dtype) }
            else if k.hasPrefix("optimizer.") { optimizer.set(String(k.dropFirst(10)), e.tensor, dtype: e.dtype) }
            else if k.hasPrefix("average.") { average.set(String(k.dropFirst(8)), e.tensor, dtype: e.dtype) }
            else { throw CheckpointError.unexpectedKey(path: url.path, key: k) }
        }
        return Checkpoint(model: model, optimizer: optimizer, average: average, info: info)
    }
}

/// Problems with a checkpoint file beyond the safetensors format itself.
public enum CheckpointError: Error, CustomStringConvertible {
    /// A key that is neither `model.*` nor `optimizer.*` in a Tessera checkpoint.
    case unexpectedKey(path: String, key: String)
    /// The checkpoint lacks metadata needed to resume or rebuild the model.
    case missingMetadata(path: String, key: String)
    /// The checkpoint's metadata is present but unusable.
    case invalidMetadata(path: String, reason: String)
    /// The checkpoint's weights do not fit the model.
    case incompatible(path: String, reason: String)
    /// There is no file at the path.
    case notFound(path: String)
    /// The path is a folder (`hint`: the checkpoint inside it, when there is one).
    case notAFile(path: String, hint: String?)

    public var description: String {
        switch self {
        case let .unexpectedKey(path, key): return "\(path): unexpected key '\(key)' in a Tessera checkpoint"
        case let .missingMetadata(path, key): return "\(path): checkpoint metadata has no '\(key)'"
        case let .invalidMetadata(path, reason): return "\(path): checkpoint metadata is invalid: \(reason)"
        case let .incompatible(path, reason): return "\(path): checkpoint does not fit the model: \(reason)"
        case let .notFound(path): return "\(path): no such checkpoint file"
        case let .notAFile(path, hint): return "\(path) is a folder, not a checkpoint file" + (hint.map { "; did you mean \($0)?" } ?? "")
        }
    }
}

extension SeededGenerator {
    /// The state as four words, for ``CheckpointInfo/rng``.
    var words: [UInt64] { [state.0, state.1, state.2, state.3] }

    /// A generator restored from ``words``.
    init?(words: [UInt64]) {
        guard words.count == 4 else { return nil }
        self.init(seed: 0)
        state = (words[0], words[1], words[2], words[3])
    }
}
