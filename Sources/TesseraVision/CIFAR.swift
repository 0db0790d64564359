// CIFAR-10 and CIFAR-100 in their official binary formats.

/// Raw fixed-size records read straight from disk into one byte buffer.
struct RecordStore {
    /// Every record of every file, back to back.
    let bytes: [UInt8]
    /// Bytes per record.
    let recordSize: Int
    /// Number of records.
    let count: Int
    /// The file each record came from, as (first record index, path), ascending.
    let files: [(start: Int, path: String)]

    /// Reads `paths`, each of which must hold exactly `recordsPerFile` records.
    static func load(_ paths: [String], recordSize: Int, recordsPerFile: Int) throws -> RecordStore {
        let expected = recordSize * recordsPerFile
        for path in paths {
            let size: Int
            do { size = try FileIO.size(path) } catch let e as FileIOError { throw DatasetError.from(e) }
            guard size == expected else {
                throw DatasetError.badSize(path: path, expected: "\(expected) bytes (\(recordsPerFile) records of \(recordSize) bytes)", actual: size)
            }
        }
        var failure: Error?
        let total = expected * paths.count
        let bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            for (k, path) in paths.enumerated() {
                do {
                    try FileIO.read(path, into: UnsafeMutableRawBufferPointer(rebasing: raw[(k * expected)..<((k + 1) * expected)]))
                } catch let e as FileIOError {
                    failure = DatasetError.from(e)
                    break
                } catch {
                    failure = error
                    break
                }
            }
            initialized = failure == nil ? total : 0
        }
        if let failure { throw failure }
        return RecordStore(bytes: bytes, recordSize: recordSize, count: recordsPerFile * paths.count,
                           files: paths.enumerated().map { (start: $0.offset * recordsPerFile, path: $0.element) })
    }

    /// Checks that byte `offset` of every record is below `limit`, naming the file on failure.
    func validateLabels(atByte offset: Int, below limit: Int) throws {
        try bytes.withUnsafeBufferPointer { b in
            for i in 0..<count {
                let label = Int(b[i * recordSize + offset])
                if label >= limit {
                    let file = files.last { $0.start <= i }!
                    throw DatasetError.labelOutOfRange(path: file.path, record: i - file.start, label: label, classCount: limit)
                }
            }
        }
    }

    /// Per-channel mean and population standard deviation over the `channels` planes of
    /// `plane` bytes that start at byte `pixelOffset` of each record, in [0, 1] scale.
    func channelStatistics(pixelOffset: Int, channels: Int, plane: Int) -> (mean: [Double], std: [Double]) {
        var sums = [UInt64](repeating: 0, count: channels)
        var squares = [UInt64](repeating: 0, count: channels)
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<count {
                for c in 0..<channels {
                    let p = b.baseAddress! + i * recordSize + pixelOffset + c * plane
                    var s: UInt64 = 0, q: UInt64 = 0
                    for k in 0..<plane {
                        let v = UInt64(p[k])
                        s &+= v
                        q &+= v &* v
                    }
                    sums[c] &+= s
                    squares[c] &+= q
                }
            }
        }
        let n = Double(count * plane)
        let mean = sums.map { Double($0) / n / 255 }
        let std = (0..<channels).map { c -> Double in
            let m = Double(sums[c]) / n
            return (max(0, Double(squares[c]) / n - m * m)).squareRoot() / 255
        }
        return (mean, std)
    }

    /// Converts `count` bytes starting at byte `offset` of record `index` to floats `v / 255`.
    @inline(__always) func writeUnit(record index: Int, offset: Int, count: Int, into buffer: UnsafeMutableBufferPointer<Float>) {
        precondition(index >= 0 && index < self.count, "sample index \(index) out of range 0..<\(self.count)")
        precondition(buffer.count >= count, "writeSample: buffer of \(buffer.count) floats, need \(count)")
        bytes.withUnsafeBufferPointer { b in
            let src = b.baseAddress! + index * recordSize + offset
            let dst = buffer.baseAddress!
            for k in 0..<count { dst[k] = UnitScale.float(src[k]) }
        }
    }

    /// An RGB image from the planar 32×32 pixels at byte `offset` of record `index`.
    func image(record index: Int, offset: Int, side: Int) -> Image {
        precondition(index >= 0 && index < count, "sample index \(index) out of range 0..<\(count)")
        let plane = side * side
        let pixels = [UInt8](unsafeUninitializedCapacity: 3 * plane) { out, initialized in
            bytes.withUnsafeBufferPointer { b in
                let src = b.baseAddress! + index * recordSize + offset
                for i in 0..<plane {
                    out[3 * i] = src[i]
                    out[3 * i + 1] = src[plane + i]
                    out[3 * i + 2] = src[2 * plane + i]
                }
            }
            initialized = 3 * plane
        }
        return Image(width: side, height: side, format: .rgb, pixels: pixels)
    }
}

