import Foundation
import Tessera

/// Muon ("MomentUm Orthogonalized by Newton–Schulz", Jordan et al. 2024) for a whole model: the
/// matrix-shaped parameters take momentum whose update is orthogonalized, every other parameter
/// takes SGD with momentum, so one optimizer object serves every parameter.
///
/// **Orthogonalized parameters** (``orthogonalizes(_:shape:)``: rank ≥ 2, viewed as a matrix
/// `[out, rest]`, so a convolution filter `[O, C, kh, kw]` is `[O, C·kh·kw]`), with gradient `G`:
///
///     B ← μ·B + G                               (momentum_buffer, zero before the first step)
///     D ← G + μ·B  (Nesterov)  or  B
///     X ← D / (‖D‖_F + ε);  Xᵀ when D has more rows than columns
///     5 times (``steps``):  A ← X·Xᵀ;  X ← a·X + (b·A + c·A·A)·X,   (a, b, c) = (3.4445, −4.7750, 2.0315)
///     O ← X (transposed back) · √max(1, rows / cols)       (when ``scalesByShape``)
///     p ← p·√out / ‖p‖_F                                     (only when ``normalizesWeights``)
///     p ← p·(1 − lr·λ) − lr·O                                 (λ: decoupled weight decay)
///
/// This is the update of the reference implementation published with the description
/// (github.com/KellerJordan/Muon), in float32, with two choices made explicit:
///
/// - The momentum is the heavy-ball buffer `B ← μB + G` of the description's pseudo-code and of
///   `airbench94_muon.py`, not the reference code's exponential average `M ← M + (1 − μ)(G − M)`:
///   `M = (1 − μ)·B` at every step, so after the Frobenius normalization the two give the same
///   update (up to ε); the buffer is kept in the form `torch.optim.SGD` saves as `momentum_buffer`.
/// - The shape scale `√max(1, rows/cols)` uses the flattened matrix; the reference code divides
///   the last two dimensions of the unflattened gradient, which for a square kernel is 1. For
///   the CIFAR networks here every filter has rows ≤ columns, so both give 1.
///
/// The quintic does not converge to `UVᵀ`: its coefficients maximize the slope at zero, so the
/// singular values of `X` land in a band around 1 rather than on 1: measured by `MuonTests`,
/// [0.68, 1.20] after 5 steps for every singular value at least 2·10⁻³ of the input's
/// Frobenius norm (smaller ones are still rising, by at most a factor a⁵ ≈ 490).
///
/// `airbench94_muon.py` (94% on CIFAR-10 in 8 epochs) uses `lr 0.24, momentum 0.6, nesterov,
/// steps 3, normalizesWeights: true`, no weight decay on the filters, and SGD (momentum 0.85,
/// Nesterov) for biases and the head.
///
/// **Every other parameter** (rank < 2, or excluded by name, such as a classifier head) takes
/// exactly `torch.optim.SGD`'s update with the settings ``others`` (momentum, Nesterov, L2
/// weight decay), and its learning rate is `lr × others.lrScale`.
///
/// **Groups.** A parameter in one of ``Optimizer/groups`` takes `lr × group.lrScale` (not
/// multiplied by `others.lrScale`) and, when the group gives one, the group's weight decay —
/// decoupled for an orthogonalized parameter, L2 for the others.
///
/// The matrix products go through `BLAS.gemm` in buffers kept across steps (grown to the largest
/// parameter, never allocated per step). State (`momentum_buffer` for every parameter) is saved
/// and restored by ``Optimizer/stateDict()`` as for ``SGD``.
public final class Muon: Optimizer {
    /// The settings of the parameters Muon does not orthogonalize: `torch.optim.SGD`'s momentum,
    /// Nesterov and L2 weight decay, with a learning rate `lrScale × lr`.
    public struct Others: Equatable, Sendable {
        /// Multiplier of the optimizer's learning rate for these parameters.
        public var lrScale: Float
        /// Momentum factor (0: none).
        public var momentum: Float
        /// Nesterov momentum.
        public var nesterov: Bool
        /// L2 weight decay (added to the gradient, as `torch.optim.SGD`'s `weight_decay`).
        public var weightDecay: Float

