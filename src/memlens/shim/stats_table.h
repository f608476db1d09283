/*
 * memlens shim: the per-stack accounting table (included by memlens_shim.c).
 *
 * One table per process, in one mapping: a file under `memlens run --out`
 * (MAP_SHARED, so the figures survive _exit, SIGKILL and the OOM killer and
 * `memlens run` reads them while the program runs), or private anonymous
 * memory when the shim is preloaded by hand (then it is in every core).
 * docs/heap.md describes the layout; src/memlens/heap/stats_table.py reads it.
 *
 *   header     4096 bytes (struct ml_hdr), counters on their own cache lines
 *   index      index_slots x u32: stack id + 1 at hash(frames) & (slots-1), 0 = empty
 *   entries    capacity x entry_size: struct ml_stack then `frames` u64 words
 *
 * Entry 0 is "no stack" (exact mode without an unwinder).  Stacks are
 * appended (an id is claimed with one atomic add, the entry written, then
 * published in the index with a compare-and-swap); nothing is ever removed.
 *
 * Exact peak without copying: every new high-water mark of live bytes bumps
 * `peak_epoch`.  Before a stack's live figure changes, a stack whose
 * `peak_epoch` differs from the global one saves its live figure (which has
 * not changed since that peak) as its peak figure.  So a stack's live bytes at
 * the latest peak are `peak_bytes` if its epoch is the global one, else its
 * current `live_bytes` -- exact in a single thread, at O(1) per operation.
 */
#include <sys/mman.h>
#include <time.h>

#define ML_TABLE_MAGIC 0x3153544154534c4dULL /* "MLSTATS1" as a little-endian word */
#define ML_TABLE_VERSION 2u
#define ML_HDR_BYTES 4096u
#define ML_THREAD_SLOTS 1024u

/* A stack's counters.  Live figures are derived (allocated - freed), so an
 * allocation costs two atomic adds on its stack and a free two. */
enum {
    C_ALLOCS, C_FREES, C_BYTES, C_FREED, C_TID, C_TEMPS,
    C_PEAK_BYTES, C_PEAK_BLOCKS, C_PEAK_EPOCH, C_RESERVED9, C_COUNT
};

struct ml_stack {
    uint64_t hash;
    uint32_t nframes;
    uint32_t state; /* 1 = written (published entries only are read) */
    uint64_t c[C_COUNT];
    uint64_t frames[];
};

/* Per-thread counts: each thread writes only its own slot (plain stores, no
 * lock); a reader sums the slots and the header's overflow counters. */
enum { T_ALLOCS, T_FREES, T_BYTES, T_TEMPS, T_COUNT };
struct ml_tslot {
    uint64_t c[T_COUNT];
    uint64_t _pad[8 - T_COUNT];
};

struct ml_hdr {
    uint64_t magic;
    uint32_t version, frames;       /* frames per entry */
    uint32_t entry_size, hdr_size;
    uint64_t capacity, index_slots; /* entries; index slots (power of two) */
    uint64_t index_off, entries_off;
    uint64_t pid, ppid;
    uint64_t sample_period;
    uint64_t start_ns, start_real_ns; /* CLOCK_MONOTONIC / CLOCK_REALTIME */
    uint64_t exit_ns;                 /* set by the shim's destructor */
    uint64_t exec_index;              /* 0: first image of this pid, 1.. after exec */
    uint64_t slots_off, slot_count;   /* the per-thread slots */
    /* line 2: live bytes (the one figure every operation adds to atomically),
     * then the counts of threads without a slot of their own (T_* order) */
    uint64_t live_bytes, _unused1, c[T_COUNT], _pad1[2];
    /* line 3: the peak */
    uint64_t peak_bytes, _unused2, peak_ns, peak_epoch, _pad2[4];
    /* line 4: the stack count, threads, and requests from memlens run */
    uint64_t count, dropped, snap_request, snap_served, threads;
    uint64_t modules_off, module_cap, module_count; /* loaded objects, noted as they load */
};

