import Tessera
import TesseraNN

/// The parameter-free "option A" shortcut of He et al. (2016) for CIFAR: subsample the
/// input spatially by `stride` (keeping every stride-th row and column, from the first) and
/// zero-pad the channels by `padding` on each side.
public final class ZeroPadShortcut: Module {
    /// Spatial subsampling step.
    public let stride: Int
    /// Zero channels added before and after the input channels.
    public let padding: Int

    /// A shortcut from `inChannels` to `inChannels + 2 * padding` channels.
    public init(stride: Int, padding: Int) {
        precondition(stride > 0 && padding >= 0, "ZeroPadShortcut: stride must be > 0 and padding >= 0, got \(stride), \(padding)")
        self.stride = stride
        self.padding = padding
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "ZeroPadShortcut: expects input [N, C, H, W], got \(x.shape)")
        var y = x
        if stride > 1 {
            y = y.slice(axis: 2, 0, x.shape[2], step: stride).slice(axis: 3, 0, x.shape[3], step: stride)
        }
        return padding > 0 ? y.padded([(0, 0), (0, 0), (padding, padding)]) : y.contiguous()
    }

    public override var extraDescription: String { "stride=\(stride), channel_padding=\(padding)" }
}

/// The basic residual block of the CIFAR ResNets: two 3×3 convolutions with batch norm and a
/// parameter-free (option A) shortcut when the shape changes.
public final class CIFARBasicBlock: Module {
    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    @Child public var conv2: Conv2d
    @Child public var bn2: BatchNorm2d
    /// ``ZeroPadShortcut`` when the shape changes, else `Identity`.
    @Child public var shortcut: Module

    /// A block from `inPlanes` to `planes` channels; `stride` 2 halves the resolution.
    public init(inPlanes: Int, planes: Int, stride: Int = 1) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: Size2(stride, stride), padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: 1, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        if stride != 1 || inPlanes != planes {
            precondition(planes >= inPlanes && (planes - inPlanes) % 2 == 0,
                         "CIFARBasicBlock: option-A shortcut needs an even channel increase, got \(inPlanes) → \(planes)")
            shortcut = ZeroPadShortcut(stride: stride, padding: (planes - inPlanes) / 2)
        } else {
            shortcut = Identity()
        }
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        conv2(conv1(x, normalizedBy: bn1, then: .relu), normalizedBy: bn2, adding: shortcut(x), then: .relu)
    }
}

/// The CIFAR ResNets of He et al. (2016), section 4.2: a 3×3 stem with 16 channels, three
/// stages of n basic blocks with 16, 32 and 64 channels (the first block of stages 2 and 3
/// subsamples by 2 through its convolution's stride, with an option-A zero-padding
/// shortcut), global average pooling and a linear classifier — depth 6n + 2.
///
/// ResNet-20/32/44/56/110 have 269,722 / 464,154 / 658,586 / 853,018 / 1,727,962 parameters
/// with 10 classes (the published 0.27M … 1.7M). Names follow torchvision's (`conv1`, `bn1`,
/// `layer1.0.conv1`, `fc`). Convolution and linear weights use Kaiming-normal initialization.
public final class CIFARResNet: Module, ClassifierModel {
    /// Total depth (6n + 2).
    public let depth: Int

    @Child public var conv1 = Conv2d(3, 16, kernelSize: 3, stride: 1, padding: 1, bias: false)
    @Child public var bn1 = BatchNorm2d(16)
    @Child public var layer1: Sequential
    @Child public var layer2: Sequential
    @Child public var layer3: Sequential
    @Child public var avgpool = AdaptiveAvgPool2d(1)
    @Child public var fc: Linear

    /// A CIFAR ResNet of `depth` = 6n + 2 layers (20, 32, 44, 56, 110, …).
    public init(depth: Int, classes: Int = 10) {
        precondition(depth >= 8 && (depth - 2) % 6 == 0, "CIFARResNet: depth must be 6n + 2 with n >= 1, got \(depth)")
        precondition(classes > 0, "CIFARResNet: classes must be positive, got \(classes)")
        self.depth = depth
        let n = (depth - 2) / 6
        var inPlanes = 16
        func stage(_ planes: Int, stride: Int) -> Sequential {
            Sequential((0..<n).map { b in
                defer { inPlanes = planes }
                return CIFARBasicBlock(inPlanes: inPlanes, planes: planes, stride: b == 0 ? stride : 1)
            })
        }
        layer1 = stage(16, stride: 1)
        layer2 = stage(32, stride: 2)
        layer3 = stage(64, stride: 2)
        fc = Linear(64, classes)
        super.init()
        // Kaiming-normal (fan-in) weights, as the reference implementations of the paper.
        withNoGrad {
            for (name, p) in namedParameters() where name.hasSuffix("weight") && p.rank >= 2 {
                p.assign(Init.kaimingNormal(p.shape))
            }
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "CIFARResNet: expects input [N, 3, H, W], got \(x.shape)")
        let y = layer3(layer2(layer1(conv1(x, normalizedBy: bn1, then: .relu))))
        return fc(avgpool(y).flattened(from: 1))
    }

    public override var typeName: String { "ResNet\(depth)" }
    public override var extraDescription: String { "" }

    /// The classifier head.
    public var headPath: String { "fc" }
}
