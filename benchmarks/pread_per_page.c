/* The one-pread-per-page page-table walk that memlens is measured against:
 * for every page of every mapping, an 8-byte pread of /proc/PID/pagemap and,
 * for present pages, one 8-byte pread each of /proc/kpagecount and
 * /proc/kpageflags, then one printf per page.  This models the approach of
 * ptexplore (one pread per page per file); it is our own code. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *names[] = {
    "LOCKED", "ERROR", "REFERENCED", "UPTODATE", "DIRTY", "LRU", "ACTIVE", "SLAB",
    "WRITEBACK", "RECLAIM", "BUDDY", "MMAP", "ANON", "SWAPCACHE", "SWAPBACKED",
    "COMPOUND_HEAD", "COMPOUND_TAIL", "HUGE", "UNEVICTABLE", "HWPOISON", "NOPAGE",
    "KSM", "THP", "OFFLINE", "ZERO_PAGE", "IDLE", "PGTABLE"};

static int read_u64(int fd, uint64_t index, uint64_t *out) {
    return pread(fd, out, 8, (off_t)(index * 8)) == 8 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s PID\n", argv[0]); return 2; }
    char path[64];
    long psize = sysconf(_SC_PAGESIZE);
    snprintf(path, sizeof path, "/proc/%s/maps", argv[1]);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "/proc/%s/pagemap", argv[1]);
    int pm = open(path, O_RDONLY);
    int kc = open("/proc/kpagecount", O_RDONLY);
    int kf = open("/proc/kpageflags", O_RDONLY);
    if (!maps || pm < 0 || kc < 0 || kf < 0) { perror("open"); return 1; }
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        uint64_t start, end;
        if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2) continue;
        printf("%s", line);
        uint64_t missing = 0;
        for (uint64_t a = start; a < end; a += psize) {
            uint64_t e;
            if (read_u64(pm, a / psize, &e)) break;  /* above the task size */
            if (!(e >> 63 & 1) && !(e >> 62 & 1)) { missing++; continue; }
            if (missing) { printf("... %" PRIu64 " pages not present ...\n", missing); missing = 0; }
            if (e >> 63 & 1) {
                uint64_t pfn = e & ((1ULL << 55) - 1), count = 0, flags = 0;
                read_u64(kc, pfn, &count);
                read_u64(kf, pfn, &flags);
                printf("%016" PRIx64 "  phys %016" PRIx64 " %s%s%s count %" PRIu64 " ", a,
                       pfn * psize, e >> 61 & 1 ? " file-page" : "",
                       e >> 56 & 1 ? " exclusive" : "", e >> 55 & 1 ? " soft-dirty" : "", count);
                int first = 1;
                for (int b = 0; b < 27; b++)
                    if (flags >> b & 1) { printf("%s%s", first ? "" : ",", names[b]); first = 0; }
                printf("\n");
            } else {
                printf("%016" PRIx64 "  swap type %" PRIu64 " offset %" PRIx64 "\n", a, e & 0x1f,
                       (e & ((1ULL << 55) - 1)) >> 5);
            }
        }
        if (missing) printf("... %" PRIu64 " pages not present ...\n", missing);
    }
    return 0;
}
