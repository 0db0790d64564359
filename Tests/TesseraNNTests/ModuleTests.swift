import XCTest
import Tessera
@testable import TesseraNN
@testable import TesseraModels

/// A custom model written as the README shows it.
private final class TinyNet: Module {
    init(classes: Int) {
        super.init()
        register("features", Sequential(Conv2d(3, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2)))
        register("classifier", Linear(4 * 4 * 4, classes))
    }

    override func forward(_ x: Tensor) -> Tensor {
        self["classifier"](self["features"](x).flattened(from: 1))
    }
}

/// The README's custom-model example, verbatim.
private final class SmallCNN: Module {
    init(classes: Int = 10) {
        super.init()
        register("features", Sequential(
            Conv2d(3, 32, kernelSize: 3, padding: 1), BatchNorm2d(32), ReLU(), MaxPool2d(kernelSize: 2),
            Conv2d(32, 64, kernelSize: 3, padding: 1), BatchNorm2d(64), ReLU(), AdaptiveAvgPool2d(1)))
        register("fc", Linear(64, classes))
    }
    override func forward(_ x: Tensor) -> Tensor {
        self["fc"](self["features"](x).flattened(from: 1))
    }
}

final class ModuleTests: XCTestCase {
    func testReadmeExampleTrainsOneStepAndSaves() throws {
        GlobalRandom.seed(12)
        let model = SmallCNN()
        let opt = SGD(model, lr: 0.1, momentum: 0.9, weightDecay: 5e-4)
        let images = Tensor.randn([2, 3, 8, 8]), labels = [3, 7]
        let before = model.parameters.map(\.scalars)
        let loss = crossEntropy(model(images), labels)
        opt.zeroGrad(); loss.backward(); opt.step()
        XCTAssertTrue(zip(before, model.parameters.map(\.scalars)).allSatisfy { $0 != $1 }, "every parameter moved")
        let url = try temporaryDirectory(self).appendingPathComponent("small_cnn.safetensors")
        try model.save(to: url)
        XCTAssertEqual(try Safetensors.load(from: url).keys.count, model.stateDict().count)
    }

    func testNamesFollowPyTorchDottedOrder() {
        let net = TinyNet(classes: 3)
        XCTAssertEqual(net.stateDict().keys, [
            "features.0.weight", "features.0.bias",
            "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var",
            "features.1.num_batches_tracked",
            "classifier.weight", "classifier.bias",
        ])
        XCTAssertEqual(net.namedParameters().map(\.name),
                       ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias", "classifier.weight", "classifier.bias"])
        XCTAssertEqual(net.namedBuffers().map(\.name),
                       ["features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"])
        XCTAssertEqual(net.parameterCount, 3 * 4 * 9 + 4 + 4 + 4 + 64 * 3 + 3)
        XCTAssertTrue(net.module(at: "features.1") is BatchNorm2d)
        XCTAssertNil(net.module(at: "features.9"))
    }

    func testTrainAndEvalReachEveryDescendant() {
        let net = TinyNet(classes: 2)
        net.eval()
        XCTAssertTrue(net.namedModules().allSatisfy { !$0.module.isTraining })
        net.train()
        XCTAssertTrue(net.namedModules().allSatisfy { $0.module.isTraining })
    }

    func testFreezeByPrefixMatchesWholeNameComponents() {
        let net = Sequential((0..<12).map { _ in Linear(2, 2) })
        XCTAssertEqual(net.freeze(prefix: "1"), 2)           // "1.weight", "1.bias" — not "10.*", "11.*"
        XCTAssertFalse(net[1].parameter("weight")!.requiresGrad)
        XCTAssertTrue(net[10].parameter("weight")!.requiresGrad)
        XCTAssertEqual(net.trainableParameterCount, net.parameterCount - 6)
        XCTAssertEqual(net.unfreeze(), 24)
        XCTAssertEqual(net.trainableParameterCount, net.parameterCount)
    }

    func testZeroGradClearsEveryGradient() {
        let net = TinyNet(classes: 2)
        net(Tensor.randn([2, 3, 8, 8])).sum().backward()
        XCTAssertTrue(net.parameters.allSatisfy { $0.grad != nil })
        net.zeroGrad()
        XCTAssertTrue(net.parameters.allSatisfy { $0.grad == nil })
    }

    func testPrintedTreeShowsHyperParametersShapesAndCounts() {
        let net = TinyNet(classes: 3)
        _ = net(Tensor.zeros([2, 3, 8, 8]))
        let text = net.description
        XCTAssertTrue(text.contains("(0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"), text)
        XCTAssertTrue(text.contains("-> [2, 4, 8, 8]"), text)
        XCTAssertTrue(text.contains("(classifier): Linear(in_features=64, out_features=3, bias=True)  # -> [2, 3], params 195"), text)
        XCTAssertTrue(text.hasPrefix("TinyNet(  # -> [2, 3], params \(Module.grouped(net.parameterCount))"), text)
        XCTAssertEqual(Module.grouped(11_689_512), "11,689,512")
    }

    func testReplaceHeadAndFreezeBackbone() {
        GlobalRandom.seed(5)
        let model = CIFARResNet(depth: 8, classes: 10)
        let head = model.replaceHead(classes: 4)
        XCTAssertTrue(model.head === head)
        XCTAssertEqual(model.classes, 4)
        XCTAssertEqual(model(Tensor.randn([2, 3, 8, 8])).shape, [2, 4])
        let frozen = model.freezeBackbone()
        XCTAssertEqual(frozen, model.namedParameters().count - 2)
        XCTAssertEqual(model.trainableParameterCount, 64 * 4 + 4)
        // Only the head receives gradients now.
        model(Tensor.randn([2, 3, 8, 8])).sum().backward()
        for (name, p) in model.namedParameters() {
            XCTAssertEqual(p.grad != nil, name.hasPrefix("fc."), name)
        }
    }

    func testWithSkippedInitializationBuildsZerosWithoutAdvancingTheGenerator() {
        GlobalRandom.seed(11)
        let a = Linear(3, 3).weight.scalars
        GlobalRandom.seed(11)
        let skipped = withSkippedInitialization { Linear(3, 3) }
        XCTAssertTrue(skipped.weight.scalars.allSatisfy { $0 == 0 })
        XCTAssertEqual(Linear(3, 3).weight.scalars, a)
    }
}