/// Reads a text file of names, one per line, ignoring blank lines.
func readNameList(_ path: String) throws -> [String] {
    let bytes: [UInt8]
    do { bytes = try FileIO.readAll(path) } catch let e as FileIOError { throw DatasetError.from(e) }
    return String(decoding: bytes, as: UTF8.self)
        .split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        .map { $0.trimmedOf(" \t") }
        .filter { !$0.isEmpty }
}

extension StringProtocol {
    func trimmedOf(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// Joins path components with "/".
func joinPath(_ a: String, _ b: String) -> String {
    a.hasSuffix("/") ? a + b : a + "/" + b
}

/// Which part of a dataset to load.
public enum DatasetSplit: String, Sendable {
    /// The training set.
    case train
    /// The test set.
    case test
}

/// CIFAR-10 in the official binary format: `data_batch_1.bin` ... `data_batch_5.bin` (train,
/// 10,000 records each), `test_batch.bin` and `batches.meta.txt` (class names). A record is
/// one label byte (0...9) then 3,072 bytes: the red, green and blue 32×32 planes.
///
/// The files are read whole into one byte buffer (no per-image decoding), so loading all
/// 50,000 training images costs one sequential read. Samples are [3, 32, 32] in [0, 1].
public struct CIFAR10: Dataset {
    /// Bytes per record.
    public static let recordSize = 3073
    /// Records per batch file.
    public static let recordsPerFile = 10_000
    /// The class names when `batches.meta.txt` is absent (the official order).
    public static let defaultClassNames = ["airplane", "automobile", "bird", "cat", "deer",
                                           "dog", "frog", "horse", "ship", "truck"]

    /// Which split was loaded.
    public let split: DatasetSplit
    /// The directory holding the .bin files.
    public let directory: String
    public let classNames: [String]
    let store: RecordStore

    /// Loads a split from `root`, which is either the folder with the .bin files or a folder
    /// containing `cifar-10-batches-bin`. Files must be exactly 30,730,000 bytes and labels in
    /// 0...9; otherwise a `DatasetError` naming the file is thrown. Class names come from
    /// `batches.meta.txt`, or `defaultClassNames` when that file is absent.
    public init(root: String, split: DatasetSplit = .train) throws {
        var dir = root
        if !FileIO.exists(joinPath(dir, "test_batch.bin")) && !FileIO.exists(joinPath(dir, "data_batch_1.bin")),
           FileIO.isDirectory(joinPath(root, "cifar-10-batches-bin")) {
            dir = joinPath(root, "cifar-10-batches-bin")
        }
        guard FileIO.isDirectory(dir) else { throw DatasetError.missingFile(path: dir) }
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let store = try RecordStore.load(names.map { joinPath(dir, $0) },
                                         recordSize: CIFAR10.recordSize, recordsPerFile: CIFAR10.recordsPerFile)
        let metaPath = joinPath(dir, "batches.meta.txt")
        var classNames = CIFAR10.defaultClassNames
        if FileIO.exists(metaPath) {
            classNames = try readNameList(metaPath)
            guard classNames.count == 10 else {
                throw DatasetError.badFormat(path: metaPath, reason: "expected 10 class names, found \(classNames.count)")
            }
        }
        try store.validateLabels(atByte: 0, below: 10)
        self.split = split
        self.directory = dir
        self.classNames = classNames
        self.store = store
    }

    public var count: Int { store.count }
    public var sampleShape: SampleShape { SampleShape(channels: 3, height: 32, width: 32) }

    public func label(at index: Int) -> Int {
        precondition(index >= 0 && index < store.count, "CIFAR10.label(at:): index \(index) out of range 0..<\(store.count)")
        return store.bytes.withUnsafeBufferPointer { Int($0[index * CIFAR10.recordSize]) }
    }

    public func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        store.writeUnit(record: index, offset: 1, count: 3072, into: buffer)
    }

    /// Sample `index` as an 8-bit RGB image (32×32).
    public func image(at index: Int) -> Image { store.image(record: index, offset: 1, side: 32) }

    /// The path of the .bin file holding sample `index`, and the record's index in that file.
    public func source(of index: Int) -> (path: String, record: Int) {
        let file = store.files.last { $0.start <= index }!
        return (file.path, index - file.start)
    }

    /// Per-channel (R, G, B) mean and population standard deviation in [0, 1] scale.
    public func channelStatistics() -> (mean: [Double], std: [Double]) {
        store.channelStatistics(pixelOffset: 1, channels: 3, plane: 1024)
    }
}

/// CIFAR-100 in the official binary format: `train.bin` (50,000 records), `test.bin`
/// (10,000), `coarse_label_names.txt` and `fine_label_names.txt`. A record is a coarse label
/// byte (0...19), a fine label byte (0...99), then the 3,072 bytes of red, green and blue planes.
public struct CIFAR100: Dataset {
    /// Which of the two label sets samples are labelled with.
    public enum LabelKind: Sendable {
        /// The 100 fine classes.
        case fine
        /// The 20 superclasses.
        case coarse
    }

