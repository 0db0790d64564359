import Foundation

extension Tensor {
    /// A tensor of `shape` filled with `value`.
    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        Shape.validate(shape, op: "full")
        let t = Tensor(empty: shape)
        t.storage.pointer.update(repeating: value, count: t.count)
        return t
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { full(shape, 0) }
    /// A tensor of ones.
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }
    /// Zeros with the shape of `t`.
    public static func zeros(like t: Tensor) -> Tensor { full(t.shape, 0) }
    /// Ones with the shape of `t`.
    public static func ones(like t: Tensor) -> Tensor { full(t.shape, 1) }

    /// `start, start + step, …` up to but excluding `end`, as `torch.arange`.
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "arange: step must not be zero")
        let n = Swift.max(0, Int((Double(end - start) / Double(step)).rounded(.up)))
        return Tensor(shape: [n]) { buf in for i in 0..<n { buf[i] = start + Float(i) * step } }
    }

    /// `count` evenly spaced values from `start` to `end` inclusive, as `torch.linspace`.
    public static func linspace(_ start: Float, _ end: Float, count: Int) -> Tensor {
        precondition(count >= 0, "linspace: negative count \(count)")
        return Tensor(shape: [count]) { buf in
            if count == 1 { buf[0] = start; return }
            let step = (Double(end) - Double(start)) / Double(count - 1)
            for i in 0..<count { buf[i] = Float(Double(start) + Double(i) * step) }
        }
    }

    /// The `n`×`m` identity matrix (ones on the diagonal).
    public static func eye(_ n: Int, _ m: Int? = nil) -> Tensor {
        let cols = m ?? n
        let t = zeros([n, cols])
        for i in 0..<Swift.min(n, cols) { t.storage.pointer[i * cols + i] = 1 }
        return t
    }

    /// Standard-normal samples (mean 0, std 1), scaled and shifted.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { buf in for i in buf.indices { buf[i] = mean + std * generator.nextNormal() } }
    }

    /// Uniform samples in [low, high).
    public static func rand(_ shape: [Int], low: Float = 0, high: Float = 1, generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { buf in for i in buf.indices { buf[i] = low + (high - low) * generator.nextUniform() } }
    }

    /// A mask of `shape`: 0 with probability `dropProbability`, `scale` elsewhere (dropout's mask).
    public static func bernoulliMask(_ shape: [Int], dropProbability p: Float, scale: Float, generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { buf in for i in buf.indices { buf[i] = generator.nextUniform() < p ? 0 : scale } }
    }

    /// Standard-normal samples from the process-wide generator (see ``GlobalRandom``).
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1) -> Tensor {
        GlobalRandom.with { randn(shape, mean: mean, std: std, generator: &$0) }
    }

    /// Uniform samples in [low, high) from the process-wide generator.
    public static func rand(_ shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
        GlobalRandom.with { rand(shape, low: low, high: high, generator: &$0) }
    }

    /// (fan in, fan out) of a weight shape, as `torch.nn.init._calculate_fan_in_and_fan_out`:
    /// dimension 1 is the input, dimension 0 the output, the rest the receptive field.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fans: need at least 2 dimensions, got shape \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// He (Kaiming) uniform initialization for a layer followed by a (leaky) ReLU of slope `a`,
    /// as `torch.nn.init.kaiming_uniform_` in `fan_in` mode.
    public static func kaimingUniform(_ shape: [Int], a: Float = 0, generator: inout SeededGenerator) -> Tensor {
        let gain = (2 / (1 + a * a)).squareRoot()
        let bound = gain * (3 / Float(Swift.max(fans(shape).fanIn, 1))).squareRoot()
        return rand(shape, low: -bound, high: bound, generator: &generator)
    }

    /// He (Kaiming) normal initialization, `fan_in` or `fan_out` mode, as `torch.nn.init.kaiming_normal_`.
    public static func kaimingNormal(_ shape: [Int], a: Float = 0, fanOut: Bool = false, generator: inout SeededGenerator) -> Tensor {
        let f = fans(shape)
        let gain = (2 / (1 + a * a)).squareRoot()
        return randn(shape, std: gain / Float(Swift.max(fanOut ? f.fanOut : f.fanIn, 1)).squareRoot(), generator: &generator)
    }

    /// Glorot (Xavier) uniform initialization, as `torch.nn.init.xavier_uniform_`.
    public static func xavierUniform(_ shape: [Int], gain: Float = 1, generator: inout SeededGenerator) -> Tensor {
        let f = fans(shape)
        let bound = gain * (6 / Float(Swift.max(f.fanIn + f.fanOut, 1))).squareRoot()
        return rand(shape, low: -bound, high: bound, generator: &generator)
    }

    /// Glorot (Xavier) normal initialization, as `torch.nn.init.xavier_normal_`.
    public static func xavierNormal(_ shape: [Int], gain: Float = 1, generator: inout SeededGenerator) -> Tensor {
        let f = fans(shape)
        return randn(shape, std: gain * (2 / Float(Swift.max(f.fanIn + f.fanOut, 1))).squareRoot(), generator: &generator)
    }

    /// A contiguous copy with its own storage and no gradient history.
    public func clone() -> Tensor {
        let out = Tensor(empty: shape)
        copyElements(from: self, into: out.storage.pointer)
        return out
    }
}

/// Copies `src`'s elements in row-major order into the contiguous buffer `dst`.
func copyElements(from src: Tensor, into dst: UnsafeMutablePointer<Float>) {
    if src.count == 0 { return }
    if src.isContiguous {
        dst.update(from: src.storage.pointer + src.offset, count: src.count)
        return
    }
    let p = src.storage.pointer
    let outStrides = Shape.contiguousStrides(src.shape)
    Strided.forEachRow3(shape: src.shape, src.strides, outStrides, outStrides, src.offset, 0, 0, parallel: true) { oa, oo, _, n, ia, _, _ in
        if ia == 1 {
            (dst + oo).update(from: p + oa, count: n)
        } else {
            for i in 0..<n { dst[oo + i] = p[oa + i * ia] }
        }
    }
}
