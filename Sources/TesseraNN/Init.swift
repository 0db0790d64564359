import Foundation
import Tessera

/// Parameter initializers drawing from `GlobalRandom` (seed it with `GlobalRandom.seed(_:)`,
/// as `torch.manual_seed`). Inside ``withSkippedInitialization(_:)`` they return zeros instead,
/// which makes building a large model cheap when its values are about to be overwritten.
public enum Init {
    /// Task-local (thread-local outside Swift concurrency): skipping on one thread never
    /// changes a model built on another.
    @TaskLocal static var skipping = false

    /// Whether initializers currently return zeros here (inside ``withSkippedInitialization(_:)``).
    public static var isSkipping: Bool { skipping }

    /// `torch.nn.init.kaiming_uniform_` (fan-in mode) for a (leaky) ReLU of slope `a`.
    public static func kaimingUniform(_ shape: [Int], a: Float = 0) -> Tensor {
        if isSkipping { return .zeros(shape) }
        return GlobalRandom.with { Tensor.kaimingUniform(shape, a: a, generator: &$0) }
    }

    /// `torch.nn.init.kaiming_normal_` for ReLU, fan-in or fan-out mode.
    public static func kaimingNormal(_ shape: [Int], a: Float = 0, fanOut: Bool = false) -> Tensor {
        if isSkipping { return .zeros(shape) }
        return GlobalRandom.with { Tensor.kaimingNormal(shape, a: a, fanOut: fanOut, generator: &$0) }
    }

    /// U(low, high), as `torch.nn.init.uniform_`.
    public static func uniform(_ shape: [Int], low: Float, high: Float) -> Tensor {
        if isSkipping { return .zeros(shape) }
        return GlobalRandom.with { Tensor.rand(shape, low: low, high: high, generator: &$0) }
    }

    /// Identity initialization of the first `min(filters, in, out)` output filters of a
    /// convolution weight [out, in, kh, kw] (`filters` nil: all that can be): filter `i` becomes 1
    /// at the kernel centre of input channel `i` and 0 elsewhere, so its output starts as a copy
    /// of input channel `i`. Unlike `torch.nn.init.dirac_` (which zeroes the whole tensor), the
    /// remaining filters keep their values — applied as `dirac_(w[:in])` is in the speed-run
    /// nets. No groups. No-op while skipping initialization.
    public static func dirac(_ weight: Tensor, filters: Int? = nil) {
        precondition(weight.rank == 4 && weight.isContiguous, "Init.dirac: expects a contiguous [out, in, kh, kw] weight, got \(weight.shape)")
        if isSkipping { return }
        let (out, inC, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let n = min(filters ?? out, out, inC), filterSize = inC * kh * kw
        withNoGrad {
            weight.withUnsafeMutableBufferPointer { w in
                for i in 0..<n {
                    let f = w.baseAddress! + i * filterSize
                    f.update(repeating: 0, count: filterSize)
                    f[(i * kh + kh / 2) * kw + kw / 2] = 1
                }
            }
        }
    }

    /// PyTorch's default for Linear and Conv2d: weight `kaiming_uniform_(a: √5)`, that is
    /// U(−1/√fan_in, 1/√fan_in), and bias U(−1/√fan_in, 1/√fan_in).
    public static func defaultWeightAndBias(_ shape: [Int], bias: Bool) -> (weight: Tensor, bias: Tensor?) {
        let w = kaimingUniform(shape, a: Float(5).squareRoot())
        guard bias else { return (w, nil) }
        let fanIn = Tensor.fans(shape).fanIn
        let bound: Float = fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
        return (w, uniform([shape[0]], low: -bound, high: bound))
    }
}

/// Runs `body` with random parameter initialization replaced by zeros (the structure, names
/// and shapes are unchanged). Use it to count parameters or to build a model whose weights
/// are loaded right after, as PyTorch's `skip_init`. The random stream is not advanced.
public func withSkippedInitialization<R>(_ body: () throws -> R) rethrows -> R {
    try Init.$skipping.withValue(true, operation: body)
}
