import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN

final class OptimizerTests: XCTestCase {
    private func number(_ any: Any?) -> Float? { (any as? NSNumber)?.floatValue }

    private func makeOptimizer(_ kind: String, _ h: [String: Any], _ params: [(name: String, tensor: Tensor)]) -> Optimizer {
        let lr = number(h["lr"])!
        let betas = (h["betas"] as? [NSNumber]).map { ($0[0].floatValue, $0[1].floatValue) }
        switch kind {
        case "SGD":
            return SGD(parameters: params, lr: lr, momentum: number(h["momentum"]) ?? 0, dampening: number(h["dampening"]) ?? 0,
                       nesterov: (h["nesterov"] as? Bool) ?? false, weightDecay: number(h["weight_decay"]) ?? 0)
        case "Adam":
            return Adam(parameters: params, lr: lr, betas: betas ?? (0.9, 0.999), eps: number(h["eps"]) ?? 1e-8,
                        weightDecay: number(h["weight_decay"]) ?? 0, amsgrad: (h["amsgrad"] as? Bool) ?? false)
        case "AdamW":
            return AdamW(parameters: params, lr: lr, betas: betas ?? (0.9, 0.999), eps: number(h["eps"]) ?? 1e-8,
                         weightDecay: number(h["weight_decay"]) ?? 1e-2, amsgrad: (h["amsgrad"] as? Bool) ?? false)
        case "RMSprop":
            return RMSProp(parameters: params, lr: lr, alpha: number(h["alpha"]) ?? 0.99, eps: number(h["eps"]) ?? 1e-8,
                           weightDecay: number(h["weight_decay"]) ?? 0, momentum: number(h["momentum"]) ?? 0,
                           centered: (h["centered"] as? Bool) ?? false)
        default:
            fatalError("unknown optimizer \(kind)")
        }
    }

    /// A fixture case's initial "w" and "b" as fresh leaves that require a gradient.
    private func leaves(_ c: [String: Any]) -> [(name: String, tensor: Tensor)] {
        let initial = JSONFixture.tensors(c["initial"])
        return ["w", "b"].map { n in
            var t = initial[n]!.clone()
            t.requiresGrad = true
            return (n, t)
        }
    }

