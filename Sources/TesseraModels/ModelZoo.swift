import Tessera
import TesseraNN

/// Why ``ModelZoo/make(_:classes:)`` failed.
public enum ModelZooError: Error, CustomStringConvertible, Equatable {
    /// No model of that name.
    case unknownModel(String, available: [String])
    /// A class count below 1.
    case invalidClassCount(Int)

    public var description: String {
        switch self {
        case let .unknownModel(name, available):
            return "unknown model '\(name)'; available: \(available.joined(separator: ", "))"
        case let .invalidClassCount(n):
            return "invalid class count \(n); must be at least 1"
        }
    }
}

/// The registry of named models: `resnet20` … `resnet110` (CIFAR, He et al.),
/// `resnet18`/`34`/`50` (torchvision) and their `_cifar` variants (3×3 stem, no max-pool),
/// and `mlp` (3072-512-512-classes, for flattened 32×32 RGB images).
public enum ModelZoo {
    /// One registered model.
    public struct Entry {
        /// The registry name.
        public let name: String
        /// A one-line description.
        public let summary: String
        /// The class count used when none is given.
        public let defaultClasses: Int
        /// The input the model expects, per example (e.g. `[3, 32, 32]`).
        public let inputShape: [Int]
        let build: (Int) -> ClassifierModel

        /// Builds the model (randomly initialized from `GlobalRandom`).
        public func make(classes: Int? = nil) -> ClassifierModel { build(classes ?? defaultClasses) }

        /// The exact number of parameters for `classes` (built without initialization: cheap).
        public func parameterCount(classes: Int? = nil) -> Int {
            withSkippedInitialization { build(classes ?? defaultClasses).parameterCount }
        }
    }

    /// Every model, in listing order.
    public static let entries: [Entry] = {
        var e: [Entry] = []
        for depth in [20, 32, 44, 56, 110] {
            e.append(Entry(name: "resnet\(depth)", summary: "CIFAR ResNet-\(depth) (He et al. 2016, option-A shortcuts)",
                           defaultClasses: 10, inputShape: [3, 32, 32]) { CIFARResNet(depth: depth, classes: $0) })
        }
        let tv: [(String, ResNet.Block, [Int])] = [("resnet18", .basic, [2, 2, 2, 2]), ("resnet34", .basic, [3, 4, 6, 3]),
                                                   ("resnet50", .bottleneck, [3, 4, 6, 3])]
        for (name, block, layers) in tv {
            e.append(Entry(name: name, summary: "torchvision \(name)", defaultClasses: 1000, inputShape: [3, 224, 224]) {
                ResNet(block: block, layers: layers, classes: $0)
            })
        }
        for (name, block, layers) in tv {
            e.append(Entry(name: name + "_cifar", summary: "torchvision \(name) with a CIFAR stem (3×3 conv, no max-pool)",
                           defaultClasses: 10, inputShape: [3, 32, 32]) {
                ResNet(block: block, layers: layers, classes: $0, cifarStem: true)
            })
        }
        e.append(Entry(name: "fastnet", summary: "CIFARFastNet: 2×2 patch-whitening stem, conv groups 64/256/256 (speed-run style)",
                       defaultClasses: 10, inputShape: [3, 32, 32]) { CIFARFastNet(classes: $0) })
        e.append(Entry(name: "mlp", summary: "MLP 3072-512-512-classes with ReLU", defaultClasses: 10, inputShape: [3, 32, 32]) {
            MLP(widths: [3072, 512, 512, $0])
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

    /// Builds the model named `name` with `classes` outputs (its default when nil).
    public static func make(_ name: String, classes: Int? = nil) throws -> ClassifierModel {
        if let c = classes, c < 1 { throw ModelZooError.invalidClassCount(c) }
        return try entry(name).make(classes: classes)
    }

    /// The exact parameter count of `name` with `classes` outputs (its default when nil).
    public static func parameterCount(_ name: String, classes: Int? = nil) throws -> Int {
        if let c = classes, c < 1 { throw ModelZooError.invalidClassCount(c) }
        return try entry(name).parameterCount(classes: classes)
    }
}
