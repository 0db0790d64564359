import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN
@testable import TesseraModels

final class ModelTests: XCTestCase {
    func testParameterCountsEqualTorchvisionAndThePaper() throws {
        // The exact torchvision counts from the issue.
        XCTAssertEqual(try ModelZoo.parameterCount("resnet18", classes: 1000), 11_689_512)
        XCTAssertEqual(try ModelZoo.parameterCount("resnet34", classes: 1000), 21_797_672)
        XCTAssertEqual(try ModelZoo.parameterCount("resnet50", classes: 1000), 25_557_032)
        // Every other configuration against the PyTorch reference models of the fixture.
        let counts = try JSONFixture.object("resnets.json", in: .module)["parameter_counts"] as! [String: NSNumber]
        XCTAssertEqual(counts.count, 17)
        for (key, expected) in counts {
            let parts = key.split(separator: "/").map(String.init)
            let classes = Int(parts[1])!
            let name = parts[0].hasPrefix("resnet") && ["18", "34", "50"].contains(String(parts[0].dropFirst(6))) && parts[2] == "cifar"
                ? parts[0] + "_cifar" : parts[0]
            XCTAssertEqual(try ModelZoo.parameterCount(name, classes: classes), expected.intValue, key)
        }
        // The published CIFAR sizes: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
        for (depth, millions) in [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)] {
            let n = try ModelZoo.parameterCount("resnet\(depth)")
            XCTAssertEqual(Double(n) / 1e6, millions, accuracy: 0.03, "resnet\(depth)")
        }
        // The one MLP definition, sized to its input: input-512-256-classes.
        XCTAssertEqual(try ModelZoo.parameterCount("mlp", classes: 10), MLP.parameterCount(widths: [3072, 512, 256, 10]))
        XCTAssertEqual(try ModelZoo.parameterCount("mlp", classes: 10), 1_707_274)
        XCTAssertEqual(try ModelZoo.parameterCount("mlp", classes: 10, inputShape: [1, 28, 28]), MLP.parameterCount(widths: [784, 512, 256, 10]))
    }

    func testEveryZooModelBuildsWithItsCount() throws {
        // Small ones are built for real (random init) and counted, and the count matches.
        for name in ["resnet20", "resnet32", "mlp", "fastnet", "fastnet95"] {
            let m = try ModelZoo.make(name, classes: 7)
            XCTAssertEqual(m.parameterCount, try ModelZoo.parameterCount(name, classes: 7), name)
            XCTAssertEqual(m.classes, 7, name)
        }
        XCTAssertEqual(ModelZoo.names.count, 15)
        XCTAssertThrowsError(try ModelZoo.make("resnet19")) { error in
            XCTAssertTrue("\(error)".contains("unknown model 'resnet19'"), "\(error)")
        }
        XCTAssertThrowsError(try ModelZoo.make("resnet20", classes: 0))
    }

    func testCIFARResNetShapesAndOptionAShortcut() {
        GlobalRandom.seed(7)
        let model = CIFARResNet(depth: 20)
        XCTAssertEqual(model.module(at: "layer2.0.shortcut").map { "\(type(of: $0))" }, "ZeroPadShortcut")
        XCTAssertTrue(model.module(at: "layer2.1.shortcut") is Identity)
        let y = model(Tensor.randn([1, 3, 16, 16]))
        XCTAssertEqual(y.shape, [1, 10])
        XCTAssertEqual(model.module(at: "layer3")?.lastOutputShape, [1, 64, 4, 4])
        // Option A: channels 0..<pad and the last pad are zero, the rest is the subsampled input.
        let s = ZeroPadShortcut(stride: 2, padding: 1)
        let x = Tensor.arange(0, 2 * 4 * 4).reshaped([1, 2, 4, 4])
        let out = s(x)
        XCTAssertEqual(out.shape, [1, 4, 2, 2])
        XCTAssertEqual(out.scalars, [0, 0, 0, 0, 0, 2, 8, 10, 16, 18, 24, 26, 0, 0, 0, 0])
    }

    func testEvaluationWithoutGradientsFoldsBatchNormIntoTheConvolutionsAndGivesTheSameLogits() {
        GlobalRandom.seed(8)
        let model = CIFARResNet(depth: 20)
        // Statistics that are not the identity, so that folding them matters.
        model.train()
        for _ in 0..<3 { _ = withNoGrad { model(Tensor.randn([8, 3, 16, 16])) } }
        model.eval()
        let x = Tensor.randn([3, 3, 16, 16])
        let folded = withNoGrad { model(x) }   // batch norms folded, residual and ReLU in the writes
        let composed = model(x)                // gradients recorded: the separate ops
        TensorCheck.close(folded, composed.detach(), rtol: 1e-4, atol: 1e-4, "ResNet-20 logits, folded vs composed")
        XCTAssertEqual(model.module(at: "layer1.0.bn2")?.lastOutputShape, [3, 16, 16, 16], "the folded batch norm still reports its output")
        // A training step in between changes the weights; the next evaluation follows.
        model.train()
        let optimizer = SGD(model, lr: 0.5)
        crossEntropy(model(x), Tensor([1, 2, 3])).backward()
        optimizer.step()
        model.eval()
        TensorCheck.close(withNoGrad { model(x) }, model(x).detach(), rtol: 1e-4, atol: 1e-4, "after an optimizer step")
    }

    func testBatchNormAndReLUFuseOnlyWhileTheyAreABatchNormAndAReLU() {
        // A block whose ReLU child was swapped for a leaky one must apply it, not a fused ReLU;
        // with the original children the fused path gives the plain chain's values.
        GlobalRandom.seed(11)
        let block = BasicBlock(inPlanes: 4, planes: 4)
        let x = Tensor.randn([2, 4, 6, 6])
        func chain(_ relu: (Tensor) -> Tensor) -> Tensor {
            var out = relu(block.bn1(block.conv1(x)))
            out = block.bn2(block.conv2(out))
            return relu(out + x)
        }
        block.eval()   // running statistics: the reference chain can call the batch norms again
        let fused = block(x)
        let plain = chain { $0.relu() }
        XCTAssertEqual(fused.shape, plain.shape)
        XCTAssertLessThan(zip(fused.scalars, plain.scalars).map { Swift.abs($0 - $1) }.max()!, 1e-5)
        block.replaceModule(at: "relu", with: LeakyReLU(negativeSlope: 0.5))
        let leaky = block(x), leakyChain = chain { $0.leakyRelu(negativeSlope: 0.5) }
        XCTAssertTrue(leaky.scalars.contains { $0 < 0 }, "the leaky slope shows in the output")
        XCTAssertLessThan(zip(leaky.scalars, leakyChain.scalars).map { Swift.abs($0 - $1) }.max()!, 1e-5)
    }

    func testTorchvisionStemOptions() {
        let standard = withSkippedInitialization { resnet18(classes: 10) }
        let cifar = withSkippedInitialization { resnet18(classes: 10, cifarStem: true) }
        XCTAssertEqual((standard.module(at: "conv1") as! Conv2d).kernelSize, 7)
        XCTAssertTrue(standard.module(at: "maxpool") is MaxPool2d)
        XCTAssertEqual((cifar.module(at: "conv1") as! Conv2d).kernelSize, 3)
        XCTAssertEqual((cifar.module(at: "conv1") as! Conv2d).stride, 1)
        XCTAssertTrue(cifar.module(at: "maxpool") is Identity)
        XCTAssertEqual(standard.stateDict().keys.count, 122)
        XCTAssertTrue(standard.stateDict().keys.contains("layer2.0.downsample.1.running_var"))
    }

    func testPyTorchTinyResNetsLoadAndGiveTheSameLogits() throws {
        let fixture = try JSONFixture.object("resnets.json", in: .module)
        for m in fixture["models"] as! [[String: Any]] {
            let name = m["name"] as! String
            let cfg = m["config"] as! [String: Any]
            let model = ResNet(block: ResNet.Block(rawValue: cfg["block"] as! String)!,
                               layers: (cfg["layers"] as! [NSNumber]).map(\.intValue),
                               classes: (cfg["classes"] as! NSNumber).intValue,
                               cifarStem: cfg["cifar_stem"] as! Bool,
                               baseWidth: (cfg["base_width"] as! NSNumber).intValue)
            XCTAssertEqual(model.stateDict().keys, (m["state_keys"] as! [String]), "\(name): state dict order")
            XCTAssertEqual(model.parameterCount, (m["parameter_count"] as! NSNumber).intValue, name)
            try model.load(from: JSONFixture.url(m["file"] as! String, in: .module))
            model.eval()
            let logits = withNoGrad { model(JSONFixture.tensor(m["input"])) }
            TensorCheck.close(logits, JSONFixture.tensor(m["logits"]), rtol: 1e-4, atol: 1e-5, "\(name) logits")
        }
    }

    func testSmallMLPLearnsAFixedSeedToyProblemPerfectly() {
        GlobalRandom.seed(42)
        var gen = SeededGenerator(seed: 42)
        // XOR of the signs of two coordinates: not linearly separable.
        let n = 64
        let x = Tensor.rand([n, 2], low: -1, high: 1, generator: &gen)
        let xs = x.scalars
        let labels = (0..<n).map { (xs[2 * $0] > 0) != (xs[2 * $0 + 1] > 0) ? 1 : 0 }
        let model = MLP(widths: [2, 32, 32, 2], activation: .relu)
        let opt = Adam(model, lr: 0.02)
        func accuracy(_ logits: Tensor) -> Float {
            let predicted = logits.argmax(axis: 1).scalars
            return Float(zip(predicted, labels).filter { Int($0) == $1 }.count) / Float(n)
        }
        var steps = 0
        while steps < 300 {
            opt.zeroGrad()
            let logits = model(x)
            if accuracy(logits) == 1 { break }
            crossEntropy(logits, labels).backward()
            opt.step()
            steps += 1
        }
        model.eval()
        let final = withNoGrad { accuracy(model(x)) }
        XCTAssertEqual(final, 1, "training accuracy after \(steps) Adam steps (limit 300)")
    }

    func testATrainingStepLeavesNoLiveBuffersBehind() {
        GlobalRandom.seed(8)
        let model = CIFARResNet(depth: 8, classes: 4)
        let opt = SGD(model, lr: 0.1, momentum: 0.9, weightDecay: 5e-4)
        let x = Tensor.randn([2, 3, 8, 8])
        let y = [1, 3]
        func step() {
            opt.zeroGrad()
            let loss = crossEntropy(model(x), y)
            loss.backward()
            clipGradNorm(model, maxNorm: 5)
            opt.step()
        }
        step()                        // creates the momentum buffers (kept state)
        opt.zeroGrad()
        let start = LiveBuffers.count
        step()
        opt.zeroGrad()                // drop the gradients; the graph is gone with the loss
        XCTAssertEqual(LiveBuffers.count, start)
    }
}
