// The transforms of Winograd F(2×2, 3×3), channels-last inside the kernel (Winograd3x3.swift
// has the algorithm and the layouts): each image is transposed once into a zero-bordered
// [rows, columns, lanes] buffer, every transform then runs on vectors of channels (TK_LANES at a
// time, whatever the image size), and results are transposed back into NCHW planes 8×8 at a time.
//
//     Bᵀ = | 1  0 −1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | ½    ½    ½  |          | 0  1 −1 −1 |
//          | 0 −1  1  0 |         | ½   −½    ½  |
//          | 0  1  0 −1 |         | 0    0    1  |

typedef float tk_v8 __attribute__((vector_size(8 * sizeof(float))));

// Loads and stores of 8 floats as macros: a function taking or returning an 8-float vector by
// value would change the calling convention of the baseline (SSE) variant.
#define V8_LOAD(v, p) memcpy(&(v), (p), sizeof(tk_v8))
#define V8_STORE(p, v) memcpy((p), &(v), sizeof(tk_v8))

/// r[0…7] (eight rows of eight) transposed in place: r[j][i] ← r[i][j].
static inline __attribute__((always_inline)) void transpose8(tk_v8 *r) {
    tk_v8 a0 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
    tk_v8 b0 = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
    tk_v8 a1 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
    tk_v8 b1 = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
    tk_v8 a2 = __builtin_shufflevector(r[4], r[5], 0, 8, 1, 9, 4, 12, 5, 13);
    tk_v8 b2 = __builtin_shufflevector(r[4], r[5], 2, 10, 3, 11, 6, 14, 7, 15);
    tk_v8 a3 = __builtin_shufflevector(r[6], r[7], 0, 8, 1, 9, 4, 12, 5, 13);
    tk_v8 b3 = __builtin_shufflevector(r[6], r[7], 2, 10, 3, 11, 6, 14, 7, 15);
    tk_v8 c0 = __builtin_shufflevector(a0, a1, 0, 1, 8, 9, 4, 5, 12, 13);
    tk_v8 c1 = __builtin_shufflevector(a0, a1, 2, 3, 10, 11, 6, 7, 14, 15);
    tk_v8 c2 = __builtin_shufflevector(b0, b1, 0, 1, 8, 9, 4, 5, 12, 13);
    tk_v8 c3 = __builtin_shufflevector(b0, b1, 2, 3, 10, 11, 6, 7, 14, 15);
    tk_v8 c4 = __builtin_shufflevector(a2, a3, 0, 1, 8, 9, 4, 5, 12, 13);
    tk_v8 c5 = __builtin_shufflevector(a2, a3, 2, 3, 10, 11, 6, 7, 14, 15);
    tk_v8 c6 = __builtin_shufflevector(b2, b3, 0, 1, 8, 9, 4, 5, 12, 13);
    tk_v8 c7 = __builtin_shufflevector(b2, b3, 2, 3, 10, 11, 6, 7, 14, 15);
    r[0] = __builtin_shufflevector(c0, c4, 0, 1, 2, 3, 8, 9, 10, 11);
    r[4] = __builtin_shufflevector(c0, c4, 4, 5, 6, 7, 12, 13, 14, 15);
    r[1] = __builtin_shufflevector(c1, c5, 0, 1, 2, 3, 8, 9, 10, 11);
    r[5] = __builtin_shufflevector(c1, c5, 4, 5, 6, 7, 12, 13, 14, 15);
    r[2] = __builtin_shufflevector(c2, c6, 0, 1, 2, 3, 8, 9, 10, 11);
    r[6] = __builtin_shufflevector(c2, c6, 4, 5, 6, 7, 12, 13, 14, 15);
    r[3] = __builtin_shufflevector(c3, c7, 0, 1, 2, 3, 8, 9, 10, 11);
    r[7] = __builtin_shufflevector(c3, c7, 4, 5, 6, 7, 12, 13, 14, 15);
}

