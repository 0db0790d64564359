import Foundation
import Tessera
import TesseraNN

/// Two 3×3 convolutions with batch norm and GELU, the first followed by 2×2 max-pooling: the
/// building block of ``CIFARFastNet``; with `residual`, a third convolution and batch norm
/// whose output is added to the first activation before the last GELU (airbench96's block):
///
///     y = GELU(norm1(pool(conv1(x))));  z = GELU(norm2(conv2(y)))
///     out = z,  or with residual  GELU(norm3(conv3(z)) + y)
///
/// Each convolution's first `inChannels` filters start as the identity (`Init.dirac`), the rest
/// with PyTorch's default, so the group starts close to a pass-through and trains faster. The
/// batch-norm scales are frozen at 1; only their shifts are trained.
public final class FastConvGroup: Module {
    @Child public var conv1: Conv2d
    @Child public var pool = MaxPool2d(kernelSize: 2)
    @Child public var norm1: BatchNorm2d
    @Child public var act1 = GELU()
    @Child public var conv2: Conv2d
    @Child public var norm2: BatchNorm2d
    @Child public var act2 = GELU()
    /// The third convolution of a residual group (nil otherwise).
    @Child public var conv3: Conv2d?
    /// The third batch norm of a residual group (nil otherwise).
    @Child public var norm3: BatchNorm2d?
    /// The activation after the residual sum (nil without `residual`).
    @Child public var act3: GELU?

    /// Whether the group has the third convolution and the shortcut.
    public var isResidual: Bool { conv3 != nil }

    /// A group from `inChannels` to `outChannels` that halves the resolution.
    /// - Parameters:
    ///   - inChannels: input channels.
    ///   - outChannels: output channels.
    ///   - batchNormMomentum: the batch norms' momentum (PyTorch's convention: the weight of the new statistic).
    ///   - batchNormEps: the batch norms' eps.
    ///   - residual: whether to add the third convolution and the shortcut.
    public init(_ inChannels: Int, _ outChannels: Int, batchNormMomentum: Float, batchNormEps: Float, residual: Bool = false) {
        let c1 = Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
        let c2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
        Init.dirac(c1.weight)
        Init.dirac(c2.weight)
        conv1 = c1
        conv2 = c2
        norm1 = BatchNorm2d(outChannels, eps: batchNormEps, momentum: batchNormMomentum)
        norm2 = BatchNorm2d(outChannels, eps: batchNormEps, momentum: batchNormMomentum)
        if residual {
            let c3 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
            Init.dirac(c3.weight)
            conv3 = c3
            norm3 = BatchNorm2d(outChannels, eps: batchNormEps, momentum: batchNormMomentum)
            act3 = GELU()
        }
        super.init()
        for name in ["norm1.weight", "norm2.weight", "norm3.weight"] { freeze(prefix: name) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let y = norm1(pool(conv1(x)), then: act1)
        let z = norm2(conv2(y), then: act2)
        guard let conv3, let norm3, let act3 else { return z }
        return conv3(z, normalizedBy: norm3, adding: y, then: act3)
    }
}

/// A small, fast CIFAR-10 network in the style of the public speed-run ("airbench") designs:
/// a 2×2 patch-whitening convolution (3 → 24 channels, initialized from the data by
/// ``initializeWhitening(from:eps:)``), three ``FastConvGroup``s (64, 256 and 256 channels by
/// default; residual three-convolution groups with `residual`), a 3×3 max-pool to 1×1, and a
/// bias-free linear head whose output is multiplied by `outputScale` (1/9).
///
/// The registered variants (``ModelZoo``): `fastnet` (64/256/256, about 1.97 M parameters and
/// 0.24 GFLOP per 32×32 image forward), `fastnet95` (128/384/384, airbench95's network) and
/// `fastnet96` (128/384/512 with residual groups, airbench96's network).
///
/// The recipes train the whitening bias for the first 3 epochs only: ``whiteningBiasName``
/// names it, ``freezeWhiteningBias()`` stops its training.
public final class CIFARFastNet: Module, ClassifierModel, DataInitializedModel {
    /// Channels of the three groups.
    public let widths: [Int]
    /// The logits are multiplied by this (a fixed temperature).
    public let outputScale: Float
    /// Whether the groups are residual (three convolutions and a shortcut each).
    public let residual: Bool

    /// The 2×2 patch-whitening convolution (3 → 24 channels).
    @Child public var whiten = Conv2d(3, 24, kernelSize: 2, padding: 0, bias: true)
    @Child public var act = GELU()
    @Child public var layer1: FastConvGroup
    @Child public var layer2: FastConvGroup
    @Child public var layer3: FastConvGroup
    @Child public var pool = MaxPool2d(kernelSize: 3)
    @Child public var fc: Linear

