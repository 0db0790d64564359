import XCTest
import TesseraTestSupport
import Tessera
import TesseraNN
import TesseraModels

final class FastNetTests: XCTestCase {
    func testShapesAndParameterCount() {
        let net = CIFARFastNet()
        let y = withNoGrad { net(Tensor.zeros([2, 3, 32, 32])) }
        XCTAssertEqual(y.shape, [2, 10])
        // whiten 24·12 + 24; groups: 24·64·9 + 64·64·9, 64·256·9 + 256·256·9, 256·256·9 ·2; BN 2·(64 + 256 + 256)·2; fc 256·10
        let expected = 24 * 12 + 24 + (24 * 64 * 9 + 64 * 64 * 9) + (64 * 256 * 9 + 256 * 256 * 9) + 2 * 256 * 256 * 9
            + 2 * 2 * (64 + 256 + 256) + 256 * 10
        XCTAssertEqual(net.parameterCount, expected)
        XCTAssertEqual(try ModelZoo.parameterCount("fastnet"), expected)
        // Batch-norm scales are not trained.
        XCTAssertFalse(net.namedParameters().first { $0.name == "layer1.norm1.weight" }!.tensor.requiresGrad)
    }

    func testWhiteningDecorrelatesPatches() throws {
        var gen = SeededGenerator(seed: 7)
        // Correlated channels: the green and blue planes follow red.
        let base = Tensor.rand([8, 1, 12, 12], generator: &gen)
        let images = Tensor.concat([base, base * 0.8 + Tensor.rand([8, 1, 12, 12], generator: &gen) * 0.2, base * 0.5], axis: 1)
        let net = CIFARFastNet(widths: [4, 4, 4])
        try net.initializeWhitening(from: images, eps: 1e-6)
        let w = net.namedParameters().first { $0.name == "whiten.weight" }!.tensor
        XCTAssertFalse(w.requiresGrad, "the whitening filters are frozen")
        // The first 12 filter responses (without bias) have a covariance close to the identity
        // in the directions the data spans (eigenvalues above eps).
        let responses = withNoGrad { images.conv2d(weight: w.slice(axis: 0, 0, 12)) }   // [8, 12, 11, 11]
        let flat = responses.permuted([1, 0, 2, 3]).reshaped([12, -1])
        let centered = flat - flat.mean(axes: [1], keepDims: true)
        let cov = centered.matmul(centered.T) / Float(flat.shape[1])
        var unitDirections = 0
        for k in 0..<12 where Swift.abs(cov[k, k] - 1) < 0.05 { unitDirections += 1 }
        XCTAssertGreaterThanOrEqual(unitDirections, 6, "whitened directions have unit variance: \(cov)")
        for a in 0..<12 { for b in 0..<12 where a != b { XCTAssertEqual(cov[a, b], 0, accuracy: 0.05) } }
    }

    func testDiracFiltersCopyTheirInputChannelAndLeaveTheRestAlone() {
        GlobalRandom.seed(5)
        let conv = Conv2d(3, 5, kernelSize: 3, padding: 1, bias: false)
        let before = conv.weight.scalars
        Init.dirac(conv.weight)
        var gen = SeededGenerator(seed: 6)
        let x = Tensor.randn([2, 3, 6, 7], generator: &gen)
        let y = withNoGrad { conv(x) }
        // Up to rounding: a 3×3 convolution of 3 channels and more runs as Winograd F(2×2, 3×3), whose
        // transforms of a one-hot kernel are not exact in floating point.
        let copied = y.slice(axis: 1, 0, 3).contiguous().scalars
        let worst = zip(copied, x.scalars).map { Swift.abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5, "filters 0..<3 are the identity")
        let per = 3 * 9
        XCTAssertEqual(Array(conv.weight.scalars[(3 * per)...]), Array(before[(3 * per)...]), "filters past the input channels keep their values")
        // A limit on the filter count.
        let partial = Conv2d(4, 4, kernelSize: 3, padding: 1, bias: false)
        let kept = partial.weight.scalars
        Init.dirac(partial.weight, filters: 1)
        XCTAssertEqual(Array(partial.weight.scalars[36...]), Array(kept[36...]))
        XCTAssertEqual(partial.weight.scalars[4], 1)
    }

