// Direct 3×3 convolution, stride 1 or 2, padding 1, over "extended" output positions (see
// DirectConv3x3.swift for when the plan takes it and the figures).
//
// The input of one image is first packed, zero-bordered, so that every tap of every output
// position is a fixed offset from the position's own index:
//
//   stride 1: xp [C, H + 2, W + 2]: the padded image. Extended position p = oy·(W + 2) + ox reads
//             xp[c, p + ky·(W + 2) + kx] for tap (ky, kx).
//   stride 2: xp [C, 4, OH + 1, OW + 1]: the four phase planes Q_rs[u, v] = x[2u + r − 1,
//             2v + s − 1] of the padded image. Extended position p = oy·(OW + 1) + ox reads
//             Q_{ky&1, kx&1}[p + (ky>>1)·(OW + 1) + (kx>>1)].
//
// Extended positions with ox ≥ OW (the one or two columns of every row that straddle the border)
// are computed and thrown away by the unpacking: what they read is never used. The kernel then
// runs along p with no edge cases: a block of 3 vectors of positions by 4 output channels keeps
// 12 accumulators in registers, and per channel and tap reads 3 input vectors and broadcasts 4
// weights (12 FMAs for 7 loads). Blocks run past P up to a multiple of TK_DIRECT_ROUND, so the
// caller leaves that much room in ye and TK_DIRECT_SLACK floats past the end of xp.

/// xp ← one image x [C, H, W] packed for the direct kernel (stride 1 or 2; see above), the border
/// and the phase planes' padding as zeros. Overwrites all of xp's C·channel_stride floats.
static void direct3x3_pack(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, int stride,
                           ptrdiff_t channel_stride, float *restrict xp) {
    if (stride == 1) {
        ptrdiff_t Wx = W + 2;
        for (ptrdiff_t c = 0; c < C; c++) {
            float *d = xp + c * channel_stride;
            const float *s = x + c * H * W;
            memset(d, 0, sizeof(float) * (size_t)(Wx + 1));
            for (ptrdiff_t r = 0; r < H; r++) {
                float *row = d + (r + 1) * Wx + 1;
                memcpy(row, s + r * W, sizeof(float) * (size_t)W);
                row[W] = 0; row[W + 1] = 0;   // right border, then the next row's left border
            }
            memset(d + (H + 1) * Wx + 1, 0, sizeof(float) * (size_t)(channel_stride - (H + 1) * Wx - 1));
        }
        return;
    }
    // Stride 2: the phase planes, OH = H/2 and OW = W/2 (even H and W).
    ptrdiff_t OH = H / 2, OW = W / 2, Hq = OH + 1, Wq = OW + 1, plane = Hq * Wq;
    for (ptrdiff_t c = 0; c < C; c++) {
        float *d = xp + c * channel_stride;
        const float *s = x + c * H * W;
        for (int r = 0; r < 2; r++) {
            for (int q = 0; q < 2; q++) {
                float *Q = d + (2 * r + q) * plane;
                for (ptrdiff_t u = 0; u < Hq; u++) {
                    ptrdiff_t iy = 2 * u + r - 1;
                    float *row = Q + u * Wq;
                    if (iy < 0 || iy >= H) { memset(row, 0, sizeof(float) * (size_t)Wq); continue; }
                    const float *src = s + iy * W;
                    // v = 0 reads column q − 1: padding when q = 0.
                    row[0] = q == 0 ? 0.0f : src[0];
                    for (ptrdiff_t v = 1; v < Wq; v++) {
                        ptrdiff_t ix = 2 * v + q - 1;
                        row[v] = ix < W ? src[ix] : 0.0f;
                    }
                }
            }
        }
        memset(d + 4 * plane, 0, sizeof(float) * (size_t)(channel_stride - 4 * plane));
    }
}

/// wp [⌈O/4⌉, C, 9, 4] ← w [O, C, 3, 3], output channels in groups of four (the last group's
/// missing channels zero). Overwrites wp.
static void direct3x3_pack_weights(const float *restrict w, ptrdiff_t O, ptrdiff_t C, float *restrict wp) {
    ptrdiff_t blocks = (O + 3) / 4;
    for (ptrdiff_t b = 0; b < blocks; b++)
        for (ptrdiff_t c = 0; c < C; c++)
            for (int t = 0; t < 9; t++)
                for (int i = 0; i < 4; i++) {
                    ptrdiff_t o = 4 * b + i;
                    wp[((b * C + c) * 9 + t) * 4 + i] = o < O ? w[(o * C + c) * 9 + t] : 0.0f;
                }
}

