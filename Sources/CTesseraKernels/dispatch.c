// Chooses the kernel variant once, from cpuid, and forwards every public entry point to it.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

static _Atomic(const tk_table *) active_table = NULL;
static _Atomic int active_isa = -1;

int tk_isa_supported(tk_isa isa) {
    switch (isa) {
    case TK_ISA_BASELINE: return 1;
#if defined(__x86_64__)
    case TK_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TK_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

static const tk_table *table_for(tk_isa isa) {
    switch (isa) {
#if defined(__x86_64__)
    case TK_ISA_AVX2: return &tk_table_avx2;
    case TK_ISA_AVX512: return &tk_table_avx512;
#endif
    default: return &tk_table_baseline;
    }
}

int tk_isa_select(tk_isa isa) {
    if (!tk_isa_supported(isa)) return -1;
    atomic_store(&active_isa, (int)isa);
    atomic_store(&active_table, table_for(isa));
    return 0;
}

int tk_isa_parse(const char *name, tk_isa *isa) {
    for (int i = TK_ISA_BASELINE; i <= TK_ISA_AVX512; i++) {
        if (strcmp(name, tk_isa_name((tk_isa)i)) == 0) { *isa = (tk_isa)i; return 0; }
    }
    return -1;
}

tk_isa tk_isa_best(void) {
    return tk_isa_supported(TK_ISA_AVX512) ? TK_ISA_AVX512
         : tk_isa_supported(TK_ISA_AVX2) ? TK_ISA_AVX2 : TK_ISA_BASELINE;
}

/// The first call: TESSERA_ISA when it names a variant this CPU runs, else the best one (with a
/// warning on stderr for a value that cannot be used; the command-line tools refuse such a value
/// before any kernel runs).
static const tk_table *table(void) {
    const tk_table *t = atomic_load_explicit(&active_table, memory_order_acquire);
    if (t) return t;
    tk_isa choice = tk_isa_best();
    const char *env = getenv("TESSERA_ISA");
    if (env && *env && strcmp(env, "auto") != 0) {
        tk_isa wanted;
        if (tk_isa_parse(env, &wanted) != 0) {
            fprintf(stderr, "tessera: warning: TESSERA_ISA=%s is not one of auto, baseline, avx2, avx512; using %s\n",
                    env, tk_isa_name(choice));
        } else if (!tk_isa_supported(wanted)) {
            fprintf(stderr, "tessera: warning: TESSERA_ISA=%s is not supported by this CPU; using %s\n", env, tk_isa_name(choice));
        } else {
            choice = wanted;
        }
    }
    tk_isa_select(choice);
    return atomic_load(&active_table);
}

tk_isa tk_isa_active(void) {
    table();
    return (tk_isa)atomic_load(&active_isa);
}

const char *tk_isa_name(tk_isa isa) {
    switch (isa) {
    case TK_ISA_BASELINE: return "baseline";
    case TK_ISA_AVX2: return "avx2";
    case TK_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}

int tk_isa_lanes(tk_isa isa) {
    switch (isa) {
    case TK_ISA_AVX2: return 8;
    case TK_ISA_AVX512: return 16;
    default: return 4;
    }
}

// Every public kernel forwards to the active variant.
float tk_fma_loop(long iterations, float seed) { return table()->fma_loop(iterations, seed); }
void tk_unary(tk_unary_op op, ptrdiff_t n, const float *x, ptrdiff_t incx, float *y, ptrdiff_t incy, float p0, float p1) { table()->unary(op, n, x, incx, y, incy, p0, p1); }
void tk_binary(tk_binary_op op, ptrdiff_t n, const float *a, ptrdiff_t inca, const float *b, ptrdiff_t incb, float *y, ptrdiff_t incy, float p0, float p1) { table()->binary(op, n, a, inca, b, incb, y, incy, p0, p1); }
void tk_select(ptrdiff_t n, const float *c, const float *a, const float *b, float *y) { table()->select(n, c, a, b, y); }
float tk_sum(ptrdiff_t n, const float *x) { return table()->sum(n, x); }
void tk_batchnorm_statistics(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, ptrdiff_t c0, ptrdiff_t c1, float eps, float momentum, float *running_mean, ptrdiff_t rm_stride, float *running_var, ptrdiff_t rv_stride, float *mean, float *invstd) { table()->batchnorm_statistics(N, C, S, x, c0, c1, eps, momentum, running_mean, rm_stride, running_var, rv_stride, mean, invstd); }
void tk_batchnorm_forward(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, ptrdiff_t c0, ptrdiff_t c1, const float *mean, const float *invstd, const float *gamma, const float *beta, int relu, float *y) { table()->batchnorm_forward(N, C, S, x, c0, c1, mean, invstd, gamma, beta, relu, y); }
void tk_batchnorm_backward(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, const float *y, const float *dy, ptrdiff_t c0, ptrdiff_t c1, const float *mean, const float *invstd, const float *gamma, int training, float *dx, float *dgamma, float *dbeta) { table()->batchnorm_backward(N, C, S, x, y, dy, c0, c1, mean, invstd, gamma, training, dx, dgamma, dbeta); }
void tk_maxpool2d_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, const tk_window2d *window, const float *x, float *y, int32_t *index) { table()->maxpool2d_forward(p0, p1, H, W, window, x, y, index); }
void tk_maxpool2d_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, const tk_window2d *window, const float *dy, const int32_t *index, float *dx) { table()->maxpool2d_backward(p0, p1, H, W, window, dy, index, dx); }
void tk_avgpool2d_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, ptrdiff_t windows, const int32_t *bounds, const float *scales, const float *x, float *y) { table()->avgpool2d_forward(p0, p1, H, W, windows, bounds, scales, x, y); }
void tk_avgpool2d_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, ptrdiff_t windows, const int32_t *bounds, const float *scales, const float *dy, float *dx) { table()->avgpool2d_backward(p0, p1, H, W, windows, bounds, scales, dy, dx); }
void tk_global_avgpool_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t S, const float *x, float *y) { table()->global_avgpool_forward(p0, p1, S, x, y); }
void tk_global_avgpool_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t S, const float *dy, float *dx) { table()->global_avgpool_backward(p0, p1, S, dy, dx); }
void tk_softmax_rows(ptrdiff_t rows, ptrdiff_t n, const float *x, float *y) { table()->softmax_rows(rows, n, x, y); }
void tk_log_softmax_rows(ptrdiff_t rows, ptrdiff_t n, const float *x, float *y) { table()->log_softmax_rows(rows, n, x, y); }
void tk_cross_entropy_forward(ptrdiff_t n, ptrdiff_t c, const float *x, const int32_t *targets, float on, float off, float *probs, float *losses) { table()->cross_entropy_forward(n, c, x, targets, on, off, probs, losses); }
void tk_cross_entropy_backward(ptrdiff_t n, ptrdiff_t c, const float *probs, const int32_t *targets, float on, float off, const float *g, ptrdiff_t incg, float *dx) { table()->cross_entropy_backward(n, c, probs, targets, on, off, g, incg, dx); }
void tk_sgd_update(ptrdiff_t n, float *p, const float *g, float *buf, int first, float lr, float weight_decay, float momentum, float dampening, int nesterov) { table()->sgd_update(n, p, g, buf, first, lr, weight_decay, momentum, dampening, nesterov); }
void tk_adam_update(ptrdiff_t n, float *p, const float *g, float *m, float *v, float *vmax, const tk_adam_step *step) { table()->adam_update(n, p, g, m, v, vmax, step); }
void tk_rmsprop_update(ptrdiff_t n, float *p, const float *g, float *square_avg, float *grad_avg, float *buf, float lr, float alpha, float eps, float weight_decay, float momentum) { table()->rmsprop_update(n, p, g, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum); }
void tk_im2col(const float *x, const tk_conv_geometry *g, float *col, ptrdiff_t ldc, float *phases) {
    table()->im2col(x, g, col, ldc, phases);
}
void tk_col2im(const float *col, ptrdiff_t ldc, const tk_conv_geometry *g, float *dx) {
    table()->col2im(col, ldc, g, dx);
}
void tk_wino23_output_gradient(const float *dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h, ptrdiff_t tiles_w, ptrdiff_t lanes, float *ys, float *m, ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    table()->wino23_output_gradient(dy, O, OH, OW, tiles_h, tiles_w, lanes, ys, m, xi_stride, first_tile);
}
void tk_wino23_weights(const float *w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1, float *u) {
    table()->wino23_weights(w, O, C, lanes, c0, c1, u);
}
void tk_wino23_weight_gradient(const float *du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1, float *dw) {
    table()->wino23_weight_gradient(du, O, C, lanes, c0, c1, dw);
}
void tk_wino_s2_weights(const float *w, ptrdiff_t C, ptrdiff_t O, ptrdiff_t lanes_c, ptrdiff_t lanes_o, ptrdiff_t c0, ptrdiff_t c1, float *u, float *wt) {
    table()->wino_s2_weights(w, C, O, lanes_c, lanes_o, c0, c1, u, wt);
}
void tk_wino_s2_channels_last(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t lanes_c, ptrdiff_t columns, float *xs) {
    table()->wino_s2_channels_last(x, C, H, W, lanes_c, columns, xs);
}
void tk_wino_s2_input(const float *xs, ptrdiff_t lanes_c, ptrdiff_t columns, ptrdiff_t tiles_h, ptrdiff_t tiles_w, float *v, ptrdiff_t xi_stride) {
    table()->wino_s2_input(xs, lanes_c, columns, tiles_h, tiles_w, v, xi_stride);
}
void tk_wino_s2_output(const float *m, ptrdiff_t lanes_o, ptrdiff_t O, ptrdiff_t xi_stride, ptrdiff_t tiles_h, ptrdiff_t tiles_w, ptrdiff_t OH, ptrdiff_t OW, float *y, float *tile, const tk_conv_epilogue *e) {
    table()->wino_s2_output(m, lanes_o, O, xi_stride, tiles_h, tiles_w, OH, OW, y, tile, e);
}
void tk_wino23_input_band(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1, float *xs, float *v, ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    table()->wino23_input_band(x, C, H, W, ph, pw, tiles_w, lanes, tr0, tr1, xs, v, xi_stride, first_tile);
}
void tk_wino23_output_band(const float *m, ptrdiff_t lanes, ptrdiff_t xi_stride, ptrdiff_t first_tile, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_w, ptrdiff_t tr0, ptrdiff_t tr1, float *ys, float *y, const tk_conv_epilogue *e) {
    table()->wino23_output_band(m, lanes, xi_stride, first_tile, O, OH, OW, tiles_w, tr0, tr1, ys, y, e);
}
void tk_wino43_input_band(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1, float *xs, float *v, ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    table()->wino43_input_band(x, C, H, W, ph, pw, tiles_w, lanes, tr0, tr1, xs, v, xi_stride, first_tile);
}
void tk_wino43_output_band(const float *m, ptrdiff_t lanes, ptrdiff_t xi_stride, ptrdiff_t first_tile, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_w, ptrdiff_t tr0, ptrdiff_t tr1, float *ys, float *y, const tk_conv_epilogue *e) {
    table()->wino43_output_band(m, lanes, xi_stride, first_tile, O, OH, OW, tiles_w, tr0, tr1, ys, y, e);
}
void tk_wino43_output_gradient(const float *dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h, ptrdiff_t tiles_w, ptrdiff_t lanes, float *ys, float *m, ptrdiff_t xi_stride, ptrdiff_t first_tile) {
    table()->wino43_output_gradient(dy, O, OH, OW, tiles_h, tiles_w, lanes, ys, m, xi_stride, first_tile);
}
void tk_wino43_weights(const float *w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1, float *u) {
    table()->wino43_weights(w, O, C, lanes, c0, c1, u);
}
void tk_wino43_weight_gradient(const float *du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1, float *dw) {
    table()->wino43_weight_gradient(du, O, C, lanes, c0, c1, dw);
}
void tk_wino_products(const float *v, ptrdiff_t v_stride, ptrdiff_t ldv, const float *u, ptrdiff_t C, ptrdiff_t lanes_o, float *m, ptrdiff_t m_stride, ptrdiff_t T, ptrdiff_t count) {
    table()->wino_products(v, v_stride, ldv, u, C, lanes_o, m, m_stride, T, count);
}
void tk_normalize_planes(ptrdiff_t C, ptrdiff_t n, float *x, const float *mean, const float *std) {
    table()->normalize_planes(C, n, x, mean, std);
}
void tk_reverse_rows(ptrdiff_t rows, ptrdiff_t w, float *x) {
    table()->reverse_rows(rows, w, x);
}
void tk_conv_epilogue_apply(ptrdiff_t O, ptrdiff_t P, float *y, const tk_conv_epilogue *e) {
    table()->conv_epilogue_apply(O, P, y, e);
}
void tk_direct3x3_pack(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, int stride, ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t channel_stride, float *xp) {
    table()->direct3x3_pack(x, C, H, W, stride, row0, rows, channel_stride, xp);
}
void tk_direct3x3_pack_weights(const float *w, ptrdiff_t O, ptrdiff_t C, float *wp) {
    table()->direct3x3_pack_weights(w, O, C, wp);
}
void tk_direct3x3(const float *xp, ptrdiff_t C, ptrdiff_t channel_stride, const ptrdiff_t *taps, ptrdiff_t P, const float *wp, ptrdiff_t b0, ptrdiff_t b1, float *ye, ptrdiff_t ldy) {
    table()->direct3x3(xp, C, channel_stride, taps, P, wp, b0, b1, ye, ldy);
}
void tk_direct3x3_unpack(const float *ye, ptrdiff_t ldy, ptrdiff_t wext, ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t plane, float *y, const tk_conv_epilogue *e) {
    table()->direct3x3_unpack(ye, ldy, wext, o0, o1, OH, OW, plane, y, e);
}
