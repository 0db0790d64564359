import Foundation
import Tessera

/// A copy of some of a module's tensors (parameters and buffers, by dotted name) that follows
/// the module's values, and can be swapped into the module for evaluation and back: the shared
/// part of ``ExponentialMovingAverage`` and ``Lookahead``.
///
/// The module's tensors are found by name at every call (so a module-backed optimizer's
/// re-read parameters and frozen or unfrozen ones are the same tensors); the module must keep
/// the names and shapes it had when the average was made. Every pass over the values is a
/// pointer loop over contiguous storage, without allocation.
public class WeightAverage {
    /// The module whose tensors are averaged.
    public let module: Module
    /// The dotted names of the averaged tensors, in state-dict order.
    public let names: [String]
    /// The averaged tensor of each name (its storage is this object's; read it, do not keep writing it).
    public private(set) var averaged: [String: Tensor]
    /// The dtype each tensor is saved as (int64 buffers such as `num_batches_tracked`).
    let dtypes: [String: DType]
    /// Whether the averaged values are in the module now (``swapIn()``).
    public private(set) var isSwappedIn = false

    init(module: Module, includeParameters: Bool = true, bufferFilter: (DType) -> Bool) {
        self.module = module
        var names: [String] = [], averaged: [String: Tensor] = [:], dtypes: [String: DType] = [:]
        let parameters = Set(module.namedParameters().map(\.name))
        for (name, entry) in module.stateDict() where parameters.contains(name) ? includeParameters : bufferFilter(entry.dtype) {
            names.append(name); averaged[name] = entry.tensor.detach().clone(); dtypes[name] = entry.dtype
        }
        self.names = names
        self.averaged = averaged
        self.dtypes = dtypes
    }

    /// The module's current tensor of each averaged name (sharing the module's storage), checked
    /// against the average's shape.
    func current() -> [String: Tensor] {
        let sd = module.stateDict()
        var out: [String: Tensor] = [:]
        for name in names {
            guard let t = sd[name] else { preconditionFailure("\(typeName): the module no longer has '\(name)'") }
            precondition(t.shape == averaged[name]!.shape && t.isContiguous,
                         "\(typeName): '\(name)' has shape \(t.shape) (contiguous: \(t.isContiguous)); the average has \(averaged[name]!.shape)")
            out[name] = t
        }
        return out
    }

    var typeName: String { String(describing: type(of: self)) }

    /// Exchanges the module's values and the averaged ones, element by element.
    private func exchange() {
        let model = current()
        for name in names {
            let m = model[name]!, e = averaged[name]!
            m.withUnsafeMutableBufferPointer { p in
                e.withUnsafeMutableBufferPointer { q in
                    for i in 0..<p.count { let t = p[i]; p[i] = q[i]; q[i] = t }
                }
            }
        }
    }

    /// Puts the averaged values into the module (for evaluation) and keeps the module's own
    /// values here until ``swapOut()``. No averaging may happen in between.
    public func swapIn() {
        precondition(!isSwappedIn, "\(typeName).swapIn: the averaged weights are already swapped in")
        exchange()
        isSwappedIn = true
    }

    /// Restores the module's own values after ``swapIn()``.
    public func swapOut() {
        precondition(isSwappedIn, "\(typeName).swapOut: the averaged weights are not swapped in")
        exchange()
        isSwappedIn = false
    }

    /// Runs `body` with the averaged values in the module, then restores the module's own values.
    /// - Parameter body: the work to do with the averaged weights (an evaluation).
    /// - Returns: what `body` returns.
    public func withAveragedWeights<R>(_ body: () throws -> R) rethrows -> R {
        swapIn()
        defer { swapOut() }
        return try body()
    }

    /// Copies the averaged values into the module for good (the module's own values are lost).
    public func copyAverageIntoModule() {
        precondition(!isSwappedIn, "\(typeName).copyAverageIntoModule: swap the module's weights back out first")
        let model = current()
        for name in names { withNoGrad { model[name]!.assign(averaged[name]!) } }
    }

    /// The averaged values under the module's names, with their dtypes: a state dict the module
    /// (or a copy of it) loads as its own.
    public func averagedStateDict() -> StateDict {
        var sd = StateDict()
        for name in names { sd.set(name, averaged[name]!.clone(), dtype: dtypes[name]!) }
        return sd
    }

    /// A state dict of the subclass's counter `key` (int64) and `module.<name>` for every averaged tensor.
    func stateDict(counter key: String, _ value: Int) -> StateDict {
        var sd = StateDict()
        sd.set(key, Tensor(scalar: Float(value)), dtype: .int64)
        for name in names { sd.set("module." + name, averaged[name]!.clone(), dtype: dtypes[name]!) }
        return sd
    }

