// The per-element updates of the optimizers, exactly torch.optim's formulas (see TesseraNN's
// optimizer classes for the algebra). Each updates p (and its state buffers) in place.

static void sgd_update(ptrdiff_t n, float *restrict p, const float *restrict g, float *restrict buf, int first, float lr, float wd,
                       float momentum, float dampening, int nesterov) {
    if (!buf) {
        for (ptrdiff_t i = 0; i < n; i++) { float gi = wd != 0 ? g[i] + wd * p[i] : g[i]; p[i] -= lr * gi; }
        return;
    }
    float keep = 1 - dampening;
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = wd != 0 ? g[i] + wd * p[i] : g[i];
        float bi = first ? gi : momentum * buf[i] + keep * gi;
        buf[i] = bi;
        float d = nesterov ? gi + momentum * bi : bi;
        p[i] -= lr * d;
    }
}

static void adam_update(ptrdiff_t n, float *restrict p, const float *restrict g, float *restrict m, float *restrict v, float *restrict vmax,
                        const tk_adam_step *s) {
    float step = s->step_size, b1 = s->beta1, b2 = s->beta2, omb1 = 1 - s->beta1, omb2 = 1 - s->beta2;
    float bc2 = s->bias_correction2_sqrt, eps = s->eps, wd = s->weight_decay;
    float decay = s->decoupled ? 1 - s->lr * wd : 1.0f;
    int small = omb1 < 0.5f;   // torch.lerp's two forms, chosen by the weight as PyTorch does
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i], pi = p[i];
        if (wd != 0) { if (s->decoupled) pi = pi * decay; else gi = gi + wd * pi; }
        float mi = small ? m[i] + omb1 * (gi - m[i]) : gi - (gi - m[i]) * b1;
        float vi = b2 * v[i] + omb2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        float second = vi;
        if (vmax) { float mx = vmax[i] > vi ? vmax[i] : vi; vmax[i] = mx; second = mx; }
        float denom = sqrtf(second) / bc2 + eps;
        p[i] = pi - step * (mi / denom);
    }
}

static void rmsprop_update(ptrdiff_t n, float *restrict p, const float *restrict g, float *restrict square_avg, float *restrict grad_avg, float *restrict buf,
                           float lr, float alpha, float eps, float wd, float momentum) {
    float oma = 1 - alpha;
    int small = oma < 0.5f;
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = wd != 0 ? g[i] + wd * p[i] : g[i];
        float s = alpha * square_avg[i] + oma * (gi * gi);
        square_avg[i] = s;
        float d;
        if (grad_avg) {
            float a = small ? grad_avg[i] + oma * (gi - grad_avg[i]) : gi - (gi - grad_avg[i]) * alpha;
            grad_avg[i] = a;
            d = sqrtf(s - a * a);
        } else {
            d = sqrtf(s);
        }
        d += eps;
        if (buf) { float b = momentum * buf[i] + gi / d; buf[i] = b; p[i] -= lr * b; }
        else p[i] -= lr * (gi / d);
    }
}
