// Per-sample augmentations on float CHW buffers, allocation-free on the hot path.
import CTesseraKernels
import Tessera

/// Working storage for one sample while it passes through transforms: the current values
/// (CHW floats of `shape`) and a scratch buffer of the same capacity. A transform that changes
/// the shape writes into the scratch buffer through `replace(with:_:)`, which then swaps the
/// two, so a chain of transforms never allocates.
public final class SampleBuffer {
    /// The shape of the current values.
    public private(set) var shape: SampleShape
    /// The most floats either buffer can hold.
    public let capacity: Int
    private var front: UnsafeMutablePointer<Float>
    private var back: UnsafeMutablePointer<Float>

    /// Buffers of `capacity` floats, holding an (uninitialised) sample of `shape`.
    public init(capacity: Int, shape: SampleShape) {
        precondition(capacity >= shape.count, "SampleBuffer: capacity \(capacity) is smaller than shape \(shape)")
        self.capacity = capacity
        self.shape = shape
        front = .allocate(capacity: capacity)
        back = .allocate(capacity: capacity)
        front.initialize(repeating: 0, count: capacity)
        back.initialize(repeating: 0, count: capacity)
    }

    deinit {
        front.deallocate()
        back.deallocate()
    }

    /// The current values (`shape.count` floats), writable in place.
    @inlinable public var values: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: frontPointer, count: shape.count) }

    @usableFromInline var frontPointer: UnsafeMutablePointer<Float> { front }

    /// The dataset index of the sample being transformed (set by `DataLoader`; 0 otherwise).
    public var sampleIndex = 0
    /// The epoch the sample is drawn for (set by `DataLoader`; 0 otherwise).
    public var epoch = 0

    /// Declares that the current values have shape `shape` (e.g. before a dataset writes into
    /// `values`); the contents are not changed.
    public func reset(shape: SampleShape) {
        precondition(shape.count <= capacity, "SampleBuffer.reset: shape \(shape) exceeds capacity \(capacity)")
        self.shape = shape
    }

    /// Mirrors the current values left to right, in place.
    public func flipHorizontally() {
        tk_reverse_rows(shape.channels * shape.height, shape.width, frontPointer)
    }

    /// Replaces the values with a sample of `newShape` that `body` writes from the current
    /// values: `body(source, sourceShape, destination)`.
    public func replace(with newShape: SampleShape,
                        _ body: (UnsafePointer<Float>, SampleShape, UnsafeMutablePointer<Float>) -> Void) {
        precondition(newShape.count <= capacity, "SampleBuffer.replace: shape \(newShape) exceeds capacity \(capacity)")
        body(UnsafePointer(front), shape, back)
        swap(&front, &back)
        shape = newShape
    }
}

/// A per-sample transformation of a CHW float sample. Random transforms draw from the
/// generator they are given, in a fixed order, so the same generator state gives the same
/// result; `DataLoader` seeds one generator per sample from (seed, epoch, position), which
/// makes augmentation independent of thread timing.
public protocol Transform: Sendable {
    /// The shape this transform produces from samples of shape `input`.
    func outputShape(for input: SampleShape) -> SampleShape
    /// The most floats any intermediate result needs for an input of shape `input`.
    func workspaceCount(for input: SampleShape) -> Int
    /// Transforms `sample` (in place or through `SampleBuffer.replace`).
    func apply(to sample: SampleBuffer, generator: inout SeededGenerator)
}

extension Transform {
    public func workspaceCount(for input: SampleShape) -> Int { max(input.count, outputShape(for: input).count) }