    /// Loads the averaged tensors of a state dict written by `stateDict(counter:_:)` and returns
    /// its counter `key`.
    func loadState(_ sd: StateDict, counter key: String) throws -> Int {
        guard let n = sd[key], n.count == 1, let value = Int(exactly: n.item()), value >= 0 else {
            throw OptimizerStateError(message: "\(typeName): missing or invalid '\(key)'")
        }
        try loadAveraged(from: sd, prefix: "module.")
        return value
    }

    /// Replaces the averaged values from `module.<name>` entries of `sd` (every name must be there).
    func loadAveraged(from sd: StateDict, prefix: String) throws {
        var loaded: [String: Tensor] = [:]
        for name in names {
            guard let t = sd[prefix + name] else { throw OptimizerStateError(message: "\(typeName): missing '\(prefix + name)'") }
            guard t.shape == averaged[name]!.shape else {
                throw OptimizerStateError(message: "\(typeName): '\(prefix + name)' has shape \(t.shape), expected \(averaged[name]!.shape)")
            }
            guard t.allFinite else { throw OptimizerStateError(message: "\(typeName): '\(prefix + name)' holds a value that is not finite") }
            loaded[name] = t.contiguous().clone()
        }
        averaged = loaded
    }
}

/// `e ← e + w·(m − e)` as `torch.lerp` computes it (from the other end when w ≥ 0.5).
@inline(__always)
func lerpInPlace(_ e: UnsafeMutableBufferPointer<Float>, toward m: UnsafeBufferPointer<Float>, weight w: Float) {
    if Swift.abs(w) < 0.5 {
        for i in 0..<e.count { e[i] = e[i] + w * (m[i] - e[i]) }
    } else {
        let v = 1 - w
        for i in 0..<e.count { e[i] = m[i] - (m[i] - e[i]) * v }
    }
}

/// An exponential moving average of a module's parameters and buffers, exactly as
/// `torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay),
/// use_buffers=includesBuffers)` computes it:
///
/// - made: a copy of every parameter and buffer (PyTorch's `deepcopy`);
/// - first ``update()``: the copy takes the module's values;
/// - every later ``update()``: `e ← decay·e + (1 − decay)·m` for every parameter (frozen ones
///   too) — computed as `torch.lerp(e, m, 1 − decay)` — and, when `includesBuffers`, for every
///   buffer (an int64 buffer such as `num_batches_tracked` takes `trunc(decay·e + (1 − decay)·m)`,
///   as PyTorch's copy into a long tensor does); without `includesBuffers` the buffers are
///   copied from the module at every update.
///
/// Call ``update()`` after each `optimizer.step()`; evaluate through ``WeightAverage/withAveragedWeights(_:)``.
public final class ExponentialMovingAverage: WeightAverage {
    /// The weight of the old average, in [0, 1].
    public let decay: Float
    /// Whether buffers are averaged (true) or copied (false), as `use_buffers`.
    public let includesBuffers: Bool
    /// Updates so far (PyTorch's `n_averaged`).
    public private(set) var updateCount = 0

    /// An average of `module`'s parameters and buffers, starting as a copy of their values now.
    /// - Parameters:
    ///   - module: the model to average.
    ///   - decay: the weight of the old average in every update, in [0, 1].
    ///   - includesBuffers: whether buffers are averaged (PyTorch's `use_buffers=True`) or copied.
    public init(_ module: Module, decay: Float, includesBuffers: Bool = true) {
        precondition(decay >= 0 && decay <= 1, "ExponentialMovingAverage: decay must be in [0, 1], got \(decay)")
        self.decay = decay
        self.includesBuffers = includesBuffers
        super.init(module: module, bufferFilter: { _ in true })
    }

    /// Folds the module's current values into the average (PyTorch's `update_parameters(model)`).
    public func update() {
        precondition(!isSwappedIn, "ExponentialMovingAverage.update: swap the module's weights back out first")
        let model = current()
        let parameterNames = Set(module.namedParameters().map(\.name))
        let w = Float(1 - Double(decay))
        for name in names {
            let m = model[name]!, e = averaged[name]!
            let averages = updateCount > 0 && (includesBuffers || parameterNames.contains(name))
            m.withUnsafeBufferPointer { mp in
                e.withUnsafeMutableBufferPointer { ep in
                    if !averages {
                        ep.baseAddress!.update(from: mp.baseAddress!, count: ep.count)
                    } else if dtypes[name]!.isInteger {
                        for i in 0..<ep.count { ep[i] = (ep[i] * decay + mp[i] * w).rounded(.towardZero) }
                    } else {
                        lerpInPlace(ep, toward: mp, weight: w)
                    }
                }
            }
        }
        updateCount += 1
    }

    /// The average as PyTorch's `AveragedModel.state_dict()` names it: `n_averaged` (int64) and
    /// `module.<name>` for every tensor.
    public func stateDict() -> StateDict { stateDict(counter: "n_averaged", updateCount) }

