// The data loader's per-sample arithmetic (TesseraVision's transforms), in place on one CHW
// sample: plain loops the vectorizer takes at the variant's width. The crop itself is row
// copies (memcpy) and stays in Swift.

/// x[c·n + i] = (x[c·n + i] − mean[c]) / std[c] for c < C, i < n, in place: torchvision's
/// Normalize, subtraction then division (not a multiply by 1/std, which rounds differently).
static void normalize_planes(ptrdiff_t C, ptrdiff_t n, float *restrict x, const float *restrict mean,
                             const float *restrict std) {
    for (ptrdiff_t c = 0; c < C; c++) {
        float *p = x + c * n;
        const float m = mean[c], s = std[c];
        for (ptrdiff_t i = 0; i < n; i++) p[i] = (p[i] - m) / s;
    }
}

/// Each of `rows` rows of `w` floats reversed in place (a horizontal flip of CHW planes).
static void reverse_rows(ptrdiff_t rows, ptrdiff_t w, float *restrict x) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = x + r * w;
        for (ptrdiff_t a = 0, b = w - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}
