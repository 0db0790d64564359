// im2col / col2im over one image (one group of its channels), and the phase-plane split of
// stride-2 convolutions over even images (Im2col.swift has the layouts; this is the same code).

/// For kernel column j: the input column offset of output column 0, and the output columns
/// lo ..< hi whose input column falls inside the image.
static inline void valid_columns(const tk_conv_geometry *g, ptrdiff_t j, ptrdiff_t *off, ptrdiff_t *lo, ptrdiff_t *hi) {
    ptrdiff_t o = j * g->dw - g->pw;
    ptrdiff_t l = o >= 0 ? 0 : ((-o + g->sw - 1) / g->sw < g->out_w ? (-o + g->sw - 1) / g->sw : g->out_w);
    ptrdiff_t h = (g->width - o + g->sw - 1) / g->sw;
    h = h < g->out_w ? h : g->out_w;
    *off = o;
    *lo = l;
    *hi = h > l ? h : l;
}

/// One tap of an unfold whose output is as wide as its input: dst[oh·W + ow] = plane[oh + off_h,
/// ow + off_w] (0 outside) for oh < OH — one shifted copy plus zeroed borders.
static void shifted_copy(const float *restrict plane, ptrdiff_t H, ptrdiff_t W, ptrdiff_t OH, ptrdiff_t off_h, ptrdiff_t off_w, float *restrict dst) {
    ptrdiff_t oh_lo = -off_h > 0 ? -off_h : 0;
    oh_lo = oh_lo < OH ? oh_lo : OH;
    ptrdiff_t oh_hi = H - off_h < OH ? H - off_h : OH;
    oh_hi = oh_hi > oh_lo ? oh_hi : oh_lo;
    ptrdiff_t ow_lo = -off_w > 0 ? -off_w : 0;
    ow_lo = ow_lo < W ? ow_lo : W;
    ptrdiff_t ow_hi = W - off_w < W ? W - off_w : W;
    ow_hi = ow_hi > ow_lo ? ow_hi : ow_lo;
    ptrdiff_t delta = off_h * W + off_w;
    if (oh_lo > 0) memset(dst, 0, (size_t)(oh_lo * W) * sizeof(float));
    if (oh_hi < OH) memset(dst + oh_hi * W, 0, (size_t)((OH - oh_hi) * W) * sizeof(float));
    // The valid rows in one copy, clipped to the plane; the columns that wrapped are zeroed next.
    ptrdiff_t k0 = oh_lo * W > -delta ? oh_lo * W : -delta;
    ptrdiff_t k1 = oh_hi * W < H * W - delta ? oh_hi * W : H * W - delta;
    if (k1 > k0) memcpy(dst + k0, plane + k0 + delta, (size_t)(k1 - k0) * sizeof(float));
    if (ow_lo > 0 || ow_hi < W) {
        for (ptrdiff_t oh = oh_lo; oh < oh_hi; oh++) {
            float *d = dst + oh * W;
            for (ptrdiff_t ow = 0; ow < ow_lo; ow++) d[ow] = 0;
            for (ptrdiff_t ow = ow_hi; ow < W; ow++) d[ow] = 0;
        }
    }
}

