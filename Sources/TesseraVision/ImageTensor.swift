// Conversions between 8-bit HWC images and Float32 CHW tensors in [0, 1].
import Tessera

/// Byte ↔ unit-float conversions shared by every path, so that all of them agree bit for bit.
@usableFromInline enum UnitScale {
    /// `v / 255` as Float (correctly rounded).
    @inlinable @inline(__always) static func float(_ v: UInt8) -> Float { Float(v) / 255 }

    /// `x` clamped to [0, 1] (NaN → 0) and scaled to the nearest byte value.
    @inlinable @inline(__always) static func byte(_ x: Float) -> UInt8 {
        let c = x > 0 ? (x < 1 ? x : 1) : 0  // NaN fails `x > 0` and maps to 0
        return UInt8((c * 255).rounded(.toNearestOrAwayFromZero))
    }

    /// Writes `channels` planes of `count` floats from interleaved bytes.
    @inlinable static func planar(from hwc: UnsafePointer<UInt8>, count: Int, channels: Int, into chw: UnsafeMutablePointer<Float>) {
        if channels == 1 {
            for i in 0..<count { chw[i] = Float(hwc[i]) / 255 }
            return
        }
        for c in 0..<channels {
            let plane = chw + c * count
            var p = hwc + c
            for i in 0..<count {
                plane[i] = Float(p.pointee) / 255
                p += channels
            }
        }
    }
}

extension Image {
    /// The image as a Float32 tensor of shape [channels, height, width] with values `v / 255`,
    /// after converting to `format` when one is given.
    public func tensor(as format: PixelFormat? = nil) -> Tensor {
        let image = format.map { converted(to: $0) } ?? self
        let hw = image.width * image.height, ch = image.channels
        return Tensor(shape: [ch, image.height, image.width]) { out in
            image.withUnsafeBufferPointer { px in
                guard hw > 0 else { return }
                UnitScale.planar(from: px.baseAddress!, count: hw, channels: ch, into: out.baseAddress!)
            }
        }
    }

    /// The image resized to `resized` (bilinear, as `Resize`: PyTorch's `interpolate(mode:
    /// "bilinear", align_corners: False)` without antialiasing) and then center-cropped to `crop`
    /// (as `CenterCrop`, zero padding where the crop is larger), as a Float32 [C, crop.height,
    /// crop.width] tensor in [0, 1] — after converting to `format` when one is given.
    ///
    /// The values equal those of `Compose([Resize(...), CenterCrop(...)])` applied to `tensor()`
    /// bit for bit, but only the crop's pixels are computed, from the source rows and columns
    /// they fall on: the cost is the output's, however large the resized image would be (a
    /// 1 × 300,000 strip whose short side is resized to 32 is a 32 × 9,600,000 image; its
    /// central 32 × 32 costs 12 KiB here).
    public func tensor(resizedTo resized: (height: Int, width: Int), centerCroppedTo crop: (height: Int, width: Int),
                       as format: PixelFormat? = nil) -> Tensor {
        precondition(resized.height > 0 && resized.width > 0 && crop.height > 0 && crop.width > 0,
                     "Image.tensor(resizedTo:centerCroppedTo:): sizes must be positive, got \(resized) and \(crop)")
        precondition(width > 0 && height > 0, "Image.tensor(resizedTo:centerCroppedTo:): empty image \(width)x\(height)")
        let image = format.map { converted(to: $0) } ?? self
        let top = CenterCrop.offset(resized.height, crop.height), left = CenterCrop.offset(resized.width, crop.width)
        return Tensor(shape: [image.channels, crop.height, crop.width]) { out in
            image.withUnsafeBufferPointer { px in
                Bilinear.resize(bytesHWC: px.baseAddress!, height: image.height, width: image.width, channels: image.channels,
                                into: out.baseAddress!, outHeight: crop.height, outWidth: crop.width,
                                resizedHeight: resized.height, resizedWidth: resized.width, top: top, left: left)
            }
        }
    }

