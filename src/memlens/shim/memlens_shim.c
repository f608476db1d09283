/*
 * memlens allocation shim (LD_PRELOAD=libmemlens_shim.so).
 *
 * Every live block carries an in-band record just before the user data, so a
 * heap can be read back from any image of the process's memory (a live PID, a
 * kernel core, a gdb core).  The three record formats (3: size + stack id, 2:
 * compact without a stack, 1: full, for over-aligned and the shim's own
 * blocks) are described in docs/formats.md ("The shim's records"), the
 * accounting table that interns stacks and keeps per-stack counts and the exact
 * peak in docs/heap.md (stats_table.h).  Every 16-byte record's magic is keyed
 * to the block's own address, so a copy of a record elsewhere (or the bare
 * constant in user data) is not a record; free() clears the magic(s) before
 * releasing the block.
 *
 * Design notes:
 * - Sampled mode's unsampled blocks (nearly all of them) take fast_path.h:
 *   inline in malloc/calloc/free, no saved registers, every rare case left to
 *   the general path below.
 * - No lock on the fast path: a per-thread recursion guard (initial-exec TLS,
 *   so touching it never allocates) stops unwinders that call malloc from
 *   recursing; a global recursive mutex deadlocked in calloc inside
 *   pthread_create on glibc 2.36.
 * - The real allocator is found with dlsym(RTLD_NEXT); calls made while dlsym
 *   runs (it may calloc) are served from a static arena that is never freed.
 * - The memalign family is intercepted, so every pointer free() sees has a
 *   record and an offset back to the real block.
 * - The program is left alone: no signal handler unless MEMLENS_SIGNAL names
 *   one; no descriptor kept (the table file is mapped and closed); the
 *   snapshot pipes (MEMLENS_FD="W,R,INODE_W,INODE_R", memlens run) are used
 *   only while both inodes still match; libunwind's pipe is created above the
 *   program's descriptors (pipe2, unwind.h).
 * - Snapshots: at exit, when memlens run bumps the table's request counter
 *   (noticed at the next allocation), on memlens_snapshot() and on a crash
 *   signal, the shim writes a request line to fd W and waits for one byte on
 *   fd R; the parent reads this process's memory through /proc meanwhile.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#define ML_START_MAGIC 0x3172504145484c4dULL
#define ML_END_MAGIC 0x3165504145484c4dULL
#define ML_VERSION 2ULL /* 2: the sequence word carries the stack id in bits 40-63 */
#define ML_SEQ_BITS 40
#define ML_FLAG_STACK 1u    /* the record carries a stack */
#define ML_FLAG_SAMPLED 2u  /* allocated in sampled mode (weight by period) */
#define ML_FLAG_INTERNAL 4u /* allocated by the unwinder / bootstrap, no stack */
#define ML_FLAG_MASK 0xfULL   /* flag bits a compact record can carry (bits 0-3) */
#define ML_FIXED_WORDS 7
#define ML_COMPACT_MAGIC 0x3263504145484c40ULL /* "MLHEAPc2" with bits 0-3 clear */
#define ML_ID_MAGIC 0x3373504145484c40ULL      /* "MLHEAPs3" with bits 0-3 clear */
#define ML_SIZE_BITS 40                        /* format 3: size | stack id << 40 */
#ifndef ML_COMPACT_BYTES
#define ML_COMPACT_BYTES 16 /* benchmarks/bench_heap.py --attribution builds 64 */
#endif
#define ML_MAX_FRAMES 64
#define ML_ALIGN 16 /* alignof(max_align_t) on the targets we build for */

#define HOOK __attribute__((section("memlens_hooks"), noinline))
#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

extern char __start_memlens_hooks[], __stop_memlens_hooks[];

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void *(*memalign_fn)(size_t, size_t);
typedef size_t (*usable_fn)(void *);
typedef int (*unw_backtrace_fn)(void **, int);

