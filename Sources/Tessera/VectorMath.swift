/// Transcendental functions written so that the loop vectorizer can run them several lanes at a
/// time: plain arithmetic, comparisons that become selects, and bit patterns — no libm call, no
/// table, no branch. Inner loops that called libm once per element (GELU's `erff` and `expf`, 12%
/// of a fastnet training step) call these instead.
///
/// They are scalar on purpose: the package is built for baseline x86-64 (SSE2, no blend
/// instruction), and the same arithmetic on `SIMD4`/`SIMD8` values compiled, here, to a branch
/// per lane for each `replacing(with:where:)` and to scalar operations for the vector-with-scalar
/// operators, which took the whole function back to scalar code, slower than libm. A plain loop
/// over these functions vectorizes (mulps, addps, and selects as and/andn/or).
enum VectorMath {
    /// eˣ with a relative error of about 2e-7: x·log₂e is rounded to an integer n, e^r for the
    /// rest r = x − n·ln2 (|r| ≤ ln2/2) is a degree-7 Taylor polynomial, and 2ⁿ is built in the
    /// exponent bits. 0 below −87.3 (where the result would leave the normal range), +∞ above
    /// 88.73 (where Float overflows), e⁸⁸ in between, NaN for NaN.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let clamped = x < -87.3 ? -87.3 : (x > 88 ? 88 : x)
        // Adding 1.5·2²³ rounds to an integer, which then sits in the low bits of the sum.
        let magic: Float = 12_582_912
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
        let power = Float(bitPattern: (shifted.bitPattern &- magic.bitPattern &+ 127) &<< 23)
        let result = x < -87.3 ? 0 : (x > 88.73 ? .infinity : p * power)
        return x != x ? x : result
    }

    /// erf(x) and e^(−x²), by Abramowitz & Stegun 7.1.26: erf(|x|) = 1 − t·P(t)·e^(−x²) with
    /// t = 1/(1 + p·|x|), absolute error at most 1.5e-7 in exact arithmetic and 5e-7 in Float —
    /// the approximation PyTorch's vectorized CPU kernels use for erf. (So 1 + erf(x), GELU's
    /// factor, keeps an absolute error, not a relative one, for x below about −3: as in PyTorch.)
    @inline(__always)
    static func erfAndGaussian(_ x: Float) -> (erf: Float, gaussian: Float) {
        let sign = x.bitPattern & 0x8000_0000
        let a = Float(bitPattern: x.bitPattern ^ sign)   // |x|
        let t = 1 / (a * 0.327_591_1 + 1)
        var poly = t * 1.061_405_429 - 1.453_152_027
        poly = poly * t + 1.421_413_741
        poly = poly * t - 0.284_496_736
        poly = poly * t + 0.254_829_592
        let gaussian = exp(-(x * x))
        let e = 1 - t * poly * gaussian   // in [0, 1]: the sign of x goes straight onto it
        return (Float(bitPattern: e.bitPattern | sign), gaussian)
    }
}
