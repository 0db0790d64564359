// Tessera's hot loops that are not GEMM, over raw float buffers.
//
// One kernel source (body/*.h) is compiled once per instruction set — baseline (SSE2 on x86-64,
// NEON on arm64), AVX2 + FMA, AVX-512 (F, BW, DQ, VL) + FMA — through per-function `target`
// attributes (no command-line flags), and the variant is chosen once, at the first call, from
// cpuid: the best the CPU runs, or the one tk_isa_select() forces (Swift reads TESSERA_ISA).
//
// Conventions: shapes in the comments are row-major; "overwrites" means the output is written
// without being read, "accumulates" means it is added to (+=). No function allocates memory,
// takes a lock or calls another thread; the callers split work across threads.
#ifndef TESSERA_KERNELS_H
#define TESSERA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Instruction sets

/// The kernel variants, by instruction set.
typedef enum tk_isa {
    TK_ISA_BASELINE = 0,
    TK_ISA_AVX2 = 1,
    TK_ISA_AVX512 = 2,
} tk_isa;

/// 1 when this CPU (and this build) can run `isa`, else 0.
int tk_isa_supported(tk_isa isa);
/// The best variant this CPU runs.
tk_isa tk_isa_best(void);
/// Sets *isa from a name ("baseline", "avx2", "avx512"); returns 0, or -1 for another name.
int tk_isa_parse(const char *name, tk_isa *isa);
/// The variant in use: chosen at the first call of any kernel (TESSERA_ISA when it names a
/// variant the CPU runs, else the best one), or by tk_isa_select.
tk_isa tk_isa_active(void);
/// Forces a variant; returns 0, or -1 (and changes nothing) when the CPU cannot run it.
/// Call it before kernels run on other threads.
int tk_isa_select(tk_isa isa);
/// "baseline", "avx2" or "avx512".
const char *tk_isa_name(tk_isa isa);
/// Floats per vector register of the variant (4, 8 or 16).
int tk_isa_lanes(tk_isa isa);

/// Runs `iterations` rounds of 256 independent multiply–adds (512 FLOPs) at the active variant's
/// width, for measuring the peak rate; returns a value depending on all of them.
float tk_fma_loop(long iterations, float seed);

// MARK: - Elementwise

/// y = f(x) (p0, p1: the op's constants).
typedef enum tk_unary_op {
    TK_UNARY_COPY = 0,       // x
    TK_UNARY_NEG,            // −x
    TK_UNARY_RELU,           // max(x, 0); NaN → 0
    TK_UNARY_AFFINE,         // p0·x + p1
    TK_UNARY_RECIPROCAL,     // p0 / x
    TK_UNARY_EXP,            // eˣ
    TK_UNARY_LOG,            // ln x
    TK_UNARY_SQRT,           // √x
    TK_UNARY_SQUARE,         // x²
    TK_UNARY_POW,            // x^p0
    TK_UNARY_ABS,            // |x|
    TK_UNARY_CLAMP,          // min(max(x, p0), p1)
    TK_UNARY_LEAKY_RELU,     // x > 0 ? x : p0·x
    TK_UNARY_SIGMOID,        // 1 / (1 + e⁻ˣ)
    TK_UNARY_TANH,           // tanh x
    TK_UNARY_GELU,           // x·Φ(x), with erf
    TK_UNARY_EQUAL,          // x == p0 ? 1 : 0
    TK_UNARY_LESS,           // x < p0 ? 1 : 0
    TK_UNARY_GREATER,        // x > p0 ? 1 : 0
    TK_UNARY_FINITE_OR_ZERO, // x if finite, else 0
} tk_unary_op;

/// y[i·incy] = f(x[i·incx]) for i < n; overwrites y. incx may be 0 (broadcast).
void tk_unary(tk_unary_op op, ptrdiff_t n, const float *x, ptrdiff_t incx, float *y, ptrdiff_t incy, float p0, float p1);

