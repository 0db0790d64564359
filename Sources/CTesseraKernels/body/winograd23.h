// The transforms of Winograd F(2×2, 3×3) over NCHW planes (see WinogradF23.swift for the
// algorithm and the layout of V and M). Every loop runs along a row of tiles, so the vectorizer
// takes tiles `lanes` at a time, with the stride-2 reads and writes of a tile's two columns as
// interleaved vector accesses.
//
//     Bᵀ = | 1  0 −1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | ½    ½    ½  |          | 0  1 −1 −1 |
//          | 0 −1  1  0 |         | ½   −½    ½  |
//          | 0  1  0 −1 |         | 0    0    1  |

/// One image's input tiles Bᵀ d B into v: 16 matrices [C, ld] `xs` apart, columns first_tile ..<
/// first_tile + tiles_h·tiles_w. x: [C, H, W]; padded: scratch of (2·tiles_h + 2) × (2·tiles_w + 2)
/// floats holding one zero-bordered plane, and 4 rows of that width more.
static void wino23_input(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw,
                         ptrdiff_t tiles_h, ptrdiff_t tiles_w, float *restrict v, ptrdiff_t ld, ptrdiff_t xs, ptrdiff_t first_tile,
                         float *restrict padded) {
    ptrdiff_t PH = 2 * tiles_h + 2, PW = 2 * tiles_w + 2, TW = tiles_w;
    float *t = padded + PH * PW;   // 4 rows: Bᵀ applied down the columns of one row of tiles
    memset(padded, 0, (size_t)(PH * PW) * sizeof(float));
    for (ptrdiff_t c = 0; c < C; c++) {
        // padded[r, q] = x[c, r − ph, q − pw]; the zero border stays valid for every channel.
        const float *plane = x + c * H * W;
        for (ptrdiff_t r = 0; r < H; r++) memcpy(padded + (r + ph) * PW + pw, plane + r * W, (size_t)W * sizeof(float));
        float *cv = v + c * ld + first_tile;
        for (ptrdiff_t tr = 0; tr < tiles_h; tr++) {
            const float *d0 = padded + 2 * tr * PW, *d1 = d0 + PW, *d2 = d1 + PW, *d3 = d2 + PW;
            float *t0 = t, *t1 = t + PW, *t2 = t + 2 * PW, *t3 = t + 3 * PW;
            for (ptrdiff_t j = 0; j < PW; j++) {
                t0[j] = d0[j] - d2[j];
                t1[j] = d1[j] + d2[j];
                t2[j] = d2[j] - d1[j];
                t3[j] = d1[j] - d3[j];
            }
            float *out = cv + tr * TW;
            for (int k = 0; k < 4; k++) {
                const float *tk = t + k * PW;
                float *o0 = out + (4 * k) * xs, *o1 = o0 + xs, *o2 = o1 + xs, *o3 = o2 + xs;
                for (ptrdiff_t tc = 0; tc < TW; tc++) {
                    float a0 = tk[2 * tc], a1 = tk[2 * tc + 1], a2 = tk[2 * tc + 2], a3 = tk[2 * tc + 3];
                    o0[tc] = a0 - a2;
                    o1[tc] = a1 + a2;
                    o2[tc] = a2 - a1;
                    o3[tc] = a1 - a3;
                }
            }
        }
    }
}

