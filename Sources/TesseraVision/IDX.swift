// MNIST-style IDX files (raw or gzipped) and the gunzip they need.
import CZlib

enum Gzip {
    /// Whether `bytes` start with the gzip magic number.
    static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }

    /// Decompresses a gzip file (all members, if several are concatenated).
    static func decompress(_ input: [UInt8], path: String) throws -> [UInt8] {
        // The trailer's ISIZE (size mod 2^32) is a good first guess at the output size; it is
        // capped by deflate's maximum ratio (about 1032:1) so a damaged trailer cannot make us
        // allocate gigabytes up front.
        var capacity = 1 << 16
        if input.count >= 4 {
            let n = input.count
            let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
            capacity = max(capacity, min(isize + 1, input.count * 1032 + (1 << 16)))
        }
        var output = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        var stream = z_stream()
        // 15 + 16: zlib window of 32 KiB, gzip wrapper.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError.unreadable(path: path, reason: "zlib initialisation failed")
        }
        defer { inflateEnd(&stream) }
        try input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = UInt32(inBuf.count)
            while true {
                if produced == output.count {
                    output.append(contentsOf: repeatElement(0, count: output.count))
                }
                let status: Int32 = output.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress! + produced
                    let room = min(outBuf.count - produced, Int(UInt32.max))
                    stream.avail_out = UInt32(room)
                    let s = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return s
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    // Another gzip member may follow; anything else after the end is ignored.
                    if stream.avail_in >= 2, stream.next_in[0] == 0x1F, stream.next_in[1] == 0x8B {
                        inflateReset(&stream)
                        continue
                    }
                    return
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 {
                        throw DatasetError.badFormat(path: path, reason: "truncated gzip stream")
                    }
                    continue  // output full; grow and retry
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw DatasetError.badFormat(path: path, reason: "gzip: \(message)")
                }
            }
        }
        output.removeSubrange(produced...)
        return output
    }
}

/// An IDX array (the MNIST file format): unsigned-byte data with its dimensions.
public struct IDXArray: Sendable {
    /// The dimensions, outermost first (e.g. [60000, 28, 28]).
    public let dims: [Int]
    /// The elements, row-major.
    public let data: [UInt8]

    /// Reads an IDX file of unsigned bytes (type 0x08), gzipped or raw. The header, the
    /// element type and the file size are validated; errors name the file.
    public init(contentsOf path: String) throws {
        var bytes: [UInt8]
        do { bytes = try FileIO.readAll(path) } catch let e as FileIOError { throw DatasetError.from(e) }
        if Gzip.isGzip(bytes) { bytes = try Gzip.decompress(bytes, path: path) }
        guard bytes.count >= 4 else {
            throw DatasetError.badSize(path: path, expected: "at least a 4-byte IDX header", actual: bytes.count)
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DatasetError.badFormat(path: path, reason: "bad IDX magic number (first two bytes must be 0)")
        }
        guard bytes[2] == 0x08 else {
            throw DatasetError.badFormat(path: path, reason: "IDX element type 0x\(String(bytes[2], radix: 16)) is not unsigned byte (0x08)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw DatasetError.badFormat(path: path, reason: "IDX header of rank \(rank) does not fit in \(bytes.count) bytes")
        }
        var dims: [Int] = []
        var total = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dims.append(v)
            total = total.multipliedReportingOverflow(by: v).partialValue
            guard total <= bytes.count else {
                throw DatasetError.badSize(path: path, expected: "\(4 + 4 * rank) header bytes plus data for dimensions \(dims)...", actual: bytes.count)
            }
        }
        let header = 4 + 4 * rank
        guard bytes.count == header + total else {
            throw DatasetError.badSize(path: path, expected: "\(header + total) bytes (header + \(dims.map(String.init).joined(separator: "×")) elements)", actual: bytes.count)
        }
        bytes.removeSubrange(0..<header)
        self.dims = dims
        self.data = bytes
    }
}

