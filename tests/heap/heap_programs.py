"""C/C++ programs the heap tests compile (the seed's test programs, rewritten, and more)."""

from __future__ import annotations

# The seed's test.c: eight blocks of 128 KiB +- 1 from one function, then one
# block of 1 MiB from another, with a snapshot after each (the shim's exported
# memlens_snapshot() is memlens run's snapshot request; the seed raised SIGUSR2,
# which the shim no longer catches: a handler changes what a program sees).
SEED = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
__attribute__((noinline)) void sample_state(void) {
    typedef void (*snapshot_fn)(const char *);
    snapshot_fn snapshot = (snapshot_fn)dlsym(RTLD_DEFAULT, "memlens_snapshot");
    if (snapshot) snapshot(0);
}
__attribute__((noinline)) void example_func(void) {
    for (int i = 0; i < 8; ++i) {
        int *p = (int *)malloc(128 * 1024 + (i % 2 ? 1 : -1));
        p[1] = 5;
    }
}
__attribute__((noinline)) void another_func(void) {
    volatile char *p = malloc(1024 * 1024);
    p[0] = 1;
}
int main(void) {
    example_func();
    sample_state();
    another_func();
    sample_state();
    return 0;
}
"""

# The seed's threads.c: two threads each leave 1024 of 16384 one-byte blocks
# live; then the process waits (live scan) or crashes (core).
THREADS = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) void make_blocks(void) {
    for (int i = 0; i < 1024 * 16; ++i) {
        void *p = malloc(1);
        if (i % 16) free(p);
    }
}
void *thread_func(void *x) { (void)x; make_blocks(); return 0; }
int main(int argc, char **argv) {
    pthread_t thread;
    pthread_create(&thread, 0, thread_func, 0);
    make_blocks();
    pthread_join(thread, NULL);
    if (argc > 1 && !strcmp(argv[1], "crash")) { volatile int *p = 0; *p = 0; }
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
"""

# Every aligned allocator: alignment honoured, writable, freed without
# corrupting the heap (glibc aborts on a bad free), usable size >= size.
MEMALIGN = r"""
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define CHECK(c) \
    do { if (!(c)) { printf("FAIL %s:%d %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
int main(void) {
    size_t aligns[] = {8, 16, 32, 64, 256, 4096, 65536};
    for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < sizeof aligns / sizeof *aligns; ++i) {
            size_t a = aligns[i], n = 1 + (size_t)round * 37;
            void *p = memalign(a, n);
            CHECK(p && (uintptr_t)p % a == 0 && malloc_usable_size(p) >= n);
            memset(p, 0x5a, n);
            void *q = NULL;
            CHECK(posix_memalign(&q, a, n) == 0 && (uintptr_t)q % a == 0);
            memset(q, 0x5b, n);
            void *r = aligned_alloc(a, n);
            CHECK(r && (uintptr_t)r % a == 0);
            memset(r, 0x5c, n);
            free(p); free(q); free(r);
        }
        void *v = valloc(100 + round);
        CHECK(v && (uintptr_t)v % 4096 == 0);
        void *pv = pvalloc(100 + round);
        CHECK(pv && (uintptr_t)pv % 4096 == 0 && malloc_usable_size(pv) >= 4096);
        free(v); free(pv);
    }
    void *bad = NULL;
    CHECK(posix_memalign(&bad, 24, 10) == EINVAL);
    errno = 0;
    CHECK(calloc((size_t)1 << 62, 8) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(reallocarray(NULL, (size_t)1 << 62, 8) == NULL && errno == ENOMEM);
    int *z = calloc(1000, sizeof(int));
    for (int i = 0; i < 1000; ++i) CHECK(z[i] == 0);
    free(z);
    void *keep = memalign(4096, 12345);
    memset(keep, 1, 12345);
    printf("ok %p\n", keep);
    fflush(stdout);
    pause();
    return 0;
}
"""

