// Tessera's fork–join thread pool: the threads its parallel loops run on.
//
// Why not Dispatch: on the VMs this project runs on, waking a parked thread takes 40–70 µs, as
// long as many of the kernels' parts take, so a loop of two 20 µs parts on Dispatch took longer
// than on one thread. The pool's workers spin for a short while after each job (as OpenMP's and
// ONNX Runtime's do) before they park, so a job that follows soon after another starts at once.
#ifndef TESSERA_POOL_H
#define TESSERA_POOL_H

#ifdef __cplusplus
extern "C" {
#endif

/// One part of a job: `part` in 0..<parts, with the caller's `context`.
typedef void (*tk_pool_part)(void *context, int part);

/// Runs `fn(context, part)` for every part in 0..<parts on the calling thread and at most
/// `threads` − 1 of the pool's workers (created as needed, at most 255), and returns when every part has
/// finished, with every part's writes visible to the caller. Parts are claimed one at a time by
/// whichever of those threads is free.
///
/// Returns 1 when it ran the parts, 0 when it did not run any because another thread's job holds
/// the pool (the caller runs them another way). With one part or one thread, or from inside a
/// part, it runs the parts on the calling thread, one after another, and returns 1.
///
/// A worker that took part in a job spins for `tk_pool_spin_microseconds()` waiting for the
/// next before it parks; the others park at once.
int tk_pool_run(int parts, int threads, tk_pool_part fn, void *context);

/// Makes the workers that spin for a job park at once (they check every few hundred spins):
/// call it before work that keeps every core busy on other threads, such as a GEMM on
/// OpenBLAS's own threads, so that no spinning worker takes a core from it.
void tk_pool_park_idle(void);

/// How long an idle worker spins before it parks, in microseconds.
int tk_pool_spin_microseconds(void);

/// The pool's worker threads created so far.
int tk_pool_workers(void);

#ifdef __cplusplus
}
#endif

#endif