/// MNIST or Fashion-MNIST from IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally gzipped with a `.gz`
/// suffix). Samples are [1, 28, 28] in [0, 1].
public struct MNIST: Dataset {
    /// The digit class names "0" ... "9".
    public static let digitClassNames = (0...9).map(String.init)
    /// Fashion-MNIST's class names, by label.
    public static let fashionClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Which split was loaded.
    public let split: DatasetSplit
    public let classNames: [String]
    public let sampleShape: SampleShape
    /// The images file and the labels file that were read.
    public let imagesPath: String, labelsPath: String
    let images: [UInt8]
    let labels: [UInt8]

    /// Loads a split from the IDX files in `root`. `classNames` defaults to the digits;
    /// pass `MNIST.fashionClassNames` (or use `MNIST.fashion`) for Fashion-MNIST.
    public init(root: String, split: DatasetSplit = .train, classNames: [String] = MNIST.digitClassNames) throws {
        let prefix = split == .train ? "train" : "t10k"
        func find(_ kind: String, _ rank: Int) throws -> String {
            let candidates = ["\(prefix)-\(kind)-idx\(rank)-ubyte", "\(prefix)-\(kind).idx\(rank)-ubyte"]
            for name in candidates {
                for suffix in ["", ".gz"] where FileIO.exists(joinPath(root, name + suffix)) {
                    return joinPath(root, name + suffix)
                }
            }
            throw DatasetError.missingFile(path: joinPath(root, candidates[0] + "[.gz]"))
        }
        let imagesPath = try find("images", 3), labelsPath = try find("labels", 1)
        let images = try IDXArray(contentsOf: imagesPath), labels = try IDXArray(contentsOf: labelsPath)
        guard images.dims.count == 3, images.dims[0] > 0, images.dims[1] > 0, images.dims[2] > 0 else {
            throw DatasetError.badFormat(path: imagesPath, reason: "expected a non-empty [N, H, W] image array, found dimensions \(images.dims)")
        }
        guard labels.dims.count == 1 else {
            throw DatasetError.badFormat(path: labelsPath, reason: "expected a one-dimensional label array, found dimensions \(labels.dims)")
        }
        guard labels.dims[0] == images.dims[0] else {
            throw DatasetError.badFormat(path: labelsPath, reason: "\(labels.dims[0]) labels for \(images.dims[0]) images in \(imagesPath)")
        }
        for (i, l) in labels.data.enumerated() where Int(l) >= classNames.count {
            throw DatasetError.labelOutOfRange(path: labelsPath, record: i, label: Int(l), classCount: classNames.count)
        }
        self.split = split
        self.classNames = classNames
        self.sampleShape = SampleShape(channels: 1, height: images.dims[1], width: images.dims[2])
        self.imagesPath = imagesPath
        self.labelsPath = labelsPath
        self.images = images.data
        self.labels = labels.data
    }

    /// Fashion-MNIST from the IDX files in `root` (e.g. `/usr/share/datasets/fashion-mnist`,
    /// where Debian's `dataset-fashion-mnist` installs them).
    public static func fashion(root: String, split: DatasetSplit = .train) throws -> MNIST {
        try MNIST(root: root, split: split, classNames: fashionClassNames)
    }

    public var count: Int { labels.count }

    public func label(at index: Int) -> Int {
        precondition(index >= 0 && index < labels.count, "MNIST.label(at:): index \(index) out of range 0..<\(labels.count)")
        return Int(labels[index])
    }

    public func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        let n = sampleShape.count
        precondition(index >= 0 && index < labels.count, "MNIST.writeSample: index \(index) out of range 0..<\(labels.count)")
        precondition(buffer.count >= n, "MNIST.writeSample: buffer of \(buffer.count) floats, need \(n)")
        images.withUnsafeBufferPointer { b in
            let src = b.baseAddress! + index * n
            for k in 0..<n { buffer[k] = UnitScale.float(src[k]) }
        }
    }

    /// Sample `index` as an 8-bit gray image.
    public func image(at index: Int) -> Image {
        let n = sampleShape.count
        return Image(width: sampleShape.width, height: sampleShape.height, format: .gray,
                     pixels: Array(images[(index * n)..<((index + 1) * n)]))
    }
}
