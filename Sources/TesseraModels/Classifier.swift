import Tessera
import TesseraNN

/// A model whose last layer is a `Linear` classifier head at ``headPath`` (`"fc"` for the
/// ResNets). Gives the fine-tuning helpers ``replaceHead(classes:)`` and ``freezeBackbone()``.
public protocol ClassifierModel: Module {
    /// The dotted path of the head `Linear` layer.
    var headPath: String { get }
}

extension ClassifierModel {
    /// The classifier head.
    public var head: Linear {
        guard let l = module(at: headPath) as? Linear else {
            preconditionFailure("\(typeName): the module at '\(headPath)' is not a Linear layer")
        }
        return l
    }

    /// The number of output classes.
    public var classes: Int { head.outFeatures }

    /// Replaces the head by a freshly initialized `Linear(inFeatures, classes)` (PyTorch's
    /// `model.fc = nn.Linear(model.fc.in_features, classes)`), keeping its training mode.
    /// The new head is trainable even if the rest is frozen.
    @discardableResult
    public func replaceHead(classes: Int) -> Linear {
        precondition(classes > 0, "replaceHead: classes must be positive, got \(classes)")
        let old = head
        let new = Linear(old.inFeatures, classes, bias: old.bias != nil)
        new.train(old.isTraining)
        replaceModule(at: headPath, with: new)
        return new
    }

    /// Freezes every parameter except the head's (for linear probing / fine-tuning the head).
    /// Batch-norm running statistics still update in training mode, as in PyTorch; call
    /// `eval()` on the backbone modules to fix them as well.
    /// Returns the number of parameters frozen.
    @discardableResult
    public func freezeBackbone() -> Int {
        let n = freeze()
        return n - unfreeze(prefix: headPath)
    }
}

/// A model with layers set from the training data before training (``CIFARFastNet``'s whitening
/// stem): the Trainer hands it a sample of normalized training images when it starts from scratch.
public protocol DataInitializedModel: Module {
    /// Sets the data-dependent layers from `images` [N, C, H, W] (normalized as for training).
    func initialize(fromData images: Tensor) throws
}