    /// Applies the transform to one [C, H, W] tensor (allocates; for inspection and tests).
    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        precondition(image.rank == 3, "Transform: expected a [C, H, W] tensor, got \(image.shape)")
        let shape = SampleShape(channels: image.shape[0], height: image.shape[1], width: image.shape[2])
        let buffer = SampleBuffer(capacity: workspaceCount(for: shape), shape: shape)
        image.contiguous().withUnsafeBufferPointer { src in
            buffer.values.baseAddress!.update(from: src.baseAddress!, count: shape.count)
        }
        apply(to: buffer, generator: &generator)
        let out = buffer.shape
        return Tensor(shape: out.dims) { dst in
            dst.baseAddress!.update(from: buffer.values.baseAddress!, count: out.count)
        }
    }
}

/// A uniform integer in 0..<n from the generator (multiply-high; bias below n / 2^64).
@inline(__always) func uniformInt(_ n: Int, _ generator: inout SeededGenerator) -> Int {
    Int(truncatingIfNeeded: generator.next().multipliedFullWidth(by: UInt64(n)).high)
}

/// Transforms applied one after another.
public struct Compose: Transform {
    /// The transforms, in application order.
    public let transforms: [any Transform]

    /// A chain of `transforms`, applied in order.
    public init(_ transforms: [any Transform]) { self.transforms = transforms }

    public func outputShape(for input: SampleShape) -> SampleShape {
        transforms.reduce(input) { $1.outputShape(for: $0) }
    }

    public func workspaceCount(for input: SampleShape) -> Int {
        var shape = input, most = input.count
        for t in transforms {
            most = max(most, t.workspaceCount(for: shape))
            shape = t.outputShape(for: shape)
        }
        return max(most, shape.count)
    }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        for t in transforms { t.apply(to: sample, generator: &generator) }
    }
}

/// How `RandomCrop` fills pixels outside the image.
public enum PaddingMode: Sendable {
    /// Zeros.
    case zero
    /// Mirror without repeating the edge (PyTorch's "reflect": index -1 reads 1).
    case reflect
}

/// Pads the image by `padding` on every side, then crops a `height` × `width` window at a
/// uniformly random position (torchvision's `RandomCrop(size, padding)`). Draws two random
/// numbers per sample (row offset, then column offset).
public struct RandomCrop: Transform {
    /// The output height and width.
    public let height: Int, width: Int
    /// Padding added on each side before cropping.
    public let padding: Int
    /// How the padding is filled.
    public let mode: PaddingMode

    /// A square random crop of side `size`.
    public init(size: Int, padding: Int = 0, mode: PaddingMode = .zero) {
        self.init(height: size, width: size, padding: padding, mode: mode)
    }

    /// A `height` × `width` random crop.
    public init(height: Int, width: Int, padding: Int = 0, mode: PaddingMode = .zero) {
        precondition(height > 0 && width > 0 && padding >= 0,
                     "RandomCrop: size must be positive and padding >= 0 (got \(height)x\(width), padding \(padding))")
        self.height = height
        self.width = width
        self.padding = padding
        self.mode = mode
    }

    public func outputShape(for input: SampleShape) -> SampleShape {
        precondition(height <= input.height + 2 * padding && width <= input.width + 2 * padding,
                     "RandomCrop: crop \(height)x\(width) larger than padded input \(input) with padding \(padding)")
        if mode == .reflect {
            precondition(padding < input.height && padding < input.width,
                         "RandomCrop: reflect padding \(padding) must be smaller than the input \(input)")
        }
        return SampleShape(channels: input.channels, height: height, width: width)
    }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        let out = outputShape(for: sample.shape)
        let top = uniformInt(sample.shape.height + 2 * padding - height + 1, &generator) - padding
        let left = uniformInt(sample.shape.width + 2 * padding - width + 1, &generator) - padding
        let mode = self.mode
        sample.replace(with: out) { src, inShape, dst in
            Crop.copy(src, inShape, dst, out, top: top, left: left, mode: mode)
        }
    }
}

/// Window copies with out-of-range pixels zeroed or reflected.
enum Crop {
    @inline(__always) static func reflect(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var k = i % period
        if k < 0 { k += period }
        return k < n ? k : period - k
    }