/// One image's outputs Aᵀ M A from columns first_tile ..< of m (16 matrices [O, ld], `xs` apart)
/// into y: [O, OH, OW], overwritten; the last tile row or column may hang over an odd edge.
static void wino23_output(const float *restrict m, ptrdiff_t ld, ptrdiff_t xs, ptrdiff_t first_tile, ptrdiff_t O,
                          ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h, ptrdiff_t tiles_w, float *restrict y) {
    ptrdiff_t TW = tiles_w, full_w = OW / 2;
    for (ptrdiff_t o = 0; o < O; o++) {
        float *plane = y + o * OH * OW;
        const float *mo = m + o * ld + first_tile;
        for (ptrdiff_t tr = 0; tr < tiles_h; tr++) {
            const float *p = mo + tr * TW;
            const float *m0 = p, *m1 = m0 + xs, *m2 = m1 + xs, *m3 = m2 + xs, *m4 = m3 + xs, *m5 = m4 + xs;
            const float *m6 = m5 + xs, *m7 = m6 + xs, *m8 = m7 + xs, *m9 = m8 + xs, *m10 = m9 + xs;
            const float *m11 = m10 + xs, *m12 = m11 + xs, *m13 = m12 + xs, *m14 = m13 + xs, *m15 = m14 + xs;
            float *row0 = plane + 2 * tr * OW;
            int has_row1 = 2 * tr + 1 < OH;
            float *row1 = has_row1 ? row0 + OW : row0;
            // Aᵀ down the columns (s0_, s1_), then along the rows; whole tiles first.
            for (ptrdiff_t tc = 0; tc < full_w; tc++) {
                float s00 = m0[tc] + m4[tc] + m8[tc], s01 = m1[tc] + m5[tc] + m9[tc];
                float s02 = m2[tc] + m6[tc] + m10[tc], s03 = m3[tc] + m7[tc] + m11[tc];
                row0[2 * tc] = s00 + s01 + s02;
                row0[2 * tc + 1] = s01 - s02 - s03;
            }
            if (has_row1) {
                for (ptrdiff_t tc = 0; tc < full_w; tc++) {
                    float s10 = m4[tc] - m8[tc] - m12[tc], s11 = m5[tc] - m9[tc] - m13[tc];
                    float s12 = m6[tc] - m10[tc] - m14[tc], s13 = m7[tc] - m11[tc] - m15[tc];
                    row1[2 * tc] = s10 + s11 + s12;
                    row1[2 * tc + 1] = s11 - s12 - s13;
                }
            }
            if (full_w < TW) {   // odd width: the last tile's left column only
                ptrdiff_t tc = full_w;
                float s00 = m0[tc] + m4[tc] + m8[tc], s01 = m1[tc] + m5[tc] + m9[tc], s02 = m2[tc] + m6[tc] + m10[tc];
                row0[2 * tc] = s00 + s01 + s02;
                if (has_row1) {
                    float s10 = m4[tc] - m8[tc] - m12[tc], s11 = m5[tc] - m9[tc] - m13[tc], s12 = m6[tc] - m10[tc] - m14[tc];
                    row1[2 * tc] = s10 + s11 + s12;
                }
            }
        }
    }
}

/// One row of output-gradient tiles: the 16 products of each tile to 16 separate rows (distinct
/// streams, so the loop vectorizes without alias checks).
static inline void wino23_output_gradient_row(ptrdiff_t TW, const float *restrict top, const float *restrict bottom,
                                              float *restrict r0, float *restrict r1, float *restrict r2, float *restrict r3,
                                              float *restrict r4, float *restrict r5, float *restrict r6, float *restrict r7,
                                              float *restrict r8, float *restrict r9, float *restrict r10, float *restrict r11,
                                              float *restrict r12, float *restrict r13, float *restrict r14, float *restrict r15) {
    for (ptrdiff_t tc = 0; tc < TW; tc++) {
        float a0 = top[2 * tc], a1 = top[2 * tc + 1], b0 = bottom[2 * tc], b1 = bottom[2 * tc + 1];
        // Row k of A dY is (z0, z1): (a0, a1), (a0 + b0, a1 + b1), (a0 − b0, a1 − b1), (−b0, −b1);
        // A along it gives z0, z0 + z1, z0 − z1, −z1.
        float p0 = a0 + b0, p1 = a1 + b1, q0 = a0 - b0, q1 = a1 - b1;
        r0[tc] = a0; r1[tc] = a0 + a1; r2[tc] = a0 - a1; r3[tc] = -a1;
        r4[tc] = p0; r5[tc] = p0 + p1; r6[tc] = p0 - p1; r7[tc] = -p1;
        r8[tc] = q0; r9[tc] = q0 + q1; r10[tc] = q0 - q1; r11[tc] = -q1;
        r12[tc] = -b0; r13[tc] = -b0 - b1; r14[tc] = b1 - b0; r15[tc] = b1;
    }
}

