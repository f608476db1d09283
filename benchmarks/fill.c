/* Allocate N MiB in 16 MiB chunks filled with xorshift bytes (not compressible, not
 * sparse), print "ready", then wait: the process to snapshot for bench_cores.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 1024;
    uint64_t x = 88172645463325252ULL;
    for (long i = 0; i < mib / 16; i++) {
        uint64_t *p = malloc(16 << 20);
        for (size_t j = 0; j < (16 << 20) / 8; j++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            p[j] = x;
        }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
