// The transforms of the stride-2 Winograd kernel, F(4×4, 2×2) over the four phase planes of a
// 3×3 stride-2 convolution (see WinogradStride2.swift for the algorithm and the layouts). Inside
// it images are channels-last, so every transform runs along a vector of channels: the innermost
// loops are over `lanes_c` (or `lanes_o`) contiguous floats, which the vectorizer takes whole.
//
//     Bᵀ = | 2 −1 −2  1  0 |    G = |  ½    0  |    Aᵀ = | 1  1  1  1  0 |
//          | 0 −2 −1  1  0 |        | −½   −½  |         | 0  1 −1  2  0 |
//          | 0  2 −3  1  0 |        | −⅙    ⅙  |         | 0  1  1  4  0 |
//          | 0 −1  0  1  0 |        |  ⅙    ⅓  |         | 0  1 −1  8  1 |
//          | 0  2 −1 −2  1 |        |  0    1  |

/// Where the channels of phase (r, q) sit along the GEMM depth: block 0 holds phase (1, 0), then
/// (1, 1), (0, 1) and (0, 0) (WinogradStride2.block(r:q:)).
static inline ptrdiff_t s2_block(int r, int q) { return r == 1 ? q : 3 - q; }

/// Bᵀ applied to five vectors (in place).
static inline void s2_bt(tk_vf *d) {
    tk_vf d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3], d4 = d[4];
    tk_vf e3 = d3 - d1, d32 = d3 - d2, two1 = d1 + d1;
    d[0] = (d0 - d2) + (d0 - d2) + e3;
    d[1] = d32 - two1;
    d[2] = d32 + two1 - d2 - d2;
    d[3] = e3;
    d[4] = d4 - d2 - e3 - e3;
}

/// Aᵀ applied to five vectors (four results, in the first four).
static inline void s2_at(tk_vf *m) {
    tk_vf m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4];
    tk_vf s = m1 + m2, d = m1 - m2, two3 = m3 + m3, four3 = two3 + two3;
    m[0] = m0 + s + m3;
    m[1] = d + two3;
    m[2] = s + four3;
    m[3] = d + four3 + four3 + m4;
}

/// G applied to two vectors (five results).
static inline void s2_g(tk_vf g0, tk_vf g1, tk_vf *e) {
    const float sixth = 1.0f / 6.0f;
    e[0] = g0 * 0.5f;
    e[1] = (g0 + g1) * -0.5f;
    e[2] = (g1 - g0) * sixth;
    e[3] = (g0 + g1 + g1) * sixth;
    e[4] = g1;
}

/// u[ξ, k, o] = (G g Gᵀ)[ξ / 5, ξ % 5] for the 2×2 phase kernel g of w[o, c] at phase channel
/// k = block(r, q)·lanes_c + c, for input channels c0 ..< c1. w: [O, C, 3, 3]; u: [25, 4·lanes_c,
/// lanes_o]; wt: scratch [C, 9, lanes_o] (w channels-last). The caller zeroes u where lanes_c > C
/// and wt where lanes_o > O, once.
static void wino_s2_weights(const float *restrict w, ptrdiff_t C, ptrdiff_t O, ptrdiff_t lanes_c, ptrdiff_t lanes_o,
                            ptrdiff_t c0, ptrdiff_t c1, float *restrict u, float *restrict wt) {
    ptrdiff_t KO = 4 * lanes_c * lanes_o;
    for (ptrdiff_t c = c0; c < c1; c++) {
        for (ptrdiff_t o = 0; o < O; o++)
            for (int t = 0; t < 9; t++) wt[(c * 9 + t) * lanes_o + o] = w[(o * C + c) * 9 + t];
        for (int r = 0; r < 2; r++) {
            for (int q = 0; q < 2; q++) {
                float *dst = u + (s2_block(r, q) * lanes_c + c) * lanes_o;
                for (ptrdiff_t o = 0; o < lanes_o; o += TK_LANES) {
                    // Phase kernel tap (a, b) is 3×3 tap (2a + r − 1, 2b + q − 1), zero at −1.
                    tk_vf g[2][2];
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++) {
                            int i = 2 * a + r - 1, j = 2 * b + q - 1;
                            g[a][b] = (i < 0 || j < 0) ? tk_splat(0) : tk_load(wt + (c * 9 + 3 * i + j) * lanes_o + o);
                        }
                    // G down the two columns, then G along each of the five rows.
                    tk_vf col0[5], col1[5];
                    s2_g(g[0][0], g[1][0], col0);
                    s2_g(g[0][1], g[1][1], col1);
                    for (int k = 0; k < 5; k++) {
                        tk_vf e[5];
                        s2_g(col0[k], col1[k], e);
                        for (int l = 0; l < 5; l++) tk_store(dst + (5 * k + l) * KO + o, e[l]);
                    }
                }
            }
        }
    }
}

