/* The raw floor of a page summary: one pread of /proc/PID/pagemap per mapping,
 * then /proc/kpageflags read in runs of nearby PFNs -- the reads alone, no
 * decoding beyond collecting PFNs and no output.  Prints the pages seen. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    char path[64], line[4096];
    long psize = sysconf(_SC_PAGESIZE);
    snprintf(path, sizeof path, "/proc/%s/maps", argv[1]);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "/proc/%s/pagemap", argv[1]);
    int pm = open(path, O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
    if (!maps || pm < 0 || kf < 0) { perror("open"); return 1; }
    size_t n = 0, cap = 1 << 16;
    uint64_t *pfns = malloc(cap * 8);
    while (fgets(line, sizeof line, maps)) {
        uint64_t start, end;
        if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2) continue;
        size_t pages = (end - start) / psize;
        uint64_t *e = malloc(pages * 8);
        ssize_t got = pread(pm, e, pages * 8, (off_t)(start / psize * 8));
        for (ssize_t i = 0; i < got / 8; i++)
            if (e[i] >> 63) {
                if (n == cap) pfns = realloc(pfns, (cap *= 2) * 8);
                pfns[n++] = e[i] & ((1ULL << 55) - 1);
            }
        free(e);
    }
    qsort(pfns, n, 8, cmp);
    uint64_t *buf = malloc(1 << 24);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && pfns[j + 1] - pfns[j] <= 64) j++;
        size_t count = pfns[j] - pfns[i] + 1;
        if (count * 8 > (1 << 24)) count = (1 << 24) / 8;
        pread(kf, buf, count * 8, (off_t)(pfns[i] * 8));
        i = j + 1;
    }
    printf("%zu\n", n);
    return 0;
}