/* A loaded object as the shim saw it (dl_iterate_phdr): its load bias, the
 * range of its PT_LOAD segments, and its path; a library later unloaded with
 * dlclose stays here, so its frames can still be named. */
#define ML_MODULES 256u
#define ML_PATH_BYTES 232u
struct ml_module {
    uint64_t bias, lo, hi;
    char path[ML_PATH_BYTES];
};
_Static_assert(sizeof(struct ml_module) == 256, "module layout");

_Static_assert(offsetof(struct ml_hdr, live_bytes) == 128, "header line 2");
_Static_assert(offsetof(struct ml_hdr, peak_bytes) == 192, "header line 3");
_Static_assert(offsetof(struct ml_hdr, count) == 256, "header line 4");
_Static_assert(sizeof(struct ml_hdr) == 320, "header size");
_Static_assert(offsetof(struct ml_stack, frames) == 96, "entry layout");
_Static_assert(sizeof(struct ml_tslot) == 64, "slot layout");

static struct ml_hdr *g_tab;
static size_t g_tab_bytes;

static inline uint64_t now_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline struct ml_stack *stack_at(struct ml_hdr *h, uint64_t id) {
    return (struct ml_stack *)((char *)h + h->entries_off + id * h->entry_size);
}

static inline uint32_t *index_of(struct ml_hdr *h) { return (uint32_t *)((char *)h + h->index_off); }

#define SLOTS_BYTES ((uint64_t)ML_THREAD_SLOTS * sizeof(struct ml_tslot))
#define MODULES_BYTES ((uint64_t)ML_MODULES * sizeof(struct ml_module))

static size_t table_size(uint64_t capacity, uint64_t slots, uint32_t frames, uint32_t *entry_size) {
    *entry_size = (uint32_t)(sizeof(struct ml_stack) + 8u * frames);
    return ML_HDR_BYTES + SLOTS_BYTES + MODULES_BYTES + ((slots * 4 + 4095) & ~4095ull) +
           capacity * *entry_size;
}

/* Lay out a fresh (zeroed) table. */
static void table_init(struct ml_hdr *h, uint64_t capacity, uint64_t slots, uint32_t frames) {
    uint32_t esize;
    table_size(capacity, slots, frames, &esize);
    h->version = ML_TABLE_VERSION;
    h->frames = frames;
    h->entry_size = esize;
    h->hdr_size = ML_HDR_BYTES;
    h->capacity = capacity;
    h->index_slots = slots;
    h->slots_off = ML_HDR_BYTES;
    h->slot_count = ML_THREAD_SLOTS;
    h->modules_off = ML_HDR_BYTES + SLOTS_BYTES;
    h->module_cap = ML_MODULES;
    h->index_off = h->modules_off + MODULES_BYTES;
    h->entries_off = h->index_off + ((slots * 4 + 4095) & ~4095ull);
    h->pid = (uint64_t)getpid();
    h->ppid = (uint64_t)getppid();
    h->sample_period = g_sample_period;
    h->start_ns = now_ns(CLOCK_MONOTONIC);
    h->start_real_ns = now_ns(CLOCK_REALTIME);
    h->count = 1; /* entry 0: no stack */
    stack_at(h, 0)->state = 1;
    __atomic_store_n(&h->magic, ML_TABLE_MAGIC, __ATOMIC_RELEASE);
}

/* Cheap on purpose (it runs at every allocation): independent rotations
 * summed, one multiply to mix; a collision only costs a compare. */
static inline uint64_t hash_frames(const uint64_t *f, int n) {
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; ++i) h += (f[i] << (i * 7 % 64)) | (f[i] >> ((64 - i * 7 % 64) % 64));
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    return h | 1; /* never 0 */
}

static inline int same_stack(const struct ml_stack *s, uint64_t hash, const uint64_t *f, int n,
                             uint64_t tid) {
    return s->hash == hash && s->nframes == (uint32_t)n && s->c[C_TID] == tid &&
           !memcmp(s->frames, f, 8u * (size_t)n);
}

