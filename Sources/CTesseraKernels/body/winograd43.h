// The transforms of Winograd F(4×4, 3×3) (Lavin & Gray 2015, interpolation points 0, ±1, ±2, ∞),
// channels-last inside the kernel like F(2×2, 3×3) (winograd23.h: to_channels_last and
// from_channels_last come from there). Each 4×4 output tile reads a 6×6 input tile; the 36
// elementwise products become 36 GEMMs, 36 multiplications per tile and channel pair for 16
// outputs (2.25 per output, against F(2×2, 3×3)'s 4 and a direct convolution's 9).
//
//     Bᵀ = | 4  0 −5  0  1  0 |   G = |  ¼     0     0  |   Aᵀ = | 1  1  1  1  1  0 |
//          | 0 −4 −4  1  1  0 |       | −⅙    −⅙    −⅙  |        | 0  1 −1  2 −2  0 |
//          | 0  4 −4 −1  1  0 |       | −⅙     ⅙    −⅙  |        | 0  1  1  4  4  0 |
//          | 0 −2 −1  2  1  0 |       | 1/24  1/12  ⅙  |        | 0  1 −1  8 −8  1 |
//          | 0  2 −1 −2  1  0 |       | 1/24 −1/12  ⅙  |
//          | 0  4  0 −5  0  1 |       |  0     0     1  |
//
// V and M (dM in the weight gradient) are 36 matrices [tiles, lanes], xi_stride apart, one row
// per tile: element ξ = 6·k + l of a tile's 6×6 transform is row `tile` of matrix ξ.
// Outputs: every function overwrites what it writes, except wino43_weight_gradient, which adds.

/// Bᵀ applied to six values: out[k] = Σ_i Bᵀ[k][i]·d[i].
#define WINO43_BT(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) do {  \
        tk_vf a_ = (d4) - 4.0f * (d2), b_ = (d3) - 4.0f * (d1);         \
        tk_vf c_ = (d4) - (d2), e_ = 2.0f * ((d3) - (d1));              \
        (o0) = 4.0f * (d0) - 5.0f * (d2) + (d4);                        \
        (o1) = a_ + b_;                                                  \
        (o2) = a_ - b_;                                                  \
        (o3) = c_ + e_;                                                  \
        (o4) = c_ - e_;                                                  \
        (o5) = 4.0f * (d1) - 5.0f * (d3) + (d5);                        \
    } while (0)

/// Aᵀ applied to six values: out[i] = Σ_k Aᵀ[i][k]·m[k].
#define WINO43_AT(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3) do {          \
        tk_vf p_ = (m1) + (m2), q_ = (m1) - (m2);                       \
        tk_vf r_ = (m3) + (m4), s_ = (m3) - (m4);                       \
        (o0) = (m0) + p_ + r_;                                           \
        (o1) = q_ + 2.0f * s_;                                           \
        (o2) = p_ + 4.0f * r_;                                           \
        (o3) = q_ + 8.0f * s_ + (m5);                                    \
    } while (0)

/// p[k·stride] = o_k for k < 6 (one row of a 6×6 transform into six of its 36 matrices).
#define WINO43_STORE6(p, stride, o0, o1, o2, o3, o4, o5) do {          \
        tk_store((p), (o0));                                             \
        tk_store((p) + (stride), (o1));                                  \
        tk_store((p) + 2 * (stride), (o2));                              \
        tk_store((p) + 3 * (stride), (o3));                              \
        tk_store((p) + 4 * (stride), (o4));                              \
        tk_store((p) + 5 * (stride), (o5));                              \
    } while (0)

/// Tile rows tr0 ..< tr1 of one image's input tiles Bᵀ d B, into rows first_tile + tr·tiles_w + tc
/// of v (36 matrices [tiles, lanes], xi_stride apart). x: [C, H, W]. xs: scratch for the band's
/// padded rows 4·tr0 ..< 4·tr1 + 2, [4·(tr1 − tr0) + 2, 4·tiles_w + 2, lanes], whose rows and
/// columns outside the image and channels past C the caller keeps zero (never written here).
static void wino43_input_band(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw,
                              ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1, float *restrict xs,
                              float *restrict v, ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    ptrdiff_t PW = 4 * tiles_w + 2, row = PW * lanes;
    wino_band_channels_last(x, C, H, W, ph, pw, 4, tiles_w, lanes, tr0, tr1, xs);
    for (ptrdiff_t tr = tr0; tr < tr1; tr++) {
        for (ptrdiff_t tc = 0; tc < tiles_w; tc++) {
            const float *d = xs + (4 * (tr - tr0) * PW + 4 * tc) * lanes;
            float *out = v + (first_tile + tr * tiles_w + tc) * lanes;
            for (ptrdiff_t c = 0; c < lanes; c += TK_LANES) {
                tk_vf t[6][6];
                // Bᵀ down each of the six columns j: t[k][j] = (Bᵀ d)[k][j] …
                for (int j = 0; j < 6; j++) {
                    const float *p = d + j * lanes + c;
                    WINO43_BT(tk_load(p), tk_load(p + row), tk_load(p + 2 * row), tk_load(p + 3 * row),
                              tk_load(p + 4 * row), tk_load(p + 5 * row),
                              t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]);
                }
                // … then B along each row k: V[6k + l].
                for (int k = 0; k < 6; k++) {
                    tk_vf o0, o1, o2, o3, o4, o5;
                    WINO43_BT(t[k][0], t[k][1], t[k][2], t[k][3], t[k][4], t[k][5], o0, o1, o2, o3, o4, o5);
                    WINO43_STORE6(out + (6 * k) * xi_stride + c, xi_stride, o0, o1, o2, o3, o4, o5);
                }
            }
        }
    }
}