    /// dst[c, y, x] = src[c, top + y, left + x], padded per `mode`.
    static func copy(_ src: UnsafePointer<Float>, _ inShape: SampleShape, _ dst: UnsafeMutablePointer<Float>,
                     _ out: SampleShape, top: Int, left: Int, mode: PaddingMode) {
        let H = inShape.height, W = inShape.width, oh = out.height, ow = out.width
        // Output columns whose source column lies inside the image.
        let xs = min(ow, max(0, -left)), xe = max(xs, min(ow, W - left))
        for c in 0..<out.channels {
            let plane = src + c * H * W
            let outPlane = dst + c * oh * ow
            for y in 0..<oh {
                let d = outPlane + y * ow
                var sy = top + y
                if sy < 0 || sy >= H {
                    if mode == .zero {
                        d.update(repeating: 0, count: ow)
                        continue
                    }
                    sy = reflect(sy, H)
                }
                let row = plane + sy * W
                if mode == .zero {
                    if xs > 0 { d.update(repeating: 0, count: xs) }
                    if xe < ow { (d + xe).update(repeating: 0, count: ow - xe) }
                } else {
                    for x in 0..<xs { d[x] = row[reflect(left + x, W)] }
                    for x in xe..<ow { d[x] = row[reflect(left + x, W)] }
                }
                if xe > xs { (d + xs).update(from: row + left + xs, count: xe - xs) }
            }
        }
    }
}

/// Mirrors the image left–right with probability `p`. Draws one random number per sample.
public struct RandomHorizontalFlip: Transform {
    /// The probability of flipping.
    public let p: Float

    /// A flip applied with probability `p` (0.5 by default).
    public init(p: Float = 0.5) {
        precondition(p >= 0 && p <= 1, "RandomHorizontalFlip: p must be in [0, 1], got \(p)")
        self.p = p
    }

    public func outputShape(for input: SampleShape) -> SampleShape { input }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        guard generator.nextUniform() < p else { return }
        sample.flipHorizontally()
    }
}

/// The speed-run ("airbench") flip: each image gets a fixed random orientation from `seed` and
/// its dataset index, and every odd epoch shows all images mirrored. Over any two consecutive
/// epochs a model sees every image both ways, which random flipping only does on average.
/// Uses `SampleBuffer.sampleIndex` and `epoch` (set by `DataLoader`); draws nothing from the
/// generator.
public struct AlternatingHorizontalFlip: Transform {
    /// Seed of the per-image starting orientation.
    public let seed: UInt64

    /// An alternating flip whose per-image starting orientation comes from `seed`.
    public init(seed: UInt64 = 0) { self.seed = seed }

    public func outputShape(for input: SampleShape) -> SampleShape { input }

    /// Whether image `index` is shown mirrored in `epoch`.
    public func isFlipped(index: Int, epoch: Int) -> Bool {
        // SplitMix64 finalizer of (seed, index): a well-mixed bit per image.
        var z = seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return (z & 1 == 1) != (epoch % 2 == 1)
    }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        if isFlipped(index: sample.sampleIndex, epoch: sample.epoch) { sample.flipHorizontally() }
    }
}

/// Per-channel `(x - mean[c]) / std[c]`, in place (torchvision's `Normalize`).
public struct Normalize: Transform {
    /// Per-channel means.
    public let mean: [Float]
    /// Per-channel standard deviations.
    public let std: [Float]

    /// Normalization with one mean and standard deviation per channel.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty,
                     "Normalize: mean (\(mean.count)) and std (\(std.count)) must have the same non-zero length")
        precondition(std.allSatisfy { $0 != 0 }, "Normalize: std must be non-zero, got \(std)")
        self.mean = mean
        self.std = std
    }

    /// The CIFAR-10 training-set statistics, (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616).
    public static let cifar10 = Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

    public func outputShape(for input: SampleShape) -> SampleShape {
        precondition(input.channels == mean.count, "Normalize: \(mean.count) channel statistics for input \(input)")
        return input
    }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        let s = outputShape(for: sample.shape), n = s.planeCount
        let v = sample.values.baseAddress!
        tk_normalize_planes(s.channels, n, v, mean, std)
    }
}