/// y = f(a, b). The *_BACKWARD ops take the incoming gradient as a.
typedef enum tk_binary_op {
    TK_BINARY_ADD = 0,            // a + b
    TK_BINARY_SUB,                // a − b
    TK_BINARY_MUL,                // a · b
    TK_BINARY_DIV,                // a / b
    TK_BINARY_MAXIMUM,            // a >= b ? a : b (a NaN on either side gives b)
    TK_BINARY_MINIMUM,            // a <= b ? a : b (a NaN on either side gives b)
    TK_BINARY_POW,                // a^b
    TK_BINARY_EQUAL,              // a == b ? 1 : 0
    TK_BINARY_NOT_EQUAL,          // a != b ? 1 : 0
    TK_BINARY_LESS,               // a < b ? 1 : 0
    TK_BINARY_LESS_EQUAL,         // a <= b ? 1 : 0
    TK_BINARY_GREATER,            // a > b ? 1 : 0
    TK_BINARY_GREATER_EQUAL,      // a >= b ? 1 : 0
    TK_BINARY_RELU_BACKWARD,      // b > 0 ? a : 0           (b: the ReLU's output)
    TK_BINARY_SIGMOID_BACKWARD,   // a·b·(1 − b)             (b: the sigmoid's output)
    TK_BINARY_TANH_BACKWARD,      // a·(1 − b²)              (b: tanh's output)
    TK_BINARY_SQRT_BACKWARD,      // a / (2b)                (b: the square root)
    TK_BINARY_ABS_BACKWARD,       // b > 0 ? a : b < 0 ? −a : 0
    TK_BINARY_CLAMP_BACKWARD,     // p0 <= b <= p1 ? a : 0
    TK_BINARY_LEAKY_RELU_BACKWARD,// b > 0 ? a : p0·a
    TK_BINARY_RECIPROCAL_BACKWARD,// −a·p0 / b²              (y = p0 / b)
    TK_BINARY_POW_BACKWARD,       // a·p0·b^(p0 − 1)         (y = b^p0)
    TK_BINARY_GELU_BACKWARD,      // a·(Φ(b) + b·φ(b))
    TK_BINARY_BCE_WITH_LOGITS,    // max(a, 0) − a·b + log(1 + e^−|a|)   (a: logits, b: targets)
} tk_binary_op;

/// y[i·incy] = f(a[i·inca], b[i·incb]) for i < n; overwrites y. inca, incb may be 0.
void tk_binary(tk_binary_op op, ptrdiff_t n, const float *a, ptrdiff_t inca, const float *b, ptrdiff_t incb,
               float *y, ptrdiff_t incy, float p0, float p1);

/// y = c != 0 ? a : b, all contiguous of length n; overwrites y.
void tk_select(ptrdiff_t n, const float *c, const float *a, const float *b, float *y);

/// Σ x[i] for i < n, in float lanes (the order differs between variants).
float tk_sum(ptrdiff_t n, const float *x);

// MARK: - Batch normalization over [N, C, S] (S = H·W), channels c0 ..< c1

/// Per channel: mean and 1/√(biased variance + eps) of x (overwrites mean[c], invstd[c]); when
/// running_mean and running_var are given, running = (1 − momentum)·running + momentum·batch with
/// the unbiased variance (PyTorch's rule), at strides rm_stride / rv_stride.
void tk_batchnorm_statistics(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, ptrdiff_t c0, ptrdiff_t c1,
                             float eps, float momentum, float *running_mean, ptrdiff_t rm_stride,
                             float *running_var, ptrdiff_t rv_stride, float *mean, float *invstd);
/// y = (x − mean)·invstd·γ + β, then max(·, 0) when relu != 0; overwrites y. gamma/beta may be NULL (1 / 0).
void tk_batchnorm_forward(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, ptrdiff_t c0, ptrdiff_t c1,
                          const float *mean, const float *invstd, const float *gamma, const float *beta,
                          int relu, float *y);
/// The three gradients in one pass per channel: dβ = Σdy, dγ = Σdy·x̂ (overwrite dbeta[c], dgamma[c]),
/// dx (overwrites; training: γσ⁻¹(dy − Σdy/M − x̂Σ(dy·x̂)/M), evaluation: γσ⁻¹dy). y, when given,
/// is the fused ReLU's output: dy counts only where y > 0. dx, dgamma, dbeta may be NULL (skipped).
void tk_batchnorm_backward(ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, const float *x, const float *y, const float *dy,
                           ptrdiff_t c0, ptrdiff_t c1, const float *mean, const float *invstd, const float *gamma,
                           int training, float *dx, float *dgamma, float *dbeta);

