import Tessera
import TesseraNN

/// torchvision's `BasicBlock`: two 3×3 convolutions with batch norm and an identity or
/// projection (`downsample`: 1×1 convolution + batch norm) shortcut.
public final class BasicBlock: Module {
    /// Output channels are `planes × expansion`.
    public static let expansion = 1

    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    /// A `Module`, so it can be swapped for another activation (`replaceModule(at: "relu", with:)`).
    @Child public var relu: Module = ReLU()
    @Child public var conv2: Conv2d
    @Child public var bn2: BatchNorm2d
    @Child public var downsample: Sequential?

    /// A block from `inPlanes` to `planes` channels; the first convolution has `stride`.
    public init(inPlanes: Int, planes: Int, stride: Int = 1) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: Size2(stride, stride), padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: 1, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        downsample = stride != 1 || inPlanes != planes ? projection(inPlanes, planes, stride) : nil
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        conv2(conv1(x, normalizedBy: bn1, then: relu), normalizedBy: bn2, adding: downsample.map { $0(x) } ?? x, then: relu)
    }
}

/// torchvision's `Bottleneck` (ResNet v1.5: the stride sits on the 3×3 convolution):
/// 1×1 reduce, 3×3, 1×1 expand (×4), each with batch norm, plus the shortcut.
public final class Bottleneck: Module {
    /// Output channels are `planes × expansion`.
    public static let expansion = 4

    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    @Child public var conv2: Conv2d
    @Child public var bn2: BatchNorm2d
    @Child public var conv3: Conv2d
    @Child public var bn3: BatchNorm2d
    /// A `Module`, so it can be swapped for another activation (`replaceModule(at: "relu", with:)`).
    @Child public var relu: Module = ReLU()
    @Child public var downsample: Sequential?