static void im2col(const float *restrict x, const tk_conv_geometry *g, float *restrict col, ptrdiff_t ldc, float *restrict phases) {
    ptrdiff_t H = g->height, W = g->width, OH = g->out_h, OW = g->out_w;
    if (g->uses_phase_planes && phases) {
        ptrdiff_t h2 = H / 2, w2 = W / 2, plane2 = h2 * w2;
        // phases: [C, 2 (row phase), 2 (column phase), H/2, W/2]
        for (ptrdiff_t c = 0; c < g->channels; c++) {
            for (ptrdiff_t r = 0; r < H; r++) {
                const float *src = x + (c * H + r) * W;
                float *even = phases + ((c * 2 + (r & 1)) * 2) * plane2 + (r >> 1) * w2, *odd = even + plane2;
                for (ptrdiff_t m = 0; m < w2; m++) { even[m] = src[2 * m]; odd[m] = src[2 * m + 1]; }
            }
        }
        ptrdiff_t row = 0;
        for (ptrdiff_t c = 0; c < g->channels; c++) {
            for (ptrdiff_t i = 0; i < g->kh; i++) {
                ptrdiff_t ri = i - g->ph, row_phase = ri & 1, off_h = (ri - row_phase) / 2;
                for (ptrdiff_t j = 0; j < g->kw; j++) {
                    ptrdiff_t rj = j - g->pw, col_phase = rj & 1, off_w = (rj - col_phase) / 2;
                    shifted_copy(phases + ((c * 2 + row_phase) * 2 + col_phase) * plane2, h2, w2, h2, off_h, off_w, col + row * ldc);
                    row += 1;
                }
            }
        }
        return;
    }
    int same_width = g->sw == 1 && g->sh == 1 && OW == W;
    ptrdiff_t row = 0;
    for (ptrdiff_t c = 0; c < g->channels; c++) {
        const float *plane = x + c * H * W;
        for (ptrdiff_t i = 0; i < g->kh; i++) {
            for (ptrdiff_t j = 0; j < g->kw; j++) {
                float *dst = col + row * ldc;
                row += 1;
                if (same_width) {
                    shifted_copy(plane, H, W, OH, i * g->dh - g->ph, j * g->dw - g->pw, dst);
                    continue;
                }
                ptrdiff_t off_w, ow_lo, ow_hi;
                valid_columns(g, j, &off_w, &ow_lo, &ow_hi);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * g->sh - g->ph + i * g->dh;
                    float *d = dst + oh * OW;
                    if (ih < 0 || ih >= H) { memset(d, 0, (size_t)OW * sizeof(float)); continue; }
                    const float *src = plane + ih * W + off_w;
                    for (ptrdiff_t ow = 0; ow < ow_lo; ow++) d[ow] = 0;
                    if (g->sw == 1) {
                        memcpy(d + ow_lo, src + ow_lo, (size_t)(ow_hi - ow_lo) * sizeof(float));
                    } else {
                        ptrdiff_t sw = g->sw;
                        for (ptrdiff_t ow = ow_lo; ow < ow_hi; ow++) d[ow] = src[ow * sw];
                    }
                    for (ptrdiff_t ow = ow_hi; ow < OW; ow++) d[ow] = 0;
                }
            }
        }
    }
}

static void col2im(const float *restrict col, ptrdiff_t ldc, const tk_conv_geometry *g, float *restrict dx) {
    ptrdiff_t H = g->height, W = g->width, OH = g->out_h, OW = g->out_w;
    ptrdiff_t row = 0;
    for (ptrdiff_t c = 0; c < g->channels; c++) {
        float *plane = dx + c * H * W;
        for (ptrdiff_t i = 0; i < g->kh; i++) {
            for (ptrdiff_t j = 0; j < g->kw; j++) {
                const float *src = col + row * ldc;
                row += 1;
                ptrdiff_t off_w, ow_lo, ow_hi;
                valid_columns(g, j, &off_w, &ow_lo, &ow_hi);
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    ptrdiff_t ih = oh * g->sh - g->ph + i * g->dh;
                    if (ih < 0 || ih >= H) continue;
                    const float *s = src + oh * OW;
                    float *d = plane + ih * W + off_w;
                    ptrdiff_t sw = g->sw;
                    if (sw == 1) {
                        for (ptrdiff_t ow = ow_lo; ow < ow_hi; ow++) d[ow] += s[ow];
                    } else if (sw == 2) {
                        // Into every other column: 8-float read-modify-writes adding (s0, 0, s1, 0, …)
                        // while they stay inside the row (a scalar strided loop was 1.3× slower).
                        typedef float v4 __attribute__((vector_size(16)));
                        typedef float v8 __attribute__((vector_size(32)));
                        const v4 zero = {0, 0, 0, 0};
                        ptrdiff_t ow = ow_lo;
                        for (; ow + 4 <= ow_hi && off_w + 2 * ow + 8 <= W; ow += 4) {
                            v4 a;
                            v8 b;
                            memcpy(&a, s + ow, sizeof a);
                            memcpy(&b, d + 2 * ow, sizeof b);
                            b += __builtin_shufflevector(a, zero, 0, 4, 1, 5, 2, 6, 3, 7);
                            memcpy(d + 2 * ow, &b, sizeof b);
                        }
                        for (; ow < ow_hi; ow++) d[2 * ow] += s[ow];
                    } else {
                        for (ptrdiff_t ow = ow_lo; ow < ow_hi; ow++) d[ow * sw] += s[ow];
                    }
                }
            }
        }
    }
}
