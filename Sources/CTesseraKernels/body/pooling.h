// 2-D pooling over planes [P, H, W] (P = N·C), planes p0 ..< p1. Max pooling records the flat
// index of each window's maximum in its plane; its backward scatters through those indices.

/// 2×2, stride-2 windows that all lie inside the plane: the first maximum in row-major order,
/// a NaN taking the place (the generic loop's rule).  x: [H, W], y and index: [OH, OW].
// The 2×2 loops work on four windows at a time in 4-float vectors (at every variant's width:
// the loads are memory-bound, and an 8×8 plane has only 4 outputs a row). Selections are bit
// masks, not branches: on random data a branch per comparison mispredicts half the time, and
// the compiler turns scalar selects back into branches.
typedef float pool_v4 __attribute__((vector_size(16)));
typedef int32_t pool_i4 __attribute__((vector_size(16)));
static inline pool_v4 pool_load(const float *p) { pool_v4 v; memcpy(&v, p, sizeof v); return v; }
static inline void pool_store(float *p, pool_v4 v) { memcpy(p, &v, sizeof v); }
/// Lane by lane, `m ? a : b` for a mask of all-ones or zero lanes.
static inline pool_v4 pool_select(pool_i4 m, pool_v4 a, pool_v4 b) {
    return (pool_v4)(((pool_i4)a & m) | ((pool_i4)b & ~m));
}

// The halving case: 2×2 windows at stride 2, no padding. x [H, W] (rows 2·oh and 2·oh + 1), y and
// index [OH, OW]; the first maximum wins and a NaN takes the place, as in the general loop.
static void maxpool_2x2(const float *restrict x, ptrdiff_t W, ptrdiff_t OH, ptrdiff_t OW, float *restrict y, int32_t *restrict index) {
    const int32_t w32 = (int32_t)W;
    const pool_i4 columns = {0, 2, 4, 6};
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *yr = y + oh * OW;
        int32_t *ir = index + oh * OW;
        const int32_t row = (int32_t)(2 * oh * W);
        ptrdiff_t ow = 0;
        for (; ow + 4 <= OW; ow += 4) {
            pool_v4 u0 = pool_load(r0 + 2 * ow), u1 = pool_load(r0 + 2 * ow + 4);
            pool_v4 l0 = pool_load(r1 + 2 * ow), l1 = pool_load(r1 + 2 * ow + 4);
            pool_v4 a = __builtin_shufflevector(u0, u1, 0, 2, 4, 6), b = __builtin_shufflevector(u0, u1, 1, 3, 5, 7);
            pool_v4 c = __builtin_shufflevector(l0, l1, 0, 2, 4, 6), d = __builtin_shufflevector(l0, l1, 1, 3, 5, 7);
            pool_i4 t = (b > a) | (b != b);
            pool_v4 best = pool_select(t, b, a);
            pool_i4 k = t & 1;
            t = (c > best) | (c != c);
            best = pool_select(t, c, best);
            k = (k & ~t) | (w32 & t);
            t = (d > best) | (d != d);
            best = pool_select(t, d, best);
            k = (k & ~t) | ((w32 + 1) & t);
            pool_store(yr + ow, best);
            pool_i4 at = k + columns + (row + (int32_t)(2 * ow));
            memcpy(ir + ow, &at, sizeof at);
        }
        for (; ow < OW; ow++) {
            int32_t first = row + (int32_t)(2 * ow);
            float best = r0[2 * ow];
            int32_t bi = first;
            float v = r0[2 * ow + 1];
            if (v > best || v != v) { best = v; bi = first + 1; }
            v = r1[2 * ow];
            if (v > best || v != v) { best = v; bi = first + w32; }
            v = r1[2 * ow + 1];
            if (v > best || v != v) { best = v; bi = first + w32 + 1; }
            yr[ow] = best;
            ir[ow] = bi;
        }
    }
}

// Its adjoint, overwriting dx [H, W]: each window's four positions get dy or 0 (rows and columns
// past 2·OH, 2·OW, which no window covers, get 0).
static void maxpool_2x2_backward(const float *restrict dy, const int32_t *restrict index, ptrdiff_t H, ptrdiff_t W,
                                 ptrdiff_t OH, ptrdiff_t OW, float *restrict dx) {
    const int32_t w32 = (int32_t)W;
    const pool_i4 columns = {0, 2, 4, 6}, zero = {0, 0, 0, 0};
    const pool_v4 none = {0, 0, 0, 0};
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        float *d0 = dx + 2 * oh * W, *d1 = d0 + W;
        const float *g = dy + oh * OW;
        const int32_t *ir = index + oh * OW;
        const int32_t row = (int32_t)(2 * oh * W);
        ptrdiff_t ow = 0;
        for (; ow + 4 <= OW; ow += 4) {
            pool_v4 v = pool_load(g + ow);
            pool_i4 k;
            memcpy(&k, ir + ow, sizeof k);
            k = k - columns - (row + (int32_t)(2 * ow));   // 0, 1, W or W + 1
            pool_v4 a = pool_select(k == zero, v, none), b = pool_select(k == 1, v, none);
            pool_v4 c = pool_select(k == w32, v, none), d = pool_select(k == w32 + 1, v, none);
            pool_store(d0 + 2 * ow, __builtin_shufflevector(a, b, 0, 4, 1, 5));
            pool_store(d0 + 2 * ow + 4, __builtin_shufflevector(a, b, 2, 6, 3, 7));
            pool_store(d1 + 2 * ow, __builtin_shufflevector(c, d, 0, 4, 1, 5));
            pool_store(d1 + 2 * ow + 4, __builtin_shufflevector(c, d, 2, 6, 3, 7));
        }
        for (; ow < OW; ow++) {
            int32_t k = ir[ow] - row - (int32_t)(2 * ow);
            float v = g[ow];
            d0[2 * ow] = k == 0 ? v : 0.0f;
            d0[2 * ow + 1] = k == 1 ? v : 0.0f;
            d1[2 * ow] = k == w32 ? v : 0.0f;
            d1[2 * ow + 1] = k == w32 + 1 ? v : 0.0f;
        }
        for (ptrdiff_t w = 2 * OW; w < W; w++) { d0[w] = 0.0f; d1[w] = 0.0f; }
    }
    if (2 * OH < H) memset(dx + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(float));
}

