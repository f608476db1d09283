"""C/C++ programs the heap tests compile (the seed's test programs, rewritten, and more)."""

from __future__ import annotations

# The seed's test.c: eight blocks of 128 KiB +- 1 from one function, then one
# block of 1 MiB from another, with a snapshot after each (raise(SIGUSR2) is
# memlens run's snapshot request).
SEED = r"""
#include <signal.h>
#include <stdlib.h>
__attribute__((noinline)) void sample_state(void) { raise(SIGUSR2); }
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
    } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
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