/// Tile rows tr0 ..< tr1 of one image's outputs Aᵀ M A, from rows first_tile + tr·tiles_w + tc of m
/// (36 matrices [tiles, lanes], xi_stride apart), into output rows 4·tr0 ..< min(4·tr1, OH) of
/// y: [O, OH, OW], through the epilogue e (its residual laid out like all of y).
/// ys: scratch for the band, [4·(tr1 − tr0), 4·tiles_w, lanes].
static void wino43_output_band(const float *restrict m, ptrdiff_t lanes, ptrdiff_t xi_stride, ptrdiff_t first_tile,
                               ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_w, ptrdiff_t tr0, ptrdiff_t tr1,
                               float *restrict ys, float *restrict y, const tk_conv_epilogue *e) {
    ptrdiff_t YW = 4 * tiles_w;
    for (ptrdiff_t tr = tr0; tr < tr1; tr++) {
        for (ptrdiff_t tc = 0; tc < tiles_w; tc++) {
            const float *p = m + (first_tile + tr * tiles_w + tc) * lanes;
            float *top = ys + (4 * (tr - tr0) * YW + 4 * tc) * lanes;
            for (ptrdiff_t o = 0; o < lanes; o += TK_LANES) {
                tk_vf s[4][6];
                // Aᵀ down each of the six columns l: s[i][l] = (Aᵀ M)[i][l] …
                for (int l = 0; l < 6; l++) {
                    const float *q = p + l * xi_stride + o;
                    WINO43_AT(tk_load(q), tk_load(q + 6 * xi_stride), tk_load(q + 12 * xi_stride),
                              tk_load(q + 18 * xi_stride), tk_load(q + 24 * xi_stride), tk_load(q + 30 * xi_stride),
                              s[0][l], s[1][l], s[2][l], s[3][l]);
                }
                // … then A along each row i: output row i of the tile.
                for (int i = 0; i < 4; i++) {
                    tk_vf y0, y1, y2, y3;
                    WINO43_AT(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], y0, y1, y2, y3);
                    float *r = top + i * YW * lanes + o;
                    tk_store(r, y0);
                    tk_store(r + lanes, y1);
                    tk_store(r + 2 * lanes, y2);
                    tk_store(r + 3 * lanes, y3);
                }
            }
        }
    }
    wino_band_output(ys, 4, tiles_w, lanes, O, OH, OW, tr0, tr1, y, e);
}

/// A applied to four values (the adjoint of Aᵀ): out[k] = Σ_i Aᵀ[i][k]·z[i].
#define WINO43_A(z0, z1, z2, z3, o0, o1, o2, o3, o4, o5) do {           \
        tk_vf p_ = (z0) + (z2), q_ = (z1) + (z3);                       \
        tk_vf r_ = (z0) + 4.0f * (z2), s_ = 2.0f * (z1) + 8.0f * (z3);  \
        (o0) = (z0);                                                     \
        (o1) = p_ + q_;                                                  \
        (o2) = p_ - q_;                                                  \
        (o3) = r_ + s_;                                                  \
        (o4) = r_ - s_;                                                  \
        (o5) = (z3);                                                     \
    } while (0)