        /// SGD settings for the parameters outside the orthogonalized set.
        /// - Parameters:
        ///   - lrScale: multiplier of the optimizer's learning rate.
        ///   - momentum: momentum factor (0: none).
        ///   - nesterov: Nesterov momentum (needs momentum > 0).
        ///   - weightDecay: L2 weight decay.
        public init(lrScale: Float = 1, momentum: Float = 0.9, nesterov: Bool = true, weightDecay: Float = 0) {
            self.lrScale = lrScale
            self.momentum = momentum
            self.nesterov = nesterov
            self.weightDecay = weightDecay
        }
    }

    /// The quintic's coefficients (a, b, c).
    public static let coefficients: (a: Float, b: Float, c: Float) = (3.4445, -4.7750, 2.0315)

    /// Momentum μ of the orthogonalized parameters.
    public let momentum: Float
    /// Whether the orthogonalized direction is the Nesterov one, `G + μ·B`.
    public let nesterov: Bool
    /// Newton–Schulz steps.
    public let steps: Int
    /// ε added to the Frobenius norm before dividing by it.
    public let eps: Float
    /// Decoupled weight decay λ of the orthogonalized parameters: `p ← p·(1 − lr·λ)`.
    public let weightDecay: Float
    /// Whether the update is multiplied by `√max(1, rows/cols)`.
    public let scalesByShape: Bool
    /// Whether each orthogonalized parameter is rescaled to Frobenius norm `√out` before its
    /// update (`airbench94_muon.py`'s weight normalization, which replaces weight decay there).
    public let normalizesWeights: Bool
    /// The settings of the other parameters.
    public let others: Others
    /// When set, only these names are orthogonalized (each must have rank ≥ 2).
    public let orthogonalizedNames: Set<String>?
    /// Names never orthogonalized (e.g. the classifier head), whatever their rank.
    public let excludedNames: Set<String>
    /// The outside-group weight decay of the orthogonalized parameters (see ``others`` for the rest).
    public override var defaultWeightDecay: Float { weightDecay }

    private let workspace = NewtonSchulzWorkspace()

    /// Muon over a module's parameters (re-read at every step).
    /// - Parameters:
    ///   - module: the model.
    ///   - lr: the learning rate of the orthogonalized parameters (the others take `lr × others.lrScale`).
    ///   - momentum: momentum μ of the orthogonalized parameters.
    ///   - nesterov: whether the orthogonalized direction is Nesterov's.
    ///   - steps: Newton–Schulz steps.
    ///   - eps: ε added to the Frobenius norm.
    ///   - weightDecay: decoupled weight decay of the orthogonalized parameters.
    ///   - scalesByShape: whether the update is multiplied by `√max(1, rows/cols)`.
    ///   - normalizesWeights: whether each orthogonalized parameter is rescaled to norm `√out` before its update.
    ///   - orthogonalized: only these names are orthogonalized (nil: every parameter of rank ≥ 2).
    ///   - excluding: names never orthogonalized.
    ///   - others: SGD settings of every parameter not orthogonalized.
    public convenience init(_ module: Module, lr: Float, momentum: Float = 0.95, nesterov: Bool = true, steps: Int = 5,
                            eps: Float = 1e-7, weightDecay: Float = 0, scalesByShape: Bool = true, normalizesWeights: Bool = false,
                            orthogonalized: Set<String>? = nil, excluding: Set<String> = [], others: Others = Others()) {
        self.init(module: module, parameters: nil, lr: lr, momentum: momentum, nesterov: nesterov, steps: steps, eps: eps,
                  weightDecay: weightDecay, scalesByShape: scalesByShape, normalizesWeights: normalizesWeights,
                  orthogonalized: orthogonalized, excluding: excluding, others: others)
    }

