// Batch normalization over [N, C, S] (S = H·W), channels c0 ..< c1 (callers split channels
// across threads). Forward and backward side by side; with `relu` the forward writes
// max(·, 0) and the backward folds the ReLU's mask (from y) into batch norm's sums.

/// Σ x[k] for k < n, eight partial sums per lane group so the loop vectorizes.
static inline float row_sum(const float *x, ptrdiff_t n) {
    float acc[16] = {0};
    ptrdiff_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[k + j];
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; k < n; k++) s += x[k];
    return s;
}

/// Σ (x[k] − m)² for k < n.
static inline float row_squared_deviation(const float *x, ptrdiff_t n, float m) {
    float acc[16] = {0};
    ptrdiff_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; j++) { float d = x[k + j] - m; acc[j] += d * d; }
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; k < n; k++) { float d = x[k] - m; s += d * d; }
    return s;
}

static void batchnorm_statistics(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, ptrdiff_t c0, ptrdiff_t c1,
                                 float eps, float momentum, float *running_mean, ptrdiff_t rm_stride,
                                 float *running_var, ptrdiff_t rv_stride, float *mean, float *invstd) {
    double M = (double)N * (double)S;
    for (ptrdiff_t c = c0; c < c1; c++) {
        double s = 0;
        for (ptrdiff_t n = 0; n < N; n++) s += row_sum(x + (n * C + c) * S, S);
        float m = (float)(s / M);
        double v = 0;
        for (ptrdiff_t n = 0; n < N; n++) v += row_squared_deviation(x + (n * C + c) * S, S, m);
        float biased = (float)(v / M);
        mean[c] = m;
        invstd[c] = 1 / sqrtf(biased + eps);
        if (running_mean && running_var) {
            running_mean[c * rm_stride] = (1 - momentum) * running_mean[c * rm_stride] + momentum * m;
            running_var[c * rv_stride] = (1 - momentum) * running_var[c * rv_stride] + momentum * (float)(v / (M - 1));
        }
    }
}

static void batchnorm_forward(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *restrict x, ptrdiff_t c0, ptrdiff_t c1,
                              const float *restrict mean, const float *restrict invstd, const float *restrict gamma, const float *restrict beta,
                              int relu, float *restrict y) {
    for (ptrdiff_t n = 0; n < N; n++) {
        for (ptrdiff_t c = c0; c < c1; c++) {
            float scale = (gamma ? gamma[c] : 1.0f) * invstd[c];
            float shift = (beta ? beta[c] : 0.0f) - mean[c] * scale;
            const float *src = x + (n * C + c) * S;
            float *dst = y + (n * C + c) * S;
            if (relu) {
                for (ptrdiff_t k = 0; k < S; k++) { float v = src[k] * scale + shift; dst[k] = v > 0 ? v : 0.0f; }
            } else {
                for (ptrdiff_t k = 0; k < S; k++) dst[k] = src[k] * scale + shift;
            }
        }
    }
}

static void batchnorm_backward(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *restrict x, const float *restrict y, const float *restrict dy,
                               ptrdiff_t c0, ptrdiff_t c1, const float *restrict mean, const float *restrict invstd, const float *restrict gamma,
                               int training, float *restrict dx, float *restrict dgamma, float *restrict dbeta) {
    float M = (float)(N * S);
    for (ptrdiff_t c = c0; c < c1; c++) {
        float m = mean[c];
        // Σ dy and Σ dy·(x − m) over the channel; with the ReLU, dy is masked where y ≤ 0.
        double sb = 0, sg = 0;
        for (ptrdiff_t n = 0; n < N; n++) {
            const float *g = dy + (n * C + c) * S, *xr = x + (n * C + c) * S;
            float ab[16] = {0}, ag[16] = {0};
            ptrdiff_t k = 0;
            if (y) {
                const float *yr = y + (n * C + c) * S;
                for (; k + 16 <= S; k += 16)
                    for (int j = 0; j < 16; j++) {
                        float gk = yr[k + j] > 0 ? g[k + j] : 0.0f;
                        ab[j] += gk; ag[j] += gk * (xr[k + j] - m);
                    }
                float sa = 0, sga = 0;
                for (int j = 0; j < 16; j++) { sa += ab[j]; sga += ag[j]; }
                for (; k < S; k++) { float gk = yr[k] > 0 ? g[k] : 0.0f; sa += gk; sga += gk * (xr[k] - m); }
                sb += sa; sg += sga;
            } else {
                for (; k + 16 <= S; k += 16)
                    for (int j = 0; j < 16; j++) { ab[j] += g[k + j]; ag[j] += g[k + j] * (xr[k + j] - m); }
                float sa = 0, sga = 0;
                for (int j = 0; j < 16; j++) { sa += ab[j]; sga += ag[j]; }
                for (; k < S; k++) { sa += g[k]; sga += g[k] * (xr[k] - m); }
                sb += sa; sg += sga;
            }
        }
        float dBeta = (float)sb, dGamma = (float)sg * invstd[c];
        if (dbeta) dbeta[c] = dBeta;
        if (dgamma) dgamma[c] = dGamma;
        if (!dx) continue;
        // training: dx = γ·σ⁻¹·(dy − Σdy/M − x̂·Σ(dy·x̂)/M); evaluation: dx = γ·σ⁻¹·dy
        float k1 = (gamma ? gamma[c] : 1.0f) * invstd[c];
        float a = training ? dBeta / M : 0.0f, b = training ? dGamma / M : 0.0f;
        float sbv = invstd[c] * b;
        for (ptrdiff_t n = 0; n < N; n++) {
            const float *g = dy + (n * C + c) * S, *xr = x + (n * C + c) * S;
            float *d = dx + (n * C + c) * S;
            if (y) {
                const float *yr = y + (n * C + c) * S;
                for (ptrdiff_t k = 0; k < S; k++) { float gk = g[k]; d[k] = k1 * ((yr[k] > 0 ? gk : 0.0f) - a - (xr[k] - m) * sbv); }
            } else {
                for (ptrdiff_t k = 0; k < S; k++) d[k] = k1 * (g[k] - a - (xr[k] - m) * sbv);
            }
        }
    }
}