    /// An 8-bit image from a Float32 tensor of shape [C, H, W] (C = 1, 2, 3 or 4) or [H, W]
    /// (gray). Values are clamped to [0, 1] (NaN becomes 0) and rounded to the nearest of
    /// the 256 levels, so `Image(tensor: image.tensor()) == image`.
    public init(tensor: Tensor) {
        precondition(tensor.rank == 2 || tensor.rank == 3,
                     "Image(tensor:): expected shape [C, H, W] or [H, W], got \(tensor.shape)")
        let c = tensor.rank == 3 ? tensor.shape[0] : 1
        let h = tensor.shape[tensor.rank - 2], w = tensor.shape[tensor.rank - 1]
        guard let format = PixelFormat(channels: c) else {
            preconditionFailure("Image(tensor:): channel count must be 1...4, got shape \(tensor.shape)")
        }
        let pixels = tensor.contiguous().withUnsafeBufferPointer { src in
            Image.interleave(src.baseAddress, channels: c, height: h, width: w)
        }
        self.init(width: w, height: h, format: format, pixels: pixels)
    }

    /// Interleaved bytes from `channels` float planes of height × width.
    static func interleave(_ chw: UnsafePointer<Float>?, channels: Int, height: Int, width: Int) -> [UInt8] {
        let hw = height * width
        return [UInt8](unsafeUninitializedCapacity: hw * channels) { out, initialized in
            if let chw, hw > 0 {
                for c in 0..<channels {
                    let plane = chw + c * hw
                    for i in 0..<hw { out[i * channels + c] = UnitScale.byte(plane[i]) }
                }
            }
            initialized = hw * channels
        }
    }
}

extension PNG {
    /// Decodes PNG bytes to a Float32 [C, H, W] tensor in [0, 1] (see `Image.tensor(as:)`).
    public static func decodeTensor(_ bytes: [UInt8], as format: PixelFormat? = nil) throws -> Tensor {
        try decode(bytes, as: format).tensor()
    }

    /// Reads the PNG at `path` as a Float32 [C, H, W] tensor in [0, 1].
    public static func readTensor(contentsOf path: String, as format: PixelFormat? = nil) throws -> Tensor {
        try read(contentsOf: path, as: format).tensor()
    }

    /// Encodes a [C, H, W] (C = 1...4) or [H, W] Float32 tensor, clamped to [0, 1], as a PNG.
    public static func encode(_ tensor: Tensor, compressionLevel: Int = 6) throws -> [UInt8] {
        try encode(Image(tensor: tensor), compressionLevel: compressionLevel)
    }

    /// Writes a [C, H, W] (C = 1...4) or [H, W] Float32 tensor, clamped to [0, 1], to `path`
    /// as a PNG, atomically.
    public static func write(_ tensor: Tensor, to path: String, compressionLevel: Int = 6) throws {
        try write(Image(tensor: tensor), to: path, compressionLevel: compressionLevel)
    }

    /// Lays a batch [N, C, H, W] (C = 1...4, values clamped to [0, 1]) out as a grid of
    /// `columns` images per row with `padding` pixels of `padValue` between them, and writes
    /// it to `path` as one PNG, atomically.
    public static func writeGrid(_ batch: Tensor, to path: String, columns: Int = 8, padding: Int = 2,
                                 padValue: Float = 0, compressionLevel: Int = 6) throws {
        try write(Image.grid(batch: batch, columns: columns, padding: padding, padValue: padValue),
                  to: path, compressionLevel: compressionLevel)
    }
}

extension Image {
    /// A grid image of a batch [N, C, H, W] (see `PNG.writeGrid`).
    public static func grid(batch: Tensor, columns: Int = 8, padding: Int = 2, padValue: Float = 0) -> Image {
        precondition(batch.rank == 4 && batch.shape[0] > 0 && (1...4).contains(batch.shape[1]),
                     "Image.grid(batch:): expected [N, C, H, W] with N > 0 and C in 1...4, got \(batch.shape)")
        let n = batch.shape[0], c = batch.shape[1], h = batch.shape[2], w = batch.shape[3]
        let images: [Image] = batch.contiguous().withUnsafeBufferPointer { src in
            (0..<n).map { k in
                Image(width: w, height: h, channels: c,
                      pixels: interleave(src.baseAddress.map { $0 + k * c * h * w }, channels: c, height: h, width: w))
            }
        }
        return grid(images, columns: columns, padding: padding, background: UnitScale.byte(padValue))
    }
}
