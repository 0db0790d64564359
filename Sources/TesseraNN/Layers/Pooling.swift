import Tessera

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

    public override var extraDescription: String { "output_size=\(PythonStyle.pair(outputSize))" }
}