/// Cutout (DeVries & Taylor, 2017): with probability `p`, sets a `size` × `size` square
/// centred on a uniformly random pixel (clipped at the borders) to `fill` in every channel.
/// Draws three random numbers per sample (apply?, centre row, centre column).
public struct Cutout: Transform {
    /// The side of the square.
    public let size: Int
    /// The probability of applying it.
    public let p: Float
    /// The value written into the square.
    public let fill: Float

    /// Cutout of a `size` × `size` square.
    public init(size: Int, p: Float = 1, fill: Float = 0) {
        precondition(size > 0 && p >= 0 && p <= 1, "Cutout: size must be > 0 and p in [0, 1] (got \(size), \(p))")
        self.size = size
        self.p = p
        self.fill = fill
    }

    public func outputShape(for input: SampleShape) -> SampleShape { input }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        let s = sample.shape
        let apply = generator.nextUniform() < p
        let cy = uniformInt(s.height, &generator), cx = uniformInt(s.width, &generator)
        guard apply else { return }
        let y0 = max(0, cy - size / 2), y1 = min(s.height, cy - size / 2 + size)
        let x0 = max(0, cx - size / 2), x1 = min(s.width, cx - size / 2 + size)
        guard y1 > y0 && x1 > x0 else { return }
        let v = sample.values.baseAddress!
        for c in 0..<s.channels {
            for y in y0..<y1 {
                (v + (c * s.height + y) * s.width + x0).update(repeating: fill, count: x1 - x0)
            }
        }
    }
}

/// Bilinear resampling.
enum Bilinear {
    /// Source index pair and weight of the second for output coordinate `i`, matching
    /// PyTorch's `interpolate(mode="bilinear", align_corners=False)` (no antialiasing).
    @inline(__always) static func source(_ i: Int, scale: Float, size: Int) -> (Int, Int, Float) {
        let real = max(0, scale * (Float(i) + 0.5) - 0.5)
        let i0 = min(Int(real), size - 1)
        let lambda = min(max(real - Float(i0), 0), 1)
        let i1 = i0 + (i0 < size - 1 ? 1 : 0)
        return (i0, i1, lambda)
    }

    /// Resizes `channels` float planes of height × width into planes of outHeight × outWidth.
    static func resize(planes src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                       into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int) {
        let sy = Float(height) / Float(outHeight), sx = Float(width) / Float(outWidth)
        for c in 0..<channels {
            let plane = src + c * height * width
            let out = dst + c * outHeight * outWidth
            for y in 0..<outHeight {
                let (y0, y1, ly) = source(y, scale: sy, size: height)
                let r0 = plane + y0 * width, r1 = plane + y1 * width
                for x in 0..<outWidth {
                    let (x0, x1, lx) = source(x, scale: sx, size: width)
                    let top = (1 - lx) * r0[x0] + lx * r0[x1]
                    let bottom = (1 - lx) * r1[x0] + lx * r1[x1]
                    out[y * outWidth + x] = (1 - ly) * top + ly * bottom
                }
            }
        }
    }

