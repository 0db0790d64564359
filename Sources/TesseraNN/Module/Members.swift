import Tessera

// The three kinds of module state, as property wrappers. Each wrapper is a small box (a class),
// so the module finds its state by reflecting over its stored properties once, and a holder of
// the module sees a replaced value at once. Names: a property's name in snake_case, or `key:`.

/// One member of a module's state (a parameter, buffer or child property), as found by reflection.
protocol ModuleMember: AnyObject {
    /// The name the member is saved under, when not derived from the property name.
    var key: String? { get }
}

/// A parameter or buffer member: one optional tensor.
protocol TensorSlot: ModuleMember {
    var tensor: Tensor? { get set }
    var isParameter: Bool { get }
    var dtype: DType { get }
}

/// A child member: one module, an optional one, or an array of them.
protocol ChildSlot: ModuleMember {
    /// The modules held, with their names relative to the property (`""` for a single child,
    /// `"0"`, `"1"`, … for array elements).
    var modules: [(name: String, module: Module)] { get }
    /// Replaces the module named `name` (as in ``modules``); false when `module` does not fit the property's type.
    func replace(_ name: String, with module: Module) -> Bool
}

/// A value a ``Parameter`` or ``Buffer`` property can hold: a `Tensor`, or an optional one
/// (`Linear`'s `bias` without a bias).
public protocol TensorSlotValue {
    /// The tensor held, if any.
    var slotTensor: Tensor? { get }
    /// The value holding `tensor` (never nil for a non-optional value).
    init(slotTensor tensor: Tensor?)
}

extension Tensor: TensorSlotValue {
    public var slotTensor: Tensor? { self }
    public init(slotTensor tensor: Tensor?) {
        guard let tensor else { preconditionFailure("a non-optional Tensor property was given no tensor") }
        self = tensor
    }
}

extension Optional: TensorSlotValue where Wrapped == Tensor {
    public var slotTensor: Tensor? { self }
    public init(slotTensor tensor: Tensor?) { self = tensor }
}

/// A trainable tensor of a module, as `nn.Parameter`: saved in the state dict, updated by
/// optimizers. Assigning makes the tensor a fresh leaf that requires gradients (unless it is
/// already one, so a tensor can be shared by two modules).
///
/// ```swift
/// @Parameter var weight: Tensor
/// @Parameter var bias: Tensor?
/// ```
@propertyWrapper
public final class Parameter<Value: TensorSlotValue>: TensorSlot {
    private var value: Value
    let key: String?

    /// A parameter named after its property.
    public init(wrappedValue: Value) {
        value = Parameter.leaf(wrappedValue)
        key = nil
    }

    /// A parameter saved under `key`.
    public init(wrappedValue: Value, key: String) {
        value = Parameter.leaf(wrappedValue)
        self.key = key
    }

    /// The tensor (or nil).
    public var wrappedValue: Value {
        get { value }
        set { value = Parameter.leaf(newValue) }
    }

    private static func leaf(_ v: Value) -> Value {
        guard var t = v.slotTensor else { return v }
        if !(t.requiresGrad && t.isLeaf) {
            t = t.detach()
            t.requiresGrad = true
        }
        return Value(slotTensor: t)
    }

    var tensor: Tensor? {
        get { value.slotTensor }
        set { value = Value(slotTensor: newValue) }   // as stored: freezing keeps requiresGrad off
    }
    var isParameter: Bool { true }
    var dtype: DType { .float32 }
}

/// Saved, never-trained state of a module, as `register_buffer` (batch norm's running
/// statistics). `dtype` is the type it is written with (PyTorch's `num_batches_tracked` is
/// `.int64`); in memory it is Float.
@propertyWrapper
public final class Buffer<Value: TensorSlotValue>: TensorSlot {
    private var value: Value
    let key: String?
    let dtype: DType

    /// A buffer named after its property, saved as `dtype`.
    public init(wrappedValue: Value, dtype: DType = .float32) {
        value = Buffer.detached(wrappedValue)
        self.dtype = dtype
        key = nil
    }

    /// A buffer saved under `key` as `dtype`.
    public init(wrappedValue: Value, key: String, dtype: DType = .float32) {
        value = Buffer.detached(wrappedValue)
        self.dtype = dtype
        self.key = key
    }

    /// The tensor (or nil).
    public var wrappedValue: Value {
        get { value }
        set { value = Buffer.detached(newValue) }
    }

    private static func detached(_ v: Value) -> Value { Value(slotTensor: v.slotTensor?.detach()) }

    var tensor: Tensor? {
        get { value.slotTensor }
        set { value = Buffer.detached(Value(slotTensor: newValue)) }
    }
    var isParameter: Bool { false }
}

/// A value a ``Child`` property can hold: a module, an optional module, or an array of modules.
public protocol ChildValue {
    /// The modules held, with their names relative to the property.
    var childModules: [(name: String, module: Module)] { get }
    /// `value` with the module named `name` replaced, or nil when `module` does not fit the
    /// property's declared type (a static requirement, so the declared type decides, not the
    /// dynamic type of the module held now).
    static func replacing(_ value: Self, _ name: String, with module: Module) -> Self?
}

extension Module: ChildValue {
    public var childModules: [(name: String, module: Module)] { [("", self)] }
    public static func replacing(_ value: Module, _ name: String, with module: Module) -> Self? { module as? Self }
}

extension Optional: ChildValue where Wrapped: ChildValue {
    public var childModules: [(name: String, module: Module)] { self?.childModules ?? [] }
    public static func replacing(_ value: Self, _ name: String, with module: Module) -> Self? {
        guard let v = value, let r = Wrapped.replacing(v, name, with: module) else { return nil }
        return .some(r)
    }
}

extension Array: ChildValue where Element: Module {
    public var childModules: [(name: String, module: Module)] { enumerated().map { (String($0.offset), $0.element) } }
    public static func replacing(_ value: Self, _ name: String, with module: Module) -> Self? {
        guard let i = Int(name), value.indices.contains(i), let m = module as? Element else { return nil }
        var copy = value
        copy[i] = m
        return copy
    }
}

/// A sub-module of a module (a layer, an optional layer, or an array of layers), named after its
/// property; array elements are named `property.0`, `property.1`, … (`0`, `1`, … with an empty
/// key, as the children of `nn.Sequential`).
///
/// ```swift
/// @Child var conv1: Conv2d
/// @Child var downsample: Sequential?
/// ```
@propertyWrapper
public final class Child<Value: ChildValue>: ChildSlot {
    /// The module(s).
    public var wrappedValue: Value
    let key: String?

    /// A child named after its property.
    public init(wrappedValue: Value) {
        self.wrappedValue = wrappedValue
        key = nil
    }

    /// A child saved under `key` (`""`: array elements directly under the parent).
    public init(wrappedValue: Value, key: String) {
        self.wrappedValue = wrappedValue
        self.key = key
    }

    var modules: [(name: String, module: Module)] { wrappedValue.childModules }

    func replace(_ name: String, with module: Module) -> Bool {
        guard let v = Value.replacing(wrappedValue, name, with: module) else { return false }
        wrappedValue = v
        return true
    }
}