// MARK: - Pooling over planes [P, H, W], planes p0 ..< p1

/// A pooling window sweep: kernel, stride, padding, dilation and the output size.
typedef struct tk_window2d {
    ptrdiff_t kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w;
} tk_window2d;

/// y[p] = max over each window (padding never wins), index[p] = the flat position of the first
/// maximum in the plane (a NaN takes the place); overwrites y and index ([P, OH, OW]).
void tk_maxpool2d_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, const tk_window2d *window,
                          const float *x, float *y, int32_t *index);
/// dx[p][index[p][k]] = Σ dy[p][k] over the windows whose maximum it was, 0 elsewhere;
/// overwrites dx ([P, H, W]) from dy and index ([P, OH, OW]).
void tk_maxpool2d_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, const tk_window2d *window,
                           const float *dy, const int32_t *index, float *dx);
/// y[p, k] = scales[k]·Σ x[p] over window k = rows bounds[4k] ..< bounds[4k+1], columns
/// bounds[4k+2] ..< bounds[4k+3]; overwrites y ([P, windows]).
void tk_avgpool2d_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, ptrdiff_t windows,
                          const int32_t *bounds, const float *scales, const float *x, float *y);
/// The adjoint of tk_avgpool2d_forward; accumulates into dx ([P, H, W]).
void tk_avgpool2d_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t H, ptrdiff_t W, ptrdiff_t windows,
                           const int32_t *bounds, const float *scales, const float *dy, float *dx);
/// y[p] = mean of plane p ([P, S] → [P]); overwrites.
void tk_global_avgpool_forward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t S, const float *x, float *y);
/// dx[p, :] = dy[p] / S; overwrites.
void tk_global_avgpool_backward(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t S, const float *dy, float *dx);

// MARK: - Softmax and cross-entropy over rows [rows, n]

/// Softmax of each row, stably (the row maximum subtracted first); overwrites y.
void tk_softmax_rows(ptrdiff_t rows, ptrdiff_t n, const float *x, float *y);
/// x − max − ln Σ exp(x − max) for each row; overwrites y.
void tk_log_softmax_rows(ptrdiff_t rows, ptrdiff_t n, const float *x, float *y);
/// Cross-entropy of logits x [n, c] against class indices, the target distribution putting `on`
/// on the class and `off` elsewhere (label smoothing); overwrites probs [n, c] (the softmax, kept
/// for backward) and losses [n].
void tk_cross_entropy_forward(ptrdiff_t n, ptrdiff_t c, const float *x, const int32_t *targets, float on, float off,
                              float *probs, float *losses);
/// dx[i, j] = g[i·incg]·(probs[i, j] − q[i, j]); overwrites dx [n, c].
void tk_cross_entropy_backward(ptrdiff_t n, ptrdiff_t c, const float *probs, const int32_t *targets, float on, float off,
                               const float *g, ptrdiff_t incg, float *dx);

// MARK: - Optimizer updates (in place on p and the state buffers)

/// torch.optim.SGD: g ← g + wd·p; b ← g (first) or μb + (1 − τ)g; d ← g + μb (Nesterov) or b;
/// p ← p − lr·d. buf NULL: no momentum.
void tk_sgd_update(ptrdiff_t n, float *p, const float *g, float *buf, int first, float lr, float weight_decay,
                   float momentum, float dampening, int nesterov);

/// The constants of one Adam/AdamW step.
typedef struct tk_adam_step {
    float lr, step_size, beta1, beta2, bias_correction2_sqrt, eps, weight_decay;
    int decoupled;
} tk_adam_step;

/// torch.optim.Adam / AdamW (decoupled != 0); vmax NULL unless AMSGrad.
void tk_adam_update(ptrdiff_t n, float *p, const float *g, float *m, float *v, float *vmax, const tk_adam_step *step);
/// torch.optim.RMSprop; grad_avg NULL unless centered, buf NULL unless momentum > 0.
void tk_rmsprop_update(ptrdiff_t n, float *p, const float *g, float *square_avg, float *grad_avg, float *buf,
                       float lr, float alpha, float eps, float weight_decay, float momentum);

