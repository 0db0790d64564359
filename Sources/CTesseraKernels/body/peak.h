// A loop of independent multiply–adds at the variant's full width, to measure the core's peak
// floating-point rate (the figure GEMM and the other kernels are compared with).

/// Runs `iterations` rounds of 16 independent vector FMA chains and returns a value that depends
/// on all of them (so the work is not optimized away). Each round is 16 · lanes · 2 FLOPs.
static float fma_loop(long iterations, float seed) {
    float acc[16][16];
    for (int a = 0; a < 16; a++)
        for (int l = 0; l < 16; l++) acc[a][l] = seed + (float)(a * 16 + l) * 1e-3f;
    const float m = 0.999999f, c = 1e-7f;
    for (long i = 0; i < iterations; i++) {
#pragma clang loop unroll(full)
        for (int a = 0; a < 16; a++)
#pragma clang loop vectorize(enable)
            for (int l = 0; l < 16; l++) acc[a][l] = acc[a][l] * m + c;
    }
    float s = 0;
    for (int a = 0; a < 16; a++)
        for (int l = 0; l < 16; l++) s += acc[a][l];
    return s;
}