static struct {
    malloc_fn malloc;
    free_fn free;
    calloc_fn calloc;
    realloc_fn realloc;
    memalign_fn memalign;
    usable_fn usable;
} real;

enum unwinder { UNW_NONE, UNW_FP, UNW_GCC, UNW_LIBUNWIND };
static enum unwinder g_unwinder = UNW_GCC;
static unw_backtrace_fn g_unw_backtrace;
static int g_frames = 16;    /* words of a stack */
static int g_python;         /* CPython found: its frames go into the stacks (pyframes.c) */
static size_t g_header_stack; /* bytes reserved before user data for a full record */
static size_t g_header_nostack = 64; /* format 1 without frames (over-aligned blocks) */
static uint64_t g_sample_period; /* 0 = exact mode */
static int g_fast_sampled;       /* sampled mode, the shim set up: fast_path.h may run */
static volatile int g_state;     /* 0 not initialised, 1 initialising, 2 ready */
static int g_notify_fd = -1, g_ack_fd = -1;
static unsigned long g_ino_w, g_ino_r;
static pid_t g_owner_pid;
static uint64_t g_seq_next;

static TLS int t_in_hook;
static TLS int t_initializing;
static TLS uint32_t t_tid;
static TLS uint64_t t_seq, t_seq_end;
static TLS uint64_t t_rng;

/* ---- bootstrap arena: serves dlsym's own allocations before `real` is set ---- */
static _Alignas(ML_ALIGN) unsigned char g_arena[64 * 1024];
static size_t g_arena_used;

static void *arena_alloc(size_t size) {
    size_t n = (size + ML_ALIGN - 1) & ~(size_t)(ML_ALIGN - 1);
    size_t at = __atomic_fetch_add(&g_arena_used, n, __ATOMIC_RELAXED);
    if (n < size || at + n > sizeof g_arena) return NULL;
    return g_arena + at; /* static storage is zeroed: doubles as calloc */
}

static int in_arena(const void *p) {
    return (const unsigned char *)p >= g_arena && (const unsigned char *)p < g_arena + sizeof g_arena;
}

/* ---- helpers ---- */
static uint32_t thread_id(void) {
    if (__builtin_expect(t_tid == 0, 0)) t_tid = (uint32_t)syscall(SYS_gettid);
    return t_tid;
}

static uint64_t next_seq(void) {
    /* Blocks of 256 numbers per thread keep the shared counter's cache line cold. */
    if (__builtin_expect(t_seq == t_seq_end, 0)) {
        t_seq = __atomic_fetch_add(&g_seq_next, 256, __ATOMIC_RELAXED);
        t_seq_end = t_seq + 256;
    }
    return t_seq++;
}

