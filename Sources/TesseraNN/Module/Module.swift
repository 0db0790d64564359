import Tessera

/// The base class of every layer and model, as `torch.nn.Module`.
///
/// A module's state is its stored properties: ``Parameter`` (trainable tensors), ``Buffer``
/// (saved but not trained, such as batch-norm running statistics) and ``Child`` (sub-modules,
/// optional ones and arrays of them). Their names come from the properties themselves —
/// `runningMean` is saved as `running_mean` — and compose with dots exactly as in PyTorch, so
/// ``namedParameters(prefix:)`` of a torchvision-style ResNet yields `layer1.0.conv1.weight`
/// and ``stateDict()`` can be exchanged with `model.state_dict()` through ``Safetensors``. The
/// order is PyTorch's: a module's own parameters, then its buffers, then its children, each in
/// declaration order.
///
/// Modules are classes: a model holds its layers by reference, and an optimizer updates the
/// parameters in place (their storage is shared), so every holder sees the new values.
///
/// ```swift
/// final class TwoLayer: Module {
///     @Child var fc1 = Linear(784, 128)
///     @Child var fc2 = Linear(128, 10)
///     override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
/// }
/// ```
open class Module: CustomStringConvertible {
    /// Whether the module is in training mode (dropout active, batch norm using batch statistics).
    public private(set) var isTraining = true
    /// The shape of the output of the last call through ``callAsFunction(_:)``, if any.
    public internal(set) var lastOutputShape: [Int]?

    /// An empty module; subclasses declare their state as ``Parameter``, ``Buffer`` and ``Child``
    /// properties.
    public init() {}

