/* Allocation benchmark from issue 5: each thread loops ITERS times: pick a
 * pseudo-random size 16-527 bytes, free the block in slot i % 1024, allocate a
 * new one through a chain of DEPTH non-inlined calls and touch its first 64
 * bytes; at the end free all.  Build: gcc -O2 -g -pthread. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 1024
static long iters = 1000000;
static int depth = 10;

__attribute__((noinline)) static void *alloc_chain(int level, size_t size) {
    if (level <= 1) {
        void *p = malloc(size);
        memset(p, 0x42, size < 64 ? size : 64);
        return p;
    }
    void *p = alloc_chain(level - 1, size);
    __asm__ volatile("" ::: "memory"); /* keep the call a real call, not a tail call */
    return p;
}

static void *worker(void *arg) {
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)arg;
    void *slot[WINDOW] = {0};
    for (long i = 0; i < iters; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t size = 16 + (size_t)(x % 512);
        free(slot[i % WINDOW]);
        slot[i % WINDOW] = alloc_chain(depth, size);
    }
    for (int i = 0; i < WINDOW; ++i) free(slot[i]);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2) iters = atol(argv[2]);
    if (argc > 3) depth = atoi(argv[3]);
    pthread_t t[64];
    if (threads < 1 || threads > 64) return 2;
    for (long i = 0; i < threads; ++i) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
    printf("%d threads x %ld allocations, depth %d\n", threads, iters, depth);
    return 0;
}
