/*
 * memlens shim: sampled mode's fast path (included by memlens_shim.c).
 *
 * In sampled mode nearly every block is not sampled: it gets a 16-byte
 * record without a stack (format 2) and is counted only in its thread's slot
 * (calls, bytes, frees, temporaries) and in the thread's live-bytes sum.
 * These functions do exactly that, inline in malloc, calloc and free, and
 * hand every other case -- a sample due, the thread's first count in a table,
 * a live-bytes flush due, no table, inside the shim -- to the general path,
 * so that the compiler keeps next to nothing in saved registers here.
 */

/* This thread's slot when the fast path may count in it (NULL: take the
 * general path, which claims one or uses the header's counts). */
static INLINE struct ml_tslot *fast_slot(void) {
    struct ml_tslot *sl = t_me.slot;
    return t_me.tab == g_tab ? sl : NULL;
}

/* Whether fast_alloc may take an allocation of `size`: sampled mode, not inside
 * the shim, no sample due, no live-bytes flush due, this thread's slot known. */
static INLINE int fast_alloc_ok(size_t size) {
    if (__builtin_expect(!__atomic_load_n(&g_fast_sampled, __ATOMIC_ACQUIRE) || t_in_hook, 0)) return 0;
    return t_me.until_sample > (int64_t)size && t_me.live + (int64_t)size <= ML_BATCH && fast_slot() &&
           size <= (size_t)1 << 60;
}

/* An unsampled block of `size` (calloc'd when zero); fast_alloc_ok said yes.  The
 * counts are added before the allocator's call (nothing but the size has to
 * live across it) and taken back if it fails. */
static INLINE void *fast_alloc(size_t size, int zero) {
    struct ml_tslot *sl = t_me.slot;
    t_me.until_sample -= (int64_t)size;
    t_me.live += (int64_t)size;
    sl->c[T_ALLOCS] += 1;
    sl->c[T_BYTES] += size;
    unsigned char *raw = zero ? real.calloc(1, size + ML_COMPACT_BYTES) : real.malloc(size + ML_COMPACT_BYTES);
    if (__builtin_expect(raw == NULL, 0)) return fast_alloc_failed(size);
    void *user = write_compact(raw, size, ML_FLAG_SAMPLED);
    t_me.last_alloc = hidden(user);
    return user;
}

/* Free p when it is an unsampled block the fast path may count; 0 when the
 * general path must.  One load tells such a block from every other: the
 * word before the data, the format-2 magic plus the SAMPLED flag plus the
 * block's own address. */
static INLINE int fast_free(void *p) {
    uint64_t *user = p;
    if (__builtin_expect(p == NULL || ((uintptr_t)p & (ML_ALIGN - 1)), 0)) return 0;
    if (__builtin_expect(user[-1] != (ML_COMPACT_MAGIC | ML_FLAG_SAMPLED) + (uint64_t)(uintptr_t)p, 0)) return 0;
    int64_t live = t_me.live - (int64_t)user[-2];
    struct ml_tslot *sl = fast_slot();
    if (__builtin_expect(live < -ML_BATCH || sl == NULL, 0)) return 0;
    t_me.live = live;
    sl->c[T_FREES] += 1;
    sl->c[T_TEMPS] += hidden(p) == t_me.last_alloc;
    t_me.last_alloc = 0;
    user[-1] = 0; /* a freed block is no longer a record */
    real.free((unsigned char *)p - ML_COMPACT_BYTES);
    return 1;
}
