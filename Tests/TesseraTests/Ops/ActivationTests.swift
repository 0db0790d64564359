import Foundation
import XCTest
import TesseraTestSupport
import CTesseraKernels
@testable import Tessera

/// Activations (Ops/Activations.swift): PyTorch fixtures, finite-difference gradients, and the vectorized exp/erf behind GELU.
final class ActivationTests: XCTestCase {
    func testActivationsMatchPyTorch() throws {
        let f = try FixtureFile.load("activations", from: .module)
        var seen = Set<String>()
        for c in f.cases where !["softmax", "log_softmax"].contains(c.op) {
            seen.insert(c.op)
            FixtureRunner.run(c, fixture: "activations") { t in
                let x = t["input"]!
                switch c.op {
                case "relu": return x.relu()
                case "leaky_relu": return x.leakyRelu(negativeSlope: c.float("negative_slope"))
                case "sigmoid": return x.sigmoid()
                case "tanh": return x.tanh()
                case "gelu": return x.gelu()   // PyTorch's default, the exact erf form
                default: XCTFail("unknown activation \(c.op)"); return x
                }
            }
        }
        XCTAssertEqual(seen, ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"])
    }

    func testReluAndLeakyReluGradientAwayFromZero() {
        let x = TestData.awayFrom([0], [3, 5], seed: 82)
        GradCheck.check("relu", [x]) { $0[0].relu() }
        GradCheck.check("leakyRelu default slope", [x]) { $0[0].leakyRelu() }
        GradCheck.check("leakyRelu 0.2 of transposed view", [x]) { $0[0].T.leakyRelu(negativeSlope: 0.2) }
    }

    func testSigmoidTanhAndGeluGradient() {
        let x = randn([3, 5], 83, std: 2)
        GradCheck.check("sigmoid", [x]) { $0[0].sigmoid() }
        GradCheck.check("tanh", [x]) { $0[0].tanh() }
        GradCheck.check("gelu", [x]) { $0[0].gelu() }
        GradCheck.check("gelu of sliced view", [x]) { $0[0].slice(axis: 1, 0, 5, step: 2).gelu() }
    }

    /// `op` of the C kernels on every value of `xs`.
    private func kernel(_ op: tk_unary_op, _ xs: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { tk_unary(op, xs.count, x.baseAddress, 1, $0.baseAddress, 1, 0, 0) } }
        return y
    }