    /// Restores an average written by ``stateDict()``.
    /// - Parameter sd: `n_averaged` and `module.<name>` for every averaged name.
    /// - Throws: `OptimizerStateError` when an entry is missing, of the wrong shape or not finite.
    public func loadStateDict(_ sd: StateDict) throws { updateCount = try loadState(sd, counter: "n_averaged") }
}

/// The weight averaging of the airbench CIFAR-10 recipes ("lookahead"): every ``interval``
/// steps the average moves toward the weights and the weights are then reset to the average,
///
///     e ← α·e + (1 − α)·p   (as torch.lerp(e, p, 1 − α));   p ← e,
///     α = decayScale · (step / totalSteps)^decayPower   (airbench: 0.95⁵ · (step / total)³),
///
/// over every parameter and every floating-point buffer (the batch-norm running statistics;
/// not `num_batches_tracked`), starting from a copy of the values when it is made. Early in
/// training α ≈ 0 and the average follows the weights; late, the weights are pulled back toward
/// the average. At step ``totalSteps`` the weights are set to the average one last time.
///
/// Make it after the model's data-dependent initialization (the whitening layer), and call
/// ``step()`` after every `optimizer.step()`.
public final class Lookahead: WeightAverage {
    /// Steps between updates (airbench: 5).
    public let interval: Int
    /// The training length in steps, for the schedule of α.
    public let totalSteps: Int
    /// α's scale (airbench: 0.95⁵).
    public let decayScale: Double
    /// α's exponent (airbench: 3).
    public let decayPower: Double
    /// Steps taken so far (settable to resume).
    public var stepCount = 0

    /// A lookahead average of `module`'s parameters and floating-point buffers.
    /// - Parameters:
    ///   - module: the model.
    ///   - totalSteps: the training length in optimizer steps.
    ///   - interval: steps between updates.
    ///   - decayScale: α's scale.
    ///   - decayPower: α's exponent.
    public init(_ module: Module, totalSteps: Int, interval: Int = 5, decayScale: Double = Foundation.pow(0.95, 5), decayPower: Double = 3) {
        precondition(totalSteps > 0, "Lookahead: totalSteps must be > 0, got \(totalSteps)")
        precondition(interval > 0, "Lookahead: interval must be > 0, got \(interval)")
        precondition(decayScale >= 0 && decayScale <= 1, "Lookahead: decayScale must be in [0, 1], got \(decayScale)")
        precondition(decayPower >= 0 && decayPower.isFinite, "Lookahead: decayPower must be >= 0, got \(decayPower)")
        self.interval = interval
        self.totalSteps = totalSteps
        self.decayScale = decayScale
        self.decayPower = decayPower
        super.init(module: module, bufferFilter: { !$0.isInteger })
    }

    /// α at `step`: `decayScale · (step / totalSteps)^decayPower`.
    /// - Parameter step: the step count (1-based, as after that many optimizer steps).
    public func decay(at step: Int) -> Float {
        Float(decayScale * Foundation.pow(Double(step) / Double(totalSteps), decayPower))
    }

    /// Counts one optimizer step; on every ``interval``-th step runs ``update(decay:)`` with
    /// ``decay(at:)``, and at step ``totalSteps`` also sets the weights to the average
    /// (``update(decay:)`` with α = 1). Returns whether the weights were changed.
    @discardableResult
    public func step() -> Bool {
        stepCount += 1
        var changed = false
        if stepCount % interval == 0 {
            update(decay: decay(at: stepCount))
            changed = true
        }
        if stepCount == totalSteps {
            update(decay: 1)
            changed = true
        }
        return changed
    }

    /// `e ← α·e + (1 − α)·p`, then `p ← e`, for every averaged tensor.
    /// - Parameter alpha: the weight of the old average α, in [0, 1] (1: only reset the weights).
    public func update(decay alpha: Float) {
        precondition(!isSwappedIn, "Lookahead.update: swap the module's weights back out first")
        precondition(alpha >= 0 && alpha <= 1, "Lookahead.update: decay must be in [0, 1], got \(alpha)")
        let model = current()
        let w = Float(1 - Double(alpha))
        for name in names {
            let m = model[name]!, e = averaged[name]!
            m.withUnsafeMutableBufferPointer { mp in
                e.withUnsafeMutableBufferPointer { ep in
                    lerpInPlace(ep, toward: UnsafeBufferPointer(mp), weight: w)
                    mp.baseAddress!.update(from: ep.baseAddress!, count: ep.count)
                }
            }
        }
    }

    /// The state for a checkpoint: `step` (int64) and `module.<name>` for every averaged tensor.
    public func stateDict() -> StateDict { stateDict(counter: "step", stepCount) }

    /// Restores a state written by ``stateDict()``.
    /// - Parameter sd: `step` and `module.<name>` for every averaged name.
    /// - Throws: `OptimizerStateError` when an entry is missing, of the wrong shape or not finite.
    public func loadStateDict(_ sd: StateDict) throws { stepCount = try loadState(sd, counter: "step") }
}