    /// Muon over named parameters.
    /// - Parameters:
    ///   - parameters: the parameters under their names.
    ///   - lr: the learning rate of the orthogonalized parameters (the others take `lr × others.lrScale`).
    ///   - momentum: momentum μ of the orthogonalized parameters.
    ///   - nesterov: whether the orthogonalized direction is Nesterov's.
    ///   - steps: Newton–Schulz steps.
    ///   - eps: ε added to the Frobenius norm.
    ///   - weightDecay: decoupled weight decay of the orthogonalized parameters.
    ///   - scalesByShape: whether the update is multiplied by `√max(1, rows/cols)`.
    ///   - normalizesWeights: whether each orthogonalized parameter is rescaled to norm `√out` before its update.
    ///   - orthogonalized: only these names are orthogonalized (nil: every parameter of rank ≥ 2).
    ///   - excluding: names never orthogonalized.
    ///   - others: SGD settings of every parameter not orthogonalized.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float, momentum: Float = 0.95, nesterov: Bool = true,
                            steps: Int = 5, eps: Float = 1e-7, weightDecay: Float = 0, scalesByShape: Bool = true,
                            normalizesWeights: Bool = false, orthogonalized: Set<String>? = nil, excluding: Set<String> = [],
                            others: Others = Others()) {
        self.init(module: nil, parameters: parameters, lr: lr, momentum: momentum, nesterov: nesterov, steps: steps, eps: eps,
                  weightDecay: weightDecay, scalesByShape: scalesByShape, normalizesWeights: normalizesWeights,
                  orthogonalized: orthogonalized, excluding: excluding, others: others)
    }

    init(module: Module?, parameters: [(name: String, tensor: Tensor)]?, lr: Float, momentum: Float, nesterov: Bool, steps: Int,
         eps: Float, weightDecay: Float, scalesByShape: Bool, normalizesWeights: Bool, orthogonalized: Set<String>?,
         excluding: Set<String>, others: Others) {
        checkHyper(lr >= 0 && lr.isFinite, "Muon: lr must be >= 0, got \(lr)")
        checkHyper(momentum >= 0 && momentum.isFinite, "Muon: momentum must be >= 0, got \(momentum)")
        checkHyper(!nesterov || momentum > 0, "Muon: Nesterov momentum requires momentum > 0")
        checkHyper(steps >= 0, "Muon: steps must be >= 0, got \(steps)")
        checkHyper(eps >= 0 && eps.isFinite, "Muon: eps must be >= 0, got \(eps)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "Muon: weightDecay must be >= 0, got \(weightDecay)")
        checkHyper(others.lrScale >= 0 && others.lrScale.isFinite, "Muon: others.lrScale must be >= 0, got \(others.lrScale)")
        checkHyper(others.momentum >= 0 && others.momentum.isFinite, "Muon: others.momentum must be >= 0, got \(others.momentum)")
        checkHyper(!others.nesterov || others.momentum > 0, "Muon: others.nesterov requires others.momentum > 0")
        checkHyper(others.weightDecay >= 0 && others.weightDecay.isFinite,
                   "Muon: others.weightDecay must be >= 0, got \(others.weightDecay)")
        (self.momentum, self.nesterov, self.steps, self.eps, self.weightDecay) = (momentum, nesterov, steps, eps, weightDecay)
        (self.scalesByShape, self.normalizesWeights) = (scalesByShape, normalizesWeights)
        (self.orthogonalizedNames, self.excludedNames, self.others) = (orthogonalized, excluding, others)
        if let module { super.init(module, lr: lr) } else { super.init(parameters: parameters ?? [], lr: lr) }
    }

    /// Whether the parameter `name` of `shape` is orthogonalized: rank ≥ 2, not excluded, and
    /// in ``orthogonalizedNames`` when that is set.
    /// - Parameters:
    ///   - name: the parameter's dotted name.
    ///   - shape: its shape.
    public func orthogonalizes(_ name: String, shape: [Int]) -> Bool {
        if excludedNames.contains(name) { return false }
        if let names = orthogonalizedNames {
            guard names.contains(name) else { return false }
            precondition(shape.count >= 2, "Muon: '\(name)' of shape \(shape) is named to be orthogonalized but has rank < 2")
            return true
        }
        return shape.count >= 2
    }

    /// The names of the trainable parameters (of ``Optimizer/namedParameters``, requiring
    /// gradients) that are orthogonalized, in order.
    public var orthogonalizedParameterNames: [String] {
        namedParameters.filter { $0.tensor.requiresGrad && orthogonalizes($0.name, shape: $0.tensor.shape) }.map(\.name)
    }

    public override func update(_ u: inout ParameterUpdate) {
        let group = groups.first { $0.names.contains(u.name) }
        if orthogonalizes(u.name, shape: u.parameter.shape) {
            updateOrthogonalized(&u, weightDecay: group?.weightDecay ?? weightDecay)
        } else {
            let lr = group == nil ? u.lr * others.lrScale : u.lr
            let first = others.momentum != 0 && !u.hasBuffer("momentum_buffer")
            let buffer = others.momentum != 0 ? u.buffer("momentum_buffer") : nil
            OptimizerKernel.sgd(parameter: u.parameter, gradient: u.gradient, momentumBuffer: buffer, firstStep: first, lr: lr,
                                weightDecay: group?.weightDecay ?? others.weightDecay, momentum: others.momentum, dampening: 0,
                                nesterov: others.nesterov)
        }
    }

    private func updateOrthogonalized(_ u: inout ParameterUpdate, weightDecay: Float) {
        let rows = u.parameter.shape[0], count = u.parameter.count
        let cols = rows == 0 ? 0 : count / rows
        guard count > 0 else { return }
        let ws = workspace
        ws.reserve(rows: rows, cols: cols)
        let mu = momentum
        let x = ws.x
        // The momentum and the direction D, into the workspace (the gradient is left alone).
        u.gradient.withUnsafeBufferPointer { g in
            if mu != 0 {
                let buffer = u.buffer("momentum_buffer")
                buffer.withUnsafeMutableBufferPointer { b in
                    if nesterov {
                        for i in 0..<count {
                            let bi = mu * b[i] + g[i]
                            b[i] = bi
                            x[i] = g[i] + mu * bi
                        }
                    } else {
                        for i in 0..<count {
                            let bi = mu * b[i] + g[i]
                            b[i] = bi
                            x[i] = bi
                        }
                    }
                }
            } else {
                x.update(from: g.baseAddress!, count: count)
            }
        }
        ws.orthogonalize(rows: rows, cols: cols, steps: steps, eps: eps)
        let scale: Float = scalesByShape ? Float(max(1, Double(rows) / Double(cols)).squareRoot()) : 1
        let step = u.lr * scale, decay = 1 - u.lr * weightDecay
        var normalization: Float = 1
        if normalizesWeights {
            let norm = u.parameter.withUnsafeBufferPointer { NewtonSchulzWorkspace.frobeniusNorm($0.baseAddress!, count: $0.count) }
            if norm > 0 && norm.isFinite { normalization = Float(Double(rows).squareRoot() / norm) }
        }
        let factor = normalization * decay
        let o = ws.x
        u.parameter.withUnsafeMutableBufferPointer { p in
            for i in 0..<count { p[i] = p[i] * factor - step * o[i] }
        }
    }

    /// The Newton–Schulz orthogonalization of a matrix as Muon applies it (without momentum,
    /// shape scale or learning rate): `X ← M / (‖M‖_F + eps)`, transposed when `M` has more rows
    /// than columns, then `steps` quintic steps `X ← a·X + (b·A + c·A²)·X` with `A = X·Xᵀ`.
    /// - Parameters:
    ///   - matrix: a tensor of rank ≥ 2, viewed as `[shape[0], rest]`.
    ///   - steps: the number of quintic steps.
    ///   - eps: added to the Frobenius norm.
    /// - Returns: the result, with the shape of `matrix`.
    public static func orthogonalized(_ matrix: Tensor, steps: Int = 5, eps: Float = 1e-7) -> Tensor {
        precondition(matrix.rank >= 2, "Muon.orthogonalized: expects a tensor of rank >= 2, got \(matrix.shape)")
        let rows = matrix.shape[0], count = matrix.count
        let out = Tensor.zeros(matrix.shape)
        guard count > 0 else { return out }
        let ws = NewtonSchulzWorkspace()
        ws.reserve(rows: rows, cols: count / rows)
        matrix.withUnsafeBufferPointer { ws.x.update(from: $0.baseAddress!, count: count) }
        ws.orthogonalize(rows: rows, cols: count / rows, steps: steps, eps: eps)
        out.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: ws.x, count: count) }
        return out
    }
}