static double uniform01(void) {
    if (t_rng == 0) t_rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)thread_id() << 17) ^ (uintptr_t)&t_rng;
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 7;
    t_rng ^= t_rng << 17;
    return ((t_rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static int64_t sample_gap(void) {
    /* Exponential gaps: each byte is sampled with probability 1/period, so a
     * block of size s is sampled with P = 1 - exp(-s/period) (tcmalloc). */
    return (int64_t)(-log(uniform01()) * (double)g_sample_period) + 1;
}

#include "pyframes.h"
#include "unwind.h"

/* ---- initialisation ---- */
static void request_snapshot(const char *reason);
static char *put_uint(char *out, unsigned long v);
static char *put_str(char *out, const char *s, const char *limit);

static void on_snapshot_signal(int sig) {
    (void)sig;
    int saved = errno;
    request_snapshot("signal");
    errno = saved;
}

/* Async-signal-safe decimal formatting (snprintf is not). */
static char *put_uint(char *out, unsigned long v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *out++ = tmp[--n];
    return out;
}

static char *put_str(char *out, const char *s, const char *limit) {
    while (*s && out < limit) *out++ = *s++;
    return out;
}

static void on_crash_signal(int sig) {
    char reason[32];
    char *end = put_uint(put_str(reason, "crash:", reason + 8), (unsigned long)sig);
    *end = 0;
    request_snapshot(reason);
    /* Die with the original signal (and its core dump): the default action is
     * back (SA_RESETHAND); a re-raised signal is delivered once we return. */
    signal(sig, SIG_DFL);
    raise(sig);
}

static long env_long(const char *name, long dflt, long lo, long hi) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    long v = strtol(s, &end, 0);
    if (*end || v < lo || v > hi) return dflt;
    return v;
}

#include "stats_table.h"

static int g_follow_fork;

static void after_fork_child(void) {
    t_tid = 0;
    table_after_fork(g_follow_fork);
    if (g_follow_fork && g_tab) {
        g_owner_pid = getpid(); /* its own snapshots, through the same pipes */
    } else {
        /* Not a process `memlens run` follows. */
        g_notify_fd = -1;
        g_ack_fd = -1;
    }
}


static void init_settings(void) {
    g_python = ml_py_init();
    if (g_python) ml_py_hook_arenas(malloc, free);
    /* Python stacks are deeper and a Python frame takes two words. */
    g_frames = (int)env_long("MEMLENS_FRAMES", g_python ? ML_MAX_FRAMES : 16, 1, ML_MAX_FRAMES);
    g_header_stack = ((ML_FIXED_WORDS + (size_t)g_frames) * 8 + ML_ALIGN - 1) & ~(size_t)(ML_ALIGN - 1);
    g_sample_period = (uint64_t)env_long("MEMLENS_SAMPLE", 0, 0, 0xffffffffL);
    const char *unw = getenv("MEMLENS_UNWIND");
    if (unw && !strcmp(unw, "fp")) {
        g_unwinder = UNW_FP;
    } else if (unw && !strcmp(unw, "none")) {
        g_unwinder = UNW_NONE;
    } else if (unw && !strcmp(unw, "gcc")) {
        g_unwinder = UNW_GCC;
    } else {
        /* libunwind's cached fast path is several times faster than the
         * libgcc unwinder; use it when installed. */
        void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            g_unw_backtrace = (unw_backtrace_fn)dlsym(lib, "unw_backtrace");
            typedef int (*policy_fn)(void *, int);
            policy_fn set_policy = (policy_fn)dlsym(lib, "_ULx86_64_set_caching_policy");
            void **space = (void **)dlsym(lib, "_ULx86_64_local_addr_space");
            if (set_policy && space) set_policy(*space, 2 /* UNW_CACHE_PER_THREAD */);
            if (g_unw_backtrace) {
                void *buf[4];
                g_unw_backtrace(buf, 4); /* its first call creates what it keeps */
            }
        }
        g_unwinder = g_unw_backtrace ? UNW_LIBUNWIND : UNW_GCC;
    }
    if (g_unwinder == UNW_GCC) {
        /* Load libgcc_s now (it allocates), not inside the first malloc. */
        void *buf[4];
        struct gcc_state st = {buf, 0, 4};
        _Unwind_Backtrace(gcc_step, &st);
    }
}

/* The snapshot pipes are still the ones memlens run passed (same inodes): a
 * program that closed them and reused the numbers owns those descriptors. */
static int pipes_ours(void) {
    struct stat st_w, st_r;
    int w = g_notify_fd, r = g_ack_fd;
    return w >= 0 && r >= 0 && !fstat(w, &st_w) && !fstat(r, &st_r) && S_ISFIFO(st_w.st_mode) &&
           S_ISFIFO(st_r.st_mode) && (unsigned long)st_w.st_ino == g_ino_w &&
           (unsigned long)st_r.st_ino == g_ino_r;
}

