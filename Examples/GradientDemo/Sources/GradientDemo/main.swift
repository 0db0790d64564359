// GradientDemo: reverse-mode autograd on a small expression, checked against calculus.
//
//   L(w) = Σᵢ (X·w − y)ᵢ²  +  Σⱼ exp(wⱼ)
//   ∂L/∂w = 2·Xᵀ(X·w − y) + exp(w)
//
// Exits with status 1 when Tessera's gradient differs from the formula.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tessera

let rows = 4, cols = 3
let xValues: [Float] = [1, 2, 0.5,
                        -1, 0, 3,
                        2, -0.5, 1,
                        0.25, 1, -2]
let yValues: [Float] = [1, -2, 0.5, 3]
let wValues: [Float] = [0.3, -0.2, 0.1]

let x = Tensor(xValues, shape: [rows, cols])
let y = Tensor(yValues, shape: [rows, 1])
var w = Tensor(wValues, shape: [cols, 1])
w.requiresGrad = true

let residual = x.matmul(w) - y
let loss = residual.pow(2).sum() + w.exp().sum()
loss.backward()

guard let grad = w.grad else {
    print("GradientDemo: FAILED: w.grad is nil after backward()")
    exit(1)
}

// The same gradient by hand, in Double.
var expected = [Double](repeating: 0, count: cols)
for i in 0..<rows {
    var r = -Double(yValues[i])
    for j in 0..<cols { r += Double(xValues[i * cols + j]) * Double(wValues[j]) }
    for j in 0..<cols { expected[j] += 2 * Double(xValues[i * cols + j]) * r }
}
for j in 0..<cols { expected[j] += exp(Double(wValues[j])) }

print("loss =", loss.item())
print("dL/dw (autograd) =", grad.scalars)
print("dL/dw (analytic) =", expected.map { Float($0) })

let got = grad.scalars
var worst = 0.0
for j in 0..<cols {
    let err = abs(Double(got[j]) - expected[j]) / max(1, abs(expected[j]))
    worst = max(worst, err)
}
let tolerance = 1e-5
if worst > tolerance {
    print("GradientDemo: FAILED: relative error \(worst) exceeds \(tolerance)")
    exit(1)
}
print("GradientDemo: OK (max relative error \(worst))")