    /// Computes the module's output. Subclasses override it; call the module itself
    /// (`module(x)`) rather than `forward` so the output shape is recorded.
    open func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("\(typeName).forward: not implemented; subclasses of Module override forward(_:)")
    }

    /// Runs ``forward(_:)`` and remembers the output shape for the printed tree.
    public final func callAsFunction(_ x: Tensor) -> Tensor {
        let y = forward(x)
        lastOutputShape = y.shape
        return y
    }

    // MARK: - State, found from the stored properties

    /// The module's own members (parameters, buffers, children), found once by reflection over
    /// its stored properties, superclass first, in declaration order.
    private lazy var members: [(key: String, member: ModuleMember)] = {
        var levels: [[(String, ModuleMember)]] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror {
            levels.append(m.children.compactMap { c in
                guard let member = c.value as? ModuleMember, let label = c.label else { return nil }
                return (member.key ?? ModuleNaming.key(forProperty: label), member)
            })
            mirror = m.superclassMirror
        }
        let all = levels.reversed().flatMap { $0 }
        var seen = Set<String>()
        for (key, _) in all where !key.isEmpty {
            precondition(seen.insert(key).inserted, "\(typeName): two properties are saved under the name '\(key)'")
        }
        return all
    }()

    /// The module's own parameter slots in declaration order.
    var parameterSlots: [(name: String, slot: TensorSlot)] {
        members.compactMap { m in (m.member as? TensorSlot).flatMap { $0.isParameter ? (m.key, $0) : nil } }
    }

    /// The module's own buffer slots in declaration order.
    var bufferSlots: [(name: String, slot: TensorSlot)] {
        members.compactMap { m in (m.member as? TensorSlot).flatMap { $0.isParameter ? nil : (m.key, $0) } }
    }

    /// The module's own parameters (not a descendant's) under their names; absent optional ones are skipped.
    public var ownParameters: [(name: String, tensor: Tensor)] {
        parameterSlots.compactMap { p in p.slot.tensor.map { (p.name, $0) } }
    }

    /// The module's own buffers under their names, with the dtype each is saved as.
    public var ownBuffers: [(name: String, tensor: Tensor, dtype: DType)] {
        bufferSlots.compactMap { b in b.slot.tensor.map { (b.name, $0, b.slot.dtype) } }
    }

    /// The direct children in declaration order, with their names (array elements as `key.i`,
    /// or `i` for an array declared with an empty key, as `nn.Sequential`'s).
    public var children: [(name: String, module: Module)] {
        members.flatMap { m -> [(name: String, module: Module)] in
            guard let slot = m.member as? ChildSlot else { return [] }
            return slot.modules.map { (ModuleNaming.join(m.key, $0.name), $0.module) }
        }
    }

    /// The direct child `name`, or nil.
    public func child(_ name: String) -> Module? {
        children.first { $0.name == name }?.module
    }

    /// The descendant at a dotted path (`"layer1.0.conv1"`); `""` is the module itself.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var m: Module = self
        var rest = Substring(path)
        // Child names may themselves contain one dot (`blocks.0`): take the longest match.
        while !rest.isEmpty {
            guard let (name, next) = m.children.filter({ rest == $0.name || rest.hasPrefix($0.name + ".") })
                    .max(by: { $0.name.count < $1.name.count }) else { return nil }
            m = next
            rest = rest.dropFirst(name.count)
            if rest.first == "." { rest = rest.dropFirst() }
        }
        return m
    }

    /// Replaces the descendant at a dotted path (its parent must exist), e.g. `"fc"` or
    /// `"layer4.1"`. The new module must fit the property that holds the old one (a `Linear`
    /// property takes a `Linear`; a `[Module]` array takes any module).
    public func replaceModule(at path: String, with module: Module) {
        precondition(!path.isEmpty, "\(typeName).replaceModule: empty path")
        for (parentPath, parent) in namedModules() {
            let local = parentPath.isEmpty ? path : (path.hasPrefix(parentPath + ".") ? String(path.dropFirst(parentPath.count + 1)) : nil)
            guard let local else { continue }
            for m in parent.members {
                guard let slot = m.member as? ChildSlot else { continue }
                for c in slot.modules where ModuleNaming.join(m.key, c.name) == local {
                    precondition(module !== parent, "\(typeName).replaceModule: a module cannot be its own child")
                    precondition(slot.replace(c.name, with: module),
                                 "\(typeName).replaceModule: '\(path)' holds a \(c.module.typeName); a \(module.typeName) does not fit that property")
                    return
                }
            }
        }
        preconditionFailure("\(typeName).replaceModule: no module at '\(path)'")
    }

    // MARK: - Traversal

    /// Every module of the tree (this one first, as `""`) with its dotted path, depth first.
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for c in children {
            out += c.module.namedModules(prefix: ModuleNaming.join(prefix, c.name))
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
        for p in ownParameters { out.append((ModuleNaming.join(prefix, p.name), p.tensor)) }
        for c in children { c.module.collectParameters(prefix: ModuleNaming.join(prefix, c.name), into: &out) }
    }

    /// Every parameter of the tree, in ``namedParameters(prefix:)`` order.
    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    /// The parameters that currently require gradients (not frozen).
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }

    /// Every buffer of the tree under its dotted name, with the dtype it is saved as.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor, dtype: DType)] {
        var out: [(name: String, tensor: Tensor, dtype: DType)] = []
        for b in ownBuffers { out.append((ModuleNaming.join(prefix, b.name), b.tensor, b.dtype)) }
        for c in children { out += c.module.namedBuffers(prefix: ModuleNaming.join(prefix, c.name)) }
        return out
    }

    // MARK: - Modes, gradients, counting

    /// Sets training mode on this module and every descendant, as `module.train(mode)`.
    public func train(_ on: Bool = true) {
        isTraining = on
        for c in children { c.module.train(on) }
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
            for p in m.parameterSlots where ModuleNaming.matches(ModuleNaming.join(path, p.name), prefix: prefix) {
                guard var t = p.slot.tensor else { continue }
                if t.requiresGrad != on {
                    t.requiresGrad = on
                    p.slot.tensor = t
                }
                n += 1
            }
        }
        return n
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
        if count > 0 { notes.append("params \(ModuleNaming.grouped(count))") }
        let note = notes.isEmpty ? "" : "  # " + notes.joined(separator: ", ")
        let kids = children
        if kids.isEmpty {
            lines.append(pad + head + ")" + note)
        } else {
            lines.append(pad + head + note)
            for c in kids { c.module.describe(name: c.name, indent: indent + 1, into: &lines) }
            lines.append(pad + ")")
        }
    }
}

/// How property names become state-dict names, and how names compose.
enum ModuleNaming {
    /// `_runningMean` (a wrapper's storage label) → `running_mean`: camelCase to PyTorch's
    /// snake_case; a run of capitals is one word (`headFC` → `head_fc`); digits stay attached.
    static func key(forProperty label: String) -> String {
        let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
        var out = ""
        let chars = Array(name)
        for (i, ch) in chars.enumerated() {
            if ch.isUppercase {
                let prevLower = i > 0 && (chars[i - 1].isLowercase || chars[i - 1].isNumber)
                let nextLower = i + 1 < chars.count && chars[i + 1].isLowercase
                let prevUpper = i > 0 && chars[i - 1].isUppercase
                if i > 0 && (prevLower || (prevUpper && nextLower)) { out.append("_") }
                out.append(contentsOf: ch.lowercased())
            } else {
                out.append(ch)
            }
        }
        return out
    }

    static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : (name.isEmpty ? prefix : prefix + "." + name)
    }

    static func matches(_ name: String, prefix: String) -> Bool {
        if prefix.isEmpty || name == prefix { return true }
        if prefix.hasSuffix(".") { return name.hasPrefix(prefix) }
        return name.hasPrefix(prefix + ".")
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
