import Foundation
import Tessera

/// Scales the gradients of `parameters` in place so that their global norm is at most
/// `maxNorm`, as `torch.nn.utils.clip_grad_norm_`, and returns the norm before clipping.
///
/// The norm is the `normType`-norm of all gradients taken together (`.infinity` for the
/// largest absolute value). Gradients are multiplied by min(1, maxNorm / (norm + 1e-6)).
/// Parameters without a gradient are ignored.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float, normType: Float = 2) -> Float {
    precondition(maxNorm >= 0 && !maxNorm.isNaN, "clipGradNorm: maxNorm must be >= 0, got \(maxNorm)")
    precondition(normType > 0, "clipGradNorm: normType must be > 0, got \(normType)")
    let grads = parameters.compactMap(\.grad)
    if grads.isEmpty { return 0 }
    var total: Double = 0
    for g in grads {
        g.withUnsafeBufferPointer { b in
            if normType == .infinity {
                for x in b { total = Swift.max(total, Double(Swift.abs(x))) }
            } else if normType == 2 {
                var s: Double = 0
                for x in b { s += Double(x) * Double(x) }
                total += s
            } else {
                var s: Double = 0
                for x in b { s += Foundation.pow(Double(Swift.abs(x)), Double(normType)) }
                total += s
            }
        }
    }
    let norm: Float
    if normType == .infinity { norm = Float(total) }
    else if normType == 2 { norm = Float(total.squareRoot()) }
    else { norm = Float(Foundation.pow(total, 1 / Double(normType))) }
    let coef = Swift.min(maxNorm / (norm + 1e-6), 1)
    if coef < 1 {
        for g in grads {
            let c = g.isContiguous ? g : g.contiguous()
            c.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] *= coef } }
            if !g.isContiguous { g.assign(c) }
        }
    }
    return norm
}

/// ``clipGradNorm(_:maxNorm:normType:)`` over a module's parameters.
@discardableResult
public func clipGradNorm(_ module: Module, maxNorm: Float, normType: Float = 2) -> Float {
    clipGradNorm(module.parameters, maxNorm: maxNorm, normType: normType)
}

/// Clamps every gradient element of `parameters` to [−clipValue, clipValue], in place,
/// as `torch.nn.utils.clip_grad_value_`.
public func clipGradValue(_ parameters: [Tensor], clipValue: Float) {
    precondition(clipValue >= 0, "clipGradValue: clipValue must be >= 0, got \(clipValue)")
    for g in parameters.compactMap(\.grad) {
        let c = g.isContiguous ? g : g.contiguous()
        c.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] = Swift.min(Swift.max(b[i], -clipValue), clipValue) } }
        if !g.isContiguous { g.assign(c) }
    }
}

/// The L2 penalty `strength · Σ p²` over `parameters`, a differentiable loss term to add to
/// the loss (its gradient is `2·strength·p`). For decay applied by the optimizer, use its
/// `weightDecay` instead.
public func l2Penalty(_ parameters: [Tensor], strength: Float) -> Tensor {
    precondition(strength >= 0, "l2Penalty: strength must be >= 0, got \(strength)")
    var total = Tensor(scalar: 0)
    for p in parameters { total = total + (p * p).sum() }
    return total * strength
}

/// The L1 penalty `strength · Σ |p|` over `parameters`, a differentiable loss term
/// (encourages sparse weights).
public func l1Penalty(_ parameters: [Tensor], strength: Float) -> Tensor {
    precondition(strength >= 0, "l1Penalty: strength must be >= 0, got \(strength)")
    var total = Tensor(scalar: 0)
    for p in parameters { total = total + p.abs().sum() }
    return total * strength
}

extension Module {
    /// The parameters an L1/L2 penalty usually applies to: weights of rank ≥ 2 (not biases or
    /// normalization scales), by dotted name.
    public var weightParameters: [Tensor] {
        namedParameters().filter { $0.tensor.rank >= 2 }.map(\.tensor)
    }
}