    func testConvGroupsStartAsIdentityOnTheirInputChannels() {
        let net = CIFARFastNet(widths: [8, 16, 16])
        let w = net.namedParameters().first { $0.name == "layer2.conv2.weight" }!.tensor   // [16, 16, 3, 3]
        var expected = [Float](repeating: 0, count: 16 * 16 * 9)
        for i in 0..<16 { expected[(i * 16 + i) * 9 + 4] = 1 }
        XCTAssertEqual(w.scalars, expected)
        let w1 = net.namedParameters().first { $0.name == "layer2.conv1.weight" }!.tensor   // [16, 8, 3, 3]: 8 identity filters
        XCTAssertEqual(w1.slice(axis: 0, 0, 1).contiguous().scalars.filter { $0 != 0 }, [1])
        XCTAssertGreaterThan(w1.slice(axis: 0, 8, 16).contiguous().scalars.filter { $0 != 0 }.count, 500, "the other filters are random")
    }
}

final class FastNetVariantTests: XCTestCase {
    func testFastNet95And96ParameterCounts() throws {
        // fastnet95, widths 128/384/384 (no residual):
        //   whiten 24·3·2·2 + 24 = 312
        //   layer1 24·128·9 + 128·128·9 = 175,104      BN 2·2·128 = 512
        //   layer2 128·384·9 + 384·384·9 = 1,769,472   BN 2·2·384 = 1,536
        //   layer3 2·384·384·9 = 2,654,208             BN 1,536
        //   fc 384·10 = 3,840                          total 4,606,520
        let f95 = 312 + (24 * 128 * 9 + 128 * 128 * 9) + 2 * 2 * 128 + (128 * 384 * 9 + 384 * 384 * 9) + 2 * 2 * 384
            + 2 * 384 * 384 * 9 + 2 * 2 * 384 + 384 * 10
        XCTAssertEqual(f95, 4_606_520)
        // fastnet96, widths 128/384/512, three convolutions and three batch norms per group:
        //   whiten 312
        //   layer1 24·128·9 + 2·128·128·9 = 322,560     BN 3·2·128 = 768
        //   layer2 128·384·9 + 2·384·384·9 = 3,096,576  BN 3·2·384 = 2,304
        //   layer3 384·512·9 + 2·512·512·9 = 6,488,064  BN 3·2·512 = 3,072
        //   fc 512·10 = 5,120                           total 9,918,776
        let f96 = 312 + (24 * 128 * 9 + 2 * 128 * 128 * 9) + 3 * 2 * 128 + (128 * 384 * 9 + 2 * 384 * 384 * 9) + 3 * 2 * 384
            + (384 * 512 * 9 + 2 * 512 * 512 * 9) + 3 * 2 * 512 + 512 * 10
        XCTAssertEqual(f96, 9_918_776)
        XCTAssertEqual(try ModelZoo.parameterCount("fastnet95"), f95)
        XCTAssertEqual(try ModelZoo.parameterCount("fastnet96"), f96)
        // The PyTorch twins of scripts/fixtures/fast.py agree.
        let counts = try JSONFixture.object("fast.json", in: .module)["parameter_counts"] as! [String: NSNumber]
        XCTAssertEqual(counts["fastnet"]?.intValue, try ModelZoo.parameterCount("fastnet"))
        XCTAssertEqual(counts["fastnet95"]?.intValue, f95)
        XCTAssertEqual(counts["fastnet96"]?.intValue, f96)
        XCTAssertEqual(try ModelZoo.parameterCount("fastnet96", classes: 100), f96 + 512 * 90)
    }