    /// A block from `inPlanes` to `planes × 4` channels; the 3×3 convolution has `stride`.
    public init(inPlanes: Int, planes: Int, stride: Int = 1) {
        let out = planes * Bottleneck.expansion
        conv1 = Conv2d(inPlanes, planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: Size2(stride, stride), padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        conv3 = Conv2d(planes, out, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(out)
        downsample = stride != 1 || inPlanes != out ? projection(inPlanes, out, stride) : nil
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let out = conv2(conv1(x, normalizedBy: bn1, then: relu), normalizedBy: bn2, then: relu)
        return conv3(out, normalizedBy: bn3, adding: downsample.map { $0(x) } ?? x, then: relu)
    }
}

/// The projection shortcut `downsample`: `Sequential(conv1x1(stride), BatchNorm2d)`.
private func projection(_ inPlanes: Int, _ outPlanes: Int, _ stride: Int) -> Sequential {
    Sequential(Conv2d(inPlanes, outPlanes, kernelSize: 1, stride: Size2(stride, stride), bias: false), BatchNorm2d(outPlanes))
}

/// torchvision's ResNet (`torchvision.models.resnet`), with the same module names, so a
/// torchvision `state_dict()` loads directly: `conv1`, `bn1`, `relu`, `maxpool`,
/// `layer1…layer4` (blocks `layerK.i` with `conv1`, `bn1`, …, `downsample.0/.1`),
/// `avgpool`, `fc`.
///
/// With 1000 classes, ``resnet18(classes:cifarStem:)``, ``resnet34(classes:cifarStem:)`` and
/// ``resnet50(classes:cifarStem:)`` have exactly torchvision's 11,689,512, 21,797,672 and
/// 25,557,032 parameters. `cifarStem` swaps the 7×7 stride-2 stem and max-pool for a 3×3
/// stride-1 convolution (and an `Identity` in place of `maxpool`), the usual adaptation to
/// 32×32 images. `baseWidth` (64 in torchvision) scales every stage, for small test models.
/// Initialization follows torchvision: Kaiming-normal (fan-out) convolutions, batch norm 1/0,
/// PyTorch's default for `fc`.
public final class ResNet: Module, ClassifierModel {
    /// The residual block type.
    public enum Block: String, Sendable {
        case basic, bottleneck
        /// Channel expansion of the block's output.
        public var expansion: Int { self == .basic ? BasicBlock.expansion : Bottleneck.expansion }
    }

    /// The block type.
    public let block: Block
    /// Blocks per stage.
    public let layers: [Int]
    /// Whether the CIFAR stem is used.
    public let cifarStem: Bool
    /// Channels of the stem and of the first stage.
    public let baseWidth: Int

    @Child public var conv1: Conv2d
    @Child public var bn1: BatchNorm2d
    /// A `Module`, so it can be swapped for another activation (`replaceModule(at: "relu", with:)`).
    @Child public var relu: Module = ReLU()
    @Child public var maxpool: Module
    @Child public var layer1: Sequential
    @Child public var layer2: Sequential
    @Child public var layer3: Sequential
    @Child public var layer4: Sequential
    @Child public var avgpool = AdaptiveAvgPool2d(1)
    @Child public var fc: Linear

    /// A ResNet with `layers[i]` blocks in stage i+1.
    public init(block: Block, layers: [Int], classes: Int = 1000, cifarStem: Bool = false, baseWidth: Int = 64) {
        precondition(layers.count == 4 && layers.allSatisfy { $0 >= 1 }, "ResNet: expects 4 positive stage sizes, got \(layers)")
        precondition(classes > 0, "ResNet: classes must be positive, got \(classes)")
        precondition(baseWidth > 0, "ResNet: baseWidth must be positive, got \(baseWidth)")
        self.block = block
        self.layers = layers
        self.cifarStem = cifarStem
        self.baseWidth = baseWidth
        conv1 = cifarStem ? Conv2d(3, baseWidth, kernelSize: 3, stride: 1, padding: 1, bias: false)
                          : Conv2d(3, baseWidth, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = BatchNorm2d(baseWidth)
        maxpool = cifarStem ? Identity() : MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        var inPlanes = baseWidth
        var stages: [Sequential] = []
        for (i, count) in layers.enumerated() {
            let planes = baseWidth << i
            var blocks: [Module] = []
            for b in 0..<count {
                let stride = (i > 0 && b == 0) ? 2 : 1
                switch block {
                case .basic: blocks.append(BasicBlock(inPlanes: inPlanes, planes: planes, stride: stride))
                case .bottleneck: blocks.append(Bottleneck(inPlanes: inPlanes, planes: planes, stride: stride))
                }
                inPlanes = planes * block.expansion
            }
            stages.append(Sequential(blocks))
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3])
        fc = Linear(inPlanes, classes)
        super.init()
        withNoGrad {
            for (_, m) in namedModules() {
                if let conv = m as? Conv2d { conv.weight.assign(Init.kaimingNormal(conv.weight.shape, fanOut: true)) }
            }
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "ResNet: expects input [N, 3, H, W], got \(x.shape)")
        var y = maxpool(conv1(x, normalizedBy: bn1, then: relu))
        y = layer4(layer3(layer2(layer1(y))))
        return fc(avgpool(y).flattened(from: 1))
    }

    /// The classifier head.
    public var headPath: String { "fc" }
}

/// torchvision's `resnet18` (BasicBlock, [2, 2, 2, 2]): 11,689,512 parameters with 1000 classes.
public func resnet18(classes: Int = 1000, cifarStem: Bool = false) -> ResNet {
    ResNet(block: .basic, layers: [2, 2, 2, 2], classes: classes, cifarStem: cifarStem)
}

/// torchvision's `resnet34` (BasicBlock, [3, 4, 6, 3]): 21,797,672 parameters with 1000 classes.
public func resnet34(classes: Int = 1000, cifarStem: Bool = false) -> ResNet {
    ResNet(block: .basic, layers: [3, 4, 6, 3], classes: classes, cifarStem: cifarStem)
}

/// torchvision's `resnet50` (Bottleneck, [3, 4, 6, 3]): 25,557,032 parameters with 1000 classes.
public func resnet50(classes: Int = 1000, cifarStem: Bool = false) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 6, 3], classes: classes, cifarStem: cifarStem)
}