/* The id of (a stack, the thread that allocated), added when new: the table
 * keeps the thread id that a block's 16-byte record has no room for.  0 when
 * the table is full. */
static uint64_t stack_id(const uint64_t *f, int n, uint64_t tid) {
    struct ml_hdr *h = g_tab;
    if (!h || n <= 0) return 0;
    if ((uint32_t)n > h->frames) n = (int)h->frames;
    uint64_t hash = hash_frames(f, n) ^ (tid * 0xff51afd7ed558ccdull), mask = h->index_slots - 1;
    uint32_t *index = index_of(h);
    uint64_t mine = 0;
    for (uint64_t probe = 0; probe < 256; ++probe) {
        uint32_t *slot = &index[(hash + probe) & mask];
        uint32_t v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (v == 0) {
            if (!mine) {
                mine = __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
                if (mine >= h->capacity || mine >= 0xfffffeull) {
                    __atomic_fetch_add(&h->dropped, 1, __ATOMIC_RELAXED);
                    return 0;
                }
                struct ml_stack *s = stack_at(h, mine);
                s->hash = hash;
                s->nframes = (uint32_t)n;
                s->c[C_TID] = tid;
                memcpy(s->frames, f, 8u * (size_t)n);
                __atomic_store_n(&s->state, 1, __ATOMIC_RELEASE);
            }
            uint32_t expected = 0;
            if (__atomic_compare_exchange_n(slot, &expected, (uint32_t)(mine + 1), 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
                return mine;
            v = expected; /* another thread published here first: compare with it */
        }
        if (same_stack(stack_at(h, v - 1), hash, f, n, tid)) return v - 1; /* `mine`, if any, stays unused */
    }
    __atomic_fetch_add(&h->dropped, 1, __ATOMIC_RELAXED);
    return 0;
}

/* ---- counting ---- */
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define SUB(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)

#define INLINE inline __attribute__((always_inline))
#define COLD __attribute__((noinline, cold))

/* What the fast path needs of this thread, in one TLS block (one address for
 * all of it; every allocation and free reads it). */
struct ml_thread {
    struct ml_tslot *slot; /* its counts in `tab` (NULL past the 1024th thread) */
    struct ml_hdr *tab;    /* the table `slot` is in: a forked child's is a new one */
    /* The last block it allocated (a free of it is a temporary), complemented so
     * it is no pointer: a leak check by reachability (memlens leaks) must not
     * find the program's last block reachable from the shim's TLS. */
    uintptr_t last_alloc;
    int64_t live;          /* sampled mode: live bytes not yet added to the header */
    int64_t until_sample;  /* sampled mode: bytes to allocate before the next sample */
};
static INLINE uintptr_t hidden(void *user) { return ~(uintptr_t)user; }
static TLS struct ml_thread t_me;

/* This thread's first count in table h: claim a slot (NULL past 1024 threads:
 * then the header's counts, atomically). */
static COLD struct ml_tslot *slot_claim(struct ml_hdr *h) {
    uint64_t i = ADD(&h->threads, 1);
    t_me.tab = h;
    t_me.slot = i < h->slot_count ? (struct ml_tslot *)((char *)h + h->slots_off) + i : NULL;
    return t_me.slot;
}

/* Add to this thread's counts: its own slot takes plain stores (one writer);
 * without one (sl NULL), the header's, atomically. */
static INLINE void tcount2(struct ml_hdr *h, struct ml_tslot *sl, int a, uint64_t va, int b, uint64_t vb) {
    if (__builtin_expect(sl != NULL, 1)) {
        sl->c[a] += va;
        sl->c[b] += vb;
    } else {
        ADD(&h->c[a], va);
        ADD(&h->c[b], vb);
    }
}

/* Save the stack's live figures as of the latest peak before they change. */
static inline void stack_settle(struct ml_hdr *h, struct ml_stack *s) {
    uint64_t epoch = __atomic_load_n(&h->peak_epoch, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->c[C_PEAK_EPOCH], __ATOMIC_RELAXED) != epoch) {
        uint64_t live = __atomic_load_n(&s->c[C_BYTES], __ATOMIC_RELAXED) -
                        __atomic_load_n(&s->c[C_FREED], __ATOMIC_RELAXED);
        uint64_t blocks = __atomic_load_n(&s->c[C_ALLOCS], __ATOMIC_RELAXED) -
                          __atomic_load_n(&s->c[C_FREES], __ATOMIC_RELAXED);
        __atomic_store_n(&s->c[C_PEAK_BYTES], live, __ATOMIC_RELAXED);
        __atomic_store_n(&s->c[C_PEAK_BLOCKS], blocks, __ATOMIC_RELAXED);
        __atomic_store_n(&s->c[C_PEAK_EPOCH], epoch, __ATOMIC_RELEASE);
    }
}

/* Live bytes grow by `bytes`: the peak check follows the add. */
static inline void live_grow(struct ml_hdr *h, uint64_t bytes) {
    uint64_t live = ADD(&h->live_bytes, bytes) + bytes;
    uint64_t peak = __atomic_load_n(&h->peak_bytes, __ATOMIC_RELAXED);
    while (live > peak) {
        if (__atomic_compare_exchange_n(&h->peak_bytes, &peak, live, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            h->peak_ns = now_ns(CLOCK_MONOTONIC);
            __atomic_fetch_add(&h->peak_epoch, 1, __ATOMIC_ACQ_REL);
            break;
        }
    }
}

/* Sampled mode: live bytes are summed per thread and flushed in steps of
 * ML_BATCH (the peak is then exact to threads x ML_BATCH). */
#define ML_BATCH (256 * 1024)

static COLD void batch_flush(void) {
    struct ml_hdr *h = g_tab;
    int64_t live = t_me.live;
    if (h && live > 0) live_grow(h, (uint64_t)live);
    if (h && live < 0) SUB(&h->live_bytes, (uint64_t)-live);
    t_me.live = 0;
}

/* Sampled mode: a sampled block of `size` stands for 1/P blocks, P = 1 -
 * exp(-size/period) (tcmalloc's estimator); its stack's counters add the
 * estimate (blocks, bytes), rounded -- the same for its free, so they balance. */
static inline void estimate(uint64_t size, uint64_t *blocks, uint64_t *bytes) {
    double p = -expm1(-(double)size / (double)g_sample_period);
    double w = p > 0 ? 1.0 / p : 1.0;
    *blocks = (uint64_t)(w + 0.5);
    *bytes = (uint64_t)(w * (double)size + 0.5);
}

/* A block's stack counters (out of line: in sampled mode few blocks have one). */
static __attribute__((noinline)) void stack_alloc(struct ml_hdr *h, uint64_t id, uint64_t size) {
    struct ml_stack *s = stack_at(h, id);
    uint64_t n = 1, bytes = size;
    if (g_sample_period) estimate(size, &n, &bytes);
    stack_settle(h, s);
    ADD(&s->c[C_ALLOCS], n);
    ADD(&s->c[C_BYTES], bytes);
}

static __attribute__((noinline)) void stack_free(struct ml_hdr *h, uint64_t id, uint64_t size, int temp) {
    struct ml_stack *s = stack_at(h, id);
    uint64_t n = 1, bytes = size;
    if (g_sample_period) estimate(size, &n, &bytes);
    stack_settle(h, s);
    ADD(&s->c[C_FREES], n);
    ADD(&s->c[C_FREED], bytes);
    if (temp) ADD(&s->c[C_TEMPS], n);
}

/* Count an allocation in table h, sl this thread's slot there (or NULL).
 * batched: sampled mode (live bytes summed per thread). */
static INLINE void count_alloc_in(struct ml_hdr *h, struct ml_tslot *sl, uint64_t size, uint64_t id,
                                  int with_stack, int batched) {
    tcount2(h, sl, T_ALLOCS, 1, T_BYTES, size);
    if (with_stack) stack_alloc(h, id, size);
    if (batched) {
        t_me.live += (int64_t)size;
        if (__builtin_expect(t_me.live > ML_BATCH, 0)) batch_flush();
    } else {
        live_grow(h, size);
    }
}

static INLINE void count_free_in(struct ml_hdr *h, struct ml_tslot *sl, uint64_t size, uint64_t id,
                                 int with_stack, int batched, int temp) {
    tcount2(h, sl, T_FREES, 1, T_TEMPS, (uint64_t)temp);
    if (with_stack) stack_free(h, id, size, temp);
    if (batched) {
        t_me.live -= (int64_t)size;
        if (__builtin_expect(t_me.live < -ML_BATCH, 0)) batch_flush();
    } else {
        SUB(&h->live_bytes, size);
    }
}

/* The rare cases out of line: no table (an image memlens run does not follow),
 * a thread's first count in this table, a thread without a slot. */
static COLD void count_alloc_slow(struct ml_hdr *h, uint64_t size, uint64_t id, int with_stack, int batched) {
    if (!h) return;
    struct ml_tslot *sl = t_me.tab == h ? t_me.slot : slot_claim(h);
    count_alloc_in(h, sl, size, id, with_stack, batched);
}

static COLD void count_free_slow(struct ml_hdr *h, uint64_t size, uint64_t id, int with_stack, int batched,
                                 int temp) {
    if (!h) return;
    struct ml_tslot *sl = t_me.tab == h ? t_me.slot : slot_claim(h);
    count_free_in(h, sl, size, id, with_stack, batched, temp);
}

/* Inlined into malloc and free: for a block without a stack entry (sampled
 * mode's unsampled blocks) this is the whole cost of counting. */
static INLINE void count_alloc(void *user, uint64_t size, uint64_t id, int with_stack, int batched) {
    struct ml_hdr *h = g_tab;
    struct ml_tslot *sl = t_me.slot;
    t_me.last_alloc = hidden(user);
    if (__builtin_expect(t_me.tab != h || sl == NULL, 0))
        count_alloc_slow(h, size, id, with_stack, batched);
    else
        count_alloc_in(h, sl, size, id, with_stack, batched);
}

static INLINE void count_free(void *user, uint64_t size, uint64_t id, int with_stack, int batched) {
    struct ml_hdr *h = g_tab;
    struct ml_tslot *sl = t_me.slot;
    int temp = hidden(user) == t_me.last_alloc;
    t_me.last_alloc = 0;
    if (__builtin_expect(t_me.tab != h || sl == NULL, 0))
        count_free_slow(h, size, id, with_stack, batched, temp);
    else
        count_free_in(h, sl, size, id, with_stack, batched, temp);
}

/* ---- loaded objects ---- */
static pthread_mutex_t g_modules_lock = PTHREAD_MUTEX_INITIALIZER;

static int note_one(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    struct ml_hdr *h = arg;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uint64_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo) lo = a;
        if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    }
    if (hi == 0) return 0;
    char exe[ML_PATH_BYTES];
    const char *path = info->dlpi_name;
    if (!path || !*path) { /* the main program */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) return 0;
        exe[n] = 0;
        path = exe;
    }
    if (path[0] != '/') return 0; /* the vDSO */
    struct ml_module *m = (struct ml_module *)((char *)h + h->modules_off);
    uint64_t n = h->module_count;
    for (uint64_t i = 0; i < n; ++i)
        if (m[i].bias == info->dlpi_addr && m[i].lo == lo && !strncmp(m[i].path, path, ML_PATH_BYTES - 1))
            return 0;
    if (n >= h->module_cap) return 0;
    m[n].bias = info->dlpi_addr;
    m[n].lo = lo;
    m[n].hi = hi;
    strncpy(m[n].path, path, ML_PATH_BYTES - 1);
    m[n].path[ML_PATH_BYTES - 1] = 0;
    __atomic_store_n(&h->module_count, n + 1, __ATOMIC_RELEASE);
    return 0;
}

