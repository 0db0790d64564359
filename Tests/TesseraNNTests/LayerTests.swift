import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN
@testable import TesseraModels

final class LayerTests: XCTestCase {
    private func size(_ a: [String: Any], _ k: String) -> Size2 {
        let v = (a[k] as! [NSNumber]).map(\.intValue)
        return Size2(v[0], v[1])
    }
    private func int(_ a: [String: Any], _ k: String) -> Int { (a[k] as! NSNumber).intValue }
    private func float(_ a: [String: Any], _ k: String) -> Float { (a[k] as! NSNumber).floatValue }
    private func bool(_ a: [String: Any], _ k: String) -> Bool { (a[k] as? Bool) ?? false }

    private func makeLayer(_ kind: String, _ a: [String: Any]) -> Module {
        switch kind {
        case "Linear": return Linear(int(a, "in"), int(a, "out"), bias: bool(a, "bias"))
        case "Conv2d":
            return Conv2d(int(a, "in"), int(a, "out"), kernelSize: size(a, "kernel"), stride: size(a, "stride"),
                          padding: size(a, "padding"), dilation: size(a, "dilation"), groups: int(a, "groups"), bias: bool(a, "bias"))
        case "BatchNorm1d":
            return BatchNorm1d(int(a, "features"), eps: float(a, "eps"), momentum: (a["momentum"] as? NSNumber)?.floatValue)
        case "BatchNorm2d":
            return BatchNorm2d(int(a, "features"), eps: float(a, "eps"), momentum: (a["momentum"] as? NSNumber)?.floatValue)
        case "MaxPool2d": return MaxPool2d(kernelSize: size(a, "kernel"), stride: size(a, "stride"), padding: size(a, "padding"))
        case "AvgPool2d":
            return AvgPool2d(kernelSize: size(a, "kernel"), stride: size(a, "stride"), padding: size(a, "padding"),
                             countIncludePad: bool(a, "count_include_pad"))
        case "AdaptiveAvgPool2d": return AdaptiveAvgPool2d(size(a, "output"))
        case "Flatten": return Flatten(startDim: int(a, "start"), endDim: int(a, "end"))
        case "Identity": return Identity()
        case "Dropout": return Dropout(p: float(a, "p"))
        case "ReLU": return ReLU()
        case "LeakyReLU": return LeakyReLU(negativeSlope: float(a, "negative_slope"))
        case "Sigmoid": return Sigmoid()
        case "Tanh": return Tanh()
        case "GELU": return GELU()
        case "Sequential":
            let w = (a["widths"] as! [NSNumber]).map(\.intValue)
            return Sequential(Linear(w[0], w[1]), ReLU(), Linear(w[1], w[2]))
        case "ZeroPadShortcut": return ZeroPadShortcut(stride: int(a, "stride"), padding: int(a, "padding"))
        case "CIFARBasicBlock": return CIFARBasicBlock(inPlanes: int(a, "in"), planes: int(a, "planes"), stride: int(a, "stride"))
        case "BasicBlock": return BasicBlock(inPlanes: int(a, "in"), planes: int(a, "planes"), stride: int(a, "stride"))
        case "Bottleneck": return Bottleneck(inPlanes: int(a, "in"), planes: int(a, "planes"), stride: int(a, "stride"))
        default: fatalError("unknown layer \(kind)")
        }
    }

    /// Forward: rtol 1e-4, atol 1e-5. Gradients: rtol 1e-4, atol 1e-4 — gradients that are
    /// mathematically ~0 (a shift followed by a training-mode batch norm) are float32
    /// cancellation noise of that size on both sides.
    private let gradAtol = 1e-4