    // The PyTorch twin's state dict loads as it is and gives the same eval-mode logits
    // (rtol 1e-4, atol 1e-5), for the plain and the residual groups.
    func testPlainAndResidualNetsMatchTheirPyTorchTwins() throws {
        let models = try JSONFixture.object("fast.json", in: .module)["fastnets"] as! [[String: Any]]
        XCTAssertEqual(models.count, 2)
        for m in models {
            let name = m["name"] as! String
            let widths = (m["widths"] as! [NSNumber]).map(\.intValue)
            let net = CIFARFastNet(classes: (m["classes"] as! NSNumber).intValue, widths: widths, residual: m["residual"] as! Bool)
            XCTAssertEqual(net.stateDict().keys, m["state_keys"] as! [String], "\(name): PyTorch's names and order")
            var sd = StateDict()
            for (k, t) in JSONFixture.tensors(m["state"]) { sd.set(k, t) }
            try net.loadStateDict(sd)
            net.eval()
            let y = withNoGrad { net(JSONFixture.tensor(m["input"])) }
            TensorCheck.close(y, JSONFixture.tensor(m["logits"]), rtol: 1e-4, atol: 1e-5, "\(name) logits vs PyTorch")
        }
    }

    func testResidualGroupsStartAsIdentityAndFreezeTheirScales() {
        let net = CIFARFastNet(widths: [8, 16, 16], residual: true)
        XCTAssertTrue(net.layer1.isResidual)
        XCTAssertFalse(CIFARFastNet(widths: [8, 16, 16]).layer1.isResidual)
        let w3 = net.namedParameters().first { $0.name == "layer3.conv3.weight" }!.tensor   // [16, 16, 3, 3]
        var expected = [Float](repeating: 0, count: 16 * 16 * 9)
        for i in 0..<16 { expected[(i * 16 + i) * 9 + 4] = 1 }
        XCTAssertEqual(w3.scalars, expected)
        for g in 1...3 {
            for n in 1...3 {
                XCTAssertFalse(net.namedParameters().first { $0.name == "layer\(g).norm\(n).weight" }!.tensor.requiresGrad)
                XCTAssertTrue(net.namedParameters().first { $0.name == "layer\(g).norm\(n).bias" }!.tensor.requiresGrad)
            }
        }
        XCTAssertEqual(net.convolutionFilterNames.count, 9)
        let y = withNoGrad { net(Tensor.randn([2, 3, 32, 32])) }
        XCTAssertEqual(y.shape, [2, 10])
        XCTAssertTrue(y.allFinite)
    }

    func testWhiteningBiasFreezeStopsItsTraining() {
        GlobalRandom.seed(12)
        let net = CIFARFastNet(widths: [4, 8, 8])
        XCTAssertEqual(net.whiteningBiasName, "whiten.bias")
        let bias = { net.namedParameters().first { $0.name == net.whiteningBiasName }!.tensor }
        let opt = SGD(net, lr: 0.1, momentum: 0.9)
        let x = Tensor.randn([2, 3, 32, 32])
        net(x).sum().backward()
        opt.step()
        XCTAssertNotNil(opt.state["whiten.bias"], "trained before the freeze")
        XCTAssertEqual(net.freezeWhiteningBias(), 1)
        XCTAssertFalse(bias().requiresGrad)
        let frozen = bias().scalars
        opt.zeroGrad()
        net(x).sum().backward()
        opt.step()
        XCTAssertEqual(bias().scalars, frozen, "a module-backed optimizer skips it after the freeze")
    }

    func testWhiteningBiasFreezeStopsAListBackedOptimizerThatZeroesGradientsFirst() {
        // The trainer's optimizers hold the trainable parameters as a list made at the start;
        // freezing replaces the module's tensor, and the list's copy gets no gradient again once
        // the optimizer has cleared it (the trainer calls zeroGrad() before backward()).
        GlobalRandom.seed(13)
        let net = CIFARFastNet(widths: [4, 8, 8])
        let opt = Muon(parameters: net.namedParameters().filter(\.tensor.requiresGrad), lr: 0.1, excluding: ["fc.weight"])
        let x = Tensor.randn([2, 3, 32, 32])
        func step() { opt.zeroGrad(); net(x).sum().backward(); opt.step() }
        step()
        let value = { (name: String) in net.namedParameters().first { $0.name == name }!.tensor.scalars }
        let bias = value("whiten.bias"), normBias = value("layer1.norm1.bias")
        net.freezeWhiteningBias()
        step()
        step()
        XCTAssertEqual(value("whiten.bias"), bias)
        XCTAssertNotEqual(value("layer1.norm1.bias"), normBias, "the rest still trains")
    }
}
