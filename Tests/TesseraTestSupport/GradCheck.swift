import Foundation
import XCTest
import Tessera

/// Checks autograd against central finite differences.
///
/// For leaves x₁…xₖ and a function f, the objective is L = Σ f(x)·r for a fixed random r of f's
/// output shape (so every output element matters with a distinct weight). Each element of each
/// leaf is moved by ±eps; L is accumulated in Double from the Float outputs, and
/// (L(x+eps) − L(x−eps)) / 2eps is compared with the autograd gradient of L:
/// |numeric − analytic| ≤ atol + rtol·max(|numeric|, |analytic|).
/// Defaults: eps 1e-2, rtol 1e-2, atol 2e-3 — the float32 forward limits the numeric estimate to
/// about 1e-4 absolute here, and the truncation error is O(eps²).
public enum GradCheck {
    public static let defaultEps: Float = 1e-2
    public static let defaultRtol = 1e-2
    public static let defaultAtol = 2e-3

    public static func check(_ name: String, _ inputs: [Tensor], eps: Float = defaultEps, rtol: Double = defaultRtol,
                      atol: Double = defaultAtol, file: StaticString = #filePath, line: UInt = #line,
                      _ f: ([Tensor]) -> Tensor) {
        for problem in problems(name, inputs, eps: eps, rtol: rtol, atol: atol, f) {
            XCTFail(problem, file: file, line: line)
        }
    }

    /// The disagreements between autograd and finite differences, one message per input (empty when they agree).
    public static func problems(_ name: String, _ inputs: [Tensor], eps: Float = defaultEps, rtol: Double = defaultRtol,
                         atol: Double = defaultAtol, _ f: ([Tensor]) -> Tensor) -> [String] {
        var problems: [String] = []
        let leaves: [Tensor] = inputs.map { t in
            var l = withNoGrad { t.clone() }
            l.requiresGrad = true
            return l
        }
        let out = f(leaves)
        guard out.count > 0 else { return ["\(name): output is empty"] }
        guard out.requiresGrad else { return ["\(name): output of shape \(out.shape) does not require grad"] }
        var gen = SeededGenerator(seed: 0xC0FFEE)
        let r = Tensor.randn(out.shape, generator: &gen)
        let weights = r.scalars.map(Double.init)
        out.backward(r)

        func objective() -> Double {
            let y = withNoGrad { f(leaves) }
            let v = y.scalars
            precondition(v.count == weights.count, "\(name): output size changed between evaluations")
            var s = 0.0
            for i in 0..<v.count { s += Double(v[i]) * weights[i] }
            return s
        }

        for (k, leaf) in leaves.enumerated() {
            guard let g = leaf.grad else {
                problems.append("\(name): no gradient reached input \(k) of shape \(leaf.shape)")
                continue
            }
            guard g.shape == leaf.shape else {
                problems.append("\(name): gradient of input \(k) has shape \(g.shape), expected \(leaf.shape)")
                continue
            }
            let analytic = g.scalars
            var bad = 0, worst = -1, worstExcess = 0.0, worstNumeric = 0.0
            // Each write goes through its own withUnsafeMutableBufferPointer, which marks the
            // storage mutated on return, so whatever an op keeps derived from an input (an
            // inference pass's transformed weights) is rebuilt for every perturbed evaluation.
            func write(_ i: Int, _ v: Float) { leaf.withUnsafeMutableBufferPointer { $0[i] = v } }
            let values = leaf.scalars
            for i in 0..<values.count {
                let x0 = values[i]
                let xp = x0 + eps, xm = x0 - eps
                write(i, xp)
                let lp = objective()
                write(i, xm)
                let lm = objective()
                write(i, x0)
                let numeric = (lp - lm) / (Double(xp) - Double(xm))
                let a = Double(analytic[i])
                let err = Swift.abs(numeric - a)
                let allowed = atol + rtol * Swift.max(Swift.abs(numeric), Swift.abs(a))
                if !(err <= allowed) {
                    bad += 1
                    let excess = err.isNaN ? .infinity : err - allowed
                    if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess; worstNumeric = numeric }
                }
            }
            if bad > 0 {
                problems.append("\(name): gradient of input \(k) (shape \(leaf.shape)): \(bad) of \(analytic.count) elements differ from central differences (eps \(eps)) beyond rtol \(rtol), atol \(atol); worst at flat index \(worst): autograd \(analytic[worst]), numeric \(worstNumeric)")
            }
        }
        return problems
    }
}


/// Deterministic test inputs.
public enum TestData {
    /// Normal samples.
    public static func randn(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.randn(shape, std: std, generator: &g)
    }

    /// Uniform samples in [low, high).
    public static func uniform(_ shape: [Int], seed: UInt64, _ low: Float, _ high: Float) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.rand(shape, low: low, high: high, generator: &g)
    }

    /// Normal samples pushed at least `gap` away from every point in `kinks`, so a finite
    /// difference of size < gap never straddles a non-differentiable point.
    public static func awayFrom(_ kinks: [Float], _ shape: [Int], seed: UInt64, gap: Float = 0.05) -> Tensor {
        let base = randn(shape, seed: seed).scalars
        let moved = base.map { v -> Float in
            var x = v
            for k in kinks where Swift.abs(x - k) < gap { x = x >= k ? k + gap + (x - k) : k - gap + (x - k) }
            return x
        }
        return Tensor(moved, shape: shape)
    }

    /// Distinct values spaced `spacing` apart, in a shuffled order (no ties for max/min).
    public static func distinct(_ shape: [Int], seed: UInt64, spacing: Float = 0.05) -> Tensor {
        let n = shape.reduce(1, *)
        var g = SeededGenerator(seed: seed)
        var values = (0..<n).map { Float($0) * spacing - Float(n) * spacing / 2 }
        values.shuffle(using: &g)
        return Tensor(values, shape: shape)
    }
}
