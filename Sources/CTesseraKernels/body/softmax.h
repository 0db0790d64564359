// Softmax, log-softmax and cross-entropy over rows [rows, n]. Forward and backward side by side.

static inline float row_max(const float *x, ptrdiff_t n) {
    float m = -INFINITY;
    for (ptrdiff_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static void softmax_rows(ptrdiff_t rows, ptrdiff_t n, const float *restrict x, float *restrict y) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float m = row_max(xr, n), s = 0;
        for (ptrdiff_t i = 0; i < n; i++) { float e = tk_exp(xr[i] - m); yr[i] = e; s += e; }
        float inv = 1 / s;
        for (ptrdiff_t i = 0; i < n; i++) yr[i] *= inv;
    }
}

static void log_softmax_rows(ptrdiff_t rows, ptrdiff_t n, const float *restrict x, float *restrict y) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float m = row_max(xr, n), s = 0;
        for (ptrdiff_t i = 0; i < n; i++) s += tk_exp(xr[i] - m);
        float lse = m + tk_log(s);
        for (ptrdiff_t i = 0; i < n; i++) yr[i] = xr[i] - lse;
    }
}

static void cross_entropy_forward(ptrdiff_t n, ptrdiff_t c, const float *restrict x, const int32_t *restrict targets, float on, float off,
                                  float *restrict probs, float *restrict losses) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *row = x + i * c;
        float *prow = probs + i * c;
        float m = row_max(row, c), s = 0;
        for (ptrdiff_t j = 0; j < c; j++) { float e = tk_exp(row[j] - m); prow[j] = e; s += e; }
        float lse = m + tk_log(s), inv = 1 / s, loss = 0;
        for (ptrdiff_t j = 0; j < c; j++) {
            prow[j] *= inv;
            float q = j == targets[i] ? on : off;
            loss -= q != 0 ? q * (row[j] - lse) : 0.0f;
        }
        losses[i] = loss;
    }
}

static void cross_entropy_backward(ptrdiff_t n, ptrdiff_t c, const float *restrict probs, const int32_t *restrict targets, float on, float off,
                                   const float *restrict g, ptrdiff_t incg, float *restrict dx) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i * incg];
        const float *p = probs + i * c;
        float *d = dx + i * c;
        for (ptrdiff_t j = 0; j < c; j++) d[j] = gi * (p[j] - off);
        d[targets[i]] = gi * (p[targets[i]] - on);
    }
}
