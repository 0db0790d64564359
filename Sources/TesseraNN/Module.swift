import Tessera

/// The base class of every layer and model, as `torch.nn.Module`.
///
/// A module owns an ordered list of named parameters (trainable tensors), an ordered list of
/// named buffers (state that is saved but not trained, such as batch-norm running statistics)
/// and an ordered list of named child modules. Names compose with dots exactly as in PyTorch,
/// so `namedParameters()` of a torchvision-style ResNet yields `layer1.0.conv1.weight` and
/// ``stateDict()`` can be exchanged with `model.state_dict()` through ``Safetensors``.
///
/// Modules are classes: a model holds its layers by reference, and an optimizer updates the
/// parameters in place (their storage is shared), so every holder sees the new values.
///
/// Subclass it and override ``forward(_:)``; register state in `init`:
///
/// ```swift
/// final class TwoLayer: Module {
///     let fc1 = Linear(784, 128), fc2 = Linear(128, 10)
///     override init() { super.init(); register("fc1", fc1); register("fc2", fc2) }
///     override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
/// }
/// ```
open class Module: CustomStringConvertible {
    /// Whether the module is in training mode (dropout active, batch norm using batch statistics).
    public private(set) var isTraining = true
    /// The shape of the output of the last call through ``callAsFunction(_:)``, if any.
    public internal(set) var lastOutputShape: [Int]?

    var ownParameters: [(name: String, tensor: Tensor)] = []
    var ownBuffers: [(name: String, tensor: Tensor, dtype: DType)] = []
    var ownChildren: [(name: String, module: Module)] = []

    /// An empty module; subclasses register their parameters, buffers and children.
    public init() {}

