import Tessera
import TesseraNN

/// Why `ModelZoo/make(_:classes:)` failed.
public enum ModelZooError: Error, CustomStringConvertible, Equatable {
    /// No model of that name.
    case unknownModel(String, available: [String])
    /// A class count below 1.
    case invalidClassCount(Int)
    /// An input shape with no dimensions or a dimension below 1.
    case invalidInputShape([Int])

    public var description: String {
        switch self {
        case let .unknownModel(name, available):
            return "unknown model '\(name)'; available: \(available.joined(separator: ", "))"
        case let .invalidClassCount(n):
            return "invalid class count \(n); must be at least 1"
        case let .invalidInputShape(s):
            return "invalid input shape \(s); every dimension must be at least 1"
        }
    }
}

/// The one registry of named models, used by `tessera models`, `train`, `eval`, `predict` and
/// checkpoints alike: `resnet20` … `resnet110` (CIFAR, He et al.), `resnet18`/`34`/`50`
/// (torchvision) and their `_cifar` variants (3×3 stem, no max-pool), `fastnet`, `fastnet95` and
/// `fastnet96` (``CIFARFastNet`` at airbench95's and airbench96's sizes), and `mlp`
/// (input-512-256-classes, its input width that of the data: 3072 for CIFAR, 784 for MNIST).
public enum ModelZoo {
    /// One registered model.
    public struct Entry: Sendable {
        /// The registry name.
        public let name: String
        /// A one-line description.
        public let summary: String
        /// The class count used when none is given.
        public let defaultClasses: Int
        /// The input the model expects by default, per example (e.g. `[3, 32, 32]`).
        public let inputShape: [Int]
        /// Whether the model takes inputs of any shape (the MLP sizes itself to the data).
        public let sizesToInput: Bool
        let build: @Sendable (_ classes: Int, _ inputShape: [Int]) -> ClassifierModel

        /// Builds the model (randomly initialized from `GlobalRandom`) for `classes` outputs and
        /// inputs of `inputShape` (each default when nil).
        public func make(classes: Int? = nil, inputShape: [Int]? = nil) -> ClassifierModel {
            build(classes ?? defaultClasses, inputShape ?? self.inputShape)
        }

        /// The exact number of parameters (built without initialization: cheap).
        public func parameterCount(classes: Int? = nil, inputShape: [Int]? = nil) -> Int {
            withSkippedInitialization { make(classes: classes, inputShape: inputShape).parameterCount }
        }
    }

    /// Every model, in listing order.
    public static let entries: [Entry] = {
        var e: [Entry] = []
        for depth in [20, 32, 44, 56, 110] {
            e.append(Entry(name: "resnet\(depth)", summary: "CIFAR ResNet-\(depth) (He et al. 2016, option-A shortcuts)",
                           defaultClasses: 10, inputShape: [3, 32, 32], sizesToInput: false) { c, _ in CIFARResNet(depth: depth, classes: c) })
        }
        let tv: [(String, ResNet.Block, [Int])] = [("resnet18", .basic, [2, 2, 2, 2]), ("resnet34", .basic, [3, 4, 6, 3]),
                                                   ("resnet50", .bottleneck, [3, 4, 6, 3])]
        for (name, block, layers) in tv {
            e.append(Entry(name: name, summary: "torchvision \(name)", defaultClasses: 1000, inputShape: [3, 224, 224], sizesToInput: false) { c, _ in
                ResNet(block: block, layers: layers, classes: c)
            })
        }
        for (name, block, layers) in tv {
            e.append(Entry(name: name + "_cifar", summary: "torchvision \(name) with a CIFAR stem (3×3 conv, no max-pool)",
                           defaultClasses: 10, inputShape: [3, 32, 32], sizesToInput: false) { c, _ in
                ResNet(block: block, layers: layers, classes: c, cifarStem: true)
            })
        }
        e.append(Entry(name: "fastnet", summary: "CIFARFastNet: 2×2 patch-whitening stem, conv groups 64/256/256 (speed-run style)",
                       defaultClasses: 10, inputShape: [3, 32, 32], sizesToInput: false) { c, _ in CIFARFastNet(classes: c) })
        e.append(Entry(name: "fastnet95", summary: "CIFARFastNet 128/384/384 (airbench95's network; batch-norm momentum 0.4)",
                       defaultClasses: 10, inputShape: [3, 32, 32], sizesToInput: false) { c, _ in
            CIFARFastNet(classes: c, widths: [128, 384, 384], batchNormMomentum: 0.4)
        })
        e.append(Entry(name: "fastnet96", summary: "CIFARFastNet 128/384/512 with residual 3-conv groups (airbench96's network)",
                       defaultClasses: 10, inputShape: [3, 32, 32], sizesToInput: false) { c, _ in
            CIFARFastNet(classes: c, widths: [128, 384, 512], residual: true)
        })
        e.append(Entry(name: "mlp", summary: "MLP input-512-256-classes with ReLU (input: the flattened image)", defaultClasses: 10,
                       inputShape: [3, 32, 32], sizesToInput: true) { c, shape in
            MLP(widths: [shape.reduce(1, *), 512, 256, c])
        })
        return e
    }()

    /// The registered names, in listing order.
    public static var names: [String] { entries.map(\.name) }

    /// The entry named `name`.
    public static func entry(_ name: String) throws -> Entry {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw ModelZooError.unknownModel(name, available: names)
        }
        return e
    }

    /// Builds the model named `name` with `classes` outputs for inputs of `inputShape` (each
    /// its default when nil).
    public static func make(_ name: String, classes: Int? = nil, inputShape: [Int]? = nil) throws -> ClassifierModel {
        if let c = classes, c < 1 { throw ModelZooError.invalidClassCount(c) }
        if let s = inputShape, s.isEmpty || s.contains(where: { $0 < 1 }) { throw ModelZooError.invalidInputShape(s) }
        return try entry(name).make(classes: classes, inputShape: inputShape)
    }

    /// The exact parameter count of `name` with `classes` outputs (its default when nil).
    public static func parameterCount(_ name: String, classes: Int? = nil, inputShape: [Int]? = nil) throws -> Int {
        if let c = classes, c < 1 { throw ModelZooError.invalidClassCount(c) }
        return try entry(name).parameterCount(classes: classes, inputShape: inputShape)
    }
}