    /// A network for `classes` classes.
    /// - Parameters:
    ///   - classes: the number of classes.
    ///   - widths: the channels of the three groups.
    ///   - batchNormMomentum: the batch norms' momentum in PyTorch's convention (the weight of
    ///     the new statistic; airbench's "momentum 0.6" is 0.4 here).
    ///   - batchNormEps: the batch norms' eps.
    ///   - outputScale: the factor applied to the logits.
    ///   - residual: whether the groups are ``FastConvGroup``s with the third convolution and shortcut.
    public init(classes: Int = 10, widths: [Int] = [64, 256, 256], batchNormMomentum: Float = 0.1, batchNormEps: Float = 1e-12,
                outputScale: Float = 1.0 / 9, residual: Bool = false) {
        precondition(widths.count == 3 && widths.allSatisfy { $0 > 0 } && classes > 0,
                     "CIFARFastNet: needs 3 positive widths and classes > 0, got \(widths), \(classes)")
        self.widths = widths
        self.outputScale = outputScale
        self.residual = residual
        layer1 = FastConvGroup(24, widths[0], batchNormMomentum: batchNormMomentum, batchNormEps: batchNormEps, residual: residual)
        layer2 = FastConvGroup(widths[0], widths[1], batchNormMomentum: batchNormMomentum, batchNormEps: batchNormEps, residual: residual)
        layer3 = FastConvGroup(widths[1], widths[2], batchNormMomentum: batchNormMomentum, batchNormEps: batchNormEps, residual: residual)
        fc = Linear(widths[2], classes, bias: false)
        super.init()
    }

    /// The dotted name of the whitening convolution's bias (`whiten.bias`), the parameter the
    /// recipes train for the first epochs only.
    public var whiteningBiasName: String { "whiten.bias" }

    /// Stops the training of the whitening bias (``whiteningBiasName``); a module-backed
    /// optimizer skips it from its next step on. Returns the number of parameters frozen (1).
    @discardableResult
    public func freezeWhiteningBias() -> Int { freeze(prefix: whiteningBiasName) }

    /// The dotted names of the trainable convolution filters of the groups (every
    /// `layerN.convM.weight`; not the whitening filters or the head): the parameters the Muon
    /// recipe orthogonalizes.
    public var convolutionFilterNames: [String] {
        namedParameters().filter { $0.name.hasPrefix("layer") && $0.tensor.rank == 4 }.map(\.name)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "CIFARFastNet: expects input [N, 3, H, W], got \(x.shape)")
        let y = layer3(layer2(layer1(act(whiten(x)))))
        return fc(pool(y).flattened(from: 1)) * outputScale
    }

    /// The dotted path of the classifier.
    public var headPath: String { "fc" }

    /// Sets the whitening convolution from the data: the covariance Σ of all 2×2×3 patches of
    /// `images` [N, 3, H, W] is decomposed as V·diag(λ)·Vᵀ (LAPACK `ssyevd`), and the 24
    /// filters are the 12 rows of diag(λ + eps)^(-1/2)·Vᵀ and their negatives, so the first
    /// layer's outputs are decorrelated with unit variance. The whitening weights are frozen.
    public func initialize(fromData images: Tensor) throws { try initializeWhitening(from: images) }

    /// See ``initialize(fromData:)``; `eps` is added to every eigenvalue.
    public func initializeWhitening(from images: Tensor, eps: Float = 5e-4) throws {
        precondition(images.rank == 4 && images.shape[1] == 3 && images.shape[2] >= 2 && images.shape[3] >= 2,
                     "CIFARFastNet.initializeWhitening: expects images [N, 3, H, W], got \(images.shape)")
        let x = images.contiguous()
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        var sum = [Double](repeating: 0, count: 12), outer = [Double](repeating: 0, count: 144)
        var patch = [Double](repeating: 0, count: 12)
        x.withUnsafeBufferPointer { p in
            for s in 0..<n {
                for i in 0..<(h - 1) {
                    for j in 0..<(w - 1) {
                        // Patch element order (c, di, dj) matches the weight layout [out, c, 2, 2].
                        for c in 0..<3 { for di in 0..<2 { for dj in 0..<2 {
                            patch[c * 4 + di * 2 + dj] = Double(p[((s * 3 + c) * h + i + di) * w + j + dj])
                        } } }
                        for a in 0..<12 {
                            sum[a] += patch[a]
                            for b in a..<12 { outer[a * 12 + b] += patch[a] * patch[b] }
                        }
                    }
                }
            }
        }
        let count = Double(n * (h - 1) * (w - 1))
        var cov = [Float](repeating: 0, count: 144)
        for a in 0..<12 {
            for b in a..<12 {
                let v = Float(outer[a * 12 + b] / count - sum[a] / count * (sum[b] / count))
                cov[a * 12 + b] = v; cov[b * 12 + a] = v
            }
        }
        let (lambda, vectors) = try Linalg.eigh(Tensor(cov, shape: [12, 12]))
        let l = lambda.scalars, v = vectors.scalars   // v[r * 12 + k]: component r of eigenvector k
        var filters = [Float](repeating: 0, count: 24 * 12)
        for k in 0..<12 {
            let scale = 1 / (max(l[k], 0) + eps).squareRoot()
            for r in 0..<12 {
                filters[k * 12 + r] = v[r * 12 + k] * scale
                filters[(k + 12) * 12 + r] = -v[r * 12 + k] * scale
            }
        }
        let weight = whiten.weight
        withNoGrad { weight.assign(Tensor(filters, shape: [24, 3, 2, 2])) }
        weight.grad = nil
        _ = freeze(prefix: "whiten.weight")
    }
}