/// The buffers of the Newton–Schulz iteration, grown to the largest matrix seen and kept: `x`
/// (the iterate, `rows × cols` in the parameter's layout), `y` (the next iterate) and `a`, `b`
/// (the `r × r` Gram matrix and polynomial, `r = min(rows, cols)`).
final class NewtonSchulzWorkspace {
    private(set) var x: UnsafeMutablePointer<Float>
    private var y: UnsafeMutablePointer<Float>
    private var a: UnsafeMutablePointer<Float>
    private var b: UnsafeMutablePointer<Float>
    private var matrixCapacity = 0, gramCapacity = 0

    init() {
        x = .allocate(capacity: 1); y = .allocate(capacity: 1)
        a = .allocate(capacity: 1); b = .allocate(capacity: 1)
    }

    deinit { x.deallocate(); y.deallocate(); a.deallocate(); b.deallocate() }

    /// Makes room for a `rows × cols` matrix (the contents of `x` are not kept when it grows).
    func reserve(rows: Int, cols: Int) {
        let n = rows * cols, r = min(rows, cols)
        if n > matrixCapacity {
            x.deallocate(); y.deallocate()
            x = .allocate(capacity: n); y = .allocate(capacity: n)
            matrixCapacity = n
        }
        if r * r > gramCapacity {
            a.deallocate(); b.deallocate()
            a = .allocate(capacity: r * r); b = .allocate(capacity: r * r)
            gramCapacity = r * r
        }
    }

