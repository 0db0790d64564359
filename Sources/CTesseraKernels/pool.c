// The fork–join pool of tessera_pool.h.
//
// A job is published as one 64-bit ticket: generation (32 bits) | parts (16) | next part (16).
// Threads claim parts by compare-and-swap on the ticket, so a thread that claims a part of a
// generation knows that job's function and context stay valid until its part is done: the
// caller returns (and may publish the next job) only when `done` has counted every part.
//
// Parking: each worker has a slot (mutex, condition variable, `sleeping` flag). A worker that
// parks sets its flag and then reads the ticket; the caller stores the ticket and then reads the
// flags of the workers the job may use, signalling those that sleep. Both sides use
// sequentially consistent operations, so either the caller sees the sleeper or the sleeper sees
// the new ticket. Workers the job does not use stay parked.
#include "tessera_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

enum { POOL_MAX_WORKERS = 255, SPIN_NS = 200 * 1000 };

typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    _Atomic int sleeping;
} slot_t;

static pthread_mutex_t submit = PTHREAD_MUTEX_INITIALIZER;   // one job at a time
static slot_t slots[POOL_MAX_WORKERS];
static _Atomic uint64_t ticket = 0;
static _Atomic int done = 0;
static _Atomic int workers = 0;              // started so far (under `submit`)
static _Atomic int job_workers = 0;          // how many workers the current job may use
static _Atomic unsigned park_requests = 0;   // tk_pool_park_idle() calls
// The job of the current generation; written by the caller before it publishes the ticket.
static tk_pool_part job_fn;
static void *job_context;
static uint32_t generation = 0;   // under `submit`
static _Thread_local int inside_part = 0;

static inline uint32_t ticket_generation(uint64_t t) { return (uint32_t)(t >> 32); }
static inline int ticket_parts(uint64_t t) { return (int)((t >> 16) & 0xFFFF); }
static inline int ticket_next(uint64_t t) { return (int)(t & 0xFFFF); }

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/// Claims and runs parts of generation `gen` until none is left.
static void run_parts(uint32_t gen) {
    uint64_t t = atomic_load(&ticket);
    while (ticket_generation(t) == gen && ticket_next(t) < ticket_parts(t)) {
        if (atomic_compare_exchange_weak(&ticket, &t, t + 1)) {
            job_fn(job_context, ticket_next(t));
            atomic_fetch_add_explicit(&done, 1, memory_order_release);
            t = atomic_load(&ticket);
        }
    }
}

/// Waits until the ticket's generation differs from `seen` and returns it: spinning first for up
/// to SPIN_NS when `spin` (the worker just took part in a job, so another may follow soon), or
/// until tk_pool_park_idle() is called, then parked in its slot.
static uint32_t wait_for_job(slot_t *slot, uint32_t seen, int spin) {
    uint32_t gen;
    if (spin) {
        uint64_t start = now_ns();
        unsigned spins = 0, parks = atomic_load(&park_requests);
        while ((gen = ticket_generation(atomic_load(&ticket))) == seen) {
            relax();
            if ((++spins & 255) == 0 && (now_ns() - start > SPIN_NS || atomic_load(&park_requests) != parks)) break;
        }
        if (gen != seen) return gen;
    }
    pthread_mutex_lock(&slot->mutex);
    atomic_store(&slot->sleeping, 1);
    while ((gen = ticket_generation(atomic_load(&ticket))) == seen) pthread_cond_wait(&slot->wake, &slot->mutex);
    atomic_store(&slot->sleeping, 0);
    pthread_mutex_unlock(&slot->mutex);
    return gen;
}

/// Worker `index` (0, 1, …) takes part in the jobs that may use more than `index` workers.
static void *worker_main(void *argument) {
    int index = (int)(intptr_t)argument;
    inside_part = 1;   // a job's part that starts a loop runs it here, on this thread
    uint32_t seen = ticket_generation(atomic_load(&ticket));
    int spin = 0;
    for (;;) {
        seen = wait_for_job(&slots[index], seen, spin);
        spin = index < atomic_load(&job_workers);
        if (spin) run_parts(seen);
    }
    return NULL;
}

/// Starts workers until there are `n` (fewer if the system refuses threads: the caller then
/// runs the parts no worker claims). Called under `submit`.
static void ensure_workers(int n) {
    if (n > POOL_MAX_WORKERS) n = POOL_MAX_WORKERS;
    while (atomic_load(&workers) < n) {
        int index = atomic_load(&workers);
        slot_t *slot = &slots[index];
        if (pthread_mutex_init(&slot->mutex, NULL) != 0) return;
        if (pthread_cond_init(&slot->wake, NULL) != 0) { pthread_mutex_destroy(&slot->mutex); return; }
        atomic_store(&slot->sleeping, 0);
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)index);
        pthread_attr_destroy(&attr);
        if (failed) {
            pthread_cond_destroy(&slot->wake);
            pthread_mutex_destroy(&slot->mutex);
            return;
        }
        atomic_store(&workers, index + 1);
    }
}

int tk_pool_run(int parts, int threads, tk_pool_part fn, void *context) {
    if (parts <= 1 || threads <= 1 || inside_part) {
        for (int i = 0; i < parts; i++) fn(context, i);
        return 1;
    }
    if (parts > 0xFFFF) return 0;
    if (pthread_mutex_trylock(&submit) != 0) return 0;
    int helpers = (parts < threads ? parts : threads) - 1;
    ensure_workers(helpers);
    if (helpers > atomic_load(&workers)) helpers = atomic_load(&workers);
    atomic_store(&job_workers, helpers);
    job_fn = fn;
    job_context = context;
    atomic_store(&done, 0);
    generation = generation == UINT32_MAX ? 1 : generation + 1;
    uint32_t gen = generation;
    atomic_store(&ticket, ((uint64_t)gen << 32) | ((uint64_t)parts << 16));
    for (int i = 0; i < helpers; i++) {
        if (atomic_load(&slots[i].sleeping)) {
            pthread_mutex_lock(&slots[i].mutex);
            pthread_cond_signal(&slots[i].wake);
            pthread_mutex_unlock(&slots[i].mutex);
        }
    }
    inside_part = 1;
    run_parts(gen);
    inside_part = 0;
    while (atomic_load_explicit(&done, memory_order_acquire) < parts) relax();
    pthread_mutex_unlock(&submit);
    return 1;
}

void tk_pool_park_idle(void) { atomic_fetch_add(&park_requests, 1); }

int tk_pool_spin_microseconds(void) { return SPIN_NS / 1000; }

int tk_pool_workers(void) { return atomic_load(&workers); }