static void init_snapshots(void) {
    const char *fds = getenv("MEMLENS_FD");
    if (!fds) return;
    int w = -1, r = -1;
    unsigned long ino_w = 0, ino_r = 0;
    if (sscanf(fds, "%d,%d,%lu,%lu", &w, &r, &ino_w, &ino_r) != 4 || w < 0 || r < 0) return;
    /* The fds are inherited across fork+exec by every process memlens run
     * starts (a shell wrapper's children too); in a process that closed and
     * reused those numbers they are something else: use them only when they
     * are still memlens's two pipes (same inodes). */
    if (!g_tab && getenv("MEMLENS_STATS_DIR")) return; /* an image memlens run does not follow */
    g_ino_w = ino_w;
    g_ino_r = ino_r;
    g_notify_fd = w;
    g_ack_fd = r;
    if (!pipes_ours()) {
        g_notify_fd = g_ack_fd = -1;
        return;
    }
    g_owner_pid = getpid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* A snapshot signal only when asked for by name: a handler changes what the
     * program sees (an interrupted sleep returns early). */
    long snap_sig = env_long("MEMLENS_SIGNAL", 0, 1, 64);
    if (snap_sig) {
        sa.sa_handler = on_snapshot_signal;
        sa.sa_flags = SA_RESTART;
        sigaction((int)snap_sig, &sa, NULL);
    }
    if (env_long("MEMLENS_CRASH", 1, 0, 1)) {
        static const int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        sa.sa_handler = on_crash_signal;
        sa.sa_flags = SA_RESETHAND;
        for (size_t i = 0; i < sizeof crash / sizeof crash[0]; ++i) {
            struct sigaction old;
            /* Keep a handler the program installed before us. */
            if (sigaction(crash[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
                sigaction(crash[i], &sa, NULL);
        }
    }
}

static void ml_init(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&g_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&g_state, __ATOMIC_ACQUIRE) != 2) sched_yield();
        return;
    }
    t_initializing = 1;
    real.malloc = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
    real.free = (free_fn)dlsym(RTLD_NEXT, "free");
    real.calloc = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
    real.realloc = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
    real.memalign = (memalign_fn)dlsym(RTLD_NEXT, "memalign");
    real.usable = (usable_fn)dlsym(RTLD_NEXT, "malloc_usable_size");
    t_initializing = 0;
    /* The allocator works from here on; what follows may allocate (dlopen), and
     * those blocks get records without stacks (the recursion guard is set). */
    int was = t_in_hook;
    t_in_hook = 1;
    g_unwinder = UNW_NONE;
    __atomic_store_n(&g_state, 2, __ATOMIC_RELEASE);
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&ml_init);
    init_settings();
    g_follow_fork = (int)env_long("MEMLENS_FOLLOW_FORK", 0, 0, 1);
    table_create((int)env_long("MEMLENS_FOLLOW_EXEC", 1, 0, 1));
    if (!g_tab && getenv("MEMLENS_STATS_DIR")) g_unwinder = UNW_NONE; /* not followed: no stacks */
    pthread_atfork(NULL, NULL, after_fork_child);
    __atomic_store_n(&g_fast_sampled, g_sample_period != 0, __ATOMIC_RELEASE);
    t_in_hook = was;
}

static inline int ensure_init(void) {
    if (__builtin_expect(__atomic_load_n(&g_state, __ATOMIC_ACQUIRE) == 2, 1)) return 1;
    if (t_initializing) return 0; /* dlsym asking for memory: use the arena */
    ml_init();
    return 1;
}

__attribute__((constructor)) static void ml_constructor(void) {
    ensure_init();
    t_in_hook = 1;
    init_snapshots();
    t_in_hook = 0;
}

__attribute__((destructor)) static void ml_destructor(void) {
    if (g_tab) {
        batch_flush();
        g_tab->exit_ns = now_ns(CLOCK_MONOTONIC);
    }
    request_snapshot("exit");
}

/* memlens run asks for a snapshot by bumping snap_request (no signal). */
static void serve_request(void) {
    struct ml_hdr *h = g_tab;
    uint64_t want = __atomic_load_n(&h->snap_request, __ATOMIC_ACQUIRE);
    if (want == __atomic_load_n(&h->snap_served, __ATOMIC_RELAXED)) return;
    __atomic_store_n(&h->snap_served, want, __ATOMIC_RELEASE);
    request_snapshot("every");
}

