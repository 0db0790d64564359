import Foundation
import Tessera

/// Where an optimizer finds its parameters: a fixed list, or a module read afresh at every
/// step (so frozen, unfrozen or replaced layers are picked up; a parameter whose state has
/// the wrong shape after a replacement starts with fresh state).
enum ParameterSource {
    case list([(name: String, tensor: Tensor)])
    case module(Module)

    var current: [(name: String, tensor: Tensor)] {
        switch self {
        case .list(let l): return l
        case .module(let m): return m.namedParameters()
        }
    }
}

/// Per-parameter optimizer state: a step count and named buffers of the parameter's shape.
public struct ParameterState {
    /// Updates applied to this parameter.
    public var step: Int = 0
    /// Named buffers (`momentum_buffer`, `exp_avg`, …), PyTorch's names.
    public var buffers: [String: Tensor] = [:]
}

/// Hyper-parameters of a subset of the parameters, PyTorch's parameter groups: the parameters
/// whose names are in `names` take `lrScale` × the optimizer's learning rate (so a schedule
/// moves every group together, as PyTorch's schedulers scale every group's rate) and, when
/// given, their own weight decay.
///
/// ```swift
/// let biases = model.namedParameters().map(\.name).filter { $0.hasSuffix("norm1.bias") }
/// optimizer.groups = [ParameterGroup(names: biases, lrScale: 64, weightDecay: 0)]
/// ```
public struct ParameterGroup: Equatable {
    /// Names of the parameters in the group.
    public var names: Set<String>
    /// Multiplier of the optimizer's learning rate for these parameters.
    public var lrScale: Float
    /// Weight decay of these parameters (nil: the optimizer's).
    public var weightDecay: Float?

    /// A group of the parameters named `names`.
    public init<S: Sequence>(names: S, lrScale: Float = 1, weightDecay: Float? = nil) where S.Element == String {
        precondition(lrScale >= 0 && lrScale.isFinite, "ParameterGroup: lrScale must be >= 0, got \(lrScale)")
        precondition(weightDecay.map { $0 >= 0 && $0.isFinite } ?? true, "ParameterGroup: weightDecay must be >= 0, got \(weightDecay!)")
        self.names = Set(names)
        self.lrScale = lrScale
        self.weightDecay = weightDecay
    }
}

/// The learning rate and weight decay one parameter is updated with in a step.
struct StepHyper {
    var lr: Float
    var weightDecay: Float
}

/// Why an optimizer state dict could not be loaded.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    public var description: String { "optimizer state: " + message }
}

/// The base class of the optimizers: holds the parameters and their state keyed by parameter
/// name, so the state can be checkpointed (``stateDict()``) and restored.
///
/// Parameters are updated in place (their storage is shared with the model) under
/// `withNoGrad`. Parameters whose gradient is nil (frozen, or unused in the loss) are skipped,
/// as in PyTorch.
open class Optimizer {
    /// The learning rate; schedules set it before each step.
    public var lr: Float {
        didSet { precondition(lr >= 0 && lr.isFinite, "\(name): lr must be >= 0, got \(lr)") }
    }
    let source: ParameterSource
    /// Per-parameter state by parameter name.
    public internal(set) var state: [String: ParameterState] = [:]
    /// The optimizer's name for messages.
    var name: String { String(describing: type(of: self)) }
    /// Parameter groups with their own learning-rate multiplier and weight decay; a parameter
    /// in no group uses ``lr`` and the optimizer's weight decay. A parameter may be in one group only.
    public var groups: [ParameterGroup] = [] {
        didSet {
            var seen = Set<String>()
            let known = Set(source.current.map(\.name))
            for g in groups {
                for n in g.names {
                    precondition(known.contains(n), "\(name).groups: '\(n)' is not one of the optimizer's parameters")
                    precondition(seen.insert(n).inserted, "\(name).groups: parameter '\(n)' is in two groups")
                }
            }
        }
    }
    /// The weight decay of parameters outside every group.
    var defaultWeightDecay: Float { 0 }

