import Foundation
import Tessera

// The standard layers, as their torch.nn namesakes: same constructor arguments, the same
// parameter and buffer names, the same default initializations (drawn from GlobalRandom, so
// `GlobalRandom.seed(_:)` plays the role of `torch.manual_seed`).

func pyBool(_ b: Bool) -> String { b ? "True" : "False" }
func pyPair(_ s: Size2) -> String { "(\(s.h), \(s.w))" }

/// A fully connected layer y = x·Wᵀ + b, as `nn.Linear`. Input `[*, inFeatures]`.
/// Parameters: `weight` `[out, in]`, `bias` `[out]`.
public final class Linear: Module {
    /// Input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int

    /// The weight `[outFeatures, inFeatures]`.
    public var weight: Tensor { parameter("weight")! }
    /// The bias `[outFeatures]`, or nil when built with `bias: false`.
    public var bias: Tensor? { parameter("bias") }

    /// A layer with PyTorch's default initialization.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: features must be positive, got \(inFeatures) → \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        super.init()
        let (w, b) = Init.defaultWeightAndBias([outFeatures, inFeatures], bias: bias)
        registerParameter("weight", w)
        if let b { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }

    public override var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(pyBool(bias != nil))"
    }
}

/// A 2-D convolution over `[N, C, H, W]`, as `nn.Conv2d`. Parameters: `weight`
/// `[out, in/groups, kh, kw]`, `bias` `[out]`.
public final class Conv2d: Module {
    /// Input channels.
    public let inChannels: Int
    /// Output channels.
    public let outChannels: Int
    /// Kernel size (h, w).
    public let kernelSize: Size2
    /// Stride (h, w).
    public let stride: Size2
    /// Zero padding (h, w).
    public let padding: Size2
    /// Dilation (h, w).
    public let dilation: Size2
    /// Number of channel groups.
    public let groups: Int

    /// The weight `[outChannels, inChannels / groups, kh, kw]`.
    public var weight: Tensor { parameter("weight")! }
    /// The bias `[outChannels]`, or nil.
    public var bias: Tensor? { parameter("bias") }

