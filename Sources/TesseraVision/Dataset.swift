// The dataset abstraction shared by CIFAR, image folders, IDX files and user data.
import Tessera

/// The shape [channels, height, width] of one sample.
public struct SampleShape: Hashable, Sendable, CustomStringConvertible {
    /// Number of channels (planes).
    public var channels: Int
    /// Rows per plane.
    public var height: Int
    /// Columns per row.
    public var width: Int

    /// A sample shape; all sizes must be positive.
    public init(channels: Int, height: Int, width: Int) {
        precondition(channels > 0 && height > 0 && width > 0,
                     "SampleShape: sizes must be positive, got [\(channels), \(height), \(width)]")
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Floats in one sample.
    @inlinable public var count: Int { channels * height * width }
    /// Floats in one plane.
    @inlinable public var planeCount: Int { height * width }
    /// `[channels, height, width]`.
    public var dims: [Int] { [channels, height, width] }
    public var description: String { "[\(channels), \(height), \(width)]" }
}

/// A labelled collection of images that a `DataLoader` can batch.
///
/// Samples are Float32 in CHW layout (`sampleShape`), scaled to [0, 1] for 8-bit sources.
/// `writeSample` may be called concurrently from several loader threads, so conforming
/// types must allow concurrent reads (immutable storage is enough). To plug in your own
/// data, conform a type to this protocol or use `TensorDataset`.
public protocol Dataset: Sendable {
    /// Number of samples.
    var count: Int { get }
    /// The shape every sample is written in.
    var sampleShape: SampleShape { get }
    /// Class names, indexed by label.
    var classNames: [String] { get }
    /// The label (class index) of sample `index`.
    func label(at index: Int) -> Int
    /// Writes sample `index` into `buffer` (`sampleShape.count` floats, CHW) without
    /// allocating when the data is already in memory. Throws for data that turns out to be
    /// unreadable (e.g. a corrupt file in a lazily decoded image folder).
    func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws
}

extension Dataset {
    /// Number of classes.
    public var classCount: Int { classNames.count }

    /// Sample `index` as a [C, H, W] tensor with its label (allocates; for inspection, not
    /// for the training loop — use `DataLoader` there).
    public func sample(at index: Int) throws -> (image: Tensor, label: Int) {
        precondition(index >= 0 && index < count, "Dataset.sample(at:): index \(index) out of range 0..<\(count)")
        let shape = sampleShape
        let image = try Tensor(shape: shape.dims) { try writeSample(at: index, into: $0) }
        return (image, label(at: index))
    }

    /// How many samples each class has, indexed by label.
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for i in 0..<count {
            let l = label(at: i)
            if l >= 0 && l < counts.count { counts[l] += 1 }
        }
        return counts
    }
}

/// A file that could not be decoded, and why.
public struct UnreadableFile: Equatable, Sendable, CustomStringConvertible {
    /// The file's path.
    public let path: String
    /// The decoder's or the file system's message.
    public let reason: String
    /// A record of an unreadable file.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// Bad or missing dataset files. Every case names the file involved.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// A required file or directory does not exist.
    case missingFile(path: String)
    /// A file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// A file has the wrong size for its format (e.g. a truncated CIFAR batch).
    case badSize(path: String, expected: String, actual: Int)
    /// A record's label is outside the dataset's class range.
    case labelOutOfRange(path: String, record: Int, label: Int, classCount: Int)
    /// A file's contents do not follow its format (bad magic number, inconsistent header, ...).
    case badFormat(path: String, reason: String)
    /// A dataset directory or file holds no samples.
    case empty(path: String, reason: String)
    /// Image files that could not be decoded (an image folder lists all of them).
    case unreadableImages([UnreadableFile])

    /// The file (or the first file) the error concerns.
    public var path: String {
        switch self {
        case .missingFile(let p), .unreadable(let p, _), .badSize(let p, _, _),
             .labelOutOfRange(let p, _, _, _), .badFormat(let p, _), .empty(let p, _):
            return p
        case .unreadableImages(let files):
            return files.first?.path ?? ""
        }
    }

    public var description: String {
        switch self {
        case .missingFile(let p):
            return "dataset file not found: \(p)"
        case .unreadable(let p, let reason):
            return "cannot read dataset file \(p): \(reason)"
        case .badSize(let p, let expected, let actual):
            return "dataset file \(p) has the wrong size: expected \(expected), found \(actual) bytes"
        case .labelOutOfRange(let p, let record, let label, let classCount):
            return "dataset file \(p): record \(record) has label \(label), outside 0..<\(classCount)"
        case .badFormat(let p, let reason):
            return "dataset file \(p) is malformed: \(reason)"
        case .empty(let p, let reason):
            return "dataset \(p) is empty: \(reason)"
        case .unreadableImages(let files):
            let shown = files.prefix(20).map { "  \($0)" }.joined(separator: "\n")
            let more = files.count > 20 ? "\n  ... and \(files.count - 20) more" : ""
            return "\(files.count) image file(s) could not be read:\n\(shown)\(more)"
        }
    }

    /// Maps a low-level file error to a dataset error naming the file.
    static func from(_ error: FileIOError) -> DatasetError {
        error.notFound ? .missingFile(path: error.path) : .unreadable(path: error.path, reason: error.reason)
    }
}

/// A dataset over images already in memory: a [N, C, H, W] tensor and N labels.
public struct TensorDataset: Dataset {
    /// The images, [N, C, H, W] (made contiguous).
    public let images: Tensor
    /// The labels, one per image.
    public let labels: [Int]
    public let classNames: [String]
    public let sampleShape: SampleShape

    /// A dataset over `images` [N, C, H, W] with `labels` in 0..<classNames.count.
    /// When `classNames` is nil the classes are named "0", "1", ... up to the largest label.
    public init(images: Tensor, labels: [Int], classNames: [String]? = nil) {
        precondition(images.rank == 4, "TensorDataset: images must be [N, C, H, W], got \(images.shape)")
        precondition(images.shape[0] == labels.count,
                     "TensorDataset: \(images.shape[0]) images but \(labels.count) labels")
        let names = classNames ?? (0..<((labels.max() ?? -1) + 1)).map(String.init)
        for (i, l) in labels.enumerated() {
            precondition(l >= 0 && l < names.count, "TensorDataset: label \(l) of sample \(i) outside 0..<\(names.count)")
        }
        self.images = images.contiguous()
        self.labels = labels
        self.classNames = names
        self.sampleShape = SampleShape(channels: images.shape[1], height: images.shape[2], width: images.shape[3])
    }

    public var count: Int { labels.count }
    public func label(at index: Int) -> Int { labels[index] }

    public func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let n = sampleShape.count
        precondition(buffer.count >= n, "TensorDataset.writeSample: buffer of \(buffer.count) floats, need \(n)")
        images.withUnsafeBufferPointer { src in
            buffer.baseAddress!.update(from: src.baseAddress! + index * n, count: n)
        }
    }
}
