// 2-D pooling over planes [P, H, W] (P = N·C), planes p0 ..< p1. Max pooling records the flat
// index of each window's maximum in its plane; its backward scatters through those indices.

/// 2×2, stride-2 windows that all lie inside the plane: the first maximum in row-major order,
/// a NaN taking the place (the generic loop's rule).  x: [H, W], y and index: [OH, OW].
// The halving case: 2×2 windows at stride 2, no padding. x [H, W] (rows 2·oh and 2·oh + 1), y and
// index [OH, OW]; the first maximum wins and a NaN takes the place, as in the general loop. The
// loop has no branch, so the compiler vectorizes it over outputs with interleaved loads.
static void maxpool_2x2(const float *restrict x, ptrdiff_t W, ptrdiff_t OH, ptrdiff_t OW, float *restrict y, int32_t *restrict index) {
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *yr = y + oh * OW;
        int32_t *ir = index + oh * OW;
        int32_t row = (int32_t)(2 * oh * W), w32 = (int32_t)W;
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            float best = a;
            int32_t k = 0;
            int take = b > best || b != b;
            best = take ? b : best; k = take ? 1 : k;
            take = c > best || c != c;
            best = take ? c : best; k = take ? w32 : k;
            take = d > best || d != d;
            best = take ? d : best; k = take ? w32 + 1 : k;
            yr[ow] = best;
            ir[ow] = row + (int32_t)(2 * ow) + k;
        }
    }
}

// Its adjoint, overwriting dx [H, W]: each window's four positions get dy or 0 (rows and columns
// past 2·OH, 2·OW, which no window covers, get 0).
static void maxpool_2x2_backward(const float *restrict dy, const int32_t *restrict index, ptrdiff_t H, ptrdiff_t W,
                                 ptrdiff_t OH, ptrdiff_t OW, float *restrict dx) {
    int32_t w32 = (int32_t)W;
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        float *d0 = dx + 2 * oh * W, *d1 = d0 + W;
        const float *g = dy + oh * OW;
        const int32_t *ir = index + oh * OW;
        int32_t row = (int32_t)(2 * oh * W);
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            int32_t k = ir[ow] - row - (int32_t)(2 * ow);   // 0, 1, W or W + 1
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