static inline void check_request(void) {
    struct ml_hdr *h = g_tab;
    if (h && __builtin_expect(h->snap_request != h->snap_served, 0) && !t_in_hook) serve_request();
}

static void request_snapshot(const char *reason) {
    int w = g_notify_fd, r = g_ack_fd;
    if (w < 0 || r < 0 || getpid() != g_owner_pid || !pipes_ours()) return;
    char line[128];
    char *limit = line + sizeof line - 2;
    char *p = put_str(line, "snapshot ", limit);
    p = put_uint(p, (unsigned long)getpid());
    *p++ = ' ';
    p = put_uint(p, thread_id());
    *p++ = ' ';
    p = put_str(p, reason, limit);
    *p++ = '\n';
    int n = (int)(p - line);
    int was = t_in_hook;
    t_in_hook = 1;
    if (write(w, line, (size_t)n) == n) {
        char ack;
        while (read(r, &ack, 1) < 0 && errno == EINTR) {
        }
    }
    t_in_hook = was;
}

/* A program can ask for a snapshot itself (dlsym it; a no-op outside memlens run). */
EXPORT void memlens_snapshot(const char *reason) { request_snapshot(reason ? reason : "request"); }

#include "block_records.h"
#include "fast_path.h"

/* Count a block in the table: blocks of the shim itself never; in sampled mode
 * only sampled blocks per stack (the others in the totals only; live bytes
 * summed per thread); in exact mode a block without a stack in entry 0. */
static INLINE void account_alloc(void *user, size_t size, unsigned flags, uint64_t id) {
    if (flags & ML_FLAG_INTERNAL) return;
    int sampled = (flags & ML_FLAG_SAMPLED) != 0;
    count_alloc(user, size, id, (flags & ML_FLAG_STACK) || !sampled, sampled);
}

static INLINE void account_free(void *user, size_t size, unsigned flags, uint64_t id) {
    if (flags & ML_FLAG_INTERNAL) return;
    int sampled = (flags & ML_FLAG_SAMPLED) != 0;
    count_free(user, size, id, (flags & ML_FLAG_STACK) || !sampled, sampled);
}

static INLINE void *alloc_compact(size_t size, int zero, unsigned flags) {
    size_t total = size + ML_COMPACT_BYTES;
    if (total < size) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *raw = zero ? real.calloc(1, total) : real.malloc(total);
    if (!raw) return NULL;
    void *user = write_compact(raw, size, flags);
    account_alloc(user, size, flags, 0);
    return user;
}

/* Decide whether this allocation gets a stack; fills frames and its id in the
 * table, returns its flags. */
static inline unsigned take_stack(size_t size, uint64_t *frames, int *n, uint64_t *id) {
    *n = 0;
    *id = 0;
    if (t_in_hook) return ML_FLAG_INTERNAL;
    check_request();
    unsigned flags = 0;
    if (g_sample_period) {
        flags = ML_FLAG_SAMPLED;
        t_me.until_sample -= (int64_t)size;
        if (__builtin_expect(t_me.until_sample > 0, 1)) return flags;
        if (t_me.until_sample == -(int64_t)size) {
            /* First allocation of this thread: draw the first gap instead. */
            t_me.until_sample = sample_gap() - (int64_t)size;
            if (t_me.until_sample > 0) return flags;
        }
        t_me.until_sample = sample_gap();
    }
    if (g_unwinder == UNW_NONE) return flags;
    t_in_hook = 1;
    *n = collect(frames);
    *id = stack_id(frames, *n, thread_id());
    t_in_hook = 0;
    return flags | ML_FLAG_STACK;
}