    init(source: ParameterSource, lr: Float) {
        self.source = source
        self.lr = lr
        if case .list(let l) = source {
            var seen = Set<String>()
            for p in l { precondition(seen.insert(p.name).inserted, "\(name): parameter name '\(p.name)' appears twice") }
        }
    }

    /// The named parameters this optimizer updates.
    public var namedParameters: [(name: String, tensor: Tensor)] { source.current }

    /// Applies one update to every parameter that has a gradient.
    public func step() {
        withNoGrad {
            for (pname, p) in source.current {
                guard p.requiresGrad, let g = p.grad else { continue }
                precondition(g.shape == p.shape, "\(name).step: gradient \(g.shape) of '\(pname)' does not match parameter \(p.shape)")
                precondition(p.isContiguous, "\(name).step: parameter '\(pname)' is not contiguous")
                var st = state[pname] ?? ParameterState()
                if st.buffers.values.contains(where: { $0.shape != p.shape }) { st = ParameterState() }
                st.step += 1
                let gc = g.contiguous()
                let group = groups.first { $0.names.contains(pname) }
                let hyper = StepHyper(lr: lr * (group?.lrScale ?? 1), weightDecay: group?.weightDecay ?? defaultWeightDecay)
                p.withUnsafeMutableBufferPointer { pb in
                    gc.withUnsafeBufferPointer { gb in
                        update(param: pb.baseAddress!, grad: gb.baseAddress!, count: pb.count, state: &st, shape: p.shape, hyper: hyper)
                    }
                }
                state[pname] = st
            }
        }
    }

    /// Clears the gradients of all parameters (sets them to nil).
    public func zeroGrad() {
        for (_, p) in source.current { p.grad = nil }
    }

    /// The per-element update of one parameter; `state.step` is already incremented.
    func update(param: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int,
                state: inout ParameterState, shape: [Int], hyper: StepHyper) {
        preconditionFailure("\(name).update: not implemented")
    }

    /// A zero-filled state buffer (created on first use, as PyTorch's lazy state).
    func buffer(_ key: String, in state: inout ParameterState, shape: [Int], initial: Float = 0) -> UnsafeMutablePointer<Float> {
        if let b = state.buffers[key] { return b.storage.pointer + b.offset }
        let b = Tensor.full(shape, initial)
        state.buffers[key] = b
        return b.storage.pointer + b.offset
    }

    // MARK: Checkpointing

    /// The state as named tensors: `<param>.step` (int64) and `<param>.<buffer>` for each
    /// parameter with state, plus `lr`. The buffers are copies.
    public func stateDict() -> StateDict {
        var sd = StateDict()
        sd.set("lr", Tensor(scalar: lr))
        for key in state.keys.sorted() {
            let st = state[key]!
            sd.set("\(key).step", Tensor(scalar: Float(st.step)), dtype: .int64)
            for b in st.buffers.keys.sorted() { sd.set("\(key).\(b)", st.buffers[b]!.clone()) }
        }
        return sd
    }

    /// Restores state written by ``stateDict()``. Throws when a buffer's shape does not match
    /// its parameter or names a parameter this optimizer does not have.
    public func loadStateDict(_ sd: StateDict) throws {
        let params = Dictionary(source.current.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var newState: [String: ParameterState] = [:]
        var newLR = lr
        for key in sd.keys {
            let t = sd[key]!
            if key == "lr" { newLR = t.item(); continue }
            // Parameter names contain dots; the last component is the slot.
            guard let dot = key.lastIndex(of: ".") else { throw OptimizerStateError(message: "unexpected key '\(key)'") }
            let pname = String(key[..<dot]), slot = String(key[key.index(after: dot)...])
            guard let p = params[pname] else {
                throw OptimizerStateError(message: "key '\(key)' names unknown parameter '\(pname)'")
            }
            var st = newState[pname] ?? ParameterState()
            if slot == "step" {
                st.step = Int(t.item())
            } else {
                guard t.shape == p.shape else {
                    throw OptimizerStateError(message: "'\(key)' has shape \(t.shape), parameter has \(p.shape)")
                }
                st.buffers[slot] = t.clone()
            }
            newState[pname] = st
        }
        guard newLR >= 0 && newLR.isFinite else { throw OptimizerStateError(message: "invalid lr \(newLR)") }
        state = newState
        lr = newLR
    }
}

func checkHyper(_ ok: Bool, _ message: @autoclosure () -> String) {
    precondition(ok, message())
}

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
/// decay, with exactly `torch.optim.SGD`'s update:
///
///     g ← g + λ·p;  b ← g (first step) or μ·b + (1 − τ)·g;  g ← g + μ·b (Nesterov) or b;  p ← p − lr·g
public final class SGD: Optimizer {
    /// Momentum factor μ.
    public let momentum: Float
    /// Dampening τ.
    public let dampening: Float
    /// Nesterov momentum.
    public let nesterov: Bool
    /// L2 weight decay λ.
    public let weightDecay: Float
    override var defaultWeightDecay: Float { weightDecay }

