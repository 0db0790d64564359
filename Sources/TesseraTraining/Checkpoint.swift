import Foundation
import Tessera
import TesseraNN

/// A training checkpoint: the model's state dict, the optimizer's state, where the run stands
/// and the random-generator state, in one safetensors file.
///
/// Keys are `model.<name>` and `optimizer.<key>`; the file's `__metadata__` carries `epoch`
/// (epochs completed), `global_step`, `rng` (the process-wide generator's state), `model`
/// (its registry name), `classes` and the run's configuration as JSON. `tessera eval` and
/// `tessera predict` also accept a plain model state dict (no prefixes), such as one exported
/// from PyTorch with `safetensors.torch.save_file(model.state_dict(), path)`.
public struct Checkpoint {
    /// The model's parameters and buffers.
    public var model: StateDict
    /// The optimizer's per-parameter state (empty for a plain model file).
    public var optimizer: StateDict
    /// Free-form string metadata (see the type's documentation for the keys Tessera writes).
    public var metadata: [String: String]

    /// A checkpoint from its parts.
    public init(model: StateDict, optimizer: StateDict = StateDict(), metadata: [String: String] = [:]) {
        self.model = model
        self.optimizer = optimizer
        self.metadata = metadata
    }

    /// Epochs completed when the checkpoint was written.
    public var epoch: Int { metadata["epoch"].flatMap(Int.init) ?? 0 }
    /// Optimizer steps taken when the checkpoint was written.
    public var globalStep: Int { metadata["global_step"].flatMap(Int.init) ?? 0 }

    /// Writes the checkpoint atomically (temporary file, then rename).
    public func save(to url: URL) throws {
        var sd = StateDict()
        for (k, e) in model { sd.set("model." + k, e.tensor, dtype: e.dtype) }
        for (k, e) in optimizer { sd.set("optimizer." + k, e.tensor, dtype: e.dtype) }
        sd.metadata = metadata
        sd.metadata["format"] = "tessera-checkpoint"
        try Safetensors.save(sd, to: url)
    }

    /// Reads a checkpoint, or a plain model state dict (then ``optimizer`` is empty).
    public static func load(from url: URL) throws -> Checkpoint {
        let sd = try Safetensors.load(from: url)
        if sd.metadata["format"] == "tessera-checkpoint" || sd.keys.contains(where: { $0.hasPrefix("model.") }) {
            var model = StateDict(), optimizer = StateDict()
            for (k, e) in sd {
                if k.hasPrefix("model.") { model.set(String(k.dropFirst(6)), e.tensor, dtype: e.dtype) }
                else if k.hasPrefix("optimizer.") { optimizer.set(String(k.dropFirst(10)), e.tensor, dtype: e.dtype) }
                else { throw CheckpointError.unexpectedKey(path: url.path, key: k) }
            }
            return Checkpoint(model: model, optimizer: optimizer, metadata: sd.metadata)
        }
        return Checkpoint(model: sd, metadata: sd.metadata)
    }
}

/// Problems with a checkpoint file beyond the safetensors format itself.
public enum CheckpointError: Error, CustomStringConvertible {
    /// A key that is neither `model.*` nor `optimizer.*` in a Tessera checkpoint.
    case unexpectedKey(path: String, key: String)
    /// The checkpoint lacks metadata needed to resume or rebuild the model.
    case missingMetadata(path: String, key: String)
    /// The checkpoint's weights do not fit the model.
    case incompatible(path: String, reason: String)
    /// There is no file at the path.
    case notFound(path: String)

    public var description: String {
        switch self {
        case let .unexpectedKey(path, key): return "\(path): unexpected key '\(key)' in a Tessera checkpoint"
        case let .missingMetadata(path, key): return "\(path): checkpoint metadata has no '\(key)'"
        case let .incompatible(path, reason): return "\(path): checkpoint does not fit the model: \(reason)"
        case let .notFound(path): return "\(path): no such checkpoint file"
        }
    }
}

extension SeededGenerator {
    /// The state as a string for checkpoint metadata.
    var checkpointString: String { "\(state.0),\(state.1),\(state.2),\(state.3)" }

    /// A generator restored from ``checkpointString``.
    init?(checkpointString s: String) {
        let parts = s.split(separator: ",").compactMap { UInt64($0) }
        guard parts.count == 4 else { return nil }
        self.init(seed: 0)
        state = (parts[0], parts[1], parts[2], parts[3])
    }
}