/* Allocate and write the record take_stack decided on (not yet counted).
 * align: 0 for the malloc alignment, else a power of two >= sizeof(void*). */
static void *place(size_t size, size_t align, int zero, const uint64_t *frames, int n, unsigned flags,
                   uint64_t id) {
    /* Blocks allocated inside the shim (unwinder caches, start-up) are few and
     * keep the full record: its thread id and sequence number help explain them. */
    if (short_record(size, align, flags)) {
        size_t total = size + ML_COMPACT_BYTES;
        if (total < size) {
            errno = ENOMEM;
            return NULL;
        }
        unsigned char *raw = zero ? real.calloc(1, total) : real.malloc(total);
        return raw ? write_short(raw, size, flags, id) : NULL;
    }
    size_t header = (flags & ML_FLAG_STACK) ? g_header_stack : g_header_nostack;
    size_t offset = header;
    if (align > ML_ALIGN) offset = (header + align - 1) & ~(align - 1);
    size_t total = size + offset;
    if (total < size) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *raw;
    if (align > ML_ALIGN)
        raw = real.memalign(align, total);
    else if (zero)
        raw = real.calloc(1, total);
    else
        raw = real.malloc(total);
    if (!raw) return NULL;
    return write_record(raw, offset, size, frames, n, flags, id);
}

/* The common case, kept small and free of the frame buffer: an allocation that
 * gets no stack (not sampled in sampled mode; MEMLENS_UNWIND=none) and so a
 * compact record.  Returns its flags, or -1 for the general path (not ready,
 * inside the shim, a sample due or a thread's first allocation, an unwinder
 * to run).  The countdown is take_stack's. */
static inline int compact_flags(size_t size) {
    if (__builtin_expect(__atomic_load_n(&g_state, __ATOMIC_ACQUIRE) != 2 || t_in_hook, 0)) return -1;
    if (g_sample_period) {
        int64_t left = t_me.until_sample - (int64_t)size;
        if (__builtin_expect(left <= 0, 0)) return -1;
        t_me.until_sample = left;
        return ML_FLAG_SAMPLED;
    }
    return g_unwinder == UNW_NONE ? 0 : -1;
}

static void *ml_alloc(size_t size, size_t align, int zero) {
    if (!ensure_init()) return arena_alloc(size);
    uint64_t frames[ML_MAX_FRAMES], id;
    int n;
    unsigned flags = take_stack(size, frames, &n, &id);
    void *q = place(size, align, zero, frames, n, flags, id);
    if (q) account_alloc(q, size, flags, id);
    return q;
}

static void ml_free(void *p) {
    if (!p || in_arena(p)) return;
    struct block_info b;
    if (block_of(p, &b)) {
        account_free(p, b.size, b.flags, b.id);
        release(&b);
    } else if (ensure_init() && real.free) {
        /* Not from us (allocated before the shim was loaded): the real free owns it. */
        real.free(p);
    }
}

/* ---- the interposed API ---- */
/* The general path of malloc (out of line, so the fast path saves no registers). */
static __attribute__((noinline)) void *malloc_general(size_t size) {
    int flags = compact_flags(size);
    if (flags >= 0) return alloc_compact(size, 0, (unsigned)flags);
    return ml_alloc(size, 0, 0);
}

EXPORT HOOK void *malloc(size_t size) {
    if (__builtin_expect(fast_alloc_ok(size), 1)) return fast_alloc(size, 0);
    return malloc_general(size);
}

EXPORT HOOK void free(void *p) {
    if (__builtin_expect(!fast_free(p), 0)) ml_free(p);
}

EXPORT HOOK void *calloc(size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (__builtin_expect(fast_alloc_ok(total), 1)) return fast_alloc(total, 1);
    int flags = compact_flags(total);
    if (flags >= 0) return alloc_compact(total, 1, (unsigned)flags);
    return ml_alloc(total, 0, 1);
}