    /// A convolution with PyTorch's default initialization.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2, stride: Size2 = 1, padding: Size2 = 0,
                dilation: Size2 = 1, groups: Int = 1, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: channels \(inChannels) → \(outChannels) must be positive and divisible by groups \(groups)")
        precondition(kernelSize.h > 0 && kernelSize.w > 0 && stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0
                     && padding.h >= 0 && padding.w >= 0,
                     "Conv2d: kernel \(kernelSize), stride \(stride), dilation \(dilation) must be positive and padding \(padding) non-negative")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        super.init()
        let (w, b) = Init.defaultWeightAndBias([outChannels, inChannels / groups, kernelSize.h, kernelSize.w], bias: bias)
        registerParameter("weight", w)
        if let b { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels,
                     "Conv2d: expects input [N, \(inChannels), H, W], got \(x.shape)")
        return x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public override var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(pyPair(kernelSize)), stride=\(pyPair(stride))"
        if padding != 0 { s += ", padding=\(pyPair(padding))" }
        if dilation != 1 { s += ", dilation=\(pyPair(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

/// Batch normalization, the shared implementation of ``BatchNorm1d`` and ``BatchNorm2d``.
/// Parameters `weight` (1) and `bias` (0) when `affine`; buffers `running_mean` (0),
/// `running_var` (1) and `num_batches_tracked` (saved as int64) when `trackRunningStats`.
public class BatchNorm: Module {
    /// Number of channels C.
    public let numFeatures: Int
    /// Added to the variance for stability.
    public let eps: Float
    /// Weight of the new batch statistic in the running average; nil for a cumulative average.
    public let momentum: Float?
    /// Whether there is a learnable scale and shift.
    public let affine: Bool
    /// Whether running statistics are kept (and used in evaluation).
    public let trackRunningStats: Bool

    /// The scale `[C]`, or nil without `affine`.
    public var weight: Tensor? { parameter("weight") }
    /// The shift `[C]`, or nil without `affine`.
    public var bias: Tensor? { parameter("bias") }
    /// The running mean `[C]`, or nil without `trackRunningStats`.
    public var runningMean: Tensor? { buffer("running_mean") }
    /// The running (unbiased) variance `[C]`, or nil without `trackRunningStats`.
    public var runningVar: Tensor? { buffer("running_var") }
    /// The number of training batches seen (a 0-d tensor), or nil without `trackRunningStats`.
    public var numBatchesTracked: Tensor? { buffer("num_batches_tracked") }

    /// A batch-norm layer with PyTorch's defaults.
    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float? = 0.1, affine: Bool = true, trackRunningStats: Bool = true) {
        precondition(numFeatures > 0, "\(Self.self): numFeatures must be positive, got \(numFeatures)")
        precondition(eps > 0, "\(Self.self): eps must be > 0, got \(eps)")
        if let m = momentum { precondition(m >= 0 && m <= 1, "\(Self.self): momentum must be in [0, 1], got \(m)") }
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.trackRunningStats = trackRunningStats
        super.init()
        if affine {
            registerParameter("weight", Tensor.ones([numFeatures]))
            registerParameter("bias", Tensor.zeros([numFeatures]))
        }
        if trackRunningStats {
            registerBuffer("running_mean", Tensor.zeros([numFeatures]))
            registerBuffer("running_var", Tensor.ones([numFeatures]))
            registerBuffer("num_batches_tracked", Tensor(scalar: 0), dtype: .int64)
        }
    }

    /// Checks the input's rank (overridden by the 1-d and 2-d variants).
    func checkInput(_ x: Tensor) {
        precondition(x.rank >= 2 && x.shape[1] == numFeatures, "\(typeName): expects input [N, \(numFeatures), …], got \(x.shape)")
    }

    public override func forward(_ x: Tensor) -> Tensor {
        normalize(x, relu: false)
    }

    /// `self(x).relu()` in one fused pass, forward and backward
    /// (``Tensor/batchNormReLU(runningMean:runningVar:weight:bias:training:momentum:eps:)``): the same
    /// values, gradients and running statistics, without storing the activation before the ReLU.
    /// The model zoo's stems and residual blocks call it for every batch norm that a ReLU follows
    /// directly (unless that ReLU child was replaced).
    public func forwardReLU(_ x: Tensor) -> Tensor {
        let y = normalize(x, relu: true)
        lastOutputShape = y.shape
        return y
    }

    private func normalize(_ x: Tensor, relu: Bool) -> Tensor {
        checkInput(x)
        var factor: Float = 0
        if isTraining, trackRunningStats, let nbt = numBatchesTracked {
            let n = nbt.withUnsafeMutableBufferPointer { b -> Float in b[0] += 1; return b[0] }
            factor = momentum ?? 1 / n
        }
        let useBatchStats = isTraining || !trackRunningStats
        let (rm, rv) = trackRunningStats ? (runningMean, runningVar) : (nil, nil)
        return relu
            ? x.batchNormReLU(runningMean: rm, runningVar: rv, weight: weight, bias: bias, training: useBatchStats, momentum: factor, eps: eps)
            : x.batchNorm(runningMean: rm, runningVar: rv, weight: weight, bias: bias, training: useBatchStats, momentum: factor, eps: eps)
    }

    public override var extraDescription: String {
        let m = momentum.map { "\($0)" } ?? "None"
        return "\(numFeatures), eps=\(eps), momentum=\(m), affine=\(pyBool(affine)), track_running_stats=\(pyBool(trackRunningStats))"
    }
}

/// Batch normalization over `[N, C]` or `[N, C, L]`, as `nn.BatchNorm1d`.
public final class BatchNorm1d: BatchNorm {
    override func checkInput(_ x: Tensor) {
        precondition((x.rank == 2 || x.rank == 3) && x.shape[1] == numFeatures,
                     "BatchNorm1d: expects input [N, \(numFeatures)] or [N, \(numFeatures), L], got \(x.shape)")
    }
}

/// Batch normalization over `[N, C, H, W]`, as `nn.BatchNorm2d`.
public final class BatchNorm2d: BatchNorm {
    override func checkInput(_ x: Tensor) {
        precondition(x.rank == 4 && x.shape[1] == numFeatures,
                     "BatchNorm2d: expects input [N, \(numFeatures), H, W], got \(x.shape)")
    }
}

/// 2-D max pooling, as `nn.MaxPool2d` (stride defaults to the kernel size).
public final class MaxPool2d: Module {
    /// Window size.
    public let kernelSize: Size2
    /// Step between windows.
    public let stride: Size2
    /// Implicit −∞ padding.
    public let padding: Size2

    /// A max-pooling layer.
    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public override var extraDescription: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)"
    }
}