/// dst[(r·dst_row + q)·lanes + c] = src[c·plane + r·W + q] for c < C, r < H, q < W: NCHW planes
/// into channels-last rows (dst_row positions apart), 8 channels × 8 columns at a time.
static void to_channels_last(const float *restrict src, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t plane,
                             float *restrict dst, ptrdiff_t dst_row, ptrdiff_t lanes) {
    ptrdiff_t C8 = C / 8 * 8, W8 = W / 8 * 8;
    for (ptrdiff_t r = 0; r < H; r++) {
        float *d = dst + r * dst_row * lanes;
        for (ptrdiff_t c = 0; c < C8; c += 8) {
            const float *s = src + c * plane + r * W;
            for (ptrdiff_t q = 0; q < W8; q += 8) {
                tk_v8 rows[8];
                for (int i = 0; i < 8; i++) V8_LOAD(rows[i], s + i * plane + q);
                transpose8(rows);
                for (int j = 0; j < 8; j++) V8_STORE(d + (q + j) * lanes + c, rows[j]);
            }
            for (ptrdiff_t q = W8; q < W; q++)
                for (int i = 0; i < 8; i++) d[q * lanes + c + i] = s[i * plane + q];
        }
        for (ptrdiff_t c = C8; c < C; c++) {
            const float *s = src + c * plane + r * W;
            for (ptrdiff_t q = 0; q < W; q++) d[q * lanes + c] = s[q];
        }
    }
}

/// One output value of channel o at element `at` of y through the epilogue e: + bias, +
/// residual, then the ReLU as TK_UNARY_RELU computes it.
static inline __attribute__((always_inline)) float epilogue_value(float v, const tk_conv_epilogue *e, ptrdiff_t o, ptrdiff_t at) {
    if (e->bias) v += e->bias[o];
    if (e->residual) v += e->residual[at];
    return e->relu ? (v > 0 ? v : 0.0f) : v;
}

/// y [O, P] ← epilogue(y), a vector of positions at a time.
static void conv_epilogue_apply(ptrdiff_t O, ptrdiff_t P, float *restrict y, const tk_conv_epilogue *e) {
    const tk_vf zero = tk_splat(0);
    for (ptrdiff_t o = 0; o < O; o++) {
        float *row = y + o * P;
        const float *res = e->residual ? e->residual + o * P : 0;
        tk_vf b = tk_splat(e->bias ? e->bias[o] : 0);
        ptrdiff_t p = 0;
        for (; p + TK_LANES <= P; p += TK_LANES) {
            tk_vf v = tk_load(row + p) + b;
            if (res) v += tk_load(res + p);
            if (e->relu) v = __builtin_elementwise_max(v, zero);
            tk_store(row + p, v);
        }
        for (; p < P; p++) row[p] = epilogue_value(row[p], e, o, o * P + p);
    }
}

/// dst[c·plane + r·W + q] = src[(r·src_row + q)·lanes + c] for c < C, r < H, q < W: the inverse
/// of to_channels_last (channels-last rows back into NCHW planes).
/// With an epilogue e, each value goes through it on the way (dst is then a convolution's output
/// y, and e->residual is laid out like it).
static void from_channels_last(const float *restrict src, ptrdiff_t src_row, ptrdiff_t lanes, ptrdiff_t C, ptrdiff_t H,
                               ptrdiff_t W, float *restrict dst, ptrdiff_t plane, const tk_conv_epilogue *e) {
    ptrdiff_t C8 = C / 8 * 8, W8 = W / 8 * 8;
    const tk_v8 zero = {0};
    for (ptrdiff_t r = 0; r < H; r++) {
        const float *s = src + r * src_row * lanes;
        for (ptrdiff_t c = 0; c < C8; c += 8) {
            float *d = dst + c * plane + r * W;
            for (ptrdiff_t q = 0; q < W8; q += 8) {
                tk_v8 cols[8];
                for (int j = 0; j < 8; j++) V8_LOAD(cols[j], s + (q + j) * lanes + c);
                transpose8(cols);
                if (e) {
                    for (int i = 0; i < 8; i++) {
                        if (e->bias) cols[i] += e->bias[c + i];
                        if (e->residual) {
                            tk_v8 res;
                            V8_LOAD(res, e->residual + (c + i) * plane + r * W + q);
                            cols[i] += res;
                        }
                        if (e->relu) cols[i] = __builtin_elementwise_max(cols[i], zero);
                    }
                }
                for (int i = 0; i < 8; i++) V8_STORE(d + i * plane + q, cols[i]);
            }
            for (ptrdiff_t q = W8; q < W; q++)
                for (int i = 0; i < 8; i++) {
                    float v = s[q * lanes + c + i];
                    d[i * plane + q] = e ? epilogue_value(v, e, c + i, (c + i) * plane + r * W + q) : v;
                }
        }
        for (ptrdiff_t c = C8; c < C; c++) {
            float *d = dst + c * plane + r * W;
            for (ptrdiff_t q = 0; q < W; q++) {
                float v = s[q * lanes + c];
                d[q] = e ? epilogue_value(v, e, c, c * plane + r * W + q) : v;
            }
        }
    }
}