    /// SGD over a module's parameters (re-read at every step).
    public convenience init(_ module: Module, lr: Float, momentum: Float = 0, dampening: Float = 0,
                            nesterov: Bool = false, weightDecay: Float = 0) {
        self.init(source: .module(module), lr: lr, momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay)
    }

    /// SGD over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float, momentum: Float = 0, dampening: Float = 0,
                            nesterov: Bool = false, weightDecay: Float = 0) {
        self.init(source: .list(parameters), lr: lr, momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay)
    }

    init(source: ParameterSource, lr: Float, momentum: Float, dampening: Float, nesterov: Bool, weightDecay: Float) {
        checkHyper(lr >= 0 && lr.isFinite, "SGD: lr must be >= 0, got \(lr)")
        checkHyper(momentum >= 0 && momentum.isFinite, "SGD: momentum must be >= 0, got \(momentum)")
        checkHyper(dampening.isFinite, "SGD: dampening must be finite, got \(dampening)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "SGD: weightDecay must be >= 0, got \(weightDecay)")
        checkHyper(!nesterov || (momentum > 0 && dampening == 0),
                   "SGD: Nesterov momentum requires momentum > 0 and dampening 0, got momentum \(momentum), dampening \(dampening)")
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        super.init(source: source, lr: lr)
    }

    override func update(param p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>, count n: Int,
                         state: inout ParameterState, shape: [Int], hyper: StepHyper) {
        let lr = hyper.lr, wd = hyper.weightDecay, mu = momentum, damp = 1 - dampening
        if mu == 0 {
            for i in 0..<n {
                let gi = wd != 0 ? g[i] + wd * p[i] : g[i]
                p[i] -= lr * gi
            }
            return
        }
        let first = state.buffers["momentum_buffer"] == nil
        let b = buffer("momentum_buffer", in: &state, shape: shape)
        for i in 0..<n {
            let gi = wd != 0 ? g[i] + wd * p[i] : g[i]
            let bi = first ? gi : mu * b[i] + damp * gi
            b[i] = bi
            let d = nesterov ? gi + mu * bi : bi
            p[i] -= lr * d
        }
    }
}

/// Adam and AdamW, with exactly `torch.optim.Adam`'s / `torch.optim.AdamW`'s update:
///
///     (Adam) g ← g + λ·p   (AdamW) p ← p·(1 − lr·λ)
///     m ← m + (1 − β₁)(g − m);  v ← β₂·v + (1 − β₂)·g²;  v̂ ← max(v̂, v) (amsgrad)
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public class Adam: Optimizer {
    /// β₁ (first-moment decay).
    public let beta1: Float
    /// β₂ (second-moment decay).
    public let beta2: Float
    /// ε added to the denominator.
    public let eps: Float
    /// Weight decay λ (L2 for Adam, decoupled for AdamW).
    public let weightDecay: Float
    override var defaultWeightDecay: Float { weightDecay }
    /// Whether to use the maximum of past second moments (AMSGrad).
    public let amsgrad: Bool
    let decoupled: Bool

    /// Adam over a module's parameters.
    public convenience init(_ module: Module, lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                            weightDecay: Float = 0, amsgrad: Bool = false) {
        self.init(source: .module(module), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: false)
    }

    /// Adam over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 0, amsgrad: Bool = false) {
        self.init(source: .list(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: false)
    }

    init(source: ParameterSource, lr: Float, betas: (Float, Float), eps: Float, weightDecay: Float, amsgrad: Bool, decoupled: Bool) {
        let n = decoupled ? "AdamW" : "Adam"
        checkHyper(lr >= 0 && lr.isFinite, "\(n): lr must be >= 0, got \(lr)")
        checkHyper(eps >= 0 && eps.isFinite, "\(n): eps must be >= 0, got \(eps)")
        checkHyper(betas.0 >= 0 && betas.0 < 1, "\(n): beta1 must be in [0, 1), got \(betas.0)")
        checkHyper(betas.1 >= 0 && betas.1 < 1, "\(n): beta2 must be in [0, 1), got \(betas.1)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "\(n): weightDecay must be >= 0, got \(weightDecay)")
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
        self.decoupled = decoupled
        super.init(source: source, lr: lr)
    }

    override func update(param p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>, count n: Int,
                         state: inout ParameterState, shape: [Int], hyper: StepHyper) {
        let m = buffer("exp_avg", in: &state, shape: shape)
        let v = buffer("exp_avg_sq", in: &state, shape: shape)
        let vmax = amsgrad ? buffer("max_exp_avg_sq", in: &state, shape: shape) : nil
        let t = Double(state.step)
        let lr = hyper.lr, b1 = beta1, b2 = beta2, wd = hyper.weightDecay, eps = self.eps
        let bc1 = 1 - Foundation.pow(Double(b1), t)
        let bc2Sqrt = Float((1 - Foundation.pow(Double(b2), t)).squareRoot())
        let stepSize = Float(Double(lr) / bc1)
        let oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2
        let decay: Float = decoupled ? 1 - lr * wd : 1
        let lerpSmallWeight = oneMinusB1 < 0.5
        var start = 0
        if vmax == nil && lerpSmallWeight {
            // The common case, eight lanes at a time with the same operations in the same order
            // as the scalar loop below (so the results are bit-identical to it).
            typealias V = SIMD8<Float>
            let decayV = V(repeating: decay), wdV = V(repeating: wd), omb1 = V(repeating: oneMinusB1)
            let b2V = V(repeating: b2), omb2 = V(repeating: oneMinusB2), bc2V = V(repeating: bc2Sqrt)
            let epsV = V(repeating: eps), stepV = V(repeating: stepSize)
            let addL2 = !decoupled && wd != 0, shrink = decoupled && wd != 0
            let rp = UnsafeMutableRawPointer(p), rg = UnsafeRawPointer(g)
            let rm = UnsafeMutableRawPointer(m), rv = UnsafeMutableRawPointer(v)
            while start + 8 <= n {
                let o = start * 4
                var pv = rp.loadUnaligned(fromByteOffset: o, as: V.self)
                var gv = rg.loadUnaligned(fromByteOffset: o, as: V.self)
                if shrink { pv = pv * decayV } else if addL2 { gv = gv + wdV * pv }
                var mv = rm.loadUnaligned(fromByteOffset: o, as: V.self)
                mv = mv + omb1 * (gv - mv)
                var vv = rv.loadUnaligned(fromByteOffset: o, as: V.self)
                vv = b2V * vv + omb2 * (gv * gv)
                let denom = vv.squareRoot() / bc2V + epsV
                pv = pv - stepV * (mv / denom)
                rm.storeBytes(of: mv, toByteOffset: o, as: V.self)
                rv.storeBytes(of: vv, toByteOffset: o, as: V.self)
                rp.storeBytes(of: pv, toByteOffset: o, as: V.self)
                start += 8
            }
        }
        for i in start..<n {
            var gi = g[i]
            if decoupled {
                if wd != 0 { p[i] *= decay }
            } else if wd != 0 {
                gi += wd * p[i]
            }
            // torch.lerp's two forms, chosen by the weight as PyTorch does.
            m[i] = lerpSmallWeight ? m[i] + oneMinusB1 * (gi - m[i]) : gi - (gi - m[i]) * b1
            v[i] = b2 * v[i] + oneMinusB2 * (gi * gi)
            var second = v[i]
            if let vmax {
                vmax[i] = Swift.max(vmax[i], v[i])
                second = vmax[i]
            }
            let denom = second.squareRoot() / bc2Sqrt + eps
            p[i] -= stepSize * (m[i] / denom)
        }
    }
}

/// AdamW: Adam with decoupled weight decay (default λ = 0.01), as `torch.optim.AdamW`.
public final class AdamW: Adam {
    /// AdamW over a module's parameters.
    public convenience init(_ module: Module, lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                            weightDecay: Float = 1e-2, amsgrad: Bool = false) {
        self.init(source: .module(module), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: true)
    }

    /// AdamW over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 1e-2, amsgrad: Bool = false) {
        self.init(source: .list(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: true)
    }
}

/// RMSProp, with exactly `torch.optim.RMSprop`'s update:
///
///     g ← g + λ·p;  s ← α·s + (1 − α)·g²;  a ← a + (1 − α)(g − a) (centered)
///     d ← √(s − a²) (centered) or √s, plus ε
///     b ← μ·b + g/d, p ← p − lr·b (momentum)  or  p ← p − lr·g/d
public final class RMSProp: Optimizer {
    /// Smoothing constant α.
    public let alpha: Float
    /// ε added to the denominator.
    public let eps: Float
    /// Momentum μ.
    public let momentum: Float
    /// Whether to normalize by the estimated variance (centered RMSProp).
    public let centered: Bool
    /// L2 weight decay λ.
    public let weightDecay: Float
    override var defaultWeightDecay: Float { weightDecay }

    /// RMSProp over a module's parameters.
    public convenience init(_ module: Module, lr: Float = 1e-2, alpha: Float = 0.99, eps: Float = 1e-8, weightDecay: Float = 0,
                            momentum: Float = 0, centered: Bool = false) {
        self.init(source: .module(module), lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered)
    }

    /// RMSProp over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float = 1e-2, alpha: Float = 0.99, eps: Float = 1e-8,
                            weightDecay: Float = 0, momentum: Float = 0, centered: Bool = false) {
        self.init(source: .list(parameters), lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered)
    }

    init(source: ParameterSource, lr: Float, alpha: Float, eps: Float, weightDecay: Float, momentum: Float, centered: Bool) {
        checkHyper(lr >= 0 && lr.isFinite, "RMSProp: lr must be >= 0, got \(lr)")
        checkHyper(alpha >= 0 && alpha <= 1, "RMSProp: alpha must be in [0, 1], got \(alpha)")
        checkHyper(eps >= 0 && eps.isFinite, "RMSProp: eps must be >= 0, got \(eps)")
        checkHyper(momentum >= 0 && momentum.isFinite, "RMSProp: momentum must be >= 0, got \(momentum)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "RMSProp: weightDecay must be >= 0, got \(weightDecay)")
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self.weightDecay = weightDecay
        super.init(source: source, lr: lr)
    }

    override func update(param p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>, count n: Int,
                         state: inout ParameterState, shape: [Int], hyper: StepHyper) {
        let s = buffer("square_avg", in: &state, shape: shape)
        let a = centered ? buffer("grad_avg", in: &state, shape: shape) : nil
        let b = momentum > 0 ? buffer("momentum_buffer", in: &state, shape: shape) : nil
        let lr = hyper.lr, al = alpha, oneMinusA = 1 - alpha, wd = hyper.weightDecay, eps = self.eps, mu = momentum
        let lerpSmallWeight = oneMinusA < 0.5
        for i in 0..<n {
            let gi = wd != 0 ? g[i] + wd * p[i] : g[i]
            s[i] = al * s[i] + oneMinusA * (gi * gi)
            var d: Float
            if let a {
                a[i] = lerpSmallWeight ? a[i] + oneMinusA * (gi - a[i]) : gi - (gi - a[i]) * al
                d = (s[i] - a[i] * a[i]).squareRoot()
            } else {
                d = s[i].squareRoot()
            }
            d += eps
            if let b {
                b[i] = mu * b[i] + gi / d
                p[i] -= lr * b[i]
            } else {
                p[i] -= lr * (gi / d)
            }
        }
    }
}
