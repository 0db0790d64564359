import Tessera

/// A 2-D convolution over `[N, C, H, W]`, as `nn.Conv2d`. Parameters: `weight`
/// `[out, in/groups, kh, kw]`, `bias` `[out]`. Which algorithm runs each pass is the
/// `ConvPlan` of the input's shape (`plan(forInput:)`).
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
    @Parameter public var weight: Tensor
    /// The bias `[outChannels]`, or nil.
    @Parameter public var bias: Tensor?
    /// The shape of the last input, if any (for `plan(forInput:)` and `tessera info --plan`).
    public private(set) var lastInputShape: [Int]?

    /// A convolution with PyTorch's default initialization.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2, stride: Size2 = 1, padding: Size2 = 0,
                dilation: Size2 = 1, groups: Int = 1, bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: channels \(inChannels) → \(outChannels) must be positive and divisible by groups \(groups)")
        precondition(kernelSize.h > 0 && kernelSize.w > 0 && stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0
                     && padding.h >= 0 && padding.w >= 0,
                     "Conv2d: kernel \(kernelSize), stride \(stride), dilation \(dilation) must be positive and padding \(padding) non-negative")
        (self.inChannels, self.outChannels, self.kernelSize, self.groups) = (inChannels, outChannels, kernelSize, groups)
        (self.stride, self.padding, self.dilation) = (stride, padding, dilation)
        let (w, b) = Init.defaultWeightAndBias([outChannels, inChannels / groups, kernelSize.h, kernelSize.w], bias: bias)
        self.weight = w
        self.bias = b
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels,
                     "Conv2d: expects input [N, \(inChannels), H, W], got \(x.shape)")
        lastInputShape = x.shape
        return x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// `activation(bn(self(x)) + residual)`: a ResNet block's convolution, batch norm, shortcut
    /// and ReLU, with `residual` and `activation` optional.
    ///
    /// In training, or whenever a gradient is recorded, this is exactly that composition (the
    /// batch norm fused with a directly following ReLU, as ``BatchNorm/callAsFunction(_:then:)-(_,Activation)``).
    /// In evaluation mode with no gradient recorded and running statistics, the batch norm is
    /// folded into this convolution's weights (cached until either changes) and the sum and ReLU
    /// are applied as the output is written
    /// (`Tensor/conv2d(weight:bias:stride:padding:dilation:groups:normalizedBy:adding:relu:)`).
    public func callAsFunction(_ x: Tensor, normalizedBy bn: BatchNorm, adding residual: Tensor? = nil,
                               then activation: Activation? = nil) -> Tensor {
        let recorded = GradMode.isEnabled && [x, weight, bias, bn.weight, bn.bias, residual].contains { $0?.requiresGrad == true }
        guard !bn.isTraining, !recorded, activation == nil || activation == .relu,
              let mean = bn.runningMean, let variance = bn.runningVar else {
            if residual == nil, let activation { return bn(self(x), then: activation) }
            var y = bn(self(x))
            if let residual { y = y + residual }
            return activation?.apply(y) ?? y
        }
        precondition(x.rank == 4 && x.shape[1] == inChannels,
                     "Conv2d: expects input [N, \(inChannels), H, W], got \(x.shape)")
        lastInputShape = x.shape
        let norm = InferenceBatchNorm(runningMean: mean, runningVar: variance, weight: bn.weight, bias: bn.bias, eps: bn.eps)
        let y = x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                         normalizedBy: norm, adding: residual, relu: activation == .relu)
        bn.lastOutputShape = y.shape
        return y
    }

    /// ``callAsFunction(_:normalizedBy:adding:then:)-(_,_,_,Activation?)`` with the activation as a
    /// module (a ``ReLU`` child of a torchvision block); any module other than ``ReLU`` runs after
    /// the sum as usual.
    public func callAsFunction(_ x: Tensor, normalizedBy bn: BatchNorm, adding residual: Tensor? = nil, then activation: Module) -> Tensor {
        guard activation is ReLU else {
            var y = bn(self(x))
            if let residual { y = y + residual }
            return activation(y)
        }
        let y = self(x, normalizedBy: bn, adding: residual, then: .relu)
        activation.lastOutputShape = y.shape
        return y
    }

    /// The algorithms this layer runs for an input of `shape` [N, C, H, W] (see `ConvPlan`).
    public func plan(forInput shape: [Int], policy: ConvPolicy = Runtime.convolutionPolicy) -> ConvPlan {
        ConvPlan(input: shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups, policy: policy)
    }

    public override var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(PythonStyle.pair(kernelSize)), stride=\(PythonStyle.pair(stride))"
        if padding != 0 { s += ", padding=\(PythonStyle.pair(padding))" }
        if dilation != 1 { s += ", dilation=\(PythonStyle.pair(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}