/// One image's output-gradient tiles A dY Aᵀ (6×6 from each 4×4 tile, zero past the edge) into
/// rows first_tile ..< of m: 36 matrices [tiles, lanes], xi_stride apart. dy: [O, OH, OW];
/// ys: scratch [4·tiles_h, 4·tiles_w, lanes] whose channels past O, and rows and columns past OH
/// and OW, the caller keeps zero.
static void wino43_output_gradient(const float *restrict dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h,
                                   ptrdiff_t tiles_w, ptrdiff_t lanes, float *restrict ys, float *restrict m,
                                   ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    ptrdiff_t YW = 4 * tiles_w;
    to_channels_last(dy, O, OH, OW, OH * OW, ys, YW, lanes);
    for (ptrdiff_t tr = 0; tr < tiles_h; tr++) {
        for (ptrdiff_t tc = 0; tc < tiles_w; tc++) {
            const float *top = ys + (4 * tr * YW + 4 * tc) * lanes;
            float *out = m + (first_tile + tr * tiles_w + tc) * lanes;
            for (ptrdiff_t o = 0; o < lanes; o += TK_LANES) {
                tk_vf z[6][4];
                // A down each of the four columns j: z[k][j] = (A dY)[k][j] …
                for (int j = 0; j < 4; j++) {
                    const float *q = top + j * lanes + o;
                    WINO43_A(tk_load(q), tk_load(q + YW * lanes), tk_load(q + 2 * YW * lanes), tk_load(q + 3 * YW * lanes),
                             z[0][j], z[1][j], z[2][j], z[3][j], z[4][j], z[5][j]);
                }
                // … then Aᵀ along each row k: dM[6k + l].
                for (int k = 0; k < 6; k++) {
                    tk_vf o0, o1, o2, o3, o4, o5;
                    WINO43_A(z[k][0], z[k][1], z[k][2], z[k][3], o0, o1, o2, o3, o4, o5);
                    WINO43_STORE6(out + (6 * k) * xi_stride + o, xi_stride, o0, o1, o2, o3, o4, o5);
                }
            }
        }
    }
}

/// G applied to three values: out[k] = Σ_j G[k][j]·g[j].
static inline __attribute__((always_inline)) void wino43_g(float g0, float g1, float g2, float *out) {
    float a = -(g0 + g2) / 6.0f, b = g1 / 6.0f;
    float c = g0 / 24.0f + g2 / 6.0f, d = g1 / 12.0f;
    out[0] = 0.25f * g0;
    out[1] = a - b;
    out[2] = a + b;
    out[3] = c + d;
    out[4] = c - d;
    out[5] = g2;
}

/// u[ξ, c, o] = (G g Gᵀ)[ξ / 6, ξ % 6] for g = w[o, c], input channels c0 ..< c1.
/// w: [O, C, 3, 3]; u: 36 matrices [C, lanes] (lanes ≥ O), overwritten for these
/// input channels, with zeros in the lanes o ≥ O.
static void wino43_weights(const float *restrict w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1,
                           float *restrict u) {
    ptrdiff_t XS = C * lanes;
    for (ptrdiff_t c = c0; c < c1; c++) {
        // The padded lanes o ≥ O read as zeros (tk_wino_products multiplies whole vectors of them).
        for (int xi = 0; xi < 36; xi++)
            for (ptrdiff_t o = O; o < lanes; o++) u[xi * XS + c * lanes + o] = 0;
        for (ptrdiff_t o = 0; o < O; o++) {
            const float *g = w + (o * C + c) * 9;
            float *dst = u + c * lanes + o;
            // G down each column of the kernel (Gg: 6 rows of 3), then Gᵀ along each row.
            float col[3][6];
            for (int j = 0; j < 3; j++) wino43_g(g[j], g[3 + j], g[6 + j], col[j]);
            for (int k = 0; k < 6; k++) {
                float r[6];
                wino43_g(col[0][k], col[1][k], col[2][k], r);
                for (int l = 0; l < 6; l++) dst[(6 * k + l) * XS] = r[l];
            }
        }
    }
}

/// Gᵀ applied to six values (the adjoint of G): out[j] = Σ_k G[k][j]·x[k].
static inline __attribute__((always_inline)) void wino43_gt(const float *x, float *out) {
    float s = x[1] + x[2], t = x[3] + x[4];
    out[0] = 0.25f * x[0] - s / 6.0f + t / 24.0f;
    out[1] = (x[2] - x[1]) / 6.0f + (x[3] - x[4]) / 12.0f;
    out[2] = -s / 6.0f + t / 6.0f + x[5];
}

/// dw[o, c] += Gᵀ dU[·, c, o] G, the adjoint of wino43_weights, for input channels c0 ..< c1.
/// du: 36 matrices [C, lanes]; dw: [O, C, 3, 3], accumulated.
static void wino43_weight_gradient(const float *restrict du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0,
                                   ptrdiff_t c1, float *restrict dw) {
    ptrdiff_t XS = C * lanes;
    for (ptrdiff_t c = c0; c < c1; c++) {
        for (ptrdiff_t o = 0; o < O; o++) {
            const float *src = du + c * lanes + o;
            // Gᵀ along each row k of dU (6 values → 3), then Gᵀ down each of the three columns.
            float rows[6][3];
            for (int k = 0; k < 6; k++) {
                float x[6];
                for (int l = 0; l < 6; l++) x[l] = src[(6 * k + l) * XS];
                wino43_gt(x, rows[k]);
            }
            float *g = dw + (o * C + c) * 9;
            for (int j = 0; j < 3; j++) {
                float x[6] = {rows[0][j], rows[1][j], rows[2][j], rows[3][j], rows[4][j], rows[5][j]}, r[3];
                wino43_gt(x, r);
                for (int i = 0; i < 3; i++) g[3 * i + j] += r[i];
            }
        }
    }
}
