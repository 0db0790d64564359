// root/<class>/*.{png,jpg,jpeg}, as torchvision's ImageFolder.

/// Images laid out as `root/<class name>/.../<file>.png` (or `.jpg`, `.jpeg`). Classes are the
/// subdirectories of `root` sorted by name (byte order), labelled 0, 1, ... in that order;
/// files are found recursively and sorted by path, as torchvision's `ImageFolder` does. Hidden
/// entries and files with other extensions are ignored; extensions match case-insensitively
/// (`IMG_0001.JPG` is listed). Each file is decoded by its content (see `ImageFile`), so a PNG
/// named `.jpg` still reads.
///
/// Every sample is written as `format` in `sampleShape`: images of another size are resized
/// (bilinear, as `Resize`) straight from their 8-bit pixels. With `preload` the images are
/// decoded once at initialisation and kept as 8-bit data at their stored size; files that
/// cannot be decoded — corrupt, truncated, or over `maxPixels` — are reported together, with
/// their paths and reasons, in `DatasetError.unreadableImages`, or, with `skipUnreadable`, left
/// out and listed in `unreadableFiles`. Without `preload`, files are decoded on every access and
/// a bad one throws its decoder's error (`PNGError`, `JPEGError`, see `ImageDecodingError`)
/// naming it.
public struct ImageFolder: Dataset {
    /// The root directory.
    public let root: String
    public let classNames: [String]
    /// The image files, one per sample.
    public let files: [String]
    /// The labels, one per sample.
    public let labels: [Int]
    public let sampleShape: SampleShape
    /// The pixel format samples are converted to.
    public let format: PixelFormat
    /// Files left out because they could not be decoded (only with `skipUnreadable`).
    public let unreadableFiles: [UnreadableFile]
    /// The most pixels (width × height) an image may have; larger ones are refused from their
    /// header, before decoding.
    public let maxPixels: Int
    let images: [Image]?

    /// Scans `root` and (with `preload`) decodes every image.
    /// - Parameters:
    ///   - root: the folder holding one subfolder of images per class.
    ///   - format: the pixel format of the samples (RGB by default).
    ///   - size: (height, width) of the samples; nil takes the first image's size.
    ///   - extensions: file extensions to include, compared case-insensitively (PNG and JPEG).
    ///   - maxPixels: refuse images with more pixels than this (`Image.defaultMaxPixels`,
    ///     89,478,485, by default: see there for why).
    ///   - preload: decode every image now (reporting every unreadable one at once), or each
    ///     time it is read.
    ///   - skipUnreadable: leave out images that do not decode instead of throwing.
    public init(root: String, format: PixelFormat = .rgb, size: (height: Int, width: Int)? = nil,
                extensions: [String] = ImageFile.extensions, preload: Bool = true, skipUnreadable: Bool = false,
                maxPixels: Int = Image.defaultMaxPixels) throws {
        guard FileIO.isDirectory(root) else { throw DatasetError.missingFile(path: root) }
        let byteOrder: (String, String) -> Bool = { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let exts = Set(extensions.map { $0.lowercased() })
        var entries: [String]
        do { entries = try FileIO.listDirectory(root) } catch let e as FileIOError { throw DatasetError.from(e) }
        let classes = entries.filter { !$0.hasPrefix(".") && FileIO.isDirectory(joinPath(root, $0)) }.sorted(by: byteOrder)
        guard !classes.isEmpty else { throw DatasetError.empty(path: root, reason: "no class subdirectories") }

        func collect(_ dir: String, into out: inout [String]) throws {
            var names: [String]
            do { names = try FileIO.listDirectory(dir) } catch let e as FileIOError { throw DatasetError.from(e) }
            names.sort(by: byteOrder)
            for name in names where !name.hasPrefix(".") {
                let path = joinPath(dir, name)
                if FileIO.isDirectory(path) {
                    try collect(path, into: &out)
                } else if let dot = name.lastIndex(of: "."), exts.contains(name[name.index(after: dot)...].lowercased()) {
                    out.append(path)
                }
            }
        }
        var files: [String] = [], labels: [Int] = []
        for (label, name) in classes.enumerated() {
            var found: [String] = []
            try collect(joinPath(root, name), into: &found)
            files += found
            labels += repeatElement(label, count: found.count)
        }
        guard !files.isEmpty else {
            throw DatasetError.empty(path: root, reason: "no files with extension \(extensions.joined(separator: "/")) under the class directories")
        }

        var kept: [String] = [], keptLabels: [Int] = [], images: [Image] = [], unreadable: [UnreadableFile] = []
        if preload {
            for (path, label) in zip(files, labels) {
                do {
                    images.append(try ImageFile.read(contentsOf: path, as: format, maxPixels: maxPixels))
                    kept.append(path)
                    keptLabels.append(label)
                } catch let error as any ImageDecodingError {
                    unreadable.append(UnreadableFile(path: path, reason: error.message))
                }
            }
            if !unreadable.isEmpty && !skipUnreadable { throw DatasetError.unreadableImages(unreadable) }
            guard !images.isEmpty else { throw DatasetError.empty(path: root, reason: "no readable images") }
        } else {
            kept = files
            keptLabels = labels
        }
        var shape: SampleShape
        if let size {
            shape = SampleShape(channels: format.channels, height: size.height, width: size.width)
        } else if let first = images.first {
            shape = SampleShape(channels: format.channels, height: first.height, width: first.width)
        } else {
            // Lazy: take the size from the first file with a readable header within the limit.
            var found: SampleShape?
            for path in kept {
                if let h = try? ImageFile.readHeader(contentsOf: path), h.width > 0, h.height > 0, h.pixelCount <= maxPixels {
                    found = SampleShape(channels: format.channels, height: h.height, width: h.width)
                    break
                }
            }
            guard let found else { throw DatasetError.empty(path: root, reason: "no readable images") }
            shape = found
        }
        self.root = root
        self.classNames = classes
        self.files = kept
        self.labels = keptLabels
        self.sampleShape = shape
        self.format = format
        self.unreadableFiles = unreadable
        self.maxPixels = maxPixels
        self.images = preload ? images : nil
    }

    public var count: Int { files.count }

    public func label(at index: Int) -> Int { labels[index] }

    /// Sample `index` as an 8-bit image in `format`, at its stored size (decoded if not preloaded).
    public func image(at index: Int) throws -> Image {
        if let images { return images[index] }
        return try ImageFile.read(contentsOf: files[index], as: format, maxPixels: maxPixels)
    }

    public func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        precondition(index >= 0 && index < files.count, "ImageFolder.writeSample: index \(index) out of range 0..<\(files.count)")
        precondition(buffer.count >= sampleShape.count, "ImageFolder.writeSample: buffer of \(buffer.count) floats, need \(sampleShape.count)")
        if let images {
            write(images[index], into: buffer)
        } else {
            write(try ImageFile.read(contentsOf: files[index], as: format, maxPixels: maxPixels), into: buffer)
        }
    }

    private func write(_ image: Image, into buffer: UnsafeMutableBufferPointer<Float>) {
        let s = sampleShape
        image.withUnsafeBufferPointer { px in
            if image.width == s.width && image.height == s.height {
                UnitScale.planar(from: px.baseAddress!, count: s.planeCount, channels: s.channels, into: buffer.baseAddress!)
            } else {
                Bilinear.resize(bytesHWC: px.baseAddress!, height: image.height, width: image.width, channels: s.channels,
                                into: buffer.baseAddress!, outHeight: s.height, outWidth: s.width)
            }
        }
    }
}