/// 2-D average pooling, as `nn.AvgPool2d` (stride defaults to the kernel size).
public final class AvgPool2d: Module {
    /// Window size.
    public let kernelSize: Size2
    /// Step between windows.
    public let stride: Size2
    /// Implicit zero padding.
    public let padding: Size2
    /// Whether padded zeros count in the average's denominator.
    public let countIncludePad: Bool

    /// An average-pooling layer.
    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, countIncludePad: Bool = true) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.countIncludePad = countIncludePad
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad)
    }

    public override var extraDescription: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)"
    }
}

/// Adaptive average pooling to a fixed output size, as `nn.AdaptiveAvgPool2d`.
public final class AdaptiveAvgPool2d: Module {
    /// The output (h, w).
    public let outputSize: Size2

    /// A pooling layer producing `[N, C, outputSize.h, outputSize.w]`.
    public init(_ outputSize: Size2) {
        precondition(outputSize.h > 0 && outputSize.w > 0, "AdaptiveAvgPool2d: output size must be positive, got \(outputSize)")
        self.outputSize = outputSize
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "AdaptiveAvgPool2d: expects input [N, C, H, W], got \(x.shape)")
        return x.adaptiveAvgPool2d(outputSize)
    }

    public override var extraDescription: String { "output_size=\(pyPair(outputSize))" }
}

/// Randomly zeroes elements with probability `p` in training (scaling the rest by 1/(1−p)),
/// as `nn.Dropout`. Identity in evaluation mode.
public final class Dropout: Module {
    /// Drop probability.
    public let p: Float
    /// The generator for the masks; nil draws from ``GlobalRandom``.
    public var generator: SeededGenerator?

    /// A dropout layer.
    public init(p: Float = 0.5, generator: SeededGenerator? = nil) {
        precondition(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got \(p)")
        self.p = p
        self.generator = generator
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return x }
        if generator != nil { return x.dropout(p: p, training: true, generator: &generator!) }
        return x.dropout(p: p, training: true)
    }

    public override var extraDescription: String { "p=\(p)" }
}

/// Flattens dimensions `startDim...endDim`, as `nn.Flatten` (default: all but the batch).
public final class Flatten: Module {
    /// First dimension flattened.
    public let startDim: Int
    /// Last dimension flattened.
    public let endDim: Int

    /// A flatten layer.
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor { x.flattened(from: startDim, to: endDim) }

    public override var extraDescription: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// Returns its input, as `nn.Identity` (a placeholder, e.g. for a removed head).
public final class Identity: Module {
    /// An identity layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x }
}

/// max(0, x), as `nn.ReLU`.
public final class ReLU: Module {
    /// A ReLU layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// x for x ≥ 0, `negativeSlope`·x otherwise, as `nn.LeakyReLU`.
public final class LeakyReLU: Module {
    /// Slope for negative inputs.
    public let negativeSlope: Float
    /// A leaky ReLU layer.
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope; super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
    public override var extraDescription: String { "negative_slope=\(negativeSlope)" }
}

/// 1/(1 + e^−x), as `nn.Sigmoid`.
public final class Sigmoid: Module {
    /// A sigmoid layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// Hyperbolic tangent, as `nn.Tanh`.
public final class Tanh: Module {
    /// A tanh layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// The Gaussian error linear unit x·Φ(x) (exact form), as `nn.GELU`.
public final class GELU: Module {
    /// A GELU layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.gelu() }
}

/// Runs its children in order, named "0", "1", …, as `nn.Sequential`.
///
/// ```swift
/// let net = Sequential(Linear(2, 16), ReLU(), Linear(16, 2))
/// ```
open class Sequential: Module {
    /// The layers in order.
    public var layers: [Module] { children.map(\.module) }

    /// A sequence of layers.
    public init(_ layers: [Module]) {
        super.init()
        for l in layers { append(l) }
    }

    /// A sequence of layers.
    public convenience init(_ layers: Module...) { self.init(layers) }

    /// Adds a layer at the end, named by its position.
    public func append(_ layer: Module) { register(String(children.count), layer) }

    /// The number of layers.
    public var count: Int { children.count }

    /// The layer at `index`.
    public subscript(index: Int) -> Module {
        precondition(index >= 0 && index < count, "Sequential: index \(index) out of range for \(count) layers")
        return children[index].module
    }

    open override func forward(_ x: Tensor) -> Tensor {
        var y = x
        for c in children { y = c.module(y) }
        return y
    }
}