/// The input rows a band of tile rows tr0 ..< tr1 reads, channels-last into its scratch xs
/// [m·(tr1 − tr0) + 2, m·tiles_w + 2, lanes] (m the output tile's side): input row r lands on band
/// row r + ph − m·tr0, column q on q + pw; rows of the band outside the image are not written.
static void wino_band_channels_last(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph,
                                    ptrdiff_t pw, int m, ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1,
                                    float *restrict xs) {
    ptrdiff_t PW = m * tiles_w + 2;
    ptrdiff_t r0 = m * tr0 - ph, r1 = m * tr1 + 2 - ph;
    if (r0 < 0) r0 = 0;
    if (r1 > H) r1 = H;
    if (r1 > r0)
        to_channels_last(x + r0 * W, C, r1 - r0, W, H * W, xs + ((r0 + ph - m * tr0) * PW + pw) * lanes, PW, lanes);
}

/// A band's output rows m·tr0 ..< min(m·tr1, OH) from its channels-last scratch ys [m·(tr1 − tr0),
/// m·tiles_w, lanes] into y: [O, OH, OW], through the epilogue e (its residual laid out like all
/// of y).
static void wino_band_output(const float *restrict ys, int m, ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t O, ptrdiff_t OH,
                             ptrdiff_t OW, ptrdiff_t tr0, ptrdiff_t tr1, float *restrict y, const tk_conv_epilogue *e) {
    ptrdiff_t y0 = m * tr0, y1 = m * tr1 < OH ? m * tr1 : OH;
    if (y1 <= y0) return;
    tk_conv_epilogue band;
    if (e) {
        band = *e;
        if (band.residual) band.residual += y0 * OW;
    }
    from_channels_last(ys, m * tiles_w, lanes, O, y1 - y0, OW, y + y0 * OW, OH * OW, e ? &band : 0);
}

/// Tile rows tr0 ..< tr1 of one image's input tiles Bᵀ d B, into rows first_tile + tr·tiles_w + tc
/// of v: 16 matrices [tiles, lanes], xi_stride apart, overwritten. x: [C, H, W]. xs: scratch for
/// the band's padded rows 2·tr0 ..< 2·tr1 + 2, [2·(tr1 − tr0) + 2, 2·tiles_w + 2, lanes], whose rows
/// and columns outside the image and channels past C the caller keeps zero (they are never
/// written, so a buffer zeroed once serves every image of the same geometry and band).
static void wino23_input_band(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw,
                              ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1, float *restrict xs,
                              float *restrict v, ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    ptrdiff_t PW = 2 * tiles_w + 2, row = PW * lanes;
    wino_band_channels_last(x, C, H, W, ph, pw, 2, tiles_w, lanes, tr0, tr1, xs);
    for (ptrdiff_t tr = tr0; tr < tr1; tr++) {
        for (ptrdiff_t tc = 0; tc < tiles_w; tc++) {
            const float *d = xs + (2 * (tr - tr0) * PW + 2 * tc) * lanes;
            float *out = v + (first_tile + tr * tiles_w + tc) * lanes;
            for (ptrdiff_t c = 0; c < lanes; c += TK_LANES) {
                tk_vf t[4][4];
                // Bᵀ down the columns: row k of Bᵀ d, for each of the four columns j.
                for (int j = 0; j < 4; j++) {
                    tk_vf d0 = tk_load(d + j * lanes + c), d1 = tk_load(d + row + j * lanes + c);
                    tk_vf d2 = tk_load(d + 2 * row + j * lanes + c), d3 = tk_load(d + 3 * row + j * lanes + c);
                    t[0][j] = d0 - d2;
                    t[1][j] = d1 + d2;
                    t[2][j] = d2 - d1;
                    t[3][j] = d1 - d3;
                }
                // … then B along each row: V[4k + l].
                for (int k = 0; k < 4; k++) {
                    float *o = out + (4 * k) * xi_stride + c;
                    tk_store(o, t[k][0] - t[k][2]);
                    tk_store(o + xi_stride, t[k][1] + t[k][2]);
                    tk_store(o + 2 * xi_stride, t[k][2] - t[k][1]);
                    tk_store(o + 3 * xi_stride, t[k][1] - t[k][3]);
                }
            }
        }
    }
}

