// Transcendental functions written so that the loop vectorizer can run them a whole vector at a
// time: plain arithmetic, comparisons that become selects, and bit patterns — no libm call, no
// table, no branch. Each variant compiles them at its own width (and with FMA where it has it,
// which changes the last bit of some results; the tests compare the variants with a tolerance).

static inline uint32_t tk_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float tk_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/// eˣ, relative error about 2e-7: x·log₂e rounded to n, e^r for r = x − n·ln2 (|r| ≤ ln2/2) by a
/// degree-7 Taylor polynomial, 2ⁿ built in the exponent bits. 0 below −87.3, +∞ above 88.73,
/// NaN for NaN.
static inline float tk_exp(float x) {
    float c = x < -87.3f ? -87.3f : (x > 88.0f ? 88.0f : x);
    const float magic = 12582912.0f;   // 1.5·2²³: adding it rounds to an integer in the low bits
    float shifted = c * 1.44269504f + magic;
    float n = shifted - magic;
    float r = (c - n * 0.693145751953125f) - n * 1.428606765330187e-6f;   // ln2 in two parts
    float p = r * (1.0f / 5040) + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    float power = tk_float((tk_bits(shifted) - tk_bits(magic) + 127u) << 23);
    float result = x < -87.3f ? 0.0f : (x > 88.73f ? INFINITY : p * power);
    return x != x ? x : result;
}

/// eˣ − 1 without cancellation near 0: a degree-8 Taylor polynomial for |x| < ½, tk_exp − 1 beyond.
static inline float tk_expm1(float x) {
    float p = x * (1.0f / 40320) + 1.0f / 5040;
    p = p * x + 1.0f / 720;
    p = p * x + 1.0f / 120;
    p = p * x + 1.0f / 24;
    p = p * x + 1.0f / 6;
    p = p * x + 0.5f;
    p = p * x + 1;
    float small = p * x;
    float large = tk_exp(x) - 1;
    return (x < 0.5f && x > -0.5f) ? small : large;
}

/// ln x: x = m·2ᵉ with m in [√½, √2), ln m = 2·atanh(s) for s = (m − 1)/(m + 1) (|s| ≤ 0.172,
/// series to s⁹), plus e·ln2 in two parts. Subnormals are scaled first; ln 0 = −∞, ln of a
/// negative number or NaN is NaN, ln ∞ = ∞.
static inline float tk_log(float x) {
    int tiny = x < 1.17549435e-38f;
    float xs = tiny ? x * 8388608.0f : x;                 // 2²³
    uint32_t bits = tk_bits(xs);
    int e = (int)((bits >> 23) & 0xff) - 127 - (tiny ? 23 : 0);
    float m = tk_float((bits & 0x7fffffu) | 0x3f800000u);  // [1, 2)
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e += big;
    float s = (m - 1) / (m + 1), s2 = s * s;
    float p = s2 * (1.0f / 9) + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1;
    float fe = (float)e;
    float r = fe * 0.693145751953125f + (2 * s * p + fe * 1.428606765330187e-6f);
    r = x == 0 ? -INFINITY : r;
    r = x == INFINITY ? INFINITY : r;
    return (x < 0 || x != x) ? NAN : r;
}

/// ln(1 + x) for x > −1, accurate near 0: ln(u)·x/(u − 1) with u = 1 + x corrects the rounding of u.
static inline float tk_log1p(float x) {
    float u = 1 + x;
    float d = u - 1;
    float r = tk_log(u) * (x / (d == 0 ? 1 : d));
    return d == 0 ? x : r;
}

/// tanh x = −expm1(−2|x|) / (2 + expm1(−2|x|)), with the sign of x; ±1 beyond |x| = 10.
static inline float tk_tanh(float x) {
    float a = fabsf(x);
    float e = tk_expm1(-2 * (a > 10 ? 10 : a));
    float t = -e / (2 + e);
    t = a > 10 ? 1.0f : t;
    float r = x < 0 ? -t : t;
    return x != x ? x : r;
}

/// 1 / (1 + e⁻ˣ), from e^−|x| so that neither side overflows.
static inline float tk_sigmoid(float x) {
    float e = tk_exp(-fabsf(x));
    float s = 1 / (1 + e);
    return x >= 0 ? s : e * s;
}

/// erf(x) and e^(−x²) by Abramowitz & Stegun 7.1.26: erf(|x|) = 1 − t·P(t)·e^(−x²) with
/// t = 1/(1 + p·|x|): absolute error at most 1.5e-7 in exact arithmetic, 5e-7 in float — the
/// approximation PyTorch's vectorized CPU kernels use for erf.
static inline float tk_erf(float x, float *gaussian) {
    float a = fabsf(x);
    float t = 1 / (a * 0.3275911f + 1);
    float poly = t * 1.061405429f - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    float g = tk_exp(-(x * x));
    *gaussian = g;
    float e = 1 - t * poly * g;
    return x < 0 ? -e : e;
}

#define TK_INV_SQRT2 0.70710678118654752f
#define TK_INV_SQRT_2PI 0.39894228040143268f

/// GELU, x·Φ(x) = ½x(1 + erf(x/√2)).
static inline float tk_gelu(float x) {
    float g;
    return 0.5f * x * (1 + tk_erf(x * TK_INV_SQRT2, &g));
}

/// d GELU / dx = Φ(x) + x·φ(x), with φ(x) = e^(−x²/2)/√(2π) from the same exponential as erf.
static inline float tk_gelu_derivative(float x) {
    float g;
    float erf = tk_erf(x * TK_INV_SQRT2, &g);
    return 0.5f * (1 + erf) + x * TK_INV_SQRT_2PI * g;
}
