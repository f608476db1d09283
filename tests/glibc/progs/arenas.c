/* A heap in a known state for the glibc walk tests.
 *
 *   arenas NTHREADS MODES
 *
 * MODES letters: f = fill tcache and fastbins (free many small blocks),
 * b = free large and medium blocks into the unsorted/small/large bins,
 * m = keep some mmapped chunks, t = malloc_trim(0) at the end.
 * Every thread allocates in its own arena, then all wait on a barrier; the
 * main thread prints mallinfo2() with write() (stdio would allocate its
 * buffer after the figures were taken), then waits on stdin:
 *   a line "abort" -> abort() (a kernel core), end of input -> exit.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *modes = "";
static pthread_barrier_t ready, never;
static void *keep[8][4096];

static int has(char c) { return strchr(modes, c) != NULL; }

static void work(int t) {
    void **k = keep[t];
    int n = 0;
    for (int i = 0; i < 600; i++) k[n++] = malloc(24 + (size_t)(i % 40) * 16);
    if (has('f'))
        for (int i = 0; i < 600; i += 2) { free(k[i]); k[i] = NULL; }
    if (has('b')) {
        void *big[12];
        for (int i = 0; i < 12; i++) { big[i] = malloc(1000 + (size_t)i * 700); k[n++] = malloc(40); }
        for (int i = 0; i < 12; i += 2) free(big[i]);
        void *spill = malloc(20000); /* sorts the unsorted chunks into small/large bins */
        k[n++] = spill;
        free(big[1]); /* one left in the unsorted bin */
    }
    if (has('m'))
        for (int i = 0; i < 3; i++) k[n++] = malloc(200000 + (size_t)i * 50000);
}

static void *thread_main(void *arg) {
    work((int)(long)arg);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&never);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    modes = argc > 2 ? argv[2] : "";
    if (threads < 1 || threads > 8) return 2;
    pthread_barrier_init(&ready, NULL, (unsigned)threads);
    pthread_barrier_init(&never, NULL, (unsigned)threads + 1);
    pthread_t tid[8];
    for (long t = 1; t < threads; t++) pthread_create(&tid[t], NULL, thread_main, (void *)t);
    work(0);
    pthread_barrier_wait(&ready);
    if (has('t')) malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    char line[512];
    int len = snprintf(line, sizeof line,
        "mallinfo2 arena=%zu ordblks=%zu smblks=%zu hblks=%zu hblkhd=%zu "
        "uordblks=%zu fordblks=%zu keepcost=%zu\n",
        mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd, mi.uordblks, mi.fordblks,
        mi.keepcost);
    if (write(1, line, (size_t)len) != len) return 3;
    char cmd[16];
    ssize_t got = read(0, cmd, sizeof cmd);
    if (got >= 5 && memcmp(cmd, "abort", 5) == 0) abort();
    return 0;
}
