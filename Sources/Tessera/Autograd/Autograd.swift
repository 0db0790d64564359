// Reverse-mode autograd as a tape: every recorded operation is one `GradNode` with one backward
// function that maps the gradient of its output to the gradients of all its inputs at once.
// `backward()` orders the graph by an iterative depth-first search, walks it in reverse and adds
// (`+=`) each contribution, so a tensor used twice receives both.

/// One recorded operation: its inputs' nodes (nil where an input needs no gradient) and the
/// backward function, which returns one gradient per input (nil where none is needed). The
/// function keeps, as captured tensors, everything the backward pass reads, so nothing it
/// points into can be freed before it runs.
final class GradNode {
    /// Accumulated gradient (leaves only).
    var grad: Tensor?
    /// The nodes of the operation's inputs, in the operation's order; nil for inputs without gradient.
    var inputs: [GradNode?]
    /// Output gradient → one gradient per input (nil where `inputs[i]` is nil).
    var backward: ((Tensor) -> [Tensor?])?
    /// The operation's name, for messages.
    let op: String
    /// Leaves only: called after the leaf's gradient is complete in a backward pass.
    var hooks: [(id: Int, body: (Tensor) -> Void)] = []

    /// A leaf: a tensor created by the user that requires gradients.
    init() {
        op = "leaf"
        inputs = []
    }

    init(op: String, inputs: [GradNode?], backward: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }

    var isLeaf: Bool { op == "leaf" }

    /// Frees the graph above this node iteratively: a plain release of a 10,000-op chain would
    /// recurse once per node and could overflow the stack.
    deinit {
        var pending = inputs.compactMap { $0 }
        inputs = []
        while var n = pending.popLast() {
            if isKnownUniquelyReferenced(&n) {
                pending.append(contentsOf: n.inputs.compactMap { $0 })
                n.inputs = []
                n.backward = nil
            }
        }
    }
}

/// Whether operations are recorded for backward on the current task or thread.
///
/// The switch is task-local (and thread-local outside Swift concurrency): a `withNoGrad`
/// evaluation on one thread never turns recording off for a training loop on another.
public enum GradMode {
    @TaskLocal static var recordingDisabled = false

    /// Whether operations are currently recorded for backward here.
    public static var isEnabled: Bool { !recordingDisabled }
}

/// Runs `body` without recording operations for backward, as `torch.no_grad()`, on the
/// current task or thread only. Use it for evaluation and for parameter updates.
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$recordingDisabled.withValue(true, operation: body)
}

/// Runs `body` with operations recorded again inside a ``withNoGrad(_:)`` region, as
/// `torch.enable_grad()`.
@discardableResult
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$recordingDisabled.withValue(false, operation: body)
}

/// Which inputs of a recorded operation need a gradient; a backward function skips the others.
struct GradientNeeds {
    let flags: [Bool]
    subscript(_ i: Int) -> Bool { flags[i] }
}

/// A gradient-ready hook registered with ``Tensor/onGradientReady(_:)``.
public struct GradientHook {
    fileprivate weak var node: GradNode?
    fileprivate let id: Int

    /// Unregisters the hook (no effect if it is already gone).
    public func remove() { node?.hooks.removeAll { $0.id == id } }
}

private let nextHookID = Locked(0)

extension Tensor {
    /// Whether gradients are computed for this tensor. Setting it on a tensor that is the
    /// result of an operation is a programmer error; use ``detach()`` first.
    public var requiresGrad: Bool {
        get { node != nil }
        set {
            if newValue {
                if node == nil { node = GradNode() }
            } else {
                precondition(node?.isLeaf ?? true, "requiresGrad: cannot turn off gradients of a non-leaf tensor; use detach()")
                node = nil
            }
        }
    }

    /// Whether this tensor was created by the user (not by a recorded operation).
    public var isLeaf: Bool { node?.isLeaf ?? true }

    /// The gradient accumulated by ``backward(_:retainGraph:)`` (leaves only); assign `nil` to clear it.
    public var grad: Tensor? {
        get { node?.grad }
        nonmutating set { node?.grad = newValue }
    }

    /// The same data, cut off from the autograd graph.
    public func detach() -> Tensor {
        var t = self
        t.node = nil
        return t
    }

