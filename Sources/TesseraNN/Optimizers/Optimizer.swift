import Foundation
import Tessera

/// Per-parameter optimizer state: a step count and named buffers of the parameter's shape.
public struct ParameterState {
    /// Updates applied to this parameter.
    public var step: Int = 0
    /// Named buffers (`momentum_buffer`, `exp_avg`, …), PyTorch's names.
    public var buffers: [String: Tensor] = [:]

    /// An empty state (step 0, no buffers).
    public init() {}
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

/// One parameter's update in a step, handed to ``Optimizer/update(_:)``: the parameter and its
/// gradient (both contiguous; the parameter is updated in place), its state, and the learning
/// rate and weight decay of its group.
public struct ParameterUpdate {
    /// The parameter's dotted name.
    public let name: String
    /// The parameter; write the new values into its storage (e.g. through an `OptimizerKernel`).
    public let parameter: Tensor
    /// Its gradient (contiguous, same shape).
    public let gradient: Tensor
    /// Its state; ``ParameterState/step`` is already incremented for this update.
    public var state: ParameterState
    /// The learning rate for this parameter in this step.
    public let lr: Float
    /// The weight decay for this parameter.
    public let weightDecay: Float

    /// The state buffer `key` of the parameter's shape, created filled with `initial` on first
    /// use (PyTorch's lazy state); the tensor shares storage with the state, so writing into it
    /// updates the state.
    public mutating func buffer(_ key: String, initial: Float = 0) -> Tensor {
        if let b = state.buffers[key] { return b }
        let b = Tensor.full(parameter.shape, initial)
        state.buffers[key] = b
        return b
    }

    /// Whether the buffer `key` exists yet.
    public func hasBuffer(_ key: String) -> Bool { state.buffers[key] != nil }
}

/// Why an optimizer state dict could not be loaded.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    /// An error saying `message`.
    public init(message: String) { self.message = message }
    public var description: String { "optimizer state: " + message }
}

/// The base class of the optimizers: holds the parameters and their state keyed by parameter
/// name, so the state can be checkpointed (``stateDict()``) and restored. Subclass it (from any
/// package) and override ``update(_:)``:
///
/// ```swift
/// final class PlainSGD: Optimizer {
///     override func update(_ u: inout ParameterUpdate) {
///         // Any Tensor ops (recording is off), or an OptimizerKernel for speed.
///         u.parameter.assign(u.parameter - u.gradient * u.lr)
///     }
/// }
/// ```
///
/// Parameters are updated in place (their storage is shared with the model) under
/// `withNoGrad`. Parameters whose gradient is nil (frozen, or unused in the loss) are skipped,
/// as in PyTorch.
open class Optimizer {
    /// The learning rate; schedules set it before each step.
    public var lr: Float {
        didSet { precondition(lr >= 0 && lr.isFinite, "\(name): lr must be >= 0, got \(lr)") }
    }
    /// The momentum a schedule that cycles it sets before each step (PyTorch's `OneCycleLR`
    /// with `cycle_momentum`, see `LRSchedule.scheduledMomentum(at:)`): SGD's and RMSProp's
    /// momentum, Adam's and AdamW's β₁. nil for an optimizer without one, whose momentum is then
    /// left alone; subclasses with a momentum override it.
    open var scheduledMomentum: Float? {
        get { nil }
        set {}
    }
    private let module: Module?
    private let list: [(name: String, tensor: Tensor)]
    /// Per-parameter state by parameter name.
    public internal(set) var state: [String: ParameterState] = [:]
    /// The optimizer's name for messages.
    public var name: String { String(describing: type(of: self)) }
    /// Parameter groups with their own learning-rate multiplier and weight decay; a parameter
    /// in no group uses ``lr`` and the optimizer's weight decay. A parameter may be in one group only.
    public var groups: [ParameterGroup] = [] {
        didSet {
            var seen = Set<String>()
            let known = Set(namedParameters.map(\.name))
            for g in groups {
                for n in g.names {
                    precondition(known.contains(n), "\(name).groups: '\(n)' is not one of the optimizer's parameters")
                    precondition(seen.insert(n).inserted, "\(name).groups: parameter '\(n)' is in two groups")
                }
            }
        }
    }
    /// The weight decay of parameters outside every group (0 unless a subclass has one).
    open var defaultWeightDecay: Float { 0 }

