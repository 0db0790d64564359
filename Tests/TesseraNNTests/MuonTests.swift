import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN
import TesseraModels

final class MuonTests: XCTestCase {
    private func leaf(_ t: Tensor) -> Tensor { var c = t.clone(); c.requiresGrad = true; return c }

    /// A matrix `U·diag(s)·Vᵀ` with random orthonormal U, V.
    private func matrix(rows: Int, cols: Int, singularValues s: [Float], generator: inout SeededGenerator) throws -> Tensor {
        let k = min(rows, cols)
        precondition(s.count == k)
        let u = try Linalg.qr(Tensor.randn([rows, k], generator: &generator)).Q
        let v = try Linalg.qr(Tensor.randn([cols, k], generator: &generator)).Q
        return (u * Tensor(s, shape: [1, k])).matmul(v.T)
    }

    // (a) The quintic's band. Measured over the matrices below (Gaussian, and spectra spread
    // over three decades): after 5 steps every singular value whose normalized input
    // σᵢ/‖G‖_F is at least 2e-3 lands in [0.682, 1.201]; the test allows [0.67, 1.21].
    func testOrthogonalizedSingularValuesLieInTheQuinticsBand() throws {
        var gen = SeededGenerator(seed: 21)
        var lo: Float = .infinity, hi: Float = 0
        var cases: [(String, Tensor)] = []
        for (r, c) in [(64, 216), (216, 64), (96, 96), (10, 256), (128, 1152)] {
            cases.append(("gaussian \(r)x\(c)", Tensor.randn([r, c], generator: &gen)))
        }
        var spread: [Tensor] = []
        for (r, c) in [(48, 80), (80, 48), (64, 64)] {
            let k = min(r, c)
            // Log-spaced from 1 down to 1e-3, so the smallest lie beyond the reach of 5 steps.
            let s = (0..<k).map { Float(Foundation.pow(10, -3 * Double($0) / Double(k - 1))) }
            spread.append(try matrix(rows: r, cols: c, singularValues: s, generator: &gen))
            cases.append(("spread \(r)x\(c)", spread.last!))
        }
        for (what, g) in cases {
            let frob = g.withUnsafeBufferPointer { $0.reduce(0) { $0 + Double($1) * Double($1) } }.squareRoot()
            let inputS = try Linalg.svd(g).S.scalars
            let outS = try Linalg.svd(Muon.orthogonalized(g, steps: 5)).S.scalars
            // The iteration maps each singular value alone; those below the threshold are still
            // rising and give the smallest outputs, so both sorted lists end with them.
            for (si, so) in zip(inputS, outS) where Double(si) / frob >= 2e-3 {
                XCTAssertGreaterThanOrEqual(so, 0.67, "\(what): σ \(si) → \(so)")
                XCTAssertLessThanOrEqual(so, 1.21, "\(what): σ \(si) → \(so)")
                lo = min(lo, so); hi = max(hi, so)
            }
        }
        print("MuonTests: singular values after 5 quintic steps lie in [\(lo), \(hi)]")
        // 3 steps (airbench94_muon's choice) leave the small singular values of a spread
        // spectrum short of the band.
        let three = try Linalg.svd(Muon.orthogonalized(spread[2], steps: 3)).S.scalars
        XCTAssertLessThan(three.min()!, 0.3)
        XCTAssertLessThanOrEqual(three.max()!, 1.21)
    }

    func testOrthogonalizedEqualsPolynomialOfTheSingularValuesInTheSameBasis() throws {
        // X = U·p(S)·Vᵀ: the left and right singular vectors are kept.
        var gen = SeededGenerator(seed: 5)
        let g = Tensor.randn([12, 30], generator: &gen)
        let (u, s, vt) = try Linalg.svd(g)
        let x = Muon.orthogonalized(g)
        let inner = u.T.matmul(x).matmul(vt.T)       // should be diagonal
        for i in 0..<12 { for j in 0..<12 where i != j { XCTAssertEqual(inner[i, j], 0, accuracy: 2e-5) } }
        // p is odd and scale-free: orthogonalizing 7·G gives the same result (ε aside).
        TensorCheck.close(Muon.orthogonalized(g * 7), x, rtol: 1e-5, atol: 1e-6, "scale invariance")
        XCTAssertGreaterThan(s[0], 0)
    }

