/// One recorded operation in the autograd tape: the nodes of its differentiable inputs and,
/// for each, the closure that maps the gradient of the output to the gradient of that input.
final class GradNode {
    /// Accumulated gradient (leaves only).
    var grad: Tensor?
    var parents: [GradNode]
    var backwardFns: [(Tensor) -> Tensor]
    let op: String
    /// Set once backward has run through this node and dropped its closures.
    var released = false

    init(op: String, parents: [GradNode] = [], backwardFns: [(Tensor) -> Tensor] = []) {
        self.op = op
        self.parents = parents
        self.backwardFns = backwardFns
    }

    var isLeaf: Bool { op == "leaf" }

    /// Frees the graph above this node iteratively: a plain release of a 10,000-op chain would
    /// recurse once per node and could overflow the stack.
    deinit {
        var pending = parents
        parents = []
        while var n = pending.popLast() {
            if isKnownUniquelyReferenced(&n) {
                pending.append(contentsOf: n.parents)
                n.parents = []
                n.backwardFns = []
            }
        }
    }
}

/// Global switch for gradient recording (see ``withNoGrad(_:)``).
public enum Autograd {
    nonisolated(unsafe) static var enabled = true

    /// Whether operations are currently recorded for backward.
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording operations for backward, as `torch.no_grad()`.
/// Use it for evaluation and for parameter updates.
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let saved = Autograd.enabled
    Autograd.enabled = false
    defer { Autograd.enabled = saved }
    return try body()
}

extension Tensor {
    /// Whether gradients are computed for this tensor. Setting it on a tensor that is the
    /// result of an operation is a programmer error; use ``detach()`` first.
    public var requiresGrad: Bool {
        get { node != nil }
        set {
            if newValue {
                if node == nil { node = GradNode(op: "leaf") }
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

    /// True when an operation on `inputs` must be recorded.
    static func isRecording(_ inputs: Tensor...) -> Bool {
        guard Autograd.enabled else { return false }
        for t in inputs where t.node != nil { return true }
        return false
    }

    /// Attaches an operation's backward closures to its result. Each pair is an input and the
    /// closure that maps the output's gradient to that input's gradient (of the input's shape).
    /// Inputs that do not require gradients are skipped.
    func recorded(_ op: String, _ inputs: (Tensor, (Tensor) -> Tensor)...) -> Tensor {
        recordedList(op, inputs)
    }

    /// ``recorded(_:_:)`` with the inputs in an array.
    func recordedList(_ op: String, _ inputs: [(Tensor, (Tensor) -> Tensor)]) -> Tensor {
        guard Autograd.enabled else { return self }
        var parents: [GradNode] = []
        var fns: [(Tensor) -> Tensor] = []
        for (input, fn) in inputs {
            if let n = input.node { parents.append(n); fns.append(fn) }
        }
        guard !parents.isEmpty else { return self }
        var out = self
        out.node = GradNode(op: op, parents: parents, backwardFns: fns)
        return out
    }

    /// Back-propagates from this tensor, accumulating (`+=`) into the ``grad`` of every leaf
    /// that requires gradients.
    ///
    /// - Parameters:
    ///   - seed: the gradient of the final objective with respect to this tensor; defaults to 1
    ///     for a one-element tensor.
    ///   - retainGraph: keep the recorded closures so backward can run again through this graph.
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
            if i < n.parents.count {
                stack.append((n, i + 1))
                let p = n.parents[i]
                if visited.insert(ObjectIdentifier(p)).inserted { stack.append((p, 0)) }
            } else {
                order.append(n)
            }
        }

        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seedGrad]
            for n in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(n)) else { continue }
                precondition(!n.released, "backward: the graph through '\(n.op)' was already freed by an earlier backward; pass retainGraph: true to the first call")
                if n.isLeaf {
                    if let existing = n.grad { n.grad = existing + g } else { n.grad = g.clone() }
                    continue
                }
                for (p, fn) in zip(n.parents, n.backwardFns) {
                    let pg = fn(g)
                    let key = ObjectIdentifier(p)
                    if let acc = grads[key] { grads[key] = acc + pg } else { grads[key] = pg }
                }
                if !retainGraph {
                    n.parents = []
                    n.backwardFns = []
                    n.released = true
                }
            }
        }
    }
}