// MARK: - The data loader's transforms (one CHW sample, in place)

/// x[c·n + i] = (x[c·n + i] − mean[c]) / std[c] for c < C, i < n (torchvision's Normalize).
void tk_normalize_planes(ptrdiff_t C, ptrdiff_t n, float *x, const float *mean, const float *std);
/// Each of `rows` rows of `w` floats reversed (a horizontal flip of CHW planes).
void tk_reverse_rows(ptrdiff_t rows, ptrdiff_t w, float *x);

// MARK: - Convolution: im2col and Winograd transforms (one image, or a range of channels)

/// The geometry of one convolution (one group's channels): input, kernel, stride, padding,
/// dilation, output, and whether stride-2 im2col reads four phase planes (ConvGeometry).
typedef struct tk_conv_geometry {
    ptrdiff_t channels, height, width, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w;
    int uses_phase_planes;
} tk_conv_geometry;

/// col[(c·kh + i)·kw + j, oh·OW + ow] = x[c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (0 outside), row
/// stride ldc; overwrites col. x: [C, H, W]. phases: scratch of C·H·W floats (stride-2 phase planes).
void tk_im2col(const float *x, const tk_conv_geometry *g, float *col, ptrdiff_t ldc, float *phases);
/// The adjoint of tk_im2col: accumulates (+=) the columns into dx [C, H, W].
void tk_col2im(const float *col, ptrdiff_t ldc, const tk_conv_geometry *g, float *dx);

/// What a convolution's output writer applies to each output value on its way out, in this
/// order: + bias[o], + residual (laid out as y), then max(·, 0) when relu. An inference pass
/// folds batch norm into the weights and bias, so a ResNet block's `relu(bn(conv(x)) + x)` is
/// one write. bias and residual may be NULL. A NULL epilogue leaves y as computed.
typedef struct tk_conv_epilogue {
    const float *bias;
    const float *residual;
    int relu;
} tk_conv_epilogue;

/// y [O, P] ← the epilogue e applied to y, in place (for the convolutions that write y through a
/// GEMM). residual: [O, P] like y (e->residual already offset to this image).
void tk_conv_epilogue_apply(ptrdiff_t O, ptrdiff_t P, float *y, const tk_conv_epilogue *e);

/// Winograd F(2×2, 3×3), channels-last inside: `lanes` is C (or O) rounded up to a multiple of 8
/// and of the active variant's tk_isa_lanes(); V and M are 16 matrices [tiles, lanes], xi_stride
/// apart, one row per tile.
/// Tile rows tr0 ..< tr1 (all of them, or a band for splitting one image across threads) of one
/// image's input tiles Bᵀ d B into rows first_tile + tr·tiles_w + tc of v, overwritten.
/// x: [C, H, W]; xs: the band's own scratch [2·(tr1 − tr0) + 2, 2·tiles_w + 2, lanes], kept zero
/// outside the image and past C by the caller.
void tk_wino23_input_band(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw,
                          ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1, float *xs, float *v,
                          ptrdiff_t xi_stride, ptrdiff_t first_tile);
/// Tile rows tr0 ..< tr1 of one image's outputs Aᵀ M A: output rows 2·tr0 ..< min(2·tr1, OH) of
/// y [O, OH, OW], overwritten, through the epilogue e (NULL: none; its residual offset to this
/// image). ys: the band's scratch [2·(tr1 − tr0), 2·tiles_w, lanes].
void tk_wino23_output_band(const float *m, ptrdiff_t lanes, ptrdiff_t xi_stride, ptrdiff_t first_tile, ptrdiff_t O,
                           ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_w, ptrdiff_t tr0, ptrdiff_t tr1, float *ys, float *y,
                           const tk_conv_epilogue *e);
/// One image's output-gradient tiles A dY Aᵀ into rows first_tile ..< of m, overwritten.
/// dy: [O, OH, OW]; ys: scratch [2·tiles_h, 2·tiles_w, lanes] whose padded channels, and row and
/// column past an odd edge, stay zero.
void tk_wino23_output_gradient(const float *dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h,
                               ptrdiff_t tiles_w, ptrdiff_t lanes, float *ys, float *m, ptrdiff_t xi_stride,
                               ptrdiff_t first_tile);