    // (b) Against a float32 PyTorch Muon written from the published description, with
    // torch.optim.SGD for the other parameters (scripts/fixtures/fast.py).
    // Tolerance: rtol 1e-5, atol 5e-6 on the parameters (magnitude ~1), rtol 1e-5, atol 1e-6 on
    // the momentum buffers. Measured worst |Δ| 2.4e-7: summation order inside the GEMMs.
    func testMatchesThePyTorchReferenceAfterEveryStep() throws {
        let fixture = try JSONFixture.object("fast.json", in: .module)
        let cases = fixture["muon"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 3)
        var worst: Float = 0
        for c in cases {
            let name = c["name"] as! String
            let h = c["hyper"] as! [String: Any]
            let initial = JSONFixture.tensors(c["initial"])
            let names = ["conv.weight", "tall.weight", "conv.bias", "head.weight"]
            let params = names.map { (name: $0, tensor: leaf(initial[$0]!)) }
            let o = h["others"] as! [String: Any]
            let others = Muon.Others(lrScale: (o["lr_scale"] as! NSNumber).floatValue, momentum: (o["momentum"] as! NSNumber).floatValue,
                                     nesterov: o["nesterov"] as! Bool, weightDecay: (o["weight_decay"] as! NSNumber).floatValue)
            let opt = Muon(parameters: params, lr: (h["lr"] as! NSNumber).floatValue, momentum: (h["momentum"] as! NSNumber).floatValue,
                           nesterov: h["nesterov"] as! Bool, steps: (h["steps"] as! NSNumber).intValue, eps: (h["eps"] as! NSNumber).floatValue,
                           weightDecay: (h["weight_decay"] as! NSNumber).floatValue, scalesByShape: h["scales_by_shape"] as! Bool,
                           normalizesWeights: h["normalizes_weights"] as! Bool, excluding: Set(h["excluding"] as! [String]), others: others)
            opt.groups = (h["groups"] as! [[String: Any]]).map {
                ParameterGroup(names: $0["names"] as! [String], lrScale: ($0["lr_scale"] as! NSNumber).floatValue,
                               weightDecay: ($0["weight_decay"] as? NSNumber)?.floatValue)
            }
            // Rank ≥ 2 and not excluded, as the generator splits them.
            XCTAssertEqual(opt.orthogonalizedParameterNames, params.filter { $0.tensor.rank >= 2 && !(h["excluding"] as! [String]).contains($0.name) }.map(\.name))
            for (i, s) in (c["steps"] as! [[String: Any]]).enumerated() {
                opt.lr = (s["lr"] as! NSNumber).floatValue
                let grads = JSONFixture.tensors(s["grads"])
                for p in params { p.tensor.grad = grads[p.name]! }
                opt.step()
                let expected = JSONFixture.tensors(s["params"]), momentum = JSONFixture.tensors(s["momentum"])
                for p in params {
                    TensorCheck.close(p.tensor, expected[p.name]!, rtol: 1e-5, atol: 5e-6, "\(name) step \(i + 1) \(p.name)")
                    XCTAssertTrue(p.tensor.allFinite)
                    worst = max(worst, zip(p.tensor.scalars, expected[p.name]!.scalars).map { Swift.abs($0 - $1) }.max()!)
                    let buffer = opt.state[p.name]?.buffers["momentum_buffer"]
                    if let m = momentum[p.name] {
                        guard let buffer else { XCTFail("\(name): no momentum buffer for \(p.name)"); continue }
                        TensorCheck.close(buffer, m, rtol: 1e-5, atol: 1e-6, "\(name) step \(i + 1) momentum of \(p.name)")
                    } else {
                        XCTAssertNil(buffer, "\(name): \(p.name) has no momentum in PyTorch")
                    }
                }
            }
        }
        print("MuonTests: worst |Δ| against PyTorch \(worst)")
    }

    // (c) State dict round trip: a run interrupted and resumed from the saved state ends bitwise
    // where the uninterrupted run ends.
    func testStateDictRoundTripResumesIdentically() throws {
        var gen = SeededGenerator(seed: 3)
        let w0 = Tensor.randn([5, 2, 3, 3], generator: &gen), b0 = Tensor.randn([5], generator: &gen), h0 = Tensor.randn([4, 5], generator: &gen)
        let grads = (0..<6).map { _ in
            [Tensor.randn([5, 2, 3, 3], generator: &gen), Tensor.randn([5], generator: &gen), Tensor.randn([4, 5], generator: &gen)]
        }
        func make(_ params: [(name: String, tensor: Tensor)]) -> Muon {
            let m = Muon(parameters: params, lr: 0.1, momentum: 0.8, weightDecay: 0.01, excluding: ["h"],
                         others: .init(lrScale: 0.5, momentum: 0.9, nesterov: true, weightDecay: 1e-3))
            return m
        }
        func run(split: Bool) throws -> [[Float]] {
            let params = [("w", leaf(w0)), ("b", leaf(b0)), ("h", leaf(h0))].map { (name: $0.0, tensor: $0.1) }
            var opt = make(params)
            for step in 0..<6 {
                if split && step == 3 {
                    let data = try Safetensors.encode(opt.stateDict())
                    let restored = make(params)
                    restored.lr = 7
                    try restored.loadStateDict(Safetensors.decode(data))
                    XCTAssertEqual(restored.lr, opt.lr)
                    XCTAssertEqual(restored.state["w"]?.step, 3)
                    XCTAssertEqual(Set(restored.state["w"]!.buffers.keys), ["momentum_buffer"])
                    XCTAssertEqual(Set(restored.state["h"]!.buffers.keys), ["momentum_buffer"])
                    opt = restored
                }
                for (p, g) in zip(params, grads[step]) { p.tensor.grad = g }
                opt.lr = 0.1 * (1 - Float(step) / 6)
                opt.step()
            }
            return params.map(\.tensor.scalars)
        }
        let resumed = try run(split: true), straight = try run(split: false)
        XCTAssertEqual(resumed, straight)
    }