/* Note every object loaded now (at start-up and after each dlopen). */
static void note_modules(void) {
    struct ml_hdr *h = g_tab;
    if (!h) return;
    pthread_mutex_lock(&g_modules_lock);
    dl_iterate_phdr(note_one, h);
    pthread_mutex_unlock(&g_modules_lock);
}

/* ---- creating the table ---- */
static struct ml_hdr *table_map(int fd, size_t bytes) {
    int flags = fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE, fd, 0);
    return p == MAP_FAILED ? NULL : (struct ml_hdr *)p;
}

/* A new file DIR/PID-K.mlstats (K: the first free index; exec'd images of one
 * PID get the next).  The descriptor is closed once mapped: the program never
 * sees it.  *index gets K; -1 when no file could be made. */
static int table_file(const char *dir, size_t bytes, int *index, int max_index) {
    char path[4096];
    size_t len = strlen(dir);
    if (len + 64 > sizeof path) return -1;
    for (int k = 0; k <= max_index; ++k) {
        memcpy(path, dir, len);
        char *p = put_str(path + len, "/", path + sizeof path);
        p = put_uint(p, (unsigned long)getpid());
        *p++ = '-';
        p = put_uint(p, (unsigned long)k);
        p = put_str(p, ".mlstats", path + sizeof path - 1);
        *p = 0;
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return -1;
        if (ftruncate(fd, (off_t)bytes) != 0) {
            close(fd);
            unlink(path);
            return -1;
        }
        *index = k;
        return fd;
    }
    return -1;
}