    /// Calls `body` with this leaf's gradient during every ``backward(_:retainGraph:)`` that reaches
    /// it, as soon as the gradient is complete for that pass — before backward has finished the rest
    /// of the graph (the hook PyTorch DDP uses to start communicating gradients early).
    /// - Precondition: the tensor is a leaf that requires gradients.
    @discardableResult
    public func onGradientReady(_ body: @escaping (Tensor) -> Void) -> GradientHook {
        guard let node, node.isLeaf else {
            preconditionFailure("onGradientReady: tensor of shape \(shape) is not a leaf that requires grad")
        }
        let id = nextHookID.withLock { $0 += 1; return $0 }
        node.hooks.append((id, body))
        return GradientHook(node: node, id: id)
    }

    /// True when an operation on `inputs` must be recorded: one of them requires gradients and
    /// recording is on here.
    static func isRecording(_ inputs: Tensor?...) -> Bool {
        for case let t? in inputs where t.node != nil { return GradMode.isEnabled }
        return false
    }

    /// Attaches an operation's backward function to its result. `backward` receives the output's
    /// gradient and which inputs need one, and returns one gradient per input (of that input's
    /// shape; nil where none is needed). Inputs that are nil or need no gradient are skipped.
    func recorded(_ op: String, inputs: [Tensor?], _ backward: @escaping (Tensor, GradientNeeds) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled else { return self }
        let nodes = inputs.map { $0?.node }
        guard nodes.contains(where: { $0 != nil }) else { return self }
        let needs = GradientNeeds(flags: nodes.map { $0 != nil })
        var out = self
        out.node = GradNode(op: op, inputs: nodes) { g in backward(g, needs) }
        return out
    }

    /// ``recorded(_:inputs:_:)`` for an operation of one input.
    func recorded(_ op: String, input: Tensor, _ backward: @escaping (Tensor) -> Tensor) -> Tensor {
        recorded(op, inputs: [input]) { g, _ in [backward(g)] }
    }

    /// Back-propagates from this tensor, accumulating (`+=`) into the ``grad`` of every leaf
    /// that requires gradients.
    ///
    /// - Parameters:
    ///   - seed: the gradient of the final objective with respect to this tensor; defaults to 1
    ///     for a one-element tensor.
    ///   - retainGraph: keep the recorded functions so backward can run again through this graph.
    public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false) {
        guard let root = node else {
            preconditionFailure("backward: tensor of shape \(shape) does not require grad")
        }
        let seedGrad: Tensor
        if let seed {
            precondition(seed.shape == shape, "backward: seed shape \(seed.shape) does not match tensor shape \(shape)")
            seedGrad = seed.detach()
        } else {
            precondition(count == 1, "backward: a seed gradient is needed for a non-scalar tensor of shape \(shape)")
            seedGrad = Tensor.ones(shape)
        }

        // Topological order by an iterative depth-first search (no recursion: graphs can be deep).
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradNode, Int)] = [(root, 0)]
        visited.insert(ObjectIdentifier(root))
        while let (n, i) = stack.popLast() {
            if i < n.inputs.count {
                stack.append((n, i + 1))
                if let p = n.inputs[i], visited.insert(ObjectIdentifier(p)).inserted { stack.append((p, 0)) }
            } else {
                order.append(n)
            }
        }

        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seedGrad]
            for n in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(n)) else { continue }
                if n.isLeaf {
                    n.grad = n.grad.map { sum in Profiler.time(.gradientAccumulation) { sum + g } } ?? g.clone()
                    for hook in n.hooks { hook.body(n.grad!) }
                    continue
                }
                guard let backward = n.backward else {
                    preconditionFailure("backward: the graph through '\(n.op)' was already freed by an earlier backward; pass retainGraph: true to the first call")
                }
                let inputGrads = Profiler.timeBackward(of: n.op) { backward(g) }
                precondition(inputGrads.count == n.inputs.count,
                             "backward: '\(n.op)' returned \(inputGrads.count) gradients for \(n.inputs.count) inputs")
                for (p, pg) in zip(n.inputs, inputGrads) {
                    guard let p else { continue }
                    guard let pg else { preconditionFailure("backward: '\(n.op)' returned no gradient for an input that needs one") }
                    let key = ObjectIdentifier(p)
                    grads[key] = grads[key].map { sum in Profiler.time(.gradientAccumulation) { sum + pg } } ?? pg
                }
                if !retainGraph {
                    n.inputs = []
                    n.backward = nil
                }
            }
        }
    }
}
