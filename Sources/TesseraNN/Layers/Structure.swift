import Tessera

/// Runs its children in order, named "0", "1", …, as `nn.Sequential`. A ``BatchNorm`` directly
/// followed by a ``ReLU`` runs as one fused pass (``BatchNorm/callAsFunction(_:then:)-(_,Module)``).
///
/// ```swift
/// let net = Sequential(Linear(2, 16), ReLU(), Linear(16, 2))
/// ```
open class Sequential: Module {
    /// The layers in order.
    @Child(key: "") public var layers: [Module] = []

    /// A sequence of layers.
    public init(_ layers: [Module]) {
        super.init()
        self.layers = layers
    }

    /// A sequence of layers.
    public convenience init(_ layers: Module...) { self.init(layers) }

    /// Adds a layer at the end, named by its position.
    public func append(_ layer: Module) { layers.append(layer) }

    /// The number of layers.
    public var count: Int { layers.count }

    /// The layer at `index`.
    public subscript(index: Int) -> Module {
        precondition(index >= 0 && index < count, "Sequential: index \(index) out of range for \(count) layers")
        return layers[index]
    }

    open override func forward(_ x: Tensor) -> Tensor {
        var y = x
        var i = 0
        while i < layers.count {
            if let bn = layers[i] as? BatchNorm, i + 1 < layers.count, layers[i + 1] is ReLU {
                y = bn(y, then: layers[i + 1])
                i += 2
            } else {
                y = layers[i](y)
                i += 1
            }
        }
        return y
    }
}

/// Flattens dimensions `startDim...endDim`, as `nn.Flatten` (default: all but the batch).
public final class Flatten: Module {
    /// First dimension flattened.
    public let startDim: Int
    /// Last dimension flattened.
    public let endDim: Int

    /// A flatten layer.
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor { x.flattened(from: startDim, to: endDim) }

    public override var extraDescription: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// Returns its input, as `nn.Identity` (a placeholder, e.g. for a removed head).
public final class Identity: Module {
    /// An identity layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x }
}