/// Tile rows tr0 ..< tr1 of one image's outputs Aᵀ M A, from rows first_tile + tr·tiles_w + tc of m
/// (16 matrices [tiles, lanes], xi_stride apart), into output rows 2·tr0 ..< min(2·tr1, OH) of
/// y: [O, OH, OW], overwritten, through the epilogue e (its residual laid out like all of y).
/// ys: scratch for the band, [2·(tr1 − tr0), 2·tiles_w, lanes].
static void wino23_output_band(const float *restrict m, ptrdiff_t lanes, ptrdiff_t xi_stride, ptrdiff_t first_tile,
                               ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_w, ptrdiff_t tr0, ptrdiff_t tr1,
                               float *restrict ys, float *restrict y, const tk_conv_epilogue *e) {
    ptrdiff_t YW = 2 * tiles_w;
    for (ptrdiff_t tr = tr0; tr < tr1; tr++) {
        for (ptrdiff_t tc = 0; tc < tiles_w; tc++) {
            const float *p = m + (first_tile + tr * tiles_w + tc) * lanes;
            float *top = ys + (2 * (tr - tr0) * YW + 2 * tc) * lanes, *bottom = top + YW * lanes;
            for (ptrdiff_t o = 0; o < lanes; o += TK_LANES) {
                tk_vf mm[16];
                for (int k = 0; k < 16; k++) mm[k] = tk_load(p + k * xi_stride + o);
                // Aᵀ down the columns (s0_, s1_), then along the rows.
                tk_vf s00 = mm[0] + mm[4] + mm[8], s01 = mm[1] + mm[5] + mm[9];
                tk_vf s02 = mm[2] + mm[6] + mm[10], s03 = mm[3] + mm[7] + mm[11];
                tk_vf s10 = mm[4] - mm[8] - mm[12], s11 = mm[5] - mm[9] - mm[13];
                tk_vf s12 = mm[6] - mm[10] - mm[14], s13 = mm[7] - mm[11] - mm[15];
                tk_store(top + o, s00 + s01 + s02);
                tk_store(top + lanes + o, s01 - s02 - s03);
                tk_store(bottom + o, s10 + s11 + s12);
                tk_store(bottom + lanes + o, s11 - s12 - s13);
            }
        }
    }
    wino_band_output(ys, 2, tiles_w, lanes, O, OH, OW, tr0, tr1, y, e);
}

/// One image's output-gradient tiles A dY Aᵀ (4×4 from each 2×2 tile, zero past an odd edge) into
/// rows first_tile ..< of m: 16 matrices [tiles, lanes], xi_stride apart, overwritten.
/// dy: [O, OH, OW]; ys: scratch [2·tiles_h, 2·tiles_w, lanes] whose channels past O, and whose
/// row and column past an odd OH or OW, the caller keeps zero.
///
///     A = | 1  0 |
///         | 1  1 |
///         | 1 −1 |
///         | 0 −1 |
static void wino23_output_gradient(const float *restrict dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h,
                                   ptrdiff_t tiles_w, ptrdiff_t lanes, float *restrict ys, float *restrict m,
                                   ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    ptrdiff_t YW = 2 * tiles_w;
    to_channels_last(dy, O, OH, OW, OH * OW, ys, YW, lanes);
    for (ptrdiff_t tr = 0; tr < tiles_h; tr++) {
        for (ptrdiff_t tc = 0; tc < tiles_w; tc++) {
            const float *top = ys + (2 * tr * YW + 2 * tc) * lanes, *bottom = top + YW * lanes;
            float *out = m + (first_tile + tr * tiles_w + tc) * lanes;
            for (ptrdiff_t o = 0; o < lanes; o += TK_LANES) {
                tk_vf a0 = tk_load(top + o), a1 = tk_load(top + lanes + o);
                tk_vf b0 = tk_load(bottom + o), b1 = tk_load(bottom + lanes + o);
                // Row k of A dY is (z0, z1): (a0, a1), (a0 + b0, a1 + b1), (a0 − b0, a1 − b1), (−b0, −b1);
                // A along it gives z0, z0 + z1, z0 − z1, −z1.
                tk_vf z[4][2] = {{a0, a1}, {a0 + b0, a1 + b1}, {a0 - b0, a1 - b1}, {-b0, -b1}};
                for (int k = 0; k < 4; k++) {
                    float *d = out + (4 * k) * xi_stride + o;
                    tk_store(d, z[k][0]);
                    tk_store(d + xi_stride, z[k][0] + z[k][1]);
                    tk_store(d + 2 * xi_stride, z[k][0] - z[k][1]);
                    tk_store(d + 3 * xi_stride, -z[k][1]);
                }
            }
        }
    }
}