# Realloc chains keep exact sizes and contents.
REALLOC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) char *grow(int steps, size_t step) {
    char *p = NULL;
    for (int i = 1; i <= steps; ++i) {
        p = realloc(p, (size_t)i * step);
        memset(p + (size_t)(i - 1) * step, i & 0xff, step);
        for (int j = 1; j < i; ++j) if (p[(size_t)(j - 1) * step] != (char)(j & 0xff)) return NULL;
    }
    return p;
}
__attribute__((noinline)) char *shrink(char *p, size_t n) { return realloc(p, n); }
int main(void) {
    char *a = grow(100, 1000);
    char *b = grow(7, 3);
    char *c = shrink(grow(50, 4096), 777);
    if (!a || !b || !c) { printf("FAIL\n"); return 1; }
    printf("ok\n");
    fflush(stdout);
    pause();
    return 0;
}
"""

# C++: new/delete reach the shim through libstdc++'s operator new.
CXX = r"""
#include <cstdio>
#include <unistd.h>
#include <vector>
#include <string>
struct Widget { char payload[4000]; };
__attribute__((noinline)) std::vector<Widget*> *make_widgets() {
    auto *v = new std::vector<Widget*>();
    for (int i = 0; i < 10; ++i) v->push_back(new Widget());
    delete new Widget();
    return v;
}
int main() {
    auto *w = make_widgets();
    std::printf("ready %zu\n", w->size());
    std::fflush(stdout);
    pause();
}
"""

# 16 threads churn (sizes 1000-1999 only from workers) while the main thread
# forks children that allocate and exit; at the end the workers park, and the
# program prints how many worker blocks are live, then waits for a scan.
CHURN = r"""
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#define THREADS 16
#define SLOTS 512
static atomic_int stop, parked;
static atomic_long live;
static double seconds;
static long thread_live[THREADS];   /* each worker's own count, written by it alone */
static pid_t thread_tid[THREADS];
__attribute__((noinline)) void *churn_worker(void *arg) {
    long me = (long)(uintptr_t)arg;
    thread_tid[me] = (pid_t)syscall(SYS_gettid);
    unsigned seed = (unsigned)me * 2654435761u + 1;
    void *slot[SLOTS] = {0};
    while (!atomic_load(&stop)) {
        for (int k = 0; k < 256; ++k) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 8) % SLOTS);
            if (slot[i]) {
                free(slot[i]); slot[i] = NULL;
                atomic_fetch_sub(&live, 1); --thread_live[me];
            }
            else {
                size_t n = 1000 + (seed >> 4) % 1000;
                switch ((seed >> 20) % 4) {
                case 0: slot[i] = malloc(n); break;
                case 1: slot[i] = calloc(1, n); break;
                case 2: slot[i] = realloc(malloc(10), n); break;
                default: slot[i] = aligned_alloc(64, n);
                }
                memset(slot[i], 7, n);
                atomic_fetch_add(&live, 1); ++thread_live[me];
            }
        }
    }
    atomic_fetch_add(&parked, 1);
    pause();
    return NULL;
}
int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 10;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; ++i) pthread_create(&t[i], NULL, churn_worker, (void *)i);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int forks = 0;
    do {
        pid_t pid = fork();
        if (pid == 0) {
            void *p[100];
            for (int i = 0; i < 100; ++i) p[i] = malloc(50 + i);
            for (int i = 0; i < 100; ++i) free(p[i]);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            printf("FAIL child %d\n", status);
            return 1;
        }
        ++forks;
        usleep(20000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* at least 10 forks however slow a loaded machine makes each one */
    } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds
             || forks < 10);
    atomic_store(&stop, 1);
    while (atomic_load(&parked) < THREADS) usleep(1000);
    printf("live %ld forks %d\n", atomic_load(&live), forks);
    for (int i = 0; i < THREADS; ++i) printf("thread %d %ld\n", (int)thread_tid[i], thread_live[i]);
    fflush(stdout);
    pause();
    return 0;
}
"""

CRASH = r"""
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void before_crash(void) {
    for (int i = 0; i < 5; ++i) memset(malloc(3333), 1, 3333);
}
int main(void) {
    before_crash();
    volatile int *p = 0;
    *p = 1;
    return 0;
}
"""

# Sampled mode (MEMLENS_SAMPLE): a known set of live blocks of every kind --
# malloc/calloc, the memalign family at <= 16 (compact records) and
# over-aligned (full records), realloc chains that cross between sampled and
# compact blocks (contents checked at every step) -- listed as "address size
# alignment" lines in argv[1].  Then: a buffer holding fake records (the bare compact
# magic under plausible sizes, byte copies of real compact records), a pointer
# from __libc_malloc that the shim must pass through, and a 4 MiB block freed
# last (it merges into glibc's top chunk, which leaves its words alone: only the
# shim's free clears the magic).  Prints "ready VICTIM FOREIGN FAKES FAKES_SIZE
# CROSSED" (CROSSED: reallocs that moved between a compact and a full record).
SAMPLED = r"""
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define N 4000
#define VICTIM (4 << 20) /* larger than any free chunk: from the top */
#define COMPACT_MAGIC 0x3263504145484c40ULL
#define CHECK(c) \
    do { if (!(c)) { printf("FAIL %s:%d %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
extern void *__libc_malloc(size_t);
static char outbuf[4096];
static void *keep[N];
static size_t keep_size[N], keep_align[N];
static int nkeep;
__attribute__((noinline)) void *make(size_t n) { return malloc(n); }
__attribute__((noinline)) void *make_zeroed(size_t n) { return calloc(1, n); }
static int keep_it(void *p, size_t n, size_t align) {
    if (!p || (uintptr_t)p % align || malloc_usable_size(p) < n || nkeep == N) return 0;
    memset(p, 0x33, n);
    keep[nkeep] = p;
    keep_align[nkeep] = align;
    keep_size[nkeep++] = n;
    return 1;
}
static int is_compact(const void *p) {
    uint64_t w = ((const uint64_t *)p)[-1] - (uint64_t)(uintptr_t)p;
    return (w & ~0xfULL) == COMPACT_MAGIC;
}
/* Grows and shrinks a block through realloc; byte i always holds i * 7 + tag. */
__attribute__((noinline)) char *realloc_chain(int steps, unsigned tag, int *crossed, size_t *size) {
    unsigned x = tag;
    size_t n = 10;
    char *p = malloc(n);
    for (size_t i = 0; i < n; ++i) p[i] = (char)(i * 7 + tag);
    int was = is_compact(p);
    for (int k = 0; k < steps; ++k) {
        x = x * 1103515245u + 12345u;
        size_t m = k % 4 == 3 ? n / 2 + 1 : n + 1 + (x >> 8) % 3000;
        p = realloc(p, m);
        if (!p) return NULL;
        for (size_t i = 0; i < (m < n ? m : n); ++i)
            if (p[i] != (char)(i * 7 + tag)) return NULL;
        for (size_t i = n; i < m; ++i) p[i] = (char)(i * 7 + tag);
        if (malloc_usable_size(p) < m) return NULL;
        *crossed += is_compact(p) != was;
        was = is_compact(p);
        n = m;
    }
    *size = n;
    return p;
}
int main(int argc, char **argv) {
    setvbuf(stdout, outbuf, _IOLBF, sizeof outbuf); /* stdout never allocates */
    /* Keep the victim in the heap (no mmap) and the top chunk untrimmed. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (argc < 2) return 2;
    unsigned x = 12345;
    for (int i = 0; i < 2400; ++i) {
        x = x * 1103515245u + 12345u;
        size_t n = 1 + (x >> 8) % 6000;
        void *p = (i % 3 == 2) ? make_zeroed(n) : make(n);
        CHECK(p);
        if (i % 3 == 2) for (size_t k = 0; k < n; ++k) CHECK(((char *)p)[k] == 0);
        CHECK(keep_it(p, n, 16));
    }
    for (int i = 0; i < 300; ++i) {
        size_t n = 100 + (size_t)i * 13, a = (size_t)8 << (i % 10); /* 8 .. 4096 */
        void *p = NULL;
        switch (i % 3) {
        case 0: p = memalign(a, n); break;
        case 1: CHECK(posix_memalign(&p, a, n) == 0); break;
        default: p = aligned_alloc(a, n);
        }
        CHECK(keep_it(p, n, a));
    }
    int crossed = 0;
    for (int i = 0; i < 100; ++i) {
        size_t n = 0;
        char *p = realloc_chain(40, 1000u + (unsigned)i, &crossed, &n);
        CHECK(p && nkeep < N);
        keep[nkeep] = p;
        keep_align[nkeep] = 16;
        keep_size[nkeep++] = n;
    }
    for (int i = 0; i < nkeep; i += 3) { free(keep[i]); keep[i] = NULL; }

    /* Fake records in user data: none of them may become a block. */
    size_t fakes_size = 64 * 1024;
    uint64_t *fakes = malloc(fakes_size);
    CHECK(fakes);
    memset(fakes, 0, fakes_size);
    size_t words = fakes_size / 8, w = 2;
    for (int i = 0; i < nkeep && w + 2 < words; ++i) {
        if (keep[i] && is_compact(keep[i])) { /* a byte copy of a real compact record */
            memcpy(&fakes[w], (char *)keep[i] - 16, 16);
            w += 8;
        }
    }
    for (unsigned f = 0; f < 16 && w + 2 < words; ++f, w += 8) { /* the bare constant */
        fakes[w] = 64;
        fakes[w + 1] = COMPACT_MAGIC | f;
    }

    void *foreign = __libc_malloc(100); /* not the shim's: free/realloc pass it through */
    CHECK(foreign && malloc_usable_size(foreign) >= 100);
    foreign = realloc(foreign, 200);
    CHECK(foreign && malloc_usable_size(foreign) >= 200);
    free(__libc_malloc(50));

    FILE *out = fopen(argv[1], "w");
    CHECK(out);
    for (int i = 0; i < nkeep; ++i)
        if (keep[i])
            fprintf(out, "%lu %lu %lu\n", (unsigned long)(uintptr_t)keep[i],
                    (unsigned long)keep_size[i], (unsigned long)keep_align[i]);
    fprintf(out, "%lu %lu 16\n", (unsigned long)(uintptr_t)fakes, (unsigned long)fakes_size);
    CHECK(fclose(out) == 0);

    void *victim = malloc(VICTIM);
    CHECK(victim);
    memset(victim, 0x44, VICTIM);
    unsigned long victim_at = (unsigned long)(uintptr_t)victim;
    free(victim);
    printf("ready %lu %lu %lu %lu %d\n", victim_at, (unsigned long)(uintptr_t)foreign,
           (unsigned long)(uintptr_t)fakes, (unsigned long)fakes_size, crossed);
    pause();
    return 0;
}
"""