    // (d) No NaN from a zero gradient or a one-row / one-column matrix.
    func testZeroGradientAndVectorShapedMatricesStayFinite() throws {
        XCTAssertEqual(Muon.orthogonalized(Tensor.zeros([3, 4])).scalars, [Float](repeating: 0, count: 12))
        XCTAssertEqual(Muon.orthogonalized(Tensor.zeros([4, 3]), eps: 0).scalars, [Float](repeating: 0, count: 12))
        var gen = SeededGenerator(seed: 8)
        for shape in [[1, 7], [7, 1], [1, 1], [3, 1, 1, 1], [1, 2, 2, 2]] {
            let g = Tensor.randn(shape, generator: &gen)
            let x = Muon.orthogonalized(g)
            XCTAssertTrue(x.allFinite, "\(shape)")
            // A rank-one matrix has one singular value, in the band; the direction is kept.
            let norm = x.withUnsafeBufferPointer { $0.reduce(0) { $0 + $1 * $1 } }.squareRoot()
            XCTAssertGreaterThan(norm, 0.68, "\(shape)"); XCTAssertLessThan(norm, 1.15, "\(shape)")
            let gn = g.withUnsafeBufferPointer { $0.reduce(0) { $0 + $1 * $1 } }.squareRoot()
            TensorCheck.close(x / norm, g / gn, rtol: 1e-4, atol: 1e-5, "direction of \(shape)")
        }
        // Steps through the optimizer: a zero first gradient moves nothing, later ones stay finite.
        let row = leaf(Tensor.randn([1, 6], generator: &gen)), column = leaf(Tensor.randn([6, 1], generator: &gen))
        let bias = leaf(Tensor.randn([6], generator: &gen))
        let opt = Muon(parameters: [("row", row), ("column", column), ("bias", bias)], lr: 0.1)
        let before = [row.scalars, column.scalars, bias.scalars]
        for t in [row, column, bias] { t.grad = Tensor.zeros(t.shape) }
        opt.step()
        XCTAssertEqual([row.scalars, column.scalars, bias.scalars], before)
        for _ in 0..<3 {
            for t in [row, column, bias] { t.grad = Tensor.randn(t.shape, generator: &gen) }
            opt.step()
        }
        for t in [row, column, bias] { XCTAssertTrue(t.allFinite) }
        // A zero weight with weight normalization is left at zero scale (no 0/0).
        let zero = leaf(Tensor.zeros([2, 3]))
        let normalizing = Muon(parameters: [("z", zero)], lr: 0.1, normalizesWeights: true)
        zero.grad = Tensor.randn([2, 3], generator: &gen)
        normalizing.step()
        XCTAssertTrue(zero.allFinite)
    }

    func testOneOptimizerServesAFastNetSplittingFiltersFromTheRest() throws {
        GlobalRandom.seed(4)
        let net = CIFARFastNet(widths: [8, 16, 16])
        let x = Tensor.randn([4, 3, 32, 32])
        try net.initializeWhitening(from: x)        // freezes the whitening filters
        let opt = Muon(net, lr: 0.24, momentum: 0.6, steps: 3, normalizesWeights: true, excluding: [net.headPath + ".weight"],
                       others: .init(lrScale: 0.053 / 0.24, momentum: 0.85, nesterov: true))
        // The frozen whitening filters are not trained; the group filters are orthogonalized.
        XCTAssertEqual(opt.orthogonalizedParameterNames, net.convolutionFilterNames)
        XCTAssertEqual(net.convolutionFilterNames.count, 6)
        let before = Dictionary(uniqueKeysWithValues: net.namedParameters().map { ($0.name, $0.tensor.scalars) })
        net(x).sum().backward()
        opt.step()
        for (name, t) in net.namedParameters() {
            if t.requiresGrad {
                XCTAssertNotEqual(t.scalars, before[name], "\(name) is updated")
            } else {
                XCTAssertEqual(t.scalars, before[name], "\(name) is frozen")
            }
            XCTAssertTrue(t.allFinite, name)
        }
        // Weight normalization: every filter tensor had Frobenius norm √out before its update,
        // and the update (norm ≤ lr·‖X‖_F) is small next to it.
        let w = net.namedParameters().first { $0.name == "layer2.conv2.weight" }!.tensor
        let norm = w.withUnsafeBufferPointer { $0.reduce(0) { $0 + Double($1) * Double($1) } }.squareRoot()
        XCTAssertEqual(norm, 4, accuracy: 0.24 * 1.2 * 4)
        XCTAssertEqual(Set(opt.state.keys), Set(net.namedParameters().filter(\.tensor.requiresGrad).map(\.name)))
    }
}
