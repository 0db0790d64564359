// Unary and binary elementwise ops: one loop per op and stride pattern, each vectorized at the
// variant's width (the unit-stride and broadcast-operand forms; any other stride runs scalar).

#define TK_UNARY_LOOP(EXPR)                                                                     \
    if (incx == 1 && incy == 1) {                                                               \
        for (ptrdiff_t i = 0; i < n; i++) { float v = x[i]; y[i] = (EXPR); }                     \
    } else if (incx == 0) {                                                                     \
        float v = x[0];                                                                         \
        float r = (EXPR);                                                                       \
        for (ptrdiff_t i = 0; i < n; i++) y[i * incy] = r;                                      \
    } else {                                                                                    \
        for (ptrdiff_t i = 0; i < n; i++) { float v = x[i * incx]; y[i * incy] = (EXPR); }       \
    }                                                                                           \
    return;

static void unary(tk_unary_op op, ptrdiff_t n, const float *x, ptrdiff_t incx, float *y, ptrdiff_t incy,
                  float p0, float p1) {
    switch (op) {
    case TK_UNARY_COPY: TK_UNARY_LOOP(v)
    case TK_UNARY_NEG: TK_UNARY_LOOP(-v)
    case TK_UNARY_RELU: TK_UNARY_LOOP(v > 0 ? v : 0.0f)
    case TK_UNARY_AFFINE: TK_UNARY_LOOP(p0 * v + p1)
    case TK_UNARY_RECIPROCAL: TK_UNARY_LOOP(p0 / v)
    case TK_UNARY_EXP: TK_UNARY_LOOP(tk_exp(v))
    case TK_UNARY_LOG: TK_UNARY_LOOP(tk_log(v))
    case TK_UNARY_SQRT: TK_UNARY_LOOP(sqrtf(v))
    case TK_UNARY_SQUARE: TK_UNARY_LOOP(v * v)
    case TK_UNARY_POW: TK_UNARY_LOOP(powf(v, p0))
    case TK_UNARY_ABS: TK_UNARY_LOOP(fabsf(v))
    case TK_UNARY_CLAMP: TK_UNARY_LOOP(v < p0 ? p0 : (v > p1 ? p1 : v))
    case TK_UNARY_LEAKY_RELU: TK_UNARY_LOOP(v > 0 ? v : p0 * v)
    case TK_UNARY_SIGMOID: TK_UNARY_LOOP(tk_sigmoid(v))
    case TK_UNARY_TANH: TK_UNARY_LOOP(tk_tanh(v))
    case TK_UNARY_GELU: TK_UNARY_LOOP(tk_gelu(v))
    case TK_UNARY_EQUAL: TK_UNARY_LOOP(v == p0 ? 1.0f : 0.0f)
    case TK_UNARY_LESS: TK_UNARY_LOOP(v < p0 ? 1.0f : 0.0f)
    case TK_UNARY_GREATER: TK_UNARY_LOOP(v > p0 ? 1.0f : 0.0f)
    case TK_UNARY_FINITE_OR_ZERO: TK_UNARY_LOOP(fabsf(v) <= FLT_MAX ? v : 0.0f)
    }
}

#define TK_BINARY_LOOP(EXPR)                                                                    \
    if (inca == 1 && incb == 1 && incy == 1) {                                                  \
        for (ptrdiff_t i = 0; i < n; i++) { float u = a[i], v = b[i]; y[i] = (EXPR); }           \
    } else if (inca == 1 && incb == 0 && incy == 1) {                                           \
        float v = b[0];                                                                         \
        for (ptrdiff_t i = 0; i < n; i++) { float u = a[i]; y[i] = (EXPR); }                     \
    } else if (inca == 0 && incb == 1 && incy == 1) {                                           \
        float u = a[0];                                                                         \
        for (ptrdiff_t i = 0; i < n; i++) { float v = b[i]; y[i] = (EXPR); }                     \
    } else {                                                                                    \
        for (ptrdiff_t i = 0; i < n; i++) {                                                     \
            float u = a[i * inca], v = b[i * incb];                                             \
            y[i * incy] = (EXPR);                                                               \
        }                                                                                       \
    }                                                                                           \
    return;

