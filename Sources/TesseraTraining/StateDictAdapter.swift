import Tessera
import TesseraModels
import TesseraNN

/// Adapts a state dict saved elsewhere to a model before a strict load, saying what it changed:
///
/// - the prefixes `module.` (PyTorch DDP's wrapper) and `_orig_mod.` (torch.compile's) are removed;
/// - a missing batch-norm `num_batches_tracked` is added as 0, as PyTorch's own strict load does
///   for state dicts written before that buffer existed;
/// - the 7×7 ImageNet stem of a torchvision ResNet loaded into a `_cifar` variant (3×3 stem):
///   `conv1.weight` is left out and the model's own initialization kept, since a 7×7 stride-2
///   filter has no faithful 3×3 stride-1 counterpart; every other layer loads.
///
/// Anything else that does not fit stays for the strict load to report, key by key.
public enum StateDictAdapter {
    /// `weights` adapted to `model`, and one note per adaptation made.
    public static func adapt(_ weights: StateDict, to model: Module) -> (StateDict, [String]) {
        let mine = model.stateDict()
        var notes: [String] = []
        var sd = weights
        for prefix in ["module.", "_orig_mod."] where !sd.keys.isEmpty && sd.keys.allSatisfy({ $0.hasPrefix(prefix) }) {
            var stripped = StateDict()
            for (k, e) in sd { stripped.set(String(k.dropFirst(prefix.count)), e.tensor, dtype: e.dtype) }
            stripped.metadata = sd.metadata
            sd = stripped
            notes.append("removed the '\(prefix)' prefix of every key (\(prefix == "module." ? "a DDP-wrapped model" : "a torch.compile'd model"))")
        }
        let missingTracked = mine.keys.filter { $0.hasSuffix("num_batches_tracked") && sd[$0] == nil
            && sd[String($0.dropLast("num_batches_tracked".count)) + "running_mean"] != nil }
        for key in missingTracked { sd.set(key, Tensor(scalar: 0), dtype: .int64) }
        if !missingTracked.isEmpty {
            notes.append("added num_batches_tracked = 0 to \(missingTracked.count) batch norms that had none (as PyTorch's strict load does)")
        }
        if let theirs = sd["conv1.weight"], let ours = mine["conv1.weight"], theirs.rank == 4, ours.rank == 4,
           theirs.shape[2] == 7 && theirs.shape[3] == 7, ours.shape[2] == 3 && ours.shape[3] == 3,
           theirs.shape[0] == ours.shape[0], theirs.shape[1] == ours.shape[1] {
            sd["conv1.weight"] = ours
            notes.append("conv1.weight is a 7×7 ImageNet stem \(theirs.shape) and this model's stem is 3×3 \(ours.shape): "
                         + "kept the model's own initialization for it and loaded every other layer")
        }
        return (sd, notes)
    }
}
