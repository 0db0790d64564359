import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN

/// A module holding one parameter.
private final class One: Module {
    @Parameter var p: Tensor
    init(_ p: Tensor) {
        self.p = p
        super.init()
    }
}

final class WeightAveragingTests: XCTestCase {
    /// The fixture's model: names as `nn.Sequential(Conv2d(2, 3, 3), BatchNorm2d(3), Flatten(), Linear(12, 5))`,
    /// with the batch-norm scale frozen.
    private func smallModel() -> Sequential {
        let m = Sequential(Conv2d(2, 3, kernelSize: 3), BatchNorm2d(3), Flatten(), Linear(12, 5))
        m.freeze(prefix: "1.weight")
        return m
    }

    private func stateDict(_ tensors: [String: Tensor]) -> StateDict {
        var sd = StateDict()
        for (k, t) in tensors { sd.set(k, t) }
        return sd
    }

    private func load(_ model: Module, _ any: Any?) throws {
        try model.loadStateDict(stateDict(JSONFixture.tensors(any)))
    }

    private func check(_ sd: StateDict, _ expected: [String: Tensor], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(sd.keys), Set(expected.keys), what, file: file, line: line)
        for key in sd.keys {
            guard let e = expected[key] else { continue }
            TensorCheck.close(sd[key]!, e, rtol: 1e-6, atol: 1e-7, "\(what) \(key)", file: file, line: line)
        }
    }

    // Against torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay),
    // use_buffers=...): the averaged state dict after every update_parameters (rtol 1e-6, atol 1e-7;
    // the counter num_batches_tracked exactly, truncated as PyTorch's copy into int64 does).
    func testExponentialMovingAverageMatchesTorchAveragedModel() throws {
        let fixture = try JSONFixture.object("fast.json", in: .module)
        let cases = fixture["ema"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 2)
        for c in cases {
            let name = c["name"] as! String
            let model = smallModel()
            try load(model, c["initial"])
            let ema = ExponentialMovingAverage(model, decay: (c["decay"] as! NSNumber).floatValue, includesBuffers: c["use_buffers"] as! Bool)
            XCTAssertEqual(ema.names, model.stateDict().keys)
            for (i, u) in (c["updates"] as! [[String: Any]]).enumerated() {
                try load(model, u["model"])
                ema.update()
                XCTAssertEqual(ema.updateCount, (u["n_averaged"] as! NSNumber).intValue)
                let expected = JSONFixture.tensors(u["averaged"])
                check(ema.averagedStateDict(), expected, "\(name) update \(i + 1)")
                XCTAssertEqual(ema.averagedStateDict().dtype(of: "1.num_batches_tracked"), .int64)
                XCTAssertEqual(ema.averaged["1.num_batches_tracked"]!.scalars, expected["1.num_batches_tracked"]!.scalars, "\(name) counter")
            }
        }
    }

    // Against airbench's LookaheadState: the model's state after every step (deltas standing in
    // for the optimizer), with updates at steps 5 and 10 and the final reset at step 11.
    func testLookaheadMatchesAirbenchsLookaheadState() throws {
        let fixture = try JSONFixture.object("fast.json", in: .module)
        let f = fixture["lookahead"] as! [String: Any]
        let total = (f["total_steps"] as! NSNumber).intValue, interval = (f["interval"] as! NSNumber).intValue
        let model = smallModel()
        try load(model, f["initial"])
        let lookahead = Lookahead(model, totalSteps: total, interval: interval)
        XCTAssertFalse(lookahead.names.contains("1.num_batches_tracked"), "the integer counter is not averaged")
        XCTAssertEqual(lookahead.names.count, model.stateDict().count - 1)
        for (step, alpha) in (f["alpha"] as! [NSNumber]).enumerated() {
            XCTAssertEqual(lookahead.decay(at: step), alpha.floatValue, accuracy: 1e-6 * max(1, alpha.floatValue), "α(\(step))")
        }
        var changes: [Int] = []
        for (i, s) in (f["steps"] as! [[String: Any]]).enumerated() {
            let deltas = JSONFixture.tensors(s["deltas"])
            let sd = model.stateDict()
            withNoGrad {
                for key in sd.keys {
                    let t = sd[key]!
                    if let d = deltas[key] { t.assign(t + d) } else { t.assign(t + 1) }   // the counter
                }
            }
            if lookahead.step() { changes.append(i + 1) }
            check(model.stateDict(), JSONFixture.tensors(s["model"]), "lookahead step \(i + 1)")
        }
        XCTAssertEqual(changes, [5, 10, 11])
        XCTAssertEqual(lookahead.stepCount, total)
    }

    func testLookaheadUpdateResetsTheWeightsToTheNewAverage() {
        var p = Tensor([2, 4], shape: [2])
        p.requiresGrad = true
        let m = One(p)
        p = m.p
        let la = Lookahead(m, totalSteps: 100)
        withNoGrad { p.assign(Tensor([4, 0], shape: [2])) }
        la.update(decay: 0.25)                      // e = 0.25·[2, 4] + 0.75·[4, 0]
        XCTAssertEqual(p.scalars, [3.5, 1])
        XCTAssertEqual(la.averaged["p"]!.scalars, [3.5, 1])
        XCTAssertEqual(la.decay(at: 50), Float(Foundation.pow(0.95, 5) * 0.125), accuracy: 1e-7)
    }

    func testSwapInAndOutForEvaluationRestoresTheWeightsExactly() throws {
        GlobalRandom.seed(9)
        let model = smallModel()
        let ema = ExponentialMovingAverage(model, decay: 0.5)
        var gen = SeededGenerator(seed: 2)
        for _ in 0..<3 {
            for (_, t) in model.namedParameters() { withNoGrad { t.assign(t + Tensor.randn(t.shape, generator: &gen)) } }
            ema.update()
        }
        let storages = model.namedParameters().map(\.tensor.storage)
        let own = model.stateDict().keys.map { model.stateDict()[$0]!.scalars }
        let x = Tensor.randn([2, 2, 4, 4], generator: &gen)
        // The averaged model, loaded separately, against the swapped-in one, in evaluation mode.
        let reference = smallModel()
        try reference.loadStateDict(ema.averagedStateDict())
        reference.eval(); model.eval()
        let expected = withNoGrad { reference(x) }
        let y = ema.withAveragedWeights {
            XCTAssertTrue(ema.isSwappedIn)
            return withNoGrad { model(x) }
        }
        XCTAssertFalse(ema.isSwappedIn)
        XCTAssertEqual(y.scalars, expected.scalars)
        XCTAssertEqual(model.stateDict().keys.map { model.stateDict()[$0]!.scalars }, own, "the module's own values are back, bit for bit")
        XCTAssertTrue(zip(storages, model.namedParameters().map(\.tensor.storage)).allSatisfy { $0 === $1 }, "storage is kept")
        // For good: the module takes the average.
        ema.copyAverageIntoModule()
        XCTAssertEqual(withNoGrad { model(x) }.scalars, expected.scalars)
    }

    func testAveragesRoundTripThroughTheirStateDicts() throws {
        GlobalRandom.seed(10)
        let model = smallModel()
        let ema = ExponentialMovingAverage(model, decay: 0.9)
        let la = Lookahead(model, totalSteps: 20, interval: 2)
        var gen = SeededGenerator(seed: 4)
        for _ in 0..<4 {
            for (_, t) in model.namedParameters() { withNoGrad { t.assign(t + Tensor.randn(t.shape, generator: &gen)) } }
            ema.update(); la.step()
        }
        let emaCopy = ExponentialMovingAverage(model, decay: 0.9)
        try emaCopy.loadStateDict(Safetensors.decode(Safetensors.encode(ema.stateDict())))
        XCTAssertEqual(emaCopy.updateCount, 4)
        XCTAssertTrue(ema.stateDict().keys.contains("module.1.running_mean"))
        let laCopy = Lookahead(model, totalSteps: 20, interval: 2)
        try laCopy.loadStateDict(Safetensors.decode(Safetensors.encode(la.stateDict())))
        XCTAssertEqual(laCopy.stepCount, 4)
        for name in ema.names { XCTAssertEqual(emaCopy.averaged[name]!.scalars, ema.averaged[name]!.scalars, name) }
        for name in la.names { XCTAssertEqual(laCopy.averaged[name]!.scalars, la.averaged[name]!.scalars, name) }
        var bad = ema.stateDict()
        bad.remove("module.0.weight")
        XCTAssertThrowsError(try emaCopy.loadStateDict(bad)) { XCTAssertTrue("\($0)".contains("module.0.weight"), "\($0)") }
    }
}