static inline float gelu_backward(float g, float x) { return g * tk_gelu_derivative(x); }

static void binary(tk_binary_op op, ptrdiff_t n, const float *a, ptrdiff_t inca, const float *b, ptrdiff_t incb,
                   float *y, ptrdiff_t incy, float p0, float p1) {
    switch (op) {
    case TK_BINARY_ADD: TK_BINARY_LOOP(u + v)
    case TK_BINARY_SUB: TK_BINARY_LOOP(u - v)
    case TK_BINARY_MUL: TK_BINARY_LOOP(u * v)
    case TK_BINARY_DIV: TK_BINARY_LOOP(u / v)
    case TK_BINARY_MAXIMUM: TK_BINARY_LOOP(u >= v ? u : v)
    case TK_BINARY_MINIMUM: TK_BINARY_LOOP(u <= v ? u : v)
    case TK_BINARY_POW: TK_BINARY_LOOP(powf(u, v))
    case TK_BINARY_EQUAL: TK_BINARY_LOOP(u == v ? 1.0f : 0.0f)
    case TK_BINARY_NOT_EQUAL: TK_BINARY_LOOP(u != v ? 1.0f : 0.0f)
    case TK_BINARY_LESS: TK_BINARY_LOOP(u < v ? 1.0f : 0.0f)
    case TK_BINARY_LESS_EQUAL: TK_BINARY_LOOP(u <= v ? 1.0f : 0.0f)
    case TK_BINARY_GREATER: TK_BINARY_LOOP(u > v ? 1.0f : 0.0f)
    case TK_BINARY_GREATER_EQUAL: TK_BINARY_LOOP(u >= v ? 1.0f : 0.0f)
    case TK_BINARY_RELU_BACKWARD: TK_BINARY_LOOP(v > 0 ? u : 0.0f)
    case TK_BINARY_SIGMOID_BACKWARD: TK_BINARY_LOOP(u * v * (1 - v))
    case TK_BINARY_TANH_BACKWARD: TK_BINARY_LOOP(u * (1 - v * v))
    case TK_BINARY_SQRT_BACKWARD: TK_BINARY_LOOP(u / (2 * v))
    case TK_BINARY_ABS_BACKWARD: TK_BINARY_LOOP(v > 0 ? u : (v < 0 ? -u : 0.0f))
    case TK_BINARY_CLAMP_BACKWARD: TK_BINARY_LOOP((v >= p0 && v <= p1) ? u : 0.0f)
    case TK_BINARY_LEAKY_RELU_BACKWARD: TK_BINARY_LOOP(v > 0 ? u : p0 * u)
    case TK_BINARY_RECIPROCAL_BACKWARD: TK_BINARY_LOOP(-u * p0 / (v * v))
    case TK_BINARY_POW_BACKWARD: TK_BINARY_LOOP(p0 == 2 ? 2 * v * u : u * p0 * powf(v, p0 - 1))
    case TK_BINARY_GELU_BACKWARD: TK_BINARY_LOOP(gelu_backward(u, v))
    case TK_BINARY_BCE_WITH_LOGITS: TK_BINARY_LOOP((u > 0 ? u : 0.0f) - u * v + tk_log1p(tk_exp(-fabsf(u))))
    }
}

static void select_where(ptrdiff_t n, const float *c, const float *a, const float *b, float *y) {
    for (ptrdiff_t i = 0; i < n; i++) y[i] = c[i] != 0 ? a[i] : b[i];
}

/// Σ x in 4 × lanes partial sums, so the loop vectorizes and keeps several adds in flight.
static float sum(ptrdiff_t n, const float *x) {
    float acc[64] = {0};
    ptrdiff_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 64; k++) acc[k] += x[i + k];
    float s = 0;
    for (int k = 0; k < 64; k++) s += acc[k];
    for (; i < n; i++) s += x[i];
    return s;
}