/// xs[r + 2, q + 2, c] = x[c, r, q]: one image channels-last inside the zero border (which, and
/// the channels past C, the caller keeps zero). x: [C, H, W]; xs: [rows, columns, lanes_c].
static void wino_s2_channels_last(const float *restrict x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t lanes_c,
                                  ptrdiff_t columns, float *restrict xs) {
    ptrdiff_t P = H * W;
    for (ptrdiff_t r = 0; r < H; r++) {
        float *d = xs + ((r + 2) * columns + 2) * lanes_c;
        // Eight columns at a time: their lanes_c-float rows of xs stay in L1 while every channel is written.
        for (ptrdiff_t q0 = 0; q0 < W; q0 += 8) {
            ptrdiff_t q1 = q0 + 8 < W ? q0 + 8 : W;
            for (ptrdiff_t c = 0; c < C; c++) {
                const float *s = x + c * P + r * W;
                for (ptrdiff_t q = q0; q < q1; q++) d[q * lanes_c + c] = s[q];
            }
        }
    }
}

/// One image's windows Bᵀ d B into rows 0 ..< tiles_h·tiles_w of v: 25 matrices [·, 4·lanes_c],
/// `xi_stride` apart. xs: [rows, columns, lanes_c].
static void wino_s2_input(const float *restrict xs, ptrdiff_t lanes_c, ptrdiff_t columns, ptrdiff_t tiles_h, ptrdiff_t tiles_w,
                          float *restrict v, ptrdiff_t xi_stride) {
    ptrdiff_t K = 4 * lanes_c, row_step = 2 * columns * lanes_c, col_step = 2 * lanes_c;
    for (ptrdiff_t ty = 0; ty < tiles_h; ty++) {
        for (ptrdiff_t tx = 0; tx < tiles_w; tx++) {
            float *row = v + (ty * tiles_w + tx) * K;
            for (int phase = 0; phase < 4; phase++) {
                // Window element (i, j) of phase (r, q) is buffer row 8·ty + 2i + r, column 8·tx + 2j + q.
                const float *corner = xs + ((8 * ty + phase / 2) * columns + 8 * tx + phase % 2) * lanes_c;
                float *dst = row + s2_block(phase / 2, phase % 2) * lanes_c;
                for (ptrdiff_t c = 0; c < lanes_c; c += TK_LANES) {
                    // Bᵀ down each of the five columns, then along each of the five result rows.
                    tk_vf e[5][5];
                    for (int j = 0; j < 5; j++) {
                        tk_vf col[5];
                        for (int i = 0; i < 5; i++) col[i] = tk_load(corner + i * row_step + j * col_step + c);
                        s2_bt(col);
                        for (int k = 0; k < 5; k++) e[k][j] = col[k];
                    }
                    for (int k = 0; k < 5; k++) {
                        s2_bt(e[k]);
                        for (int l = 0; l < 5; l++) tk_store(dst + (5 * k + l) * xi_stride + c, e[k][l]);
                    }
                }
            }
        }
    }
}

/// One image's output tiles Aᵀ M A from rows 0 ..< of m (25 matrices [·, lanes_o], `xi_stride`
/// apart) into y: [O, OH, OW], overwritten; the parts of edge tiles past y are dropped.
/// tile: scratch [16, lanes_o].
static void wino_s2_output(const float *restrict m, ptrdiff_t lanes_o, ptrdiff_t O, ptrdiff_t xi_stride, ptrdiff_t tiles_h,
                           ptrdiff_t tiles_w, ptrdiff_t OH, ptrdiff_t OW, float *restrict y, float *restrict tile,
                           const tk_conv_epilogue *e) {
    ptrdiff_t P = OH * OW;
    for (ptrdiff_t ty = 0; ty < tiles_h; ty++) {
        for (ptrdiff_t tx = 0; tx < tiles_w; tx++) {
            const float *row = m + (ty * tiles_w + tx) * lanes_o;
            for (ptrdiff_t o = 0; o < lanes_o; o += TK_LANES) {
                // Aᵀ down each of the five columns, then along each of the four result rows.
                tk_vf e[4][5];
                for (int l = 0; l < 5; l++) {
                    tk_vf col[5];
                    for (int k = 0; k < 5; k++) col[k] = tk_load(row + (5 * k + l) * xi_stride + o);
                    s2_at(col);
                    for (int a = 0; a < 4; a++) e[a][l] = col[a];
                }
                for (int a = 0; a < 4; a++) {
                    s2_at(e[a]);
                    for (int b = 0; b < 4; b++) tk_store(tile + (4 * a + b) * lanes_o + o, e[a][b]);
                }
            }
            // The tile [16, lanes_o] into the planes of y (dropping what lies past the edges).
            ptrdiff_t rows = OH - 4 * ty < 4 ? OH - 4 * ty : 4, cols = OW - 4 * tx < 4 ? OW - 4 * tx : 4;
            float *corner = y + 4 * ty * OW + 4 * tx;
            ptrdiff_t at = 4 * ty * OW + 4 * tx;
            if (e) {
                for (ptrdiff_t o = 0; o < O; o++)
                    for (ptrdiff_t a = 0; a < rows; a++)
                        for (ptrdiff_t b = 0; b < cols; b++)
                            corner[o * P + a * OW + b] = epilogue_value(tile[(4 * a + b) * lanes_o + o], e, o, at + o * P + a * OW + b);
            } else {
                for (ptrdiff_t o = 0; o < O; o++)
                    for (ptrdiff_t a = 0; a < rows; a++)
                        for (ptrdiff_t b = 0; b < cols; b++) corner[o * P + a * OW + b] = tile[(4 * a + b) * lanes_o + o];
            }
        }
    }
}