    /// An optimizer over named parameters.
    /// - Precondition: the names are distinct; lr >= 0.
    public init(parameters: [(name: String, tensor: Tensor)], lr: Float) {
        precondition(lr >= 0 && lr.isFinite, "Optimizer: lr must be >= 0, got \(lr)")
        module = nil
        list = parameters
        self.lr = lr
        var seen = Set<String>()
        for p in parameters { precondition(seen.insert(p.name).inserted, "\(name): parameter name '\(p.name)' appears twice") }
    }

    /// An optimizer over a module's parameters, read afresh at every step (so frozen, unfrozen or
    /// replaced layers are picked up; a parameter whose state has the wrong shape after a
    /// replacement starts with fresh state).
    public init(_ module: Module, lr: Float) {
        precondition(lr >= 0 && lr.isFinite, "Optimizer: lr must be >= 0, got \(lr)")
        self.module = module
        list = []
        self.lr = lr
    }

    /// The named parameters this optimizer updates.
    public var namedParameters: [(name: String, tensor: Tensor)] { module?.namedParameters() ?? list }

    /// Applies one update to every parameter that has a gradient.
    public func step() {
        let profile = Profiler.begin(.optimizer); defer { Profiler.end(profile) }
        withNoGrad {
            for (pname, p) in namedParameters {
                guard p.requiresGrad, let g = p.grad else { continue }
                precondition(g.shape == p.shape, "\(name).step: gradient \(g.shape) of '\(pname)' does not match parameter \(p.shape)")
                precondition(p.isContiguous, "\(name).step: parameter '\(pname)' is not contiguous")
                var st = state[pname] ?? ParameterState()
                if st.buffers.values.contains(where: { $0.shape != p.shape }) { st = ParameterState() }
                st.step += 1
                let group = groups.first { $0.names.contains(pname) }
                var u = ParameterUpdate(name: pname, parameter: p, gradient: g.contiguous(), state: st,
                                        lr: lr * (group?.lrScale ?? 1), weightDecay: group?.weightDecay ?? defaultWeightDecay)
                update(&u)
                state[pname] = u.state
            }
        }
    }

    /// Clears the gradients of all parameters (sets them to nil).
    public func zeroGrad() {
        let profile = Profiler.begin(.optimizer); defer { Profiler.end(profile) }
        for (_, p) in namedParameters { p.grad = nil }
    }

    /// The update of one parameter; subclasses override it. Called by `step()` under `withNoGrad`.
    open func update(_ u: inout ParameterUpdate) {
        preconditionFailure("\(name).update: subclasses of Optimizer override update(_:)")
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
    /// its parameter, a key names a parameter this optimizer does not have, or a value is not finite.
    public func loadStateDict(_ sd: StateDict) throws {
        let params = Dictionary(namedParameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var newState: [String: ParameterState] = [:]
        var newLR = lr
        for key in sd.keys {
            let t = sd[key]!
            if key == "lr" {
                guard t.count == 1 else { throw OptimizerStateError(message: "'lr' has shape \(t.shape), expected one value") }
                newLR = t.item()
                continue
            }
            // Parameter names contain dots; the last component is the slot.
            guard let dot = key.lastIndex(of: ".") else { throw OptimizerStateError(message: "unexpected key '\(key)'") }
            let pname = String(key[..<dot]), slot = String(key[key.index(after: dot)...])
            guard let p = params[pname] else {
                throw OptimizerStateError(message: "key '\(key)' names unknown parameter '\(pname)'")
            }
            var st = newState[pname] ?? ParameterState()
            if slot == "step" {
                guard t.count == 1, let step = Int(exactly: t.item()), step >= 0 else {
                    throw OptimizerStateError(message: "'\(key)' is not a step count")
                }
                st.step = step
            } else {
                guard t.shape == p.shape else {
                    throw OptimizerStateError(message: "'\(key)' has shape \(t.shape), parameter has \(p.shape)")
                }
                guard t.scalars.allSatisfy(\.isFinite) else { throw OptimizerStateError(message: "'\(key)' holds a value that is not finite") }
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