    func testEveryLayerMatchesPyTorchForwardAndBackward() throws {
        let fixture = try JSONFixture.object("layers.json", in: .module)
        let cases = fixture["cases"] as! [[String: Any]]
        var kinds = Set<String>()
        for c in cases {
            let name = c["name"] as! String, kind = c["layer"] as! String
            kinds.insert(kind)
            let args = c["args"] as! [String: Any]
            let layer = makeLayer(kind, args)
            var state = StateDict()
            for (k, v) in JSONFixture.tensors(c["state"]) { state.set(k, v) }
            // Strict: the layer's parameter and buffer names are PyTorch's.
            XCTAssertNoThrow(try layer.loadStateDict(state), name)
            layer.train((args["train"] as? Bool) ?? true)

            var x = JSONFixture.tensor(c["input"])
            x.requiresGrad = true
            let y = layer(x)
            TensorCheck.close(y, JSONFixture.tensor(c["output"]), rtol: 1e-4, atol: 1e-5, "\(name) forward")
            y.backward(JSONFixture.tensor(c["upstream"]))
            if let gx = x.grad {
                TensorCheck.close(gx, JSONFixture.tensor(c["grad_input"]), rtol: 1e-4, atol: gradAtol, "\(name) grad input")
            } else {
                XCTFail("\(name): no gradient reached the input")
            }
            let params = Dictionary(uniqueKeysWithValues: layer.namedParameters().map { ($0.name, $0.tensor) })
            let expectedGrads = JSONFixture.tensors(c["grad_params"])
            XCTAssertEqual(Set(params.keys), Set(expectedGrads.keys), name)
            for (k, g) in expectedGrads {
                guard let got = params[k]?.grad else { XCTFail("\(name): no gradient for \(k)"); continue }
                TensorCheck.close(got, g, rtol: 1e-4, atol: gradAtol, "\(name) grad \(k)")
            }
            // Buffers after the call (running statistics, num_batches_tracked).
            let sd = layer.stateDict()
            for (k, v) in JSONFixture.tensors(c["state_after"]) {
                guard let got = sd[k] else { XCTFail("\(name): no buffer \(k)"); continue }
                TensorCheck.close(got, v, rtol: 1e-5, atol: 1e-6, "\(name) buffer \(k)")
            }
        }
        for required in ["Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
                         "Dropout", "Flatten", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Sequential"] {
            XCTAssertTrue(kinds.contains(required), "layers.json has no \(required) case")
        }
    }

    func testDefaultInitializationFollowsPyTorchBounds() {
        GlobalRandom.seed(3)
        let l = Linear(50, 40)
        let bound = 1 / Float(50).squareRoot()
        XCTAssertTrue(l.weight.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertTrue(l.bias!.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(l.weight.scalars.map { abs($0) }.max()!, 0.9 * bound, "weights should span U(-1/√fan_in, 1/√fan_in)")
        let c = Conv2d(4, 8, kernelSize: 3)
        let cb = 1 / Float(4 * 9).squareRoot()
        XCTAssertTrue(c.weight.scalars.allSatisfy { abs($0) <= cb })
        let bn = BatchNorm2d(5)
        XCTAssertEqual(bn.weight!.scalars, [1, 1, 1, 1, 1])
        XCTAssertEqual(bn.bias!.scalars, [0, 0, 0, 0, 0])
        XCTAssertEqual(bn.runningVar!.scalars, [1, 1, 1, 1, 1])
    }

    func testDropoutDropsInTrainingAndPassesThroughInEvaluation() {
        let d = Dropout(p: 0.5, generator: SeededGenerator(seed: 9))
        let x = Tensor.ones([1000])
        let y = d(x).scalars
        XCTAssertTrue(y.allSatisfy { $0 == 0 || $0 == 2 })
        let kept = y.filter { $0 != 0 }.count
        XCTAssertTrue((400...600).contains(kept), "kept \(kept) of 1000 at p = 0.5")
        d.eval()
        XCTAssertEqual(d(x).scalars, x.scalars)
    }

    func testBatchNormForwardReLUIsForwardThenReLUAndCountsOneBatch() {
        let x = Tensor([1, -2, 3, 4, -5, 7, 0.5, 2], shape: [4, 2])
        let fused = BatchNorm1d(2), plain = BatchNorm1d(2)
        for bn in [fused, plain] { bn.weight!.assign(Tensor([1.5, 0.5], shape: [2])); bn.bias!.assign(Tensor([-0.2, 0.3], shape: [2])) }
        for training in [true, false] {
            if !training { fused.eval(); plain.eval() }
            let a = fused(x, then: .relu), b = plain(x).relu()
            XCTAssertEqual(a.shape, b.shape)
            for (u, v) in zip(a.scalars, b.scalars) { XCTAssertEqual(u, v, accuracy: 1e-6, "training \(training)") }
            XCTAssertTrue(a.scalars.contains(0), "some values are cut by the ReLU")
            XCTAssertEqual(fused.runningMean!.scalars, plain.runningMean!.scalars)
            XCTAssertEqual(fused.runningVar!.scalars, plain.runningVar!.scalars)
            XCTAssertEqual(fused.numBatchesTracked!.item(), 1)
            XCTAssertEqual(fused.lastOutputShape, [4, 2])
        }
    }

    func testBatchNormCountsTrainingBatchesOnly() {
        let bn = BatchNorm1d(2)
        let x = Tensor([1, 2, 3, 4, 5, 7], shape: [3, 2])
        _ = bn(x); _ = bn(x)
        XCTAssertEqual(bn.numBatchesTracked!.item(), 2)
        bn.eval()
        _ = bn(x)
        XCTAssertEqual(bn.numBatchesTracked!.item(), 2)
        XCTAssertEqual(bn.stateDict().dtype(of: "num_batches_tracked"), .int64)
    }
}
