// A loop of independent multiply–adds at the variant's full width, to measure the core's peak
// floating-point rate (the figure GEMM and the other kernels are compared with).

/// Runs `iterations` rounds of 256 multiply–adds (512 FLOPs) and returns a value that depends on
/// all of them (so the work is not optimized away). A round is 8 independent chains of vectors
/// (enough to cover an FMA's latency on both pipes of a Zen core), each advanced
/// 256 / (8 · TK_LANES) times: the accumulators and the two constants fit in the registers at
/// every width (16 of AVX2's 16; 32 floats × 16 chains, as before, spilled there).
static float fma_loop(long iterations, float seed) {
    enum { chains = 8, steps = 256 / (chains * TK_LANES) };
    tk_vf acc[chains];
    for (int a = 0; a < chains; a++) {
        float lanes[TK_LANES];
        for (int l = 0; l < TK_LANES; l++) lanes[l] = seed + (float)(a * TK_LANES + l) * 1e-3f;
        acc[a] = tk_load(lanes);
    }
    const tk_vf m = tk_splat(0.999999f), c = tk_splat(1e-7f);
    for (long i = 0; i < iterations; i++) {
#pragma clang loop unroll(full)
        for (int s = 0; s < steps; s++)
#pragma clang loop unroll(full)
            for (int a = 0; a < chains; a++) acc[a] = acc[a] * m + c;
    }
    float s = 0;
    for (int a = 0; a < chains; a++) {
        float lanes[TK_LANES];
        tk_store(lanes, acc[a]);
        for (int l = 0; l < TK_LANES; l++) s += lanes[l];
    }
    return s;
}
