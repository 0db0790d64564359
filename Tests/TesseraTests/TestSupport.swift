import Foundation
import XCTest
@testable import Tessera

// Shared helpers for the core tests: tensor comparison, PyTorch fixture loading and the
// finite-difference gradient checker. Names are namespaced to keep the test module tidy.

/// Elementwise closeness of tensors, as `torch.allclose`: |actual − expected| ≤ atol + rtol·|expected|.
enum TensorCheck {
    /// Fails (without stopping the test) when the shapes differ or any element is outside tolerance;
    /// the message names `what`, the tolerance, the first bad index and both values.
    @discardableResult
    static func close(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5,
                      _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard actual.shape == expected.shape else {
            XCTFail("\(what()): shape \(actual.shape), expected \(expected.shape)", file: file, line: line)
            return false
        }
        return close(actual.scalars, expected.scalars, rtol: rtol, atol: atol, what(), file: file, line: line)
    }

    /// As ``close(_:_:rtol:atol:_:file:line:)`` on flat arrays.
    @discardableResult
    static func close(_ actual: [Float], _ expected: [Float], rtol: Double = 1e-4, atol: Double = 1e-5,
                      _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard actual.count == expected.count else {
            XCTFail("\(what()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
            return false
        }
        var bad = 0, worst = -1, worstExcess = 0.0
        for i in 0..<actual.count {
            let a = Double(actual[i]), e = Double(expected[i])
            let err = Swift.abs(a - e), allowed = atol + rtol * Swift.abs(e)
            if !(err <= allowed) {          // also catches NaN
                bad += 1
                let excess = err.isNaN ? .infinity : err - allowed
                if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess }
            }
        }
        if bad > 0 {
            XCTFail("\(what()): \(bad) of \(actual.count) values differ beyond rtol \(rtol), atol \(atol); worst at flat index \(worst): got \(actual[worst]), expected \(expected[worst])",
                    file: file, line: line)
            return false
        }
        return true
    }
}

// MARK: - PyTorch fixtures

/// One case of a fixture file written by scripts/fixtures/core.py.
struct FixtureCase {
    let name: String
    let op: String
    let args: [String: Any]
    let tensors: [String: Tensor]

    func tensor(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture case \(name) has no tensor \(key)") }
        return t
    }
    func int(_ key: String) -> Int { (args[key] as? NSNumber)?.intValue ?? 0 }
    func float(_ key: String) -> Float { (args[key] as? NSNumber)?.floatValue ?? 0 }
    func bool(_ key: String) -> Bool { (args[key] as? NSNumber)?.boolValue ?? false }
    func string(_ key: String) -> String { args[key] as? String ?? "" }
    /// A `[h, w]` argument; nil when the fixture stored null.
    func size2(_ key: String) -> Size2? {
        guard let v = args[key] as? [NSNumber], v.count == 2 else { return nil }
        return Size2(v[0].intValue, v[1].intValue)
    }
    func reduction(_ key: String = "reduction") -> Reduction {
        switch string(key) {
        case "sum": return .sum
        case "none": return .none
        default: return .mean
        }
    }
}

/// A fixture file: the torch version and seed it was generated with, and its cases.
struct FixtureFile {
    let torchVersion: String
    let seed: Int
    let cases: [FixtureCase]

