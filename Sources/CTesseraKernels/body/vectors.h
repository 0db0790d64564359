// Explicit vectors of the variant's width (TK_LANES floats: 4, 8 or 16, set by isa_*.c), for the
// loops the auto-vectorizer does not take whole (transforms that work on vectors of channels).
// GNU vector extensions: the arithmetic operators work lane by lane, and the target attribute
// of the variant decides the instructions.

typedef float tk_vf __attribute__((vector_size(TK_LANES * sizeof(float))));

static inline tk_vf tk_load(const float *p) { tk_vf v; memcpy(&v, p, sizeof v); return v; }
static inline void tk_store(float *p, tk_vf v) { memcpy(p, &v, sizeof v); }
// Lane by lane, which the compiler recognizes as one broadcast (vbroadcastss from memory); the
// former `(tk_vf){0} + x` had to keep the addition (0 + −0 is +0) and took three instructions.
static inline tk_vf tk_splat(float x) {
    tk_vf v;
    for (int i = 0; i < TK_LANES; i++) v[i] = x;
    return v;
}