/// One image's output-gradient tiles A dY Aᵀ (4×4 from each 2×2 tile, zero past an odd edge) into
/// columns first_tile ..< of m: 16 matrices [O, ld], `xs` apart, overwritten.
/// dy: [O, OH, OW]; padded: scratch of 2·tiles_h × 2·tiles_w floats.
///
///     A = | 1  0 |
///         | 1  1 |
///         | 1 −1 |
///         | 0 −1 |
static void wino23_output_gradient(const float *dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h,
                                   ptrdiff_t tiles_w, float *m, ptrdiff_t ld, ptrdiff_t xs, ptrdiff_t first_tile,
                                   float *padded) {
    ptrdiff_t TW = tiles_w;
    int even = OH % 2 == 0 && OW % 2 == 0;
    ptrdiff_t row_stride = even ? OW : 2 * TW;
    if (!even) memset(padded, 0, (size_t)(2 * tiles_h * row_stride) * sizeof(float));
    for (ptrdiff_t o = 0; o < O; o++) {
        const float *plane = dy + o * OH * OW;
        if (!even) {
            for (ptrdiff_t r = 0; r < OH; r++) memcpy(padded + r * row_stride, plane + r * OW, (size_t)OW * sizeof(float));
            plane = padded;
        }
        float *out = m + o * ld + first_tile;
        for (ptrdiff_t tr = 0; tr < tiles_h; tr++) {
            const float *top = plane + 2 * tr * row_stride, *bottom = top + row_stride;
            float *dst = out + tr * TW;
            wino23_output_gradient_row(TW, top, bottom, dst, dst + xs, dst + 2 * xs, dst + 3 * xs, dst + 4 * xs, dst + 5 * xs,
                                       dst + 6 * xs, dst + 7 * xs, dst + 8 * xs, dst + 9 * xs, dst + 10 * xs, dst + 11 * xs,
                                       dst + 12 * xs, dst + 13 * xs, dst + 14 * xs, dst + 15 * xs);
        }
    }
}

/// u[ξ, o, c] = (G g Gᵀ)[ξ / 4, ξ % 4] for g = w[o, c], output channels o0 ..< o1.
/// w: [O, C, 3, 3], u: [16, O, C], overwritten.
static void wino23_weights(const float *restrict w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t o0, ptrdiff_t o1, float *restrict u) {
    ptrdiff_t OC = O * C;
    for (ptrdiff_t o = o0; o < o1; o++) {
        for (ptrdiff_t c = 0; c < C; c++) {
            const float *g = w + (o * C + c) * 9;
            float *dst = u + o * C + c;
            // G down each column of the kernel (rows r of Gg), then Gᵀ along each row.
            float gg[4][3];
            for (int j = 0; j < 3; j++) {
                gg[0][j] = g[j];
                gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                gg[3][j] = g[6 + j];
            }
            for (int k = 0; k < 4; k++) {
                float r0 = gg[k][0], r1 = gg[k][1], r2 = gg[k][2];
                dst[(4 * k) * OC] = r0;
                dst[(4 * k + 1) * OC] = 0.5f * (r0 + r1 + r2);
                dst[(4 * k + 2) * OC] = 0.5f * (r0 - r1 + r2);
                dst[(4 * k + 3) * OC] = r2;
            }
        }
    }
}

/// dw[o, c] += Gᵀ dU[·, o, c] G, the adjoint of wino23_weights, for output channels o0 ..< o1.
/// du: [16, O, C]; dw: [O, C, 3, 3], accumulated.
static void wino23_weight_gradient(const float *restrict du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t o0, ptrdiff_t o1, float *restrict dw) {
    ptrdiff_t OC = O * C;
    for (ptrdiff_t o = o0; o < o1; o++) {
        for (ptrdiff_t c = 0; c < C; c++) {
            const float *src = du + o * C + c;
            // Gᵀ down the columns: rows i = 0, 1, 2 of Gᵀ dU (4 columns each) …
            float r[3][4];
            for (int l = 0; l < 4; l++) {
                float x0 = src[(0 + l) * OC], x1 = src[(4 + l) * OC], x2 = src[(8 + l) * OC], x3 = src[(12 + l) * OC];
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
