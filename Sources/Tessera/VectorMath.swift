/// Transcendental functions on eight lanes at a time, for inner loops that would otherwise call
/// libm once per element (GELU spent most of its time in `erff` and `expf` that way).
enum VectorMath {
    typealias V = SIMD8<Float>

    /// eˣ with a relative error of about 2e-7: x·log₂e is rounded to an integer n, e^r for the
    /// rest r = x − n·ln2 (|r| ≤ ln2/2) is a degree-7 Taylor polynomial, and 2ⁿ is built in the
    /// exponent bits. 0 below −87.3 (where the result would leave the normal range), e⁸⁸ above 88,
    /// NaN for NaN.
    @inline(__always)
    static func exp(_ x: V) -> V {
        let clamped = x.clamped(lowerBound: V(repeating: -87.3), upperBound: V(repeating: 88))
        // Adding 1.5·2²³ rounds to an integer, which then sits in the low bits of the sum.
        let magic = V(repeating: 12_582_912)
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        // ln2 in two parts, so that n·ln2_hi is exact.
        let r = (clamped - n * 0.693_145_751_953_125) - n * 1.428_606_765_330_187e-6
        var p = r * (1 / 5040) + 1 / 720
        p = p * r + 1 / 120
        p = p * r + 1 / 24
        p = p * r + 1 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
        return (p * unsafeBitCast(exponent, to: V.self)).replacing(with: 0, where: x .< -87.3).replacing(with: x, where: x .!= x)
    }

    /// erf(x) and e^(−x²), by Abramowitz & Stegun 7.1.26: erf(|x|) = 1 − t·P(t)·e^(−x²) with
    /// t = 1/(1 + p·|x|), absolute error at most 1.5e-7 in exact arithmetic and 5e-7 in Float —
    /// the approximation PyTorch's vectorized CPU kernels use for erf.
    @inline(__always)
    static func erfAndGaussian(_ x: V) -> (erf: V, gaussian: V) {
        let a = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (a * 0.327_591_1 + 1)
        var poly = t * 1.061_405_429 - 1.453_152_027
        poly = poly * t + 1.421_413_741
        poly = poly * t - 0.284_496_736
        poly = poly * t + 0.254_829_592
        let gaussian = exp(-(x * x))
        let e = 1 - t * poly * gaussian
        return (e.replacing(with: -e, where: x .< 0), gaussian)
    }

    /// Walks `count` elements in groups of eight: `body(start, lanes)`, lanes < 8 only for the
    /// last group. With ``load(_:lanes:)`` and ``store(_:_:lanes:)`` that group is computed in a
    /// zero-padded vector, so every element goes through exactly the same arithmetic.
    @inline(__always)
    static func forEachGroup(_ count: Int, _ body: (_ start: Int, _ lanes: Int) -> Void) {
        var i = 0
        while i < count {
            body(i, Swift.min(8, count - i))
            i += 8
        }
    }

    /// Eight values from p (fewer when `lanes` < 8; the rest are 0).
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, lanes: Int) -> V {
        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var v = V()
        for k in 0..<lanes { v[k] = p[k] }
        return v
    }

    /// Writes the first `lanes` values of v to p.
    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, lanes: Int) {
        if lanes == 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self); return }
        for k in 0..<lanes { p[k] = v[k] }
    }
}