/// u[ξ, c, o] = (G g Gᵀ)[ξ / 4, ξ % 4] for g = w[o, c], input channels c0 ..< c1.
/// w: [O, C, 3, 3]; u: 16 matrices [C, lanes] (lanes ≥ O), overwritten for these
/// input channels, with zeros in the lanes o ≥ O.
static void wino23_weights(const float *restrict w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1,
                           float *restrict u) {
    ptrdiff_t XS = C * lanes;
    for (ptrdiff_t c = c0; c < c1; c++) {
        // The padded lanes o ≥ O read as zeros (tk_wino_products multiplies whole vectors of them).
        for (int xi = 0; xi < 16; xi++)
            for (ptrdiff_t o = O; o < lanes; o++) u[xi * XS + c * lanes + o] = 0;
        for (ptrdiff_t o = 0; o < O; o++) {
            const float *g = w + (o * C + c) * 9;
            float *dst = u + c * lanes + o;
            // G down each column of the kernel (rows of Gg), then Gᵀ along each row.
            for (int k = 0; k < 4; k++) {
                float r[3];
                for (int j = 0; j < 3; j++) {
                    r[j] = k == 0 ? g[j] : k == 1 ? 0.5f * (g[j] + g[3 + j] + g[6 + j])
                         : k == 2 ? 0.5f * (g[j] - g[3 + j] + g[6 + j]) : g[6 + j];
                }
                dst[(4 * k) * XS] = r[0];
                dst[(4 * k + 1) * XS] = 0.5f * (r[0] + r[1] + r[2]);
                dst[(4 * k + 2) * XS] = 0.5f * (r[0] - r[1] + r[2]);
                dst[(4 * k + 3) * XS] = r[2];
            }
        }
    }
}

/// dw[o, c] += Gᵀ dU[·, c, o] G, the adjoint of wino23_weights, for input channels c0 ..< c1.
/// du: 16 matrices [C, lanes]; dw: [O, C, 3, 3], accumulated.
static void wino23_weight_gradient(const float *restrict du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0,
                                   ptrdiff_t c1, float *restrict dw) {
    ptrdiff_t XS = C * lanes;
    for (ptrdiff_t c = c0; c < c1; c++) {
        for (ptrdiff_t o = 0; o < O; o++) {
            const float *src = du + c * lanes + o;
            // Gᵀ down the columns: rows i = 0, 1, 2 of Gᵀ dU (4 columns each) …
            float r[3][4];
            for (int l = 0; l < 4; l++) {
                float x0 = src[l * XS], x1 = src[(4 + l) * XS], x2 = src[(8 + l) * XS], x3 = src[(12 + l) * XS];
                r[0][l] = x0 + 0.5f * (x1 + x2);
                r[1][l] = 0.5f * (x1 - x2);
                r[2][l] = 0.5f * (x1 + x2) + x3;
            }
            // … then G along each row.
            float *g = dw + (o * C + c) * 9;
            for (int i = 0; i < 3; i++) {
                g[3 * i] += r[i][0] + 0.5f * (r[i][1] + r[i][2]);
                g[3 * i + 1] += 0.5f * (r[i][1] - r[i][2]);
                g[3 * i + 2] += 0.5f * (r[i][1] + r[i][2]) + r[i][3];
            }
        }
    }
}