    static func frobeniusNorm(_ p: UnsafePointer<Float>, count: Int) -> Double {
        var s: Double = 0
        for i in 0..<count { let v = Double(p[i]); s += v * v }
        return s.squareRoot()
    }

    /// Orthogonalizes the `rows × cols` matrix in `x`, in place. A wide matrix (rows ≤ cols)
    /// runs `A = X·Xᵀ`, `X ← aX + B·X`; a tall one the same on `Xᵀ` without transposing it:
    /// `A = XᵀX`, `X ← aX + X·B` (B is symmetric).
    func orthogonalize(rows: Int, cols: Int, steps: Int, eps: Float) {
        let n = rows * cols
        let norm = Float(Self.frobeniusNorm(x, count: n))
        let inv = 1 / (norm + eps)
        if inv.isFinite {
            for i in 0..<n { x[i] *= inv }
        } else {
            // A zero matrix with eps = 0: the direction is zero.
            x.update(repeating: 0, count: n)
        }
        let (ca, cb, cc) = Muon.coefficients
        let wide = rows <= cols, r = wide ? rows : cols
        for _ in 0..<steps {
            if wide {
                // A = X·Xᵀ  [rows × rows]
                BLAS.gemm(transA: false, transB: true, m: r, n: r, k: cols, a: x, lda: cols, b: x, ldb: cols, c: a, ldc: r)
            } else {
                // A = Xᵀ·X  [cols × cols]
                BLAS.gemm(transA: true, transB: false, m: r, n: r, k: rows, a: x, lda: cols, b: x, ldb: cols, c: a, ldc: r)
            }
            // B = b·A + c·A·A
            b.update(from: a, count: r * r)
            BLAS.gemm(transA: false, transB: false, m: r, n: r, k: r, alpha: cc, a: a, lda: r, b: a, ldb: r, beta: cb, c: b, ldc: r)
            // Y = a·X + B·X (wide) or a·X + X·B (tall)
            y.update(from: x, count: n)
            if wide {
                BLAS.gemm(transA: false, transB: false, m: rows, n: cols, k: r, a: b, lda: r, b: x, ldb: cols, beta: ca, c: y, ldc: cols)
            } else {
                BLAS.gemm(transA: false, transB: false, m: rows, n: cols, k: r, a: x, lda: cols, b: b, ldb: r, beta: ca, c: y, ldc: cols)
            }
            swap(&x, &y)
        }
    }
}