/// u (16 matrices [C, lanes]) = G w Gᵀ for input channels c0 ..< c1 (zeros where o ≥ O). w: [O, C, 3, 3].
void tk_wino23_weights(const float *w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1, float *u);
/// dw [O, C, 3, 3] += Gᵀ dU G for input channels c0 ..< c1. du: 16 matrices [C, lanes].
void tk_wino23_weight_gradient(const float *du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1,
                               float *dw);

/// Winograd F(4×4, 3×3) (body/winograd43.h), laid out like F(2×2, 3×3) but with 4×4 output tiles
/// over 6×6 input tiles: V, M and dM are 36 matrices [tiles, lanes], xi_stride apart.
/// Tile rows tr0 ..< tr1 of one image's input tiles Bᵀ d B into rows first_tile + tr·tiles_w + tc
/// of v, overwritten. x: [C, H, W]; xs: the band's scratch [4·(tr1 − tr0) + 2, 4·tiles_w + 2, lanes],
/// kept zero outside the image and past C by the caller.
void tk_wino43_input_band(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw,
                          ptrdiff_t tiles_w, ptrdiff_t lanes, ptrdiff_t tr0, ptrdiff_t tr1, float *xs, float *v,
                          ptrdiff_t xi_stride, ptrdiff_t first_tile);
/// Tile rows tr0 ..< tr1 of one image's outputs Aᵀ M A: output rows 4·tr0 ..< min(4·tr1, OH) of
/// y [O, OH, OW], overwritten, through the epilogue e (NULL: none; its residual offset to this
/// image). ys: the band's scratch [4·(tr1 − tr0), 4·tiles_w, lanes].
void tk_wino43_output_band(const float *m, ptrdiff_t lanes, ptrdiff_t xi_stride, ptrdiff_t first_tile, ptrdiff_t O,
                           ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_w, ptrdiff_t tr0, ptrdiff_t tr1, float *ys, float *y,
                           const tk_conv_epilogue *e);
/// One image's output-gradient tiles A dY Aᵀ into rows first_tile ..< of m, overwritten.
/// dy: [O, OH, OW]; ys: scratch [4·tiles_h, 4·tiles_w, lanes] whose padded channels, and rows and
/// columns past OH and OW, stay zero.
void tk_wino43_output_gradient(const float *dy, ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tiles_h,
                               ptrdiff_t tiles_w, ptrdiff_t lanes, float *ys, float *m, ptrdiff_t xi_stride,
                               ptrdiff_t first_tile);
/// u (36 matrices [C, lanes]) = G w Gᵀ for input channels c0 ..< c1 (zeros where o ≥ O). w: [O, C, 3, 3].
void tk_wino43_weights(const float *w, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1, float *u);
/// dw [O, C, 3, 3] += Gᵀ dU G for input channels c0 ..< c1. du: 36 matrices [C, lanes].
void tk_wino43_weight_gradient(const float *du, ptrdiff_t O, ptrdiff_t C, ptrdiff_t lanes, ptrdiff_t c0, ptrdiff_t c1,
                               float *dw);

/// The products of a Winograd chunk without a BLAS call (body/winograd_products.h):
/// m_ξ[t, o] = Σ_c v_ξ[t, c]·u_ξ[c, o] for ξ < count, t < T, o < lanes_o, overwritten.
/// v: count matrices [T, ldv], v_stride apart; u: count matrices [C, lanes_o], C·lanes_o apart;
/// m: count matrices [T, lanes_o], m_stride apart. lanes_o: a multiple of tk_isa_lanes().
void tk_wino_products(const float *v, ptrdiff_t v_stride, ptrdiff_t ldv, const float *u, ptrdiff_t C, ptrdiff_t lanes_o,
                      float *m, ptrdiff_t m_stride, ptrdiff_t T, ptrdiff_t count);

