import Foundation

/// How convolution algorithms are chosen: `TESSERA_CONV=auto|im2col|winograd|winograd4|direct` in
/// the environment, or ``Runtime/convolutionPolicy``.
public enum ConvPolicy: String, CaseIterable, Sendable {
    /// The direct 3×3 kernel or Winograd where they apply and were measured faster, im2col + GEMM
    /// elsewhere (the default).
    case auto
    /// im2col + GEMM (or a plain GEMM for 1×1 convolutions) everywhere: the reference path.
    case im2col
    /// Winograd wherever the geometry allows it, even where it is not faster (for comparisons):
    /// F(2×2, 3×3) for stride 1, F(4×4, 2×2) over the phase planes for stride 2.
    case winograd
    /// As ``winograd``, but F(4×4, 3×3) for stride 1 (both the forward and the weight gradient).
    case winograd4
    /// The direct 3×3 kernel for every forward pass it can run (3×3, padding 1, stride 1 or 2),
    /// even where it is not faster (for comparisons), and so for the stride-1 input gradient,
    /// itself a forward convolution; the weight gradient as under `auto`.
    case direct
}

/// Which algorithm runs each pass of one 2-D convolution, and why: the single place where that
/// is decided, from the geometry, the pass and the policy. Every convolution kernel follows its
/// plan; ``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:)`` builds one per call.
///
/// ```swift
/// let plan = ConvPlan(input: [128, 32, 16, 16], weight: [32, 32, 3, 3], padding: 1)
/// print(plan.forward.algorithm)        // winogradF43
/// print(plan.inputGradient.reason)     // stride 1: the gradient is a convolution of dY with the flipped kernel …
/// ```
public struct ConvPlan: Sendable, Equatable, CustomStringConvertible {
    /// A convolution algorithm.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// 1×1, stride 1, no padding: the input itself is the column matrix of one GEMM.
        case pointwise
        /// im2col (an unfolded column matrix) and one GEMM per image or chunk of images.
        case im2col
        /// Winograd F(2×2, 3×3): 16 GEMMs on transformed 4×4 tiles (2.25× fewer multiplications).
        case winogradF23
        /// Winograd F(4×4, 3×3): 36 GEMMs on transformed 6×6 tiles (4× fewer multiplications).
        case winogradF43
        /// Winograd F(4×4, 2×2) over the four phase planes of a 3×3 stride-2 convolution.
        case winogradStride2
        /// A direct 3×3 convolution (stride 1 or 2, padding 1) on vectors of output positions, with
        /// no GEMM: for thin inputs and small batches (forward only).
        case direct3x3
        /// The input gradient as Wᵀ·dY (one GEMM) folded back by col2im.
        case col2im
    }

    /// The algorithm of one pass and the reason it was chosen.
    public struct Pass: Sendable, Equatable, CustomStringConvertible {
        /// The algorithm that runs the pass.
        public let algorithm: Algorithm
        /// Why, in a few words.
        public let reason: String
        public var description: String { "\(algorithm.rawValue) (\(reason))" }
    }

    /// The forward pass: y = conv(x, w).
    public let forward: Pass
    /// The input gradient dX. For stride 1 it is a convolution of dY with the spatially flipped,
    /// channel-swapped weights (``inputGradientIsTransposedConvolution``), and ``inputGradient``
    /// is the algorithm of that convolution's forward pass; otherwise it is ``Algorithm/col2im``.
    public let inputGradient: Pass
    /// Whether dX runs as the forward pass of the transposed (flipped) convolution.
    public let inputGradientIsTransposedConvolution: Bool
    /// The weight gradient dW.
    public let weightGradient: Pass
    /// The policy the plan was made under.
    public let policy: ConvPolicy

    let geometry: ConvGeometry
    let batch: Int, groups: Int, outChannels: Int

    /// The plan for a convolution of an input [N, C, H, W] with a weight [O, C/groups, kh, kw].
    /// - Precondition: the shapes fit each other (as ``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:)`` requires).
    public init(input: [Int], weight: [Int], stride: Size2 = 1, padding: Size2 = 0, dilation: Size2 = 1, groups: Int = 1,
                policy: ConvPolicy = Runtime.convolutionPolicy) {
        precondition(input.count == 4 && weight.count == 4,
                     "ConvPlan: input \(input) and weight \(weight) must both be 4-D ([N, C, H, W] and [O, C/groups, kh, kw])")
        precondition(groups >= 1 && input[1] % groups == 0 && weight[0] % groups == 0 && weight[1] == input[1] / groups,
                     "ConvPlan: input \(input) does not fit weight \(weight) with groups \(groups)")
        let geo = ConvGeometry(channels: input[1] / groups, height: input[2], width: input[3], kernel: Size2(weight[2], weight[3]),
                               stride: stride, padding: padding, dilation: dilation, op: "conv2d")
        self.init(geometry: geo, batch: input[0], groups: groups, outChannels: weight[0], policy: policy)
    }

    init(geometry g: ConvGeometry, batch: Int, groups: Int, outChannels: Int, policy: ConvPolicy) {
        geometry = g
        self.batch = batch
        self.groups = groups
        self.outChannels = outChannels
        self.policy = policy
        forward = ConvPlan.forwardPass(g, batch: batch, groups: groups, outChannels: outChannels, policy: policy)
        weightGradient = ConvPlan.weightGradientPass(g, groups: groups, outChannels: outChannels, policy: policy)
        if let t = ConvPlan.transposedGeometry(g, groups: groups, outChannels: outChannels) {
            let inner = ConvPlan.forwardPass(t, batch: batch, groups: groups, outChannels: g.channels * groups, policy: policy)
            inputGradient = Pass(algorithm: inner.algorithm,
                                 reason: "stride 1: a convolution of dY with the flipped kernel; " + inner.reason)
            inputGradientIsTransposedConvolution = true
        } else {
            inputGradient = Pass(algorithm: .col2im, reason: "stride \(g.sh)×\(g.sw): Wᵀ·dY, folded back")
            inputGradientIsTransposedConvolution = false
        }
    }

    public var description: String {
        "forward \(forward); input gradient \(inputGradient); weight gradient \(weightGradient)"
    }

    /// The plan of dX's convolution (stride 1 only): dY [N, O, outH, outW] with the flipped kernel.
    var transposed: ConvPlan? {
        guard inputGradientIsTransposedConvolution, let t = ConvPlan.transposedGeometry(geometry, groups: groups, outChannels: outChannels) else { return nil }
        return ConvPlan(geometry: t, batch: batch, groups: groups, outChannels: geometry.channels * groups, policy: policy)
    }

    // MARK: The rules

    /// The stride-1 input gradient as a convolution: dY convolved with the weights flipped in
    /// space and with input and output channels swapped, padded by d·(k − 1) − p. It runs the
    /// forward path (Winograd, or im2col + a GEMM with K = C_out·k²) instead of a GEMM with
    /// K = C_out followed by a scatter-add — about twice as fast on the ResNet shapes.
    static func transposedGeometry(_ g: ConvGeometry, groups: Int, outChannels: Int) -> ConvGeometry? {
        guard g.sh == 1 && g.sw == 1 else { return nil }
        let ph = g.dh * (g.kh - 1) - g.ph, pw = g.dw * (g.kw - 1) - g.pw
        guard ph >= 0 && pw >= 0 else { return nil }
        let t = ConvGeometry(channels: outChannels / groups, height: g.outH, width: g.outW, kernel: Size2(g.kh, g.kw),
                             stride: 1, padding: Size2(ph, pw), dilation: Size2(g.dh, g.dw), op: "conv2d backward")
        return t.outH == g.height && t.outW == g.width ? t : nil
    }

    private static func plain(_ g: ConvGeometry, _ why: String) -> Pass {
        g.isPointwise ? Pass(algorithm: .pointwise, reason: "1×1 stride 1: one GEMM on the input") : Pass(algorithm: .im2col, reason: why)
    }

    /// Why the direct 3×3 kernel runs a forward pass, or nil where Winograd or im2col is faster.
    /// Measured on a Zen 3 with the algorithms taking turns in one process (`bench
    /// --conv-algorithms`, two threads; docs/BENCHMARKS.md, "The direct 3×3 kernel" and "Winograd
    /// F(4×4, 3×3)"), direct time / the best other algorithm's:
    /// - stride 1 with up to 16 input channels where F(4×4, 3×3) does not run (fewer than 6 input
    ///   channels or 16 output channels), every batch from 1 to 128: the RGB stem 3 → 16 0.33–0.81
    ///   and 3 → 64 0.60–0.81 (against im2col, and F(4×4, 3×3) from batch 2), 16 → 3 and 16 → 8
    ///   0.57–0.80 at batch 128 (against F(4×4));
    /// - 16 → 16 at 32²: 0.45–0.72 against F(2×2, 3×3) with sgemm's products, but 1.5–2.0 times
    ///   F(4×4, 3×3)'s time with its own products (``Winograd3x3/runsOwnProducts(depth:lanesO:)``) from
    ///   batch 2 up and 0.69–1.41 at batch 1: F(4×4) takes it;
    /// - stride 2, 16 → 32: 0.66–0.88 at batch 1, but 0.94–1.24 against im2col over the phase
    ///   planes from batch 2 up, which takes those from batch 3;
    /// - stride 2, 32 → 64: 0.81–0.86 at batch 1, 1.02–1.09 at 2, 1.1–1.3 from 8 up;
    /// - stride 1, 32 → 32 at 16² and 64 → 64 at 8²: faster than F(2×2, 3×3) at batch 1 or 2
    ///   (0.50–0.86) but slower than F(4×4, 3×3) wherever that takes them (see
    ///   ``f43Reason(_:batch:groups:outChannels:)``).
    static func directReason(_ g: ConvGeometry, batch n: Int, groups: Int, outChannels o: Int, policy: ConvPolicy) -> String? {
        guard policy == .auto, DirectConv3x3.applies(g, groups: groups, outChannels: o) else { return nil }
        let c = g.channels
        if g.sh == 1 && f43Reason(g, batch: n, groups: groups, outChannels: o) != nil { return nil }
        // From 16 columns up the extended rows waste at most 2 columns in 18.
        if g.sh == 1 && c <= 16 && g.outW >= 16 { return "\(c) input channels: a GEMM or Winograd's GEMMs would be \(c) deep" }
        if n <= 2 && c * o <= 32 * 64 { return "batch \(n), \(c) → \(o) channels: too little work to pay for a GEMM" }
        return nil
    }

    /// Why Winograd F(4×4, 3×3) runs a stride-1 pass instead of F(2×2, 3×3) or the direct kernel,
    /// or nil. `batch` is nil for the weight gradient, whose GEMMs run over the whole batch's tiles
    /// at once.
    ///
    /// Measured on a Zen 3 (docs/BENCHMARKS.md, "Winograd F(4×4, 3×3)"), F(4×4) time / F(2×2) time:
    /// - forward, `bench --conv-algorithms` (four runs), with the products in ``tk_wino_products``:
    ///   16 → 16 at 32² 0.54–0.75 from batch 2 up (0.50–0.67 of the direct kernel's time) and
    ///   0.76–1.18 at batch 1 (0.71–1.45 of the direct kernel's); 32 → 32 at 16² 0.59–0.80 from
    ///   batch 2 up and 0.39–1.03 at batch 1; 64 → 64 at 8² 0.62–0.75 from batch 8 up, 0.80–0.94 at
    ///   batch 2 (8 tiles), but 1.14–1.25 at batch 1 (4 tiles, 2 per thread);
    /// - with gradients at batch 64 (forward with the weight transform, and the weight gradient,
    ///   both through sgemm): 64 → 64 at 32² 0.68–0.76, 128 → 128 at 16² 0.77–0.86, 256 → 256 at
    ///   8² 0.79–1.00, but 512 → 512 at 4² (one tile per image) 1.5–2.0, where transforming and
    ///   reading U (36 matrices of 512 × 512) outweighs the GEMMs' savings;
    /// - the weight gradient at batch 128: 0.73–0.90 from the 3-channel stem to 64 → 64 at 8².
    ///
    /// It runs from 6 input channels (3 for the weight gradient) and 16 output channels (3 for the
    /// weight gradient) up to 256, over outputs of at least 4 × 4 and 4 tiles, with at least 8
    /// tiles in the batch (under `auto`, and `direct` where the direct kernel does not run).
    static func f43Reason(_ g: ConvGeometry, batch n: Int?, groups: Int, outChannels o: Int) -> String? {
        guard Winograd3x3.applies(g, groups: groups, outChannels: o, tile: 4) else { return nil }
        let c = g.channels, tiles = ((g.outH + 3) / 4) * ((g.outW + 3) / 4)
        // A whole tile each way: a 1 × 16 output would fill a quarter of its 4 tiles.
        guard g.outH >= 4 && g.outW >= 4 else { return nil }
        // A forward pass needs 16 output channels: below, the products fill few of their vector
        // lanes, and the direct kernel was faster (16 → 3 and 64 → 3 at 32²: 0.57–0.80 of F(4×4)'s
        // time; 16 → 8 0.72 at batch 1, 1.2 at 128).
        guard c >= (n == nil ? 3 : 6) && o >= (n == nil ? 3 : 16) && c <= 256 && o <= 256 && tiles >= 4 else { return nil }
        if let n, n * tiles < 8 { return nil }
        return "3×3 stride 1, \(c) → \(o) channels, \(tiles) 4×4 tiles per image: 4× fewer multiplications"
    }

    static func forwardPass(_ g: ConvGeometry, batch: Int, groups: Int, outChannels o: Int, policy: ConvPolicy) -> Pass {
        if policy == .im2col { return plain(g, "TESSERA_CONV=im2col") }
        if policy == .direct && DirectConv3x3.applies(g, groups: groups, outChannels: o) {
            return Pass(algorithm: .direct3x3, reason: "TESSERA_CONV=direct")
        }
        let c = g.channels
        if let why = directReason(g, batch: batch, groups: groups, outChannels: o, policy: policy) {
            return Pass(algorithm: .direct3x3, reason: why)
        }
        if Winograd3x3.applies(g, groups: groups, outChannels: o) {
            if policy == .winograd { return Pass(algorithm: .winogradF23, reason: "TESSERA_CONV=winograd") }
            if policy == .winograd4 {
                return Winograd3x3.applies(g, groups: groups, outChannels: o, tile: 4)
                    ? Pass(algorithm: .winogradF43, reason: "TESSERA_CONV=winograd4")
                    : Pass(algorithm: .winogradF23, reason: "TESSERA_CONV=winograd4, but 4×4 tiles need too much workspace")
            }
            if policy == .auto || policy == .direct, let why = f43Reason(g, batch: batch, groups: groups, outChannels: o) {
                return Pass(algorithm: .winogradF43, reason: why)
            }
            // Below 6 input channels the GEMMs (K = C) are too thin to pay for transforming every
            // output: the RGB stem's forward stays on im2col (docs/BENCHMARKS.md, "RGB stem").
            if c >= 6 && o >= 3 && g.outH >= 2 && g.outW >= 2 {
                return Pass(algorithm: .winogradF23, reason: "3×3 stride 1, \(c) → \(o) channels: 2.25× fewer multiplications")
            }
            return plain(g, c < 6 ? "\(c) input channels: too few for Winograd's transforms to pay" : "output too small for 2×2 tiles")
        }
        if WinogradStride2.applies(g, groups: groups, outChannels: o) {
            if policy == .winograd || policy == .winograd4 { return Pass(algorithm: .winogradStride2, reason: "TESSERA_CONV=\(policy.rawValue)") }
            // Up to 16 input channels im2col over the phase planes was 14–29% faster (16 → 32 at
            // batches 8 and 128, `bench --conv-algorithms`); fewer than 8 output channels would be
            // mostly padding in the kernel's 8-lane vectors.
            if c > 16 && o >= 8 && g.outH >= 4 && g.outW >= 4 {
                return Pass(algorithm: .winogradStride2, reason: "3×3 stride 2 pad 1, \(c) → \(o) channels: 81·C instead of 144·C multiplications")
            }
            return plain(g, "3×3 stride 2 with 16 or fewer input channels, fewer than 8 output channels or less than a 4×4 output tile")
        }
        return plain(g, "no Winograd form for this geometry")
    }

    static func weightGradientPass(_ g: ConvGeometry, groups: Int, outChannels o: Int, policy: ConvPolicy) -> Pass {
        if policy == .im2col { return plain(g, "TESSERA_CONV=im2col") }
        if Winograd3x3.applies(g, groups: groups, outChannels: o) {
            if policy == .winograd { return Pass(algorithm: .winogradF23, reason: "TESSERA_CONV=winograd") }
            if policy == .winograd4 {
                return Winograd3x3.applies(g, groups: groups, outChannels: o, tile: 4)
                    ? Pass(algorithm: .winogradF43, reason: "TESSERA_CONV=winograd4")
                    : Pass(algorithm: .winogradF23, reason: "TESSERA_CONV=winograd4, but 4×4 tiles need too much workspace")
            }
            if policy == .auto || policy == .direct, let why = f43Reason(g, batch: nil, groups: groups, outChannels: o) {
                return Pass(algorithm: .winogradF43, reason: "the adjoint of F(4×4, 3×3), 36 GEMMs dU += dM·Vᵀ; " + why)
            }
            // Measured on the RGB stem: dW is faster on Winograd from 3 channels.
            if g.channels >= 3 && o >= 3 && g.outH >= 2 && g.outW >= 2 {
                return Pass(algorithm: .winogradF23, reason: "3×3 stride 1: the adjoint of F(2×2, 3×3), 16 GEMMs dU += dM·Vᵀ")
            }
            return plain(g, "fewer than 3 channels or output too small for 2×2 tiles")
        }
        return plain(g, "dY · col(x)ᵀ")
    }
}

extension Runtime {
    private static let convolutionPolicyStorage = Locked(ConvPolicy.fromEnvironment())

    /// How convolution algorithms are chosen (see ``ConvPolicy``); initially `TESSERA_CONV` from
    /// the environment, `auto` when unset.
    public static var convolutionPolicy: ConvPolicy {
        get { convolutionPolicyStorage.value }
        set { convolutionPolicyStorage.value = newValue }
    }
}

extension ConvPolicy {
    /// `TESSERA_CONV` from the environment: `auto` when unset; a value that is not a policy is
    /// reported on stderr and ignored (the command-line tools refuse it before running).
    static func fromEnvironment() -> ConvPolicy {
        guard let raw = ProcessInfo.processInfo.environment["TESSERA_CONV"], !raw.isEmpty else { return .auto }
        if let p = ConvPolicy(rawValue: raw) { return p }
        FileHandle.standardError.write(Data("tessera: warning: TESSERA_CONV=\(raw) is not one of \(ConvPolicy.allCases.map(\.rawValue).joined(separator: ", ")); using auto\n".utf8))
        return .auto
    }
}
