import Tessera

/// Batch normalization, the shared implementation of ``BatchNorm1d`` and ``BatchNorm2d``.
/// Parameters `weight` (1) and `bias` (0) when `affine`; buffers `running_mean` (0),
/// `running_var` (1) and `num_batches_tracked` (saved as int64) when `trackRunningStats`.
///
/// A ReLU that directly follows a batch norm runs fused into it (one pass forward and backward,
/// the activation before the ReLU never stored): inside a ``Sequential`` automatically, and in
/// a hand-written forward through `bn(x, then: .relu)`; after a convolution, through
/// `conv(x, normalizedBy: bn, then: .relu)`, which in inference also folds the batch norm into
/// the convolution.
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
    @Parameter public var weight: Tensor?
    /// The shift `[C]`, or nil without `affine`.
    @Parameter public var bias: Tensor?
    /// The running mean `[C]`, or nil without `trackRunningStats`.
    @Buffer public var runningMean: Tensor?
    /// The running (unbiased) variance `[C]`, or nil without `trackRunningStats`.
    @Buffer public var runningVar: Tensor?
    /// The number of training batches seen (a 0-d tensor), or nil without `trackRunningStats`.
    @Buffer public var numBatchesTracked: Tensor?

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
        weight = affine ? Tensor.ones([numFeatures]) : nil
        bias = affine ? Tensor.zeros([numFeatures]) : nil
        runningMean = trackRunningStats ? Tensor.zeros([numFeatures]) : nil
        runningVar = trackRunningStats ? Tensor.ones([numFeatures]) : nil
        _numBatchesTracked = Buffer(wrappedValue: trackRunningStats ? Tensor(scalar: 0) : nil, dtype: .int64)
        super.init()
    }

    /// Checks the input's rank (overridden by the 1-d and 2-d variants).
    func checkInput(_ x: Tensor) {
        precondition(x.rank >= 2 && x.shape[1] == numFeatures, "\(typeName): expects input [N, \(numFeatures), …], got \(x.shape)")
    }

    public override func forward(_ x: Tensor) -> Tensor {
        normalize(x, relu: false)
    }

    /// `activation(self(x))`, with both recorded as this module's and the activation's output.
    /// When `activation` is a ``ReLU`` the two run as one fused pass forward and backward
    /// (`Tensor.batchNormReLU(runningMean:runningVar:weight:bias:training:momentum:eps:)`): the
    /// same values, gradients and running statistics, without storing the activation before
    /// the ReLU. Any other module runs after the batch norm as usual.
    public func callAsFunction(_ x: Tensor, then activation: Module) -> Tensor {
        guard activation is ReLU else { return activation(self(x)) }
        let y = normalize(x, relu: true)
        lastOutputShape = y.shape
        activation.lastOutputShape = y.shape
        return y
    }

    /// `activation` applied to `self(x)` as a function; fused into one pass for ``Activation/relu``
    /// (see ``callAsFunction(_:then:)-(_,Module)``).
    public func callAsFunction(_ x: Tensor, then activation: Activation) -> Tensor {
        guard activation == .relu else { return activation.apply(self(x)) }
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
        return "\(numFeatures), eps=\(eps), momentum=\(m), affine=\(PythonStyle.bool(affine)), track_running_stats=\(PythonStyle.bool(trackRunningStats))"
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
