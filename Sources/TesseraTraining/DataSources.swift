import Foundation
import Tessera
import TesseraVision

/// The first `count` samples of another dataset (for quick runs: `--subset N`).
public struct SubsetDataset: Dataset {
    /// The dataset the samples come from.
    public let base: any Dataset
    /// Samples taken.
    public let count: Int

    /// The first `count` samples of `base` (all of them when `count` is larger).
    public init(_ base: any Dataset, first count: Int) {
        precondition(count >= 0, "SubsetDataset: count must be >= 0, got \(count)")
        self.base = base
        self.count = Swift.min(count, base.count)
    }

    public var sampleShape: SampleShape { base.sampleShape }
    public var classNames: [String] { base.classNames }
    public func label(at index: Int) -> Int { base.label(at: index) }
    public func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        try base.writeSample(at: index, into: buffer)
    }
}

/// A training and a test split found in one folder, with the normalization that suits them.
public struct DataSource {
    /// What kind of folder it was: "cifar10", "mnist" or "imagefolder".
    public let kind: String
    /// The folder.
    public let path: String
    /// The training split.
    public let train: any Dataset
    /// The test split.
    public let test: any Dataset
    /// Per-channel mean and standard deviation used to normalize the inputs.
    public let mean: [Float], std: [Float]

    /// Where the data is when no folder is given: `$TESSERA_DATA`, then
    /// `../shared/data/cifar-10-batches-bin` when present.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let env = environment["TESSERA_DATA"], !env.isEmpty { return env }
        let shared = "../shared/data/cifar-10-batches-bin"
        return FileManager.default.fileExists(atPath: shared) ? shared : nil
    }

    /// What to tell a user who has no data.
    public static let howToGetCIFAR10 = """
        no training data found. Pass --data DIR or set TESSERA_DATA.
        To get CIFAR-10 (binary version, 162 MB): scripts/get-cifar10.sh, or download
        https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and extract it; --data then names the
        folder `cifar-10-batches-bin` holding data_batch_1.bin … data_batch_5.bin, test_batch.bin and
        batches.meta.txt. --data also takes an image folder with train/<class>/*.png (or .jpg) and
        test/<class>/*.png, or a folder of MNIST / Fashion-MNIST IDX files (gzipped or raw).
        """

    /// Opens the folder at `path`, recognizing its layout. With `testOnly` (evaluation), a
    /// folder holding only the test split is enough; ``train`` is then the test split too. Images
    /// of an image folder with more than `maxPixels` pixels are refused (see `Image.defaultMaxPixels`).
    public static func open(_ path: String, testOnly: Bool = false, maxPixels: Int = Image.defaultMaxPixels) throws -> DataSource {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DataSourceError.notFound(path: path)
        }
        guard isDir.boolValue else { throw DataSourceError.notAFolder(path: path) }
        let fm = FileManager.default
        func has(_ name: String) -> Bool { fm.fileExists(atPath: (path as NSString).appendingPathComponent(name)) }
        if has("data_batch_1.bin") || has("test_batch.bin") {
            let test = try CIFAR10(root: path, split: .test)
            return DataSource(kind: "cifar10", path: path, train: testOnly && !has("data_batch_1.bin") ? test : try CIFAR10(root: path, split: .train),
                              test: test, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
        }
        if has("train-images-idx3-ubyte.gz") || has("train-images-idx3-ubyte") {
            let train = try MNIST(root: path, split: .train), test = try MNIST(root: path, split: .test)
            let fashion = path.lowercased().contains("fashion")
            let named = fashion ? try MNIST.fashion(root: path, split: .train) : train
            let namedTest = fashion ? try MNIST.fashion(root: path, split: .test) : test
            return DataSource(kind: fashion ? "fashion-mnist" : "mnist", path: path, train: named, test: namedTest,
                              mean: [fashion ? 0.2860 : 0.1307], std: [fashion ? 0.3530 : 0.3081])
        }
        if has("train") && has("test") {
            let train = try ImageFolder(root: (path as NSString).appendingPathComponent("train"), maxPixels: maxPixels)
            let test = try ImageFolder(root: (path as NSString).appendingPathComponent("test"),
                                       size: (train.sampleShape.height, train.sampleShape.width), maxPixels: maxPixels)
            guard train.classNames == test.classNames else {
                throw DataSourceError.unrecognized(path: path, reason: "train/ and test/ have different class folders")
            }
            return DataSource(kind: "imagefolder", path: path, train: train, test: test,
                              mean: [Float](repeating: 0.5, count: train.sampleShape.channels),
                              std: [Float](repeating: 0.5, count: train.sampleShape.channels))
        }
        throw DataSourceError.unrecognized(path: path, reason: "expected CIFAR-10 .bin files, IDX files, or train/ and test/ image folders")
    }
}

/// Problems finding training data.
public enum DataSourceError: Error, CustomStringConvertible {
    case notFound(path: String)
    case notAFolder(path: String)
    case unrecognized(path: String, reason: String)
    case none

    public var description: String {
        switch self {
        case let .notFound(path): return "data folder '\(path)' does not exist\n" + DataSource.howToGetCIFAR10
        case let .notAFolder(path): return "--data '\(path)' is a file; it must be the folder that holds the data\n" + DataSource.howToGetCIFAR10
        case let .unrecognized(path, reason): return "cannot use '\(path)' as data: \(reason)"
        case .none: return DataSource.howToGetCIFAR10
        }
    }
}
