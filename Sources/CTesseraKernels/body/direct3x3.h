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
// runs along p with no edge cases: a block of 2 vectors of positions by 4 output channels keeps
// 8 accumulators in registers (enough to hide the FMA latency on two pipes), and per channel and
// tap reads 2 input vectors and broadcasts 4 weights: 14 registers in all, which AVX2's 16 hold.
// A block of 3 vectors (12 accumulators) made clang spill to the stack and ran at half the speed
// (49 against 95 GFLOPS on one Zen 3 core, 16 → 16 at 32²). Blocks run past P up to a multiple
// of TK_DIRECT_ROUND, so the caller leaves that much room in ye and TK_DIRECT_SLACK floats past
// the end of xp.

/// xp ← rows row0 ..< row0 + rows of one image x [C, H, W] packed for the direct kernel (see
/// above): for stride 1, rows of the padded image [C, rows, W + 2] (padded row r is input row
/// r − 1); for stride 2, rows of the four phase planes [C, 4, rows, W/2 + 1]. The whole image is
/// row0 = 0 and rows = H + 2 (stride 1) or H/2 + 1 (stride 2); a band of output rows oy0 ..< oy1
/// reads rows oy0 ..< oy1 + 2 (stride 1) or oy0 ..< oy1 + 1 (stride 2). Borders, padding and the
/// rest of each channel's channel_stride floats are written as zeros.
static void direct3x3_pack(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, int stride,
                           ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t channel_stride, float *restrict xp) {
    if (stride == 1) {
        ptrdiff_t Wx = W + 2;
        for (ptrdiff_t c = 0; c < C; c++) {
            float *d = xp + c * channel_stride;
            const float *s = x + c * H * W;
            for (ptrdiff_t i = 0; i < rows; i++) {
                float *row = d + i * Wx;
                ptrdiff_t iy = row0 + i - 1;
                if (iy < 0 || iy >= H) { memset(row, 0, sizeof(float) * (size_t)Wx); continue; }
                row[0] = 0;
                memcpy(row + 1, s + iy * W, sizeof(float) * (size_t)W);
                row[W + 1] = 0;
            }
            memset(d + rows * Wx, 0, sizeof(float) * (size_t)(channel_stride - rows * Wx));
        }
        return;
    }
    // Stride 2: Q_rq[u, v] = x[2u + r − 1, 2v + q − 1] for plane rows u = row0 ..< row0 + rows
    // (even H and W).
    ptrdiff_t Wq = W / 2 + 1, plane = rows * Wq;
    for (ptrdiff_t c = 0; c < C; c++) {
        float *d = xp + c * channel_stride;
        const float *s = x + c * H * W;
        for (int r = 0; r < 2; r++) {
            for (int q = 0; q < 2; q++) {
                float *Q = d + (2 * r + q) * plane;
                for (ptrdiff_t i = 0; i < rows; i++) {
                    ptrdiff_t iy = 2 * (row0 + i) + r - 1;
                    float *row = Q + i * Wq;
                    if (iy < 0 || iy >= H) { memset(row, 0, sizeof(float) * (size_t)Wq); continue; }
                    const float *src = s + iy * W;
                    // Column 2v + q − 1: v = 0 is the left padding for q = 0, and v = W/2 the right
                    // padding for q = 1; in between every column is inside the image.
                    row[0] = q == 0 ? 0.0f : src[0];
                    for (ptrdiff_t v = 1; v < Wq - 1; v++) row[v] = src[2 * v + q - 1];
                    row[Wq - 1] = q == 0 ? src[W - 1] : 0.0f;
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
/// channels of blocks b0 ..< b1 (4 each) and p < P rounded up to whole blocks of 2·TK_LANES
/// (overwritten; row stride ldy). xp: a packed image (direct3x3_pack).
static void direct3x3(const float *restrict xp, ptrdiff_t C, ptrdiff_t channel_stride, const ptrdiff_t *taps,
                      ptrdiff_t P, const float *restrict wp, ptrdiff_t b0, ptrdiff_t b1, float *restrict ye, ptrdiff_t ldy) {
    enum { V = 2 };   // vectors of positions per block
    const ptrdiff_t L = TK_LANES;
    ptrdiff_t tap[9];
    for (int t = 0; t < 9; t++) tap[t] = taps[t];
    for (ptrdiff_t b = b0; b < b1; b++) {
        const float *wb = wp + b * C * 36;
        float *y0 = ye + 4 * b * ldy;
        for (ptrdiff_t p = 0; p < P; p += V * L) {
            tk_vf a[4][V];
#pragma clang loop unroll(full)
            for (int i = 0; i < 4; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < V; j++) a[i][j] = tk_splat(0);
            const float *xc = xp + p, *wc = wb;
            for (ptrdiff_t c = 0; c < C; c++, xc += channel_stride, wc += 36) {
#pragma clang loop unroll(full)
                for (int t = 0; t < 9; t++) {
                    const float *xs = xc + tap[t], *ww = wc + 4 * t;
                    tk_vf x[V];
#pragma clang loop unroll(full)
                    for (int j = 0; j < V; j++) x[j] = tk_load(xs + j * L);
#pragma clang loop unroll(full)
                    for (int i = 0; i < 4; i++) {
                        tk_vf w = tk_splat(ww[i]);
#pragma clang loop unroll(full)
                        for (int j = 0; j < V; j++) a[i][j] += w * x[j];
                    }
                }
            }
#pragma clang loop unroll(full)
            for (int i = 0; i < 4; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < V; j++) tk_store(y0 + i * ldy + p + j * L, a[i][j]);
        }
    }
}

/// y[o·plane + oy·OW + ox] = epilogue(ye[o·ldy + oy·wext + ox]) for output channels o0 ..< o1 and
/// rows oy < OH, overwritten (e NULL: none; its residual laid out like y and offset like it).
/// y: one image [O, OH, OW] (plane = OH·OW), or a band of its rows (plane the image's OH·OW).
static void direct3x3_unpack(const float *restrict ye, ptrdiff_t ldy, ptrdiff_t wext, ptrdiff_t o0, ptrdiff_t o1,
                             ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t plane, float *restrict y, const tk_conv_epilogue *e) {
    const tk_vf zero = tk_splat(0);
    for (ptrdiff_t o = o0; o < o1; o++) {
        tk_vf b = tk_splat(e && e->bias ? e->bias[o] : 0);
        const float *res = e && e->residual ? e->residual + o * plane : 0;
        int relu = e && e->relu;
        for (ptrdiff_t r = 0; r < OH; r++) {
            const float *s = ye + o * ldy + r * wext;
            float *d = y + o * plane + r * OW;
            const float *rr = res ? res + r * OW : 0;
            ptrdiff_t q = 0;
            for (; q + TK_LANES <= OW; q += TK_LANES) {
                tk_vf v = tk_load(s + q) + b;
                if (rr) v += tk_load(rr + q);
                if (relu) v = __builtin_elementwise_max(v, zero);
                tk_store(d + q, v);
            }
            for (; q < OW; q++) d[q] = e ? epilogue_value(s[q], e, o, o * plane + r * OW + q) : s[q];
        }
    }
}