    /// Computes the module's output. Subclasses override it; call the module itself
    /// (``callAsFunction(_:)``) rather than `forward` so the output shape is recorded.
    open func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("\(typeName).forward: not implemented; subclasses of Module override forward(_:)")
    }

    /// Runs ``forward(_:)`` and remembers the output shape for the printed tree.
    public final func callAsFunction(_ x: Tensor) -> Tensor {
        let y = forward(x)
        lastOutputShape = y.shape
        return y
    }

    // MARK: - Registration

    /// Adds (or replaces) a trainable parameter under `name`; its gradients are switched on.
    /// - Precondition: `name` is a non-empty identifier without dots and not used by a buffer or child.
    public func registerParameter(_ name: String, _ tensor: Tensor) {
        checkName(name, kind: .parameter)
        // A leaf that already requires gradients is kept as is (so one tensor can be shared by
        // two modules); anything else is cut from its history and becomes a fresh leaf.
        var t = tensor
        if !(t.requiresGrad && t.isLeaf) {
            t = t.detach()
            t.requiresGrad = true
        }
        if let i = ownParameters.firstIndex(where: { $0.name == name }) {
            ownParameters[i].tensor = t
        } else {
            ownParameters.append((name, t))
        }
    }

    /// Adds (or replaces) a buffer: saved in the state dict, never trained. `dtype` is the type
    /// it is written with (PyTorch's `num_batches_tracked` is `.int64`); in memory it is Float.
    public func registerBuffer(_ name: String, _ tensor: Tensor, dtype: DType = .float32) {
        checkName(name, kind: .buffer)
        let t = tensor.detach()
        if let i = ownBuffers.firstIndex(where: { $0.name == name }) {
            ownBuffers[i] = (name, t, dtype)
        } else {
            ownBuffers.append((name, t, dtype))
        }
    }

    /// Adds (or replaces, keeping its position) a child module under `name`.
    public func register(_ name: String, _ module: Module) {
        checkName(name, kind: .child)
        precondition(module !== self, "\(typeName).register: a module cannot be its own child")
        if let i = ownChildren.firstIndex(where: { $0.name == name }) {
            ownChildren[i].module = module
        } else {
            ownChildren.append((name, module))
        }
    }

    private enum Kind { case parameter, buffer, child }

    private func checkName(_ name: String, kind: Kind) {
        precondition(!name.isEmpty && !name.contains("."), "\(typeName): invalid name '\(name)' (non-empty, no dots)")
        if kind != .parameter {
            precondition(!ownParameters.contains { $0.name == name }, "\(typeName): '\(name)' is already a parameter")
        }
        if kind != .buffer {
            precondition(!ownBuffers.contains { $0.name == name }, "\(typeName): '\(name)' is already a buffer")
        }
        if kind != .child {
            precondition(!ownChildren.contains { $0.name == name }, "\(typeName): '\(name)' is already a child module")
        }
    }

    /// The module's own parameter `name` (not a descendant's), or nil.
    public func parameter(_ name: String) -> Tensor? {
        for p in ownParameters where p.name == name { return p.tensor }
        return nil
    }

    /// The module's own buffer `name`, or nil.
    public func buffer(_ name: String) -> Tensor? {
        for b in ownBuffers where b.name == name { return b.tensor }
        return nil
    }

    /// The direct child `name`, or nil.
    public func child(_ name: String) -> Module? {
        for c in ownChildren where c.name == name { return c.module }
        return nil
    }

    /// The direct child `name`, for calling it in ``forward(_:)``: `self["conv1"](x)`.
    /// Looking children up by name (rather than holding them in stored properties) keeps
    /// ``replaceModule(at:with:)`` effective.
    /// - Precondition: the child exists.
    public subscript(_ name: String) -> Module {
        guard let c = child(name) else { preconditionFailure("\(typeName): no child module named '\(name)'") }
        return c
    }

    /// The descendant at a dotted path (`"layer1.0.conv1"`); `""` is the module itself.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var m: Module = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let c = m.child(String(part)) else { return nil }
            m = c
        }
        return m
    }

    /// Replaces the descendant at a dotted path (its parent must exist), e.g. `"fc"` or `"layer4.1"`.
    public func replaceModule(at path: String, with module: Module) {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        precondition(!path.isEmpty, "\(typeName).replaceModule: empty path")
        let parentPath = parts.dropLast().joined(separator: ".")
        guard let parent = self.module(at: parentPath), parent.child(parts.last!) != nil else {
            preconditionFailure("\(typeName).replaceModule: no module at '\(path)'")
        }
        parent.register(parts.last!, module)
    }

    /// The direct children in registration order.
    public var children: [(name: String, module: Module)] { ownChildren }

    // MARK: - Traversal

    /// Every module of the tree (this one first, as `""`) with its dotted path, depth first.
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for c in ownChildren {
            out += c.module.namedModules(prefix: Module.join(prefix, c.name))
        }
        return out
    }

    /// Every parameter of the tree under its dotted name, in PyTorch's order (a module's own
    /// parameters, then its children's).
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        collectParameters(prefix: prefix, into: &out)
        return out
    }

    private func collectParameters(prefix: String, into out: inout [(name: String, tensor: Tensor)]) {
        for p in ownParameters { out.append((Module.join(prefix, p.name), p.tensor)) }
        for c in ownChildren { c.module.collectParameters(prefix: Module.join(prefix, c.name), into: &out) }
    }

    /// Every parameter of the tree, in ``namedParameters(prefix:)`` order.
    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    /// The parameters that currently require gradients (not frozen).
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }

    /// Every buffer of the tree under its dotted name, with the dtype it is saved as.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor, dtype: DType)] {
        var out: [(name: String, tensor: Tensor, dtype: DType)] = []
        for b in ownBuffers { out.append((Module.join(prefix, b.name), b.tensor, b.dtype)) }
        for c in ownChildren { out += c.module.namedBuffers(prefix: Module.join(prefix, c.name)) }
        return out
    }

    static func join(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    // MARK: - Modes, gradients, counting

    /// Sets training mode on this module and every descendant, as `module.train(mode)`.
    public func train(_ on: Bool = true) {
        isTraining = on
        for c in ownChildren { c.module.train(on) }
    }

    /// Sets evaluation mode on this module and every descendant, as `module.eval()`.
    public func eval() { train(false) }

    /// Clears the gradient of every parameter (sets it to nil, as `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        for p in namedParameters() { p.tensor.grad = nil }
    }

    /// The number of scalars in all parameters (buffers excluded), as
    /// `sum(p.numel() for p in model.parameters())`.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.tensor.count } }

    /// The number of scalars in parameters that require gradients.
    public var trainableParameterCount: Int {
        namedParameters().reduce(0) { $0 + ($1.tensor.requiresGrad ? $1.tensor.count : 0) }
    }

    /// Stops gradients for every parameter whose dotted name is `prefix` or lies under it
    /// (`"layer1"` matches `layer1.0.conv1.weight`, not `layer10.…`); `""` matches all.
    /// Returns the number of parameters affected.
    @discardableResult
    public func freeze(prefix: String = "") -> Int { setRequiresGrad(false, prefix: prefix) }

    /// Restores gradients for the parameters matched as in ``freeze(prefix:)``.
    @discardableResult
    public func unfreeze(prefix: String = "") -> Int { setRequiresGrad(true, prefix: prefix) }

    private func setRequiresGrad(_ on: Bool, prefix: String) -> Int {
        var n = 0
        for (path, m) in namedModules() {
            for i in m.ownParameters.indices {
                let full = Module.join(path, m.ownParameters[i].name)
                if Module.matches(full, prefix: prefix) {
                    if m.ownParameters[i].tensor.requiresGrad != on {
                        m.ownParameters[i].tensor.requiresGrad = on
                    }
                    n += 1
                }
            }
        }
        return n
    }

    static func matches(_ name: String, prefix: String) -> Bool {
        if prefix.isEmpty || name == prefix { return true }
        if prefix.hasSuffix(".") { return name.hasPrefix(prefix) }
        return name.hasPrefix(prefix + ".")
    }

    // MARK: - Printing

    /// The class name shown in the printed tree.
    open var typeName: String { String(describing: type(of: self)) }

    /// The hyper-parameters shown beside the type name (PyTorch's `extra_repr`).
    open var extraDescription: String { "" }

    /// A tree of the module like PyTorch's `print(model)`, extended with each module's output
    /// shape (from the last call) and its parameter count.
    public var description: String {
        var lines: [String] = []
        describe(name: nil, indent: 0, into: &lines)
        return lines.joined(separator: "\n")
    }

    private func describe(name: String?, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: "  ", count: indent)
        let head = (name.map { "(\($0)): " } ?? "") + typeName + "(" + extraDescription
        var notes: [String] = []
        if let s = lastOutputShape { notes.append("-> \(s)") }
        let count = parameterCount
        if count > 0 { notes.append("params \(Module.grouped(count))") }
        let note = notes.isEmpty ? "" : "  # " + notes.joined(separator: ", ")
        if ownChildren.isEmpty {
            lines.append(pad + head + ")" + note)
        } else {
            lines.append(pad + head + note)
            for c in ownChildren { c.module.describe(name: c.name, indent: indent + 1, into: &lines) }
            lines.append(pad + ")")
        }
    }

    /// `1234567` as `"1,234,567"`.
    static func grouped(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }
}