    /// Bytes per record.
    public static let recordSize = 3074

    /// Which split was loaded.
    public let split: DatasetSplit
    /// The label set `label(at:)` and `classNames` use.
    public let labelKind: LabelKind
    /// The 100 fine class names.
    public let fineClassNames: [String]
    /// The 20 coarse class names.
    public let coarseClassNames: [String]
    let store: RecordStore

    /// Loads a split from `root` (the folder with the .bin files, or one containing
    /// `cifar-100-binary`). Sizes, label ranges and the name lists are validated, with
    /// `DatasetError`s naming the file.
    public init(root: String, split: DatasetSplit = .train, labels: LabelKind = .fine) throws {
        var dir = root
        if !FileIO.exists(joinPath(dir, "train.bin")) && !FileIO.exists(joinPath(dir, "test.bin")),
           FileIO.isDirectory(joinPath(root, "cifar-100-binary")) {
            dir = joinPath(root, "cifar-100-binary")
        }
        guard FileIO.isDirectory(dir) else { throw DatasetError.missingFile(path: dir) }
        let file = joinPath(dir, split == .train ? "train.bin" : "test.bin")
        let store = try RecordStore.load([file], recordSize: CIFAR100.recordSize,
                                         recordsPerFile: split == .train ? 50_000 : 10_000)
        let coarsePath = joinPath(dir, "coarse_label_names.txt"), finePath = joinPath(dir, "fine_label_names.txt")
        let coarse = try readNameList(coarsePath), fine = try readNameList(finePath)
        guard coarse.count == 20 else {
            throw DatasetError.badFormat(path: coarsePath, reason: "expected 20 class names, found \(coarse.count)")
        }
        guard fine.count == 100 else {
            throw DatasetError.badFormat(path: finePath, reason: "expected 100 class names, found \(fine.count)")
        }
        try store.validateLabels(atByte: 0, below: 20)
        try store.validateLabels(atByte: 1, below: 100)
        self.split = split
        self.labelKind = labels
        self.coarseClassNames = coarse
        self.fineClassNames = fine
        self.store = store
    }

    public var count: Int { store.count }
    public var sampleShape: SampleShape { SampleShape(channels: 3, height: 32, width: 32) }
    public var classNames: [String] { labelKind == .fine ? fineClassNames : coarseClassNames }

    public func label(at index: Int) -> Int { labelKind == .fine ? fineLabel(at: index) : coarseLabel(at: index) }

    /// The fine label (0...99) of sample `index`.
    public func fineLabel(at index: Int) -> Int {
        precondition(index >= 0 && index < store.count, "CIFAR100.fineLabel(at:): index \(index) out of range 0..<\(store.count)")
        return store.bytes.withUnsafeBufferPointer { Int($0[index * CIFAR100.recordSize + 1]) }
    }

    /// The coarse label (0...19) of sample `index`.
    public func coarseLabel(at index: Int) -> Int {
        precondition(index >= 0 && index < store.count, "CIFAR100.coarseLabel(at:): index \(index) out of range 0..<\(store.count)")
        return store.bytes.withUnsafeBufferPointer { Int($0[index * CIFAR100.recordSize]) }
    }

    public func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        store.writeUnit(record: index, offset: 2, count: 3072, into: buffer)
    }

    /// Sample `index` as an 8-bit RGB image (32×32).
    public func image(at index: Int) -> Image { store.image(record: index, offset: 2, side: 32) }
}