/// Stride-2 Winograd F(4×4, 2×2), channels-last inside: lanes_c and lanes_o are C and O rounded
/// up to a multiple of 8 and of the active variant's tk_isa_lanes().
/// u [25, 4·lanes_c, lanes_o] from w [O, C, 3, 3] for input channels c0 ..< c1 (wt: scratch
/// [C, 9, lanes_o]; the caller zeroes the padded lanes once).
void tk_wino_s2_weights(const float *w, ptrdiff_t C, ptrdiff_t O, ptrdiff_t lanes_c, ptrdiff_t lanes_o,
                        ptrdiff_t c0, ptrdiff_t c1, float *u, float *wt);
/// xs [rows, columns, lanes_c] (row r + 2, column q + 2) = x [C, H, W] channels-last; the border stays as it is.
void tk_wino_s2_channels_last(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, ptrdiff_t lanes_c,
                              ptrdiff_t columns, float *xs);
/// One image's windows Bᵀ d B into v (25 matrices [tiles, 4·lanes_c], xi_stride apart), overwritten.
void tk_wino_s2_input(const float *xs, ptrdiff_t lanes_c, ptrdiff_t columns, ptrdiff_t tiles_h, ptrdiff_t tiles_w,
                      float *v, ptrdiff_t xi_stride);
/// One image's tiles Aᵀ M A (m: 25 matrices [tiles, lanes_o]) into y [O, OH, OW], overwritten,
/// through the epilogue e (NULL: none; its residual offset to this image).
/// tile: scratch of 16·lanes_o floats.
void tk_wino_s2_output(const float *m, ptrdiff_t lanes_o, ptrdiff_t O, ptrdiff_t xi_stride, ptrdiff_t tiles_h,
                       ptrdiff_t tiles_w, ptrdiff_t OH, ptrdiff_t OW, float *y, float *tile, const tk_conv_epilogue *e);

/// Direct 3×3 convolution, stride 1 or 2, padding 1 (body/direct3x3.h has the layouts): one image
/// packed so that every tap is a fixed offset from its extended output position, then blocks of
/// 4 output channels × 2 vectors of positions.
/// Blocks of the kernel run past P up to a multiple of this many floats (ye's rows must have room).
#define TK_DIRECT_ROUND 32
/// Floats past the packed image's last channel that the kernel may read (and whose values it discards).
#define TK_DIRECT_SLACK 64
/// xp ← rows row0 ..< row0 + rows of x [C, H, W] packed for stride 1 (the padded image
/// [C, H + 2, W + 2]) or stride 2 (four phase planes [C, 4, H/2 + 1, W/2 + 1]; even H and W),
/// zero-bordered, channel_stride floats per channel (at least the packed rows' size); overwrites
/// C·channel_stride floats. The whole image: row0 = 0, rows = H + 2 or H/2 + 1.
void tk_direct3x3_pack(const float *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W, int stride, ptrdiff_t row0, ptrdiff_t rows,
                       ptrdiff_t channel_stride, float *xp);
/// wp [⌈O/4⌉, C, 9, 4] ← w [O, C, 3, 3] (missing channels of the last group of four zero).
void tk_direct3x3_pack_weights(const float *w, ptrdiff_t O, ptrdiff_t C, float *wp);
/// ye[o, p] = Σ_c Σ_t wp[o/4, c, t, o%4] · xp[c·channel_stride + taps[t] + p] for the output
/// channels of blocks b0 ..< b1 and p < P rounded up to TK_DIRECT_ROUND; overwritten, row stride ldy.
void tk_direct3x3(const float *xp, ptrdiff_t C, ptrdiff_t channel_stride, const ptrdiff_t *taps, ptrdiff_t P,
                  const float *wp, ptrdiff_t b0, ptrdiff_t b1, float *ye, ptrdiff_t ldy);
/// y[o·plane + oy·OW + ox] ← epilogue(ye[o·ldy + oy·wext + ox]) for output channels o0 ..< o1 and
/// rows oy < OH, overwritten: one image [O, OH, OW] (plane = OH·OW) or a band of its rows (plane
/// the whole image's). e NULL: none; its residual laid out like y and offset like it.
void tk_direct3x3_unpack(const float *ye, ptrdiff_t ldy, ptrdiff_t wext, ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t OH,
                         ptrdiff_t OW, ptrdiff_t plane, float *y, const tk_conv_epilogue *e);

#ifdef __cplusplus
}
#endif

#endif