    func testEveryOptimizerMatchesPyTorchAfterEveryStep() throws {
        let fixture = try JSONFixture.object("optimizers.json", in: .module)
        let cases = fixture["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 9)
        for c in cases {
            let name = c["name"] as! String
            let params = leaves(c)
            let opt = makeOptimizer(c["optimizer"] as! String, c["hyper"] as! [String: Any], params)
            let steps = c["steps"] as! [[String: Any]]
            XCTAssertGreaterThanOrEqual(steps.count, 5, name)
            for (i, s) in steps.enumerated() {
                let grads = JSONFixture.tensors(s["grads"])
                for p in params { p.tensor.grad = grads[p.name]! }
                opt.step()
                let expected = JSONFixture.tensors(s["params"])
                for p in params {
                    // 1e-6 relative (float32-fair: plus a few ulps of absolute slack near zero).
                    TensorCheck.close(p.tensor, expected[p.name]!, rtol: 1e-6, atol: 1e-7, "\(name) step \(i + 1) \(p.name)")
                }
            }
        }
    }

    /// PyTorch's `OneCycleLR` with `cycle_momentum` (its default) cycles SGD's momentum and
    /// AdamW's β₁ opposite to the rate; `LRScheduler` does the same through `scheduledMomentum`.
    func testOneCycleCyclesMomentumAndBetaOneAsPyTorchAndTheParametersFollow() throws {
        let fixture = try JSONFixture.object("cycled_momentum.json", in: .module)
        let cases = fixture["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            let name = c["name"] as! String
            let params = leaves(c)
            let opt = makeOptimizer(c["optimizer"] as! String, c["hyper"] as! [String: Any], params)
            let schedule = OneCycleLR(maxLR: number(c["max_lr"])!, totalSteps: c["total_steps"] as! Int)
            let scheduler = LRScheduler(opt, schedule: schedule)
            for (i, s) in (c["steps"] as! [[String: Any]]).enumerated() {
                XCTAssertEqual(Double(opt.lr), (s["lr"] as! NSNumber).doubleValue, accuracy: 1e-7, "\(name) lr at step \(i)")
                XCTAssertEqual(Double(opt.scheduledMomentum!), (s["momentum"] as! NSNumber).doubleValue, accuracy: 1e-7, "\(name) momentum at step \(i)")
                let grads = JSONFixture.tensors(s["grads"])
                for p in params { p.tensor.grad = grads[p.name]! }
                opt.step()
                scheduler.step()
                let expected = JSONFixture.tensors(s["params"])
                for p in params {
                    TensorCheck.close(p.tensor, expected[p.name]!, rtol: 1e-5, atol: 1e-6, "\(name) step \(i + 1) \(p.name)")
                }
            }
        }
        // Without cycling, the optimizer's own momentum stays.
        let sgd = SGD(parameters: [("x", Tensor.zeros([1]))], lr: 0.1, momentum: 0.9)
        let fixed = LRScheduler(sgd, schedule: OneCycleLR(maxLR: 0.5, totalSteps: 10, cycleMomentum: false))
        fixed.step()
        XCTAssertEqual(sgd.momentum, 0.9)
        XCTAssertNil(Optimizer(parameters: [("x", Tensor.zeros([1]))], lr: 0.1).scheduledMomentum, "an optimizer without momentum has none to cycle")
    }

    func testParameterGroupUpdatesLikeASeparateOptimizerWithTheScaledRateAndItsOwnDecay() {
        var gen = SeededGenerator(seed: 11)
        let w0 = Tensor.randn([3, 4], generator: &gen), b0 = Tensor.randn([4], generator: &gen)
        let grads = (0..<4).map { _ in (Tensor.randn([3, 4], generator: &gen), Tensor.randn([4], generator: &gen)) }
        func leaf(_ t: Tensor) -> Tensor { var c = t.clone(); c.requiresGrad = true; return c }
        let makers: [(String, ([(name: String, tensor: Tensor)], Float, Float) -> Optimizer)] = [
            ("SGD", { SGD(parameters: $0, lr: $1, momentum: 0.85, nesterov: true, weightDecay: $2) }),
            ("Adam", { Adam(parameters: $0, lr: $1, weightDecay: $2) }),
            ("AdamW", { AdamW(parameters: $0, lr: $1, weightDecay: $2) }),
            ("RMSProp", { RMSProp(parameters: $0, lr: $1, weightDecay: $2, momentum: 0.5) }),
        ]
        for (name, make) in makers {
            // One optimizer with a group for "b" (lr × 8, weight decay 0.25) ...
            let w = leaf(w0), b = leaf(b0)
            let grouped = make([("w", w), ("b", b)], 0.01, 0.1)
            grouped.groups = [ParameterGroup(names: ["b"], lrScale: 8, weightDecay: 0.25)]
            // ... against two plain optimizers, one per parameter.
            let wRef = leaf(w0), bRef = leaf(b0)
            let plainW = make([("w", wRef)], 0.01, 0.1), plainB = make([("b", bRef)], 0.08, 0.25)
            for (gw, gb) in grads {
                // The schedule changes the base rate; the group follows it.
                grouped.lr *= 0.9; plainW.lr *= 0.9; plainB.lr *= 0.9
                w.grad = gw; b.grad = gb; wRef.grad = gw; bRef.grad = gb
                grouped.step(); plainW.step(); plainB.step()
            }
            TensorCheck.close(w, wRef, rtol: 1e-6, atol: 1e-7, "\(name) ungrouped parameter")
            TensorCheck.close(b, bRef, rtol: 1e-6, atol: 1e-7, "\(name) grouped parameter")
            XCTAssertNotEqual(b.scalars, b0.scalars)
        }
    }

    func testStepUpdatesModuleParametersInPlaceAndSkipsMissingGradients() {
        GlobalRandom.seed(1)
        let layer = Linear(3, 2)
        let storage = layer.weight.storage
        let before = layer.bias!.scalars
        let opt = SGD(layer, lr: 0.5)
        let loss = (layer.weight * layer.weight).sum()     // bias gets no gradient
        let w0 = layer.weight.scalars
        loss.backward()
        opt.step()
        XCTAssertTrue(layer.weight.storage === storage, "the optimizer must not replace the parameter tensor")
        XCTAssertEqual(layer.weight.scalars, w0.map { $0 - 0.5 * 2 * $0 })
        XCTAssertEqual(layer.bias!.scalars, before, "a parameter without gradient is left alone")
        XCTAssertNil(opt.state["bias"])
    }

    func testStateDictRoundTripResumesIdentically() throws {
        func run(split: Bool) throws -> [Float] {
            var p = Tensor([0.5, -1, 2], shape: [3])
            p.requiresGrad = true
            var opt = Adam(parameters: [("p", p)], lr: 0.1, amsgrad: true)
            for step in 0..<6 {
                if split && step == 3 {
                    let data = try Safetensors.encode(opt.stateDict())
                    let restored = Adam(parameters: [("p", p)], lr: 0.7, amsgrad: true)
                    try restored.loadStateDict(Safetensors.decode(data))
                    XCTAssertEqual(restored.lr, 0.1)
                    XCTAssertEqual(restored.state["p"]?.step, 3)
                    opt = restored
                }
                p.grad = Tensor([Float(step) - 2, 1, 0.5 * Float(step)], shape: [3])
                opt.step()
            }
            return p.scalars
        }
        XCTAssertEqual(try run(split: true), try run(split: false))
    }

    func testLoadingOptimizerStateForAnUnknownParameterThrows() {
        var p = Tensor.zeros([2])
        p.requiresGrad = true
        let opt = SGD(parameters: [("p", p)], lr: 0.1, momentum: 0.9)
        var sd = StateDict()
        sd.set("q.momentum_buffer", Tensor.zeros([2]))
        XCTAssertThrowsError(try opt.loadStateDict(sd)) { error in
            XCTAssertTrue("\(error)".contains("unknown parameter 'q'"), "\(error)")
        }
        var bad = StateDict()
        bad.set("p.momentum_buffer", Tensor.zeros([3]))
        XCTAssertThrowsError(try opt.loadStateDict(bad)) { error in
            XCTAssertTrue("\(error)".contains("shape [3]"), "\(error)")
        }
    }

    func testModuleOptimizerSeesFrozenAndReplacedParameters() {
        GlobalRandom.seed(2)
        let net = Sequential(Linear(2, 2), Linear(2, 1))
        let opt = SGD(net, lr: 0.1, momentum: 0.9)
        net.freeze(prefix: "0")
        let frozen = (net[0] as! Linear).weight.scalars
        let x = Tensor([1, 2], shape: [1, 2])
        net(x).sum().backward()
        opt.step()
        XCTAssertEqual((net[0] as! Linear).weight.scalars, frozen)
        XCTAssertNotNil(opt.state["1.weight"])
        XCTAssertNil(opt.state["0.weight"])
        // Unfreezing creates new autograd leaves; the module-backed optimizer follows them.
        net.unfreeze()
        opt.zeroGrad()
        net(x).sum().backward()
        opt.step()
        XCTAssertNotEqual((net[0] as! Linear).weight.scalars, frozen)
    }

    func testClipGradNormMatchesTorchDefinition() {
        var a = Tensor([3, 0], shape: [2]), b = Tensor([4], shape: [1])
        a.requiresGrad = true; b.requiresGrad = true
        a.grad = Tensor([3, 0], shape: [2]); b.grad = Tensor([4], shape: [1])
        let norm = clipGradNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5)
        let c: Float = 1 / (5 + 1e-6)
        XCTAssertEqual(a.grad!.scalars, [3 * c, 0])
        XCTAssertEqual(b.grad!.scalars, [4 * c])
        // Below the threshold nothing changes; the norm is still reported.
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(b.grad!.scalars, [4 * c])
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 10, normType: .infinity), 4 * c)
    }

    func testPenaltiesAreDifferentiableLossTerms() {
        var w = Tensor([1, -2, 3], shape: [3])
        w.requiresGrad = true
        let l2 = l2Penalty([w], strength: 0.5)
        XCTAssertEqual(l2.item(), 7)
        l2.backward()
        XCTAssertEqual(w.grad!.scalars, [1, -2, 3])
        w.grad = nil
        let l1 = l1Penalty([w], strength: 2)
        XCTAssertEqual(l1.item(), 12)
        l1.backward()
        XCTAssertEqual(w.grad!.scalars, [2, -2, 2])
    }
}