static int maxpool_halves(const tk_window2d *g, ptrdiff_t H, ptrdiff_t W) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0
        && g->dh == 1 && g->dw == 1 && 2 * g->out_h <= H && 2 * g->out_w <= W;
}

static void maxpool2d_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, const tk_window2d *g,
                              const float *restrict x, float *restrict y, int32_t *restrict index) {
    ptrdiff_t OH = g->out_h, OW = g->out_w;
    int halving = maxpool_halves(g, H, W);
    for (ptrdiff_t p = p0; p < p1; p++) {
        const float *src = x + p * H * W;
        float *yp = y + p * OH * OW;
        int32_t *ip = index + p * OH * OW;
        if (halving) { maxpool_2x2(src, W, OH, OW, yp, ip); continue; }
        for (ptrdiff_t oh = 0; oh < OH; oh++) {
            for (ptrdiff_t ow = 0; ow < OW; ow++) {
                float best = -INFINITY;
                int32_t bi = -1;
                for (ptrdiff_t i = 0; i < g->kh; i++) {
                    ptrdiff_t ih = oh * g->sh - g->ph + i * g->dh;
                    if (ih < 0 || ih >= H) continue;
                    for (ptrdiff_t j = 0; j < g->kw; j++) {
                        ptrdiff_t iw = ow * g->sw - g->pw + j * g->dw;
                        if (iw < 0 || iw >= W) continue;
                        float v = src[ih * W + iw];
                        if (v > best || bi < 0 || v != v) { best = v; bi = (int32_t)(ih * W + iw); }
                    }
                }
                yp[oh * OW + ow] = best;
                ip[oh * OW + ow] = bi;
            }
        }
    }
}

static void maxpool2d_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, const tk_window2d *window,
                               const float *restrict dy, const int32_t *restrict index, float *restrict dx) {
    ptrdiff_t OH = window->out_h, OW = window->out_w, plane_out = OH * OW;
    int halving = maxpool_halves(window, H, W);
    for (ptrdiff_t p = p0; p < p1; p++) {
        const float *g = dy + p * plane_out;
        const int32_t *ix = index + p * plane_out;
        float *d = dx + p * H * W;
        if (halving) { maxpool_2x2_backward(g, ix, H, W, OH, OW, d); continue; }
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        for (ptrdiff_t k = 0; k < plane_out; k++)
            if (ix[k] >= 0) d[ix[k]] += g[k];
    }
}

static void avgpool2d_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, ptrdiff_t windows,
                              const int32_t *restrict bounds, const float *restrict scales, const float *restrict x, float *restrict y) {
    for (ptrdiff_t p = p0; p < p1; p++) {
        const float *src = x + p * H * W;
        for (ptrdiff_t k = 0; k < windows; k++) {
            const int32_t *b = bounds + 4 * k;
            float s = 0;
            for (int32_t ih = b[0]; ih < b[1]; ih++)
                for (int32_t iw = b[2]; iw < b[3]; iw++) s += src[ih * W + iw];
            y[p * windows + k] = s * scales[k];
        }
    }
}

static void avgpool2d_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, ptrdiff_t windows,
                               const int32_t *restrict bounds, const float *restrict scales, const float *restrict dy, float *restrict dx) {
    for (ptrdiff_t p = p0; p < p1; p++) {
        float *dst = dx + p * H * W;
        for (ptrdiff_t k = 0; k < windows; k++) {
            const int32_t *b = bounds + 4 * k;
            float v = dy[p * windows + k] * scales[k];
            for (int32_t ih = b[0]; ih < b[1]; ih++)
                for (int32_t iw = b[2]; iw < b[3]; iw++) dst[ih * W + iw] += v;
        }
    }
}

static void global_avgpool_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t S, const float *restrict x, float *restrict y) {
    float scale = S > 0 ? 1.0f / (float)S : 0.0f;
    for (ptrdiff_t p = p0; p < p1; p++) y[p] = row_sum(x + p * S, S) * scale;
}

static void global_avgpool_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t S, const float *restrict dy, float *restrict dx) {
    float scale = S > 0 ? 1.0f / (float)S : 0.0f;
    for (ptrdiff_t p = p0; p < p1; p++) {
        float v = dy[p] * scale;
        float *d = dx + p * S;
        for (ptrdiff_t k = 0; k < S; k++) d[k] = v;
    }
}
