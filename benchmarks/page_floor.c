/* How low can `memlens pages PID` go?  The reads it cannot avoid, stage by stage,
 * each as cheap as this program knows how to make it:
 *
 *   page_floor PID pagemap   one pread of /proc/PID/pagemap per mapping
 *   page_floor PID flags     + /proc/kpageflags over the sorted, de-duplicated
 *                            PFNs, one pread per run of PFNs less than GAP apart
 *   page_floor PID counts    + /proc/kpagecount over the same runs
 *   page_floor PID lines     + one text line per present page (address, PFN,
 *                            count, flag bits in hex), written in 1 MiB blocks
 *
 * GAP is the third argument (default 8, memlens's PFN_GAP_MERGE).  Prints the
 * present pages and the preads made to stderr.  Our own code. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRESENT (1ULL << 63)
#define PFN_MASK ((1ULL << 55) - 1)

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* value of `fd` (a kpage* file) for each sorted unique PFN, in `out` */
static size_t read_runs(int fd, const uint64_t *pfn, size_t n, uint64_t gap, uint64_t *out) {
    static uint64_t buf[1 << 16];
    size_t reads = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && pfn[j + 1] - pfn[j] <= gap && pfn[j + 1] - pfn[i] < (1 << 16)) j++;
        uint64_t first = pfn[i], count = pfn[j] - first + 1;
        ssize_t got = pread(fd, buf, count * 8, (off_t)(first * 8));
        reads++;
        for (size_t k = i; k <= j; k++) {
            uint64_t at = pfn[k] - first;
            out[k] = (ssize_t)(at * 8) < got ? buf[at] : 0;
        }
        i = j + 1;
    }
    return reads;
}

/* index of `pfn` among the sorted unique PFNs */
static size_t find(const uint64_t *pfn, size_t n, uint64_t key) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pfn[mid] < key) lo = mid + 1; else hi = mid;
    }
    return lo;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: page_floor PID pagemap|flags|counts|lines [GAP]\n"); return 2; }
    const char *stage = argv[2];
    int flags_on = strcmp(stage, "pagemap") != 0;
    int counts_on = !strcmp(stage, "counts") || !strcmp(stage, "lines");
    int lines_on = !strcmp(stage, "lines");
    uint64_t gap = argc > 3 ? strtoull(argv[3], NULL, 0) : 8;
    char path[64], line[4096];
    long psize = sysconf(_SC_PAGESIZE);
    snprintf(path, sizeof path, "/proc/%s/maps", argv[1]);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "/proc/%s/pagemap", argv[1]);
    int pm = open(path, O_RDONLY);
    if (!maps || pm < 0) { perror("open"); return 1; }
    /* every entry of every mapping, kept for the lines */
    size_t n = 0, cap = 1 << 20, nmaps = 0;
    uint64_t *entry = malloc(cap * 8), *addr = malloc(cap * 8);
    while (fgets(line, sizeof line, maps)) {
        uint64_t start, end;
        if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2) continue;
        size_t pages = (end - start) / psize;
        if (n + pages > cap) {
            while (n + pages > cap) cap *= 2;
            entry = realloc(entry, cap * 8);
            addr = realloc(addr, cap * 8);
        }
        ssize_t got = pread(pm, entry + n, pages * 8, (off_t)(start / psize * 8));
        nmaps++;
        for (ssize_t i = 0; i < (got > 0 ? got / 8 : 0); i++) addr[n + i] = start + i * psize;
        n += got > 0 ? got / 8 : 0;
    }
    size_t present = 0;
    uint64_t *pfn = malloc((n ? n : 1) * 8);
    for (size_t i = 0; i < n; i++)
        if (entry[i] & PRESENT) pfn[present++] = entry[i] & PFN_MASK;
    size_t unique = 0, reads = 0;
    uint64_t *kflags = NULL, *kcount = NULL;
    if (flags_on) {
        qsort(pfn, present, 8, cmp);
        for (size_t i = 0; i < present; i++)
            if (!unique || pfn[i] != pfn[unique - 1]) pfn[unique++] = pfn[i];
        kflags = malloc((unique ? unique : 1) * 8);
        int kf = open("/proc/kpageflags", O_RDONLY);
        if (kf < 0) { perror("/proc/kpageflags"); return 1; }
        reads += read_runs(kf, pfn, unique, gap, kflags);
        close(kf);
    }
    if (counts_on) {
        kcount = malloc((unique ? unique : 1) * 8);
        int kc = open("/proc/kpagecount", O_RDONLY);
        if (kc < 0) { perror("/proc/kpagecount"); return 1; }
        reads += read_runs(kc, pfn, unique, gap, kcount);
        close(kc);
    }
    if (lines_on) {
        static char out[1 << 20];
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(entry[i] & PRESENT)) continue;
            uint64_t p = entry[i] & PFN_MASK;
            size_t k = find(pfn, unique, p);
            used += (size_t)snprintf(out + used, 128, "%016" PRIx64 " %016" PRIx64 " %" PRIu64
                                     " %" PRIx64 "\n", addr[i], p * psize, kcount[k], kflags[k]);
            if (used > sizeof out - 128) { fwrite(out, 1, used, stdout); used = 0; }
        }
        fwrite(out, 1, used, stdout);
    }
    if (getenv("PAGE_FLOOR_VERBOSE"))
        fprintf(stderr, "%zu present pages, %zu unique PFNs, %zu mappings, %zu kpage preads\n",
            present, unique, nmaps, reads);
    return 0;
}
