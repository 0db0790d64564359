import XCTest
import Tessera
import TesseraTestSupport
@testable import TesseraNN
@testable import TesseraModels

/// A custom model written as the README shows it.
private final class TinyNet: Module {
    @Child var features = Sequential(Conv2d(3, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2))
    @Child var classifier: Linear

    init(classes: Int) {
        classifier = Linear(4 * 4 * 4, classes)
        super.init()
    }

    override func forward(_ x: Tensor) -> Tensor {
        classifier(features(x).flattened(from: 1))
    }
}

/// The README's custom-model example, verbatim.
private final class SmallCNN: Module {
    @Child var features = Sequential(
        Conv2d(3, 32, kernelSize: 3, padding: 1), BatchNorm2d(32), ReLU(), MaxPool2d(kernelSize: 2),
        Conv2d(32, 64, kernelSize: 3, padding: 1), BatchNorm2d(64), ReLU(), AdaptiveAvgPool2d(1))
    @Child var fc: Linear

    init(classes: Int = 10) {
        fc = Linear(64, classes)
        super.init()
    }

    override func forward(_ x: Tensor) -> Tensor {
        fc(features(x).flattened(from: 1))
    }
}

/// Every kind of member: own parameters and buffers (camelCase names), an optional child
/// absent and present, an array of children, a key given explicitly.
private final class Members: Module {
    @Parameter var scaleFactor = Tensor.ones([2])
    @Parameter var offset: Tensor? = nil
    @Buffer var runningTotal = Tensor.zeros([1])
    @Buffer(key: "steps", dtype: .int64) var stepCount = Tensor(scalar: 0)
    @Child var headFC = Linear(2, 2)
    @Child var extra: Linear? = nil
    @Child var blocks: [Module] = [Linear(2, 2), ReLU(), Linear(2, 2)]
    @Child(key: "last") var finalLayer = Identity()

    override func forward(_ x: Tensor) -> Tensor { x }
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
        let url = try TestPaths.temporaryDirectory(self).appendingPathComponent("small_cnn.safetensors")
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
        XCTAssertFalse((net[1] as! Linear).weight.requiresGrad)
        XCTAssertTrue((net[10] as! Linear).weight.requiresGrad)
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
        XCTAssertTrue(text.hasPrefix("TinyNet(  # -> [2, 3], params \(ModuleNaming.grouped(net.parameterCount))"), text)
        XCTAssertEqual(ModuleNaming.grouped(11_689_512), "11,689,512")
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

    func testStoredPropertiesGivePyTorchNamesInDeclarationOrderWithParametersBeforeBuffersBeforeChildren() {
        let m = Members()
        XCTAssertEqual(m.stateDict().keys, [
            "scale_factor", "running_total", "steps",
            "head_fc.weight", "head_fc.bias", "blocks.0.weight", "blocks.0.bias", "blocks.2.weight", "blocks.2.bias",
        ])
        XCTAssertEqual(m.stateDict().dtype(of: "steps"), .int64)
        XCTAssertEqual(m.children.map(\.name), ["head_fc", "blocks.0", "blocks.1", "blocks.2", "last"], "an absent optional child is not listed")
        XCTAssertTrue(m.module(at: "blocks.1") is ReLU)
        m.offset = Tensor.zeros([2])
        m.extra = Linear(2, 3)
        XCTAssertEqual(Array(m.stateDict().keys.prefix(2)), ["scale_factor", "offset"])
        XCTAssertTrue(m.stateDict().keys.contains("extra.weight"))
        XCTAssertTrue(m.offset!.requiresGrad && m.offset!.isLeaf, "an assigned parameter becomes a leaf that requires grad")
        XCTAssertFalse(m.runningTotal.requiresGrad, "buffers never require grad")
        XCTAssertEqual(ModuleNaming.key(forProperty: "_numBatchesTracked"), "num_batches_tracked")
        XCTAssertEqual(ModuleNaming.key(forProperty: "layer1"), "layer1")
        XCTAssertEqual(ModuleNaming.key(forProperty: "_headFC"), "head_fc")
        XCTAssertEqual(ModuleNaming.key(forProperty: "_fcHead2Out"), "fc_head2_out")
    }

    func testReplaceModuleSwapsATypedChildAnArrayElementAndANestedBlock() {
        let m = Members()
        let newHead = Linear(2, 2)
        m.replaceModule(at: "head_fc", with: newHead)
        XCTAssertTrue(m.headFC === newHead, "the typed property holds the replacement")
        m.replaceModule(at: "blocks.1", with: Tanh())
        XCTAssertTrue(m.blocks[1] is Tanh)
        GlobalRandom.seed(3)
        let net = CIFARResNet(depth: 8)
        let block = CIFARBasicBlock(inPlanes: 16, planes: 16)
        net.replaceModule(at: "layer1.0", with: block)
        XCTAssertTrue(net.layer1[0] === block)
    }

    func testABatchNormFollowedByAReLUInASequentialRunsFusedWithTheSameValuesGradientsAndStatistics() {
        GlobalRandom.seed(4)
        func build() -> Sequential { Sequential(Conv2d(2, 3, kernelSize: 3, padding: 1), BatchNorm2d(3), ReLU(), Linear(5, 2)) }
        let fused = build(), plain = build()
        try! plain.loadStateDict(fused.stateDict())
        let x = TestData.randn([4, 2, 5, 5], seed: 9)
        let yFused = fused(x)
        // The same layers one by one: batch norm, then a separate ReLU.
        var y = x
        for layer in plain.layers { y = layer(y) }
        XCTAssertTrue(TensorCheck.bitEqual(yFused.detach(), y.detach()), "fused and separate forwards agree bit for bit")
        yFused.sum().backward()
        y.sum().backward()
        for ((name, a), (_, b)) in zip(fused.namedParameters(), plain.namedParameters()) {
            TensorCheck.close(a.grad!, b.grad!, rtol: 1e-5, atol: 1e-6, "gradient of \(name)")
        }
        TensorCheck.close((fused[1] as! BatchNorm).runningVar!, (plain[1] as! BatchNorm).runningVar!, rtol: 0, atol: 0, "running variance")
    }
}