    /// Loads `Fixtures/<name>.json` from the test bundle.
    static func load(_ name: String) throws -> FixtureFile {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")
            ?? Bundle.module.url(forResource: name, withExtension: "json") else {
            throw NSError(domain: "TesseraTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "fixture \(name).json not found in the test bundle"])
        }
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = root["cases"] as? [[String: Any]] else {
            throw NSError(domain: "TesseraTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "fixture \(name).json is not a fixture document"])
        }
        return FixtureFile(
            torchVersion: root["torch_version"] as? String ?? "?",
            seed: (root["seed"] as? NSNumber)?.intValue ?? -1,
            cases: try cases.map { c in
                var tensors: [String: Tensor] = [:]
                for (key, value) in c["tensors"] as? [String: Any] ?? [:] {
                    guard let dict = value as? [String: Any], let shape = dict["shape"] as? [NSNumber],
                          let values = dict["data"] as? [NSNumber] else {
                        throw NSError(domain: "TesseraTests", code: 3, userInfo: [NSLocalizedDescriptionKey: "fixture \(name): bad tensor \(key)"])
                    }
                    tensors[key] = Tensor(values.map { $0.floatValue }, shape: shape.map { $0.intValue })
                }
                return FixtureCase(name: c["name"] as? String ?? "?", op: c["op"] as? String ?? "?",
                                   args: c["args"] as? [String: Any] ?? [:], tensors: tensors)
            })
    }
}

/// Tolerances for comparing against PyTorch (float32 on both sides; the differences come from
/// summation order). Stated once here and printed in every assertion message.
struct Tolerance {
    var rtol: Double
    var atol: Double
    /// Forward values: rtol 1e-4, atol 1e-5.
    static let forward = Tolerance(rtol: 1e-4, atol: 1e-5)
    /// Gradients: rtol 1e-4, atol 1e-5 (sums over the batch and positions are still short here).
    static let backward = Tolerance(rtol: 1e-4, atol: 1e-5)
}

enum FixtureRunner {
    /// Runs one fixture case: every tensor `k` for which the case has `grad_k` becomes a leaf that
    /// requires grad; `forward` computes the op from the inputs; its output is compared with
    /// `output`, then `backward(upstream)` runs and each leaf's gradient is compared with `grad_k`.
    /// Returns the inputs (for checks of in-place effects, such as running statistics).
    @discardableResult
    static func run(_ c: FixtureCase, fixture fixtureName: String, forwardTolerance: Tolerance = .forward,
                    backwardTolerance: Tolerance = .backward, file: StaticString = #filePath, line: UInt = #line,
                    _ forward: ([String: Tensor]) -> Tensor) -> [String: Tensor] {
        var inputs: [String: Tensor] = [:]
        for (key, t) in c.tensors where !key.hasPrefix("grad_") && key != "output" && key != "upstream" {
            var leaf = t.clone()
            if c.tensors["grad_" + key] != nil { leaf.requiresGrad = true }
            inputs[key] = leaf
        }
        let label = "\(fixtureName).json case \(c.name) (\(c.op))"
        let out = forward(inputs)
        let fwdOK = TensorCheck.close(out, c.tensor("output"), rtol: forwardTolerance.rtol, atol: forwardTolerance.atol,
                                      "\(label) forward vs PyTorch", file: file, line: line)
        let upstream = c.tensor("upstream")
        let gradKeys = c.tensors.keys.filter { $0.hasPrefix("grad_") }.sorted()
        guard !gradKeys.isEmpty else { return inputs }
        guard out.shape == upstream.shape else {
            if fwdOK { XCTFail("\(label): output shape \(out.shape) differs from the fixture's \(upstream.shape)", file: file, line: line) }
            return inputs
        }
        guard out.requiresGrad else {
            XCTFail("\(label): output does not require grad although inputs do", file: file, line: line)
            return inputs
        }
        out.backward(upstream)
        for key in gradKeys {
            let inputKey = String(key.dropFirst("grad_".count))
            guard let g = inputs[inputKey]?.grad else {
                XCTFail("\(label): no gradient reached \(inputKey) (PyTorch computes one)", file: file, line: line)
                continue
            }
            TensorCheck.close(g, c.tensor(key), rtol: backwardTolerance.rtol, atol: backwardTolerance.atol,
                              "\(label) gradient of \(inputKey) vs PyTorch", file: file, line: line)
        }
        return inputs
    }
}

// MARK: - Finite differences

/// Checks autograd against central finite differences.
///
/// For leaves x₁…xₖ and a function f, the objective is L = Σ f(x)·r for a fixed random r of f's
/// output shape (so every output element matters with a distinct weight). Each element of each
/// leaf is moved by ±eps; L is accumulated in Double from the Float outputs, and
/// (L(x+eps) − L(x−eps)) / 2eps is compared with the autograd gradient of L:
/// |numeric − analytic| ≤ atol + rtol·max(|numeric|, |analytic|).
/// Defaults: eps 1e-2, rtol 1e-2, atol 2e-3 — the float32 forward limits the numeric estimate to
/// about 1e-4 absolute here, and the truncation error is O(eps²).
enum GradCheck {
    static let defaultEps: Float = 1e-2
    static let defaultRtol = 1e-2
    static let defaultAtol = 2e-3

    static func check(_ name: String, _ inputs: [Tensor], eps: Float = defaultEps, rtol: Double = defaultRtol,
                      atol: Double = defaultAtol, file: StaticString = #filePath, line: UInt = #line,
                      _ f: ([Tensor]) -> Tensor) {
        for problem in problems(name, inputs, eps: eps, rtol: rtol, atol: atol, f) {
            XCTFail(problem, file: file, line: line)
        }
    }

    /// The disagreements between autograd and finite differences, one message per input (empty when they agree).
    static func problems(_ name: String, _ inputs: [Tensor], eps: Float = defaultEps, rtol: Double = defaultRtol,
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
            leaf.withUnsafeMutableBufferPointer { buf in
                for i in 0..<buf.count {
                    let x0 = buf[i]
                    let xp = x0 + eps, xm = x0 - eps
                    buf[i] = xp
                    let lp = objective()
                    buf[i] = xm
                    let lm = objective()
                    buf[i] = x0
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
            }
            if bad > 0 {
                problems.append("\(name): gradient of input \(k) (shape \(leaf.shape)): \(bad) of \(analytic.count) elements differ from central differences (eps \(eps)) beyond rtol \(rtol), atol \(atol); worst at flat index \(worst): autograd \(analytic[worst]), numeric \(worstNumeric)")
            }
        }
        return problems
    }
}

// MARK: - Inputs

/// Deterministic test inputs.
enum TestData {
    /// Normal samples.
    static func randn(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.randn(shape, std: std, generator: &g)
    }

    /// Uniform samples in [low, high).
    static func uniform(_ shape: [Int], seed: UInt64, _ low: Float, _ high: Float) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.rand(shape, low: low, high: high, generator: &g)
    }

    /// Normal samples pushed at least `gap` away from every point in `kinks`, so a finite
    /// difference of size < gap never straddles a non-differentiable point.
    static func awayFrom(_ kinks: [Float], _ shape: [Int], seed: UInt64, gap: Float = 0.05) -> Tensor {
        let base = randn(shape, seed: seed).scalars
        let moved = base.map { v -> Float in
            var x = v
            for k in kinks where Swift.abs(x - k) < gap { x = x >= k ? k + gap + (x - k) : k - gap + (x - k) }
            return x
        }
        return Tensor(moved, shape: shape)
    }

    /// Distinct values spaced `spacing` apart, in a shuffled order (no ties for max/min).
    static func distinct(_ shape: [Int], seed: UInt64, spacing: Float = 0.05) -> Tensor {
        let n = shape.reduce(1, *)
        var g = SeededGenerator(seed: seed)
        var values = (0..<n).map { Float($0) * spacing - Float(n) * spacing / 2 }
        values.shuffle(using: &g)
        return Tensor(values, shape: shape)
    }
}