    /// Resizes interleaved bytes (height × width × channels) into float planes scaled by 1/255.
    ///
    /// The output is the window at (`top`, `left`) of the image resized to `resizedHeight` ×
    /// `resizedWidth` (by default the output's own size, offset 0): each output pixel is the
    /// sample that resizing to the full grid would give there (same arithmetic, bit for bit), and
    /// window pixels outside that grid are 0, as `CenterCrop` pads. Only the source rows and
    /// columns the window falls on are read, so cropping a huge resized grid costs the window.
    static func resize(bytesHWC src: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int,
                       into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int,
                       resizedHeight: Int? = nil, resizedWidth: Int? = nil, top: Int = 0, left: Int = 0) {
        let rh = resizedHeight ?? outHeight, rw = resizedWidth ?? outWidth
        let sy = Float(height) / Float(rh), sx = Float(width) / Float(rw)
        // Per output column: source offsets of its two neighbours and the second one's weight;
        // lx < 0 marks a padded column.
        let columns = UnsafeMutableBufferPointer<(Int, Int, Float)>.allocate(capacity: outWidth)
        defer { columns.deallocate() }
        for x in 0..<outWidth {
            let rx = left + x
            if rx < 0 || rx >= rw { columns[x] = (0, 0, -1); continue }
            let (x0, x1, lx) = source(rx, scale: sx, size: width)
            columns[x] = (x0 * channels, x1 * channels, lx)
        }
        for c in 0..<channels {
            let out = dst + c * outHeight * outWidth
            for y in 0..<outHeight {
                let o = out + y * outWidth
                let ry = top + y
                if ry < 0 || ry >= rh {
                    o.update(repeating: 0, count: outWidth)
                    continue
                }
                let (y0, y1, ly) = source(ry, scale: sy, size: height)
                let r0 = src + y0 * width * channels + c, r1 = src + y1 * width * channels + c
                for x in 0..<outWidth {
                    let (x0, x1, lx) = columns[x]
                    if lx < 0 { o[x] = 0; continue }
                    let top = (1 - lx) * UnitScale.float(r0[x0]) + lx * UnitScale.float(r0[x1])
                    let bottom = (1 - lx) * UnitScale.float(r1[x0]) + lx * UnitScale.float(r1[x1])
                    o[x] = (1 - ly) * top + ly * bottom
                }
            }
        }
    }
}

/// Resizes to `height` × `width` with bilinear interpolation, as PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)` without antialiasing.
public struct Resize: Transform {
    /// The output size.
    public let height: Int, width: Int

    /// A resize to `height` × `width`.
    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "Resize: size must be positive, got \(height)x\(width)")
        self.height = height
        self.width = width
    }

    /// A resize to a `size` × `size` square.
    public init(size: Int) { self.init(height: size, width: size) }

    public func outputShape(for input: SampleShape) -> SampleShape {
        SampleShape(channels: input.channels, height: height, width: width)
    }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        let out = outputShape(for: sample.shape)
        if out == sample.shape { return }
        sample.replace(with: out) { src, s, dst in
            Bilinear.resize(planes: src, channels: s.channels, height: s.height, width: s.width,
                            into: dst, outHeight: out.height, outWidth: out.width)
        }
    }
}

/// Crops the central `height` × `width` window (torchvision's `CenterCrop`: the top offset is
/// `round((H - height) / 2)`, ties to even); a window larger than the image is zero-padded.
public struct CenterCrop: Transform {
    /// The output size.
    public let height: Int, width: Int

    /// A central crop of `height` × `width`.
    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "CenterCrop: size must be positive, got \(height)x\(width)")
        self.height = height
        self.width = width
    }

    /// A central square crop of side `size`.
    public init(size: Int) { self.init(height: size, width: size) }

    public func outputShape(for input: SampleShape) -> SampleShape {
        SampleShape(channels: input.channels, height: height, width: width)
    }

    static func offset(_ inSize: Int, _ outSize: Int) -> Int {
        if inSize >= outSize { return Int((Double(inSize - outSize) / 2).rounded(.toNearestOrEven)) }
        return -((outSize - inSize) / 2)
    }

    public func apply(to sample: SampleBuffer, generator: inout SeededGenerator) {
        let out = outputShape(for: sample.shape)
        if out == sample.shape { return }
        let top = CenterCrop.offset(sample.shape.height, height), left = CenterCrop.offset(sample.shape.width, width)
        sample.replace(with: out) { src, s, dst in
            Crop.copy(src, s, dst, out, top: top, left: left, mode: .zero)
        }
    }
}