/// ye[o, p] = Σ_c Σ_t wp[o/4, c, t, o%4] · xp[c·channel_stride + taps[t] + p] for the output
/// channels of blocks b0 ..< b1 (4 each) and p < P rounded up to whole blocks of 3·TK_LANES
/// (overwritten; row stride ldy). xp: a packed image (direct3x3_pack).
static void direct3x3(const float *restrict xp, ptrdiff_t C, ptrdiff_t channel_stride, const ptrdiff_t *taps,
                      ptrdiff_t P, const float *restrict wp, ptrdiff_t b0, ptrdiff_t b1, float *restrict ye, ptrdiff_t ldy) {
    const ptrdiff_t L = TK_LANES;
    ptrdiff_t t0 = taps[0], t1 = taps[1], t2 = taps[2], t3 = taps[3], t4 = taps[4], t5 = taps[5], t6 = taps[6],
              t7 = taps[7], t8 = taps[8];
    for (ptrdiff_t b = b0; b < b1; b++) {
        const float *wb = wp + b * C * 36;
        float *y0 = ye + 4 * b * ldy;
        for (ptrdiff_t p = 0; p < P; p += 3 * L) {
            tk_vf a00 = tk_splat(0), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
            tk_vf a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            const float *xc = xp + p;
            const float *wc = wb;
            for (ptrdiff_t c = 0; c < C; c++, xc += channel_stride, wc += 36) {
#define TK_DIRECT_TAP(t, off)                                                                   \
                {                                                                               \
                    const float *xs = xc + (off), *ww = wc + 4 * (t);                           \
                    tk_vf x0 = tk_load(xs), x1 = tk_load(xs + L), x2 = tk_load(xs + 2 * L), v;  \
                    v = tk_splat(ww[0]); a00 += v * x0; a01 += v * x1; a02 += v * x2;           \
                    v = tk_splat(ww[1]); a10 += v * x0; a11 += v * x1; a12 += v * x2;           \
                    v = tk_splat(ww[2]); a20 += v * x0; a21 += v * x1; a22 += v * x2;           \
                    v = tk_splat(ww[3]); a30 += v * x0; a31 += v * x1; a32 += v * x2;           \
                }
                TK_DIRECT_TAP(0, t0) TK_DIRECT_TAP(1, t1) TK_DIRECT_TAP(2, t2)
                TK_DIRECT_TAP(3, t3) TK_DIRECT_TAP(4, t4) TK_DIRECT_TAP(5, t5)
                TK_DIRECT_TAP(6, t6) TK_DIRECT_TAP(7, t7) TK_DIRECT_TAP(8, t8)
#undef TK_DIRECT_TAP
            }
            float *y = y0 + p;
            tk_store(y, a00); tk_store(y + L, a01); tk_store(y + 2 * L, a02); y += ldy;
            tk_store(y, a10); tk_store(y + L, a11); tk_store(y + 2 * L, a12); y += ldy;
            tk_store(y, a20); tk_store(y + L, a21); tk_store(y + 2 * L, a22); y += ldy;
            tk_store(y, a30); tk_store(y + L, a31); tk_store(y + 2 * L, a32);
        }
    }
}

/// y[o, oy, ox] = epilogue(ye[o·ldy + oy·wext + ox]) for output channels o0 ..< o1, overwritten
/// (e NULL: none; its residual offset to this image, laid out like y). y: [O, OH, OW].
static void direct3x3_unpack(const float *restrict ye, ptrdiff_t ldy, ptrdiff_t wext, ptrdiff_t o0, ptrdiff_t o1,
                             ptrdiff_t OH, ptrdiff_t OW, float *restrict y, const tk_conv_epilogue *e) {
    const tk_vf zero = tk_splat(0);
    for (ptrdiff_t o = o0; o < o1; o++) {
        tk_vf b = tk_splat(e && e->bias ? e->bias[o] : 0);
        const float *res = e && e->residual ? e->residual + o * OH * OW : 0;
        int relu = e && e->relu;
        for (ptrdiff_t r = 0; r < OH; r++) {
            const float *s = ye + o * ldy + r * wext;
            float *d = y + (o * OH + r) * OW;
            const float *rr = res ? res + r * OW : 0;
            ptrdiff_t q = 0;
            for (; q + TK_LANES <= OW; q += TK_LANES) {
                tk_vf v = tk_load(s + q) + b;
                if (rr) v += tk_load(rr + q);
                if (relu) v = __builtin_elementwise_max(v, zero);
                tk_store(d + q, v);
            }
            for (; q < OW; q++) d[q] = e ? epilogue_value(s[q], e, o, (o * OH + r) * OW + q) : s[q];
        }
    }
}
