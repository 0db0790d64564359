// The α² products of a Winograd chunk, M_ξ[T, O] = V_ξ[T, C] · U_ξ[C, O], without a BLAS call
// (Winograd3x3.swift says when they run here instead of in sgemm). V_ξ and U_ξ are already laid
// out as a GEMM wants them: rows of V are tiles with their channels contiguous, rows of U are
// input channels with the (vector-padded) output channels contiguous. So nothing is packed and
// nothing is zeroed first: for small products (batch-1 bands of a few tiles, K = C of 16 to 64)
// sgemm spent more in packing V and U and in scaling M by β = 0 than in arithmetic. The callers
// keep U_ξ within 128 × 128 (Winograd3x3.runsOwnProducts), where this was measured faster.
//
// A block of R tiles × V vectors of output channels keeps R·V accumulators in registers; per
// input channel it loads V vectors of U_ξ's row and broadcasts R values of V_ξ. R = 4, V = 2:
// 8 accumulators (enough to cover the FMA latency on two pipes) and 11 registers.

/// m[i, o] = Σ_c v[i, c]·u[c, o] for i < R, o < V·TK_LANES (R ≤ 4, V ≤ 2, both constant at the call).
static inline __attribute__((always_inline)) void wino_block(const float *restrict v, ptrdiff_t ldv, const float *restrict u,
                                                             ptrdiff_t ldu, float *restrict m, ptrdiff_t ldm, ptrdiff_t C,
                                                             const int R, const int V) {
    tk_vf a[4][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < R; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < V; j++) a[i][j] = tk_splat(0);
    for (ptrdiff_t c = 0; c < C; c++) {
        tk_vf x[2];
#pragma clang loop unroll(full)
        for (int j = 0; j < V; j++) x[j] = tk_load(u + c * ldu + j * TK_LANES);
#pragma clang loop unroll(full)
        for (int i = 0; i < R; i++) {
            tk_vf w = tk_splat(v[i * ldv + c]);
#pragma clang loop unroll(full)
            for (int j = 0; j < V; j++) a[i][j] += w * x[j];
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < R; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < V; j++) tk_store(m + i * ldm + j * TK_LANES, a[i][j]);
}

/// m_ξ[t, o] = Σ_c v_ξ[t, c]·u_ξ[c, o] for ξ < count, t < T, o < lanes_o, overwritten.
/// v: count matrices [T, ldv], v_stride apart; u: count matrices [C, lanes_o], C·lanes_o apart;
/// m: count matrices [T, lanes_o], m_stride apart. lanes_o is a multiple of TK_LANES.
static void wino_products(const float *restrict v, ptrdiff_t v_stride, ptrdiff_t ldv, const float *restrict u, ptrdiff_t C,
                          ptrdiff_t lanes_o, float *restrict m, ptrdiff_t m_stride, ptrdiff_t T, ptrdiff_t count) {
    const ptrdiff_t L = TK_LANES, T4 = T / 4 * 4;
    for (ptrdiff_t xi = 0; xi < count; xi++) {
        const float *vx = v + xi * v_stride, *ux = u + xi * C * lanes_o;
        float *mx = m + xi * m_stride;
        ptrdiff_t o = 0;
        for (; o + 2 * L <= lanes_o; o += 2 * L) {
            ptrdiff_t t = 0;
            for (; t < T4; t += 4) wino_block(vx + t * ldv, ldv, ux + o, lanes_o, mx + t * lanes_o + o, lanes_o, C, 4, 2);
            for (; t < T; t++) wino_block(vx + t * ldv, ldv, ux + o, lanes_o, mx + t * lanes_o + o, lanes_o, C, 1, 2);
        }
        if (o < lanes_o) {   // one vector of output channels left
            ptrdiff_t t = 0;
            for (; t < T4; t += 4) wino_block(vx + t * ldv, ldv, ux + o, lanes_o, mx + t * lanes_o + o, lanes_o, C, 4, 1);
            for (; t < T; t++) wino_block(vx + t * ldv, ldv, ux + o, lanes_o, mx + t * lanes_o + o, lanes_o, C, 1, 1);
        }
    }
}