EXPORT HOOK void *realloc(void *p, size_t size) {
    if (!p || in_arena(p)) {
        void *q = ml_alloc(size, 0, 0);
        if (q && p) {
            size_t left = (size_t)(g_arena + sizeof g_arena - (unsigned char *)p);
            memcpy(q, p, size < left ? size : left); /* arena blocks: size unknown */
        }
        return q;
    }
    if (size == 0) {
        ml_free(p);
        return NULL;
    }
    struct block_info old;
    if (!block_of(p, &old)) return real.realloc(p, size);
    uint64_t frames[ML_MAX_FRAMES], id;
    int n;
    unsigned flags = take_stack(size, frames, &n, &id);
    int compact = old.compact;
    /* Counted as heaptrack does: a free of the old block, then an allocation. */
    if (compact && short_record(size, 0, flags)) {
        /* 16-byte record to 16-byte record: let the allocator grow or shrink it
         * in place.  The magic is cleared first so that the old place is never
         * a record. */
        size_t total = size + ML_COMPACT_BYTES;
        if (total < size) {
            errno = ENOMEM;
            return NULL;
        }
        uint64_t *user = p, magic = user[-1];
        user[-1] = 0;
        unsigned char *raw = real.realloc((unsigned char *)user - ML_COMPACT_BYTES, total);
        if (!raw) {
            user[-1] = magic; /* the old block is still live */
            return NULL;
        }
        account_free(p, old.size, old.flags, old.id);
        void *q = write_short(raw, size, flags, id);
        account_alloc(q, size, flags, id);
        return q;
    }
    void *q = place(size, 0, 0, frames, n, flags, id);
    if (!q) return NULL;
    memcpy(q, p, old.size < size ? old.size : size);
    account_free(p, old.size, old.flags, old.id);
    account_alloc(q, size, flags, id);
    release(&old);
    return q;
}

EXPORT HOOK void *reallocarray(void *p, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

static int bad_alignment(size_t align) { return align == 0 || (align & (align - 1)) != 0; }

EXPORT HOOK void *memalign(size_t align, size_t size) {
    if (bad_alignment(align)) {
        errno = EINVAL;
        return NULL;
    }
    return ml_alloc(size, align, 0);
}

EXPORT HOOK void *aligned_alloc(size_t align, size_t size) {
    if (bad_alignment(align)) {
        errno = EINVAL;
        return NULL;
    }
    return ml_alloc(size, align, 0);
}

EXPORT HOOK int posix_memalign(void **out, size_t align, size_t size) {
    if (bad_alignment(align) || align % sizeof(void *)) return EINVAL;
    void *p = ml_alloc(size, align, 0);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

EXPORT HOOK void *valloc(size_t size) { return ml_alloc(size, (size_t)sysconf(_SC_PAGESIZE), 0); }

EXPORT HOOK void *pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return ml_alloc(rounded ? rounded : page, page, 0);
}

/* dlopen: the new objects are noted in the table while they are loaded, so
 * their frames can be named even after a dlclose. */
typedef void *(*dlopen_fn)(const char *, int);
static dlopen_fn g_real_dlopen;

EXPORT void *dlopen(const char *file, int mode) {
    if (!g_real_dlopen) g_real_dlopen = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
    if (!g_real_dlopen) return NULL;
    void *handle = g_real_dlopen(file, mode);
    if (handle && g_tab) {
        int was = t_in_hook;
        t_in_hook = 1;
        note_modules();
        t_in_hook = was;
    }
    return handle;
}

EXPORT HOOK size_t malloc_usable_size(void *p) {
    if (!p) return 0;
    if (in_arena(p)) return 0;
    if (is_compact(p) || is_idrec(p))
        return real.usable((unsigned char *)p - ML_COMPACT_BYTES) - ML_COMPACT_BYTES;
    if (!is_ours(p)) return real.usable ? real.usable(p) : 0;
    uint64_t *tail = tail_of(p);
    return real.usable((unsigned char *)p - tail[3]) - tail[3];
}