/* Settings come from init_settings (frames, sampling).  With MEMLENS_STATS_DIR
 * the table is a file there, else anonymous memory.  follow: 0 when this image
 * must not be tracked (an exec'd image under --no-follow-exec). */
static void table_create(int allow_exec_images) {
    uint64_t capacity = (uint64_t)env_long("MEMLENS_STACKS", 1 << 18, 64, 1 << 24);
    uint64_t slots = 64;
    while (slots < capacity * 2) slots <<= 1;
    uint32_t esize;
    size_t bytes = table_size(capacity, slots, (uint32_t)g_frames, &esize);
    const char *dir = getenv("MEMLENS_STATS_DIR");
    int fd = -1, index = 0;
    if (dir && *dir) {
        /* Without exec images followed, only a PID's first image gets a table. */
        fd = table_file(dir, bytes, &index, allow_exec_images ? 999 : 0);
        if (fd < 0) return;
    }
    struct ml_hdr *h = table_map(fd, bytes);
    if (fd >= 0) close(fd);
    if (!h) return;
    table_init(h, capacity, slots, (uint32_t)g_frames);
    h->exec_index = (uint64_t)index;
    g_tab_bytes = bytes;
    g_tab = h;
    note_modules();
}

/* In a forked child: a table of its own (a copy of the parent's so that frees of
 * inherited blocks balance), or none. */
static void table_after_fork(int follow) {
    struct ml_hdr *old = g_tab;
    g_tab = NULL;
    t_me.live = 0;
    t_me.tab = NULL;
    t_me.slot = NULL; /* the slot was in the parent's table: no fast path until a claim */
    if (!old) return;
    struct ml_hdr *h = NULL;
    const char *dir = getenv("MEMLENS_STATS_DIR");
    int fd = -1, index = 0;
    if (follow && (!dir || !*dir || (fd = table_file(dir, g_tab_bytes, &index, 999)) >= 0)) {
        h = table_map(fd, g_tab_bytes);
        if (fd >= 0) close(fd);
    }
    if (h) {
        size_t used = old->entries_off + old->count * old->entry_size;
        if (used > g_tab_bytes) used = g_tab_bytes;
        memcpy(h, old, used);
        h->pid = (uint64_t)getpid();
        h->ppid = (uint64_t)getppid();
        h->exec_index = (uint64_t)index;
        h->exit_ns = 0;
    }
    /* The parent's table is the parent's: a shared file mapping the child must
     * neither write nor leave in its own image. */
    munmap(old, g_tab_bytes);
    g_tab = h;
}