    /// The vectorized exp, log, tanh, sigmoid and GELU's erf of the C kernels, under every
    /// instruction set, against libm in Double over a sweep, with their special values.
    func testVectorMathKernelsStayWithinTheirStatedErrorsAndKeepSpecialValuesUnderEveryISA() {
        let sweep = Array(stride(from: Float(-90), through: 88, by: 0.0137))
        let positives = sweep.map { Foundation.exp($0 / 4) }
        KernelVariants.forEach { isa in
            var worst = [String: Double]()
            func track(_ name: String, _ err: Double) { worst[name] = Swift.max(worst[name] ?? 0, err) }
            for (x, e) in zip(sweep, kernel(TK_UNARY_EXP, sweep)) {
                let want = Foundation.exp(Double(x))
                if x >= -87.3 { track("exp", Swift.abs(Double(e) - want) / want) } else { XCTAssertEqual(e, 0, "\(isa): exp(\(x)) below the normal range is 0") }
            }
            for (x, l) in zip(positives, kernel(TK_UNARY_LOG, positives)) {
                track("log", Swift.abs(Double(l) - Foundation.log(Double(x))) / Swift.max(Swift.abs(Foundation.log(Double(x))), 1e-3))
            }
            let small = sweep.map { $0 / 10 }
            for (x, t) in zip(small, kernel(TK_UNARY_TANH, small)) {
                let want = Foundation.tanh(Double(x))
                track("tanh", Swift.abs(Double(t) - want) / Swift.max(Swift.abs(want), 1e-30))
            }
            for (x, v) in zip(small, kernel(TK_UNARY_SIGMOID, small)) {
                let want = 1 / (1 + Foundation.exp(-Double(x)))
                track("sigmoid", Swift.abs(Double(v) - want) / want)
            }
            for (x, g) in zip(small, kernel(TK_UNARY_GELU, small)) {
                track("gelu (absolute)", Swift.abs(Double(g) - 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))) / Swift.max(1, Swift.abs(Double(x))))
            }
            XCTAssertLessThan(worst["exp"]!, 5e-7, "\(isa): relative error of exp")
            XCTAssertLessThan(worst["log"]!, 1e-6, "\(isa): relative error of log")
            XCTAssertLessThan(worst["tanh"]!, 1e-6, "\(isa): relative error of tanh")
            XCTAssertLessThan(worst["sigmoid"]!, 1e-6, "\(isa): relative error of sigmoid")
            XCTAssertLessThan(worst["gelu (absolute)"]!, 1e-6, "\(isa): GELU's erf (Abramowitz & Stegun 7.1.26: 1.5e-7, plus Float rounding)")
            let specials: [Float] = [-.infinity, .infinity, 89, 0, .nan, -0.0]
            let e = kernel(TK_UNARY_EXP, specials)
            XCTAssertEqual(Array(e.prefix(4)), [0, .infinity, .infinity, 1], "\(isa): exp of −∞, ∞, 89 (overflow), 0")
            XCTAssertTrue(e[4].isNaN, "\(isa): exp(NaN)")
            let subnormal = Float(bitPattern: 0x0001_1000)   // about 8.7e-41
            let l = kernel(TK_UNARY_LOG, [0, -1, .infinity, .nan, 1, subnormal, Float.leastNonzeroMagnitude])
            XCTAssertEqual(l[0], -.infinity, "\(isa): log 0")
            XCTAssertTrue(l[1].isNaN && l[3].isNaN, "\(isa): log of a negative number and of NaN")
            XCTAssertEqual(l[2], .infinity, "\(isa): log ∞")
            XCTAssertEqual(l[4], 0, "\(isa): log 1")
            XCTAssertEqual(Double(l[5]), Foundation.log(Double(subnormal)), accuracy: 1e-4, "\(isa): log of a subnormal")
            XCTAssertEqual(Double(l[6]), Foundation.log(Double(Float.leastNonzeroMagnitude)), accuracy: 1e-4, "\(isa): log of the smallest subnormal")
            let t = kernel(TK_UNARY_TANH, [.infinity, -.infinity, .nan, 20, -0.0])
            XCTAssertEqual(Array(t.prefix(2)), [1, -1], "\(isa): tanh(±∞)")
            XCTAssertTrue(t[2].isNaN, "\(isa): tanh(NaN)")
            XCTAssertEqual(t[3], 1, "\(isa): tanh(20)")
            let g = kernel(TK_UNARY_GELU, [.infinity, -.infinity, 0])
            XCTAssertEqual(g[0], .infinity, "\(isa): GELU(∞)")
            XCTAssertEqual(g[2], 0, "\(isa): GELU(0)")
        }
    }

    func testGeluOfAnOddLengthMatchesTheFormulaEverywhere() {
        var x = Tensor((0..<13).map { Float($0) * 0.9 - 6 }, shape: [13])
        x.requiresGrad = true
        let y = x.gelu()
        y.backward(Tensor.ones([13]))
        for (i, v) in x.detach().scalars.enumerated() {
            let phi = 0.5 * (1 + Foundation.erf(Double(v) / 2.0.squareRoot()))
            let pdf = Foundation.exp(-0.5 * Double(v) * Double(v)) / (2 * Double.pi).squareRoot()
            XCTAssertEqual(Double(y.scalars[i]), Double(v) * phi, accuracy: 1e-6, "gelu(\(v))")
            XCTAssertEqual(Double(x.grad!.scalars[i]), phi + Double(v) * pdf, accuracy: 1e-6, "gelu′(\(v))")
        }
    }
}
