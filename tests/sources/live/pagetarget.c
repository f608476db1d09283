/* A process with known page states, for the live page tests.
 * argv[1]: a directory to create files in.  Prints "NAME HEXADDR" lines, then
 * "ready"; afterwards each "touch" line on stdin writes the soft-dirty probe
 * page and answers "done".  Exits on end of input. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static long P;

static char *anon(int pages) {
    char *p = mmap(NULL, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    madvise(p, pages * P, MADV_NOHUGEPAGE);
    /* the fork child must not share these pages: their counts stay 1 */
    madvise(p, pages * P, MADV_DONTFORK);
    return p;
}

static char *file_map(const char *dir, const char *name, int pages, int unlink_it) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); exit(1); }
    char *buf = calloc(1, P);
    for (int i = 0; i < pages; i++) { memset(buf, 'a' + i, P); write(fd, buf, P); }
    free(buf);
    fsync(fd);
    /* out of the page cache, so that only the pages read below come back:
     * MADV_RANDOM stops readahead, and fault-around maps only cached pages */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    char *p = mmap(NULL, pages * P, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap file"); exit(1); }
    madvise(p, pages * P, MADV_RANDOM);
    madvise(p, pages * P, MADV_DONTFORK);
    close(fd);
    if (unlink_it) unlink(path);
    return p;
}

static volatile char sink;

int main(int argc, char **argv) {
    P = sysconf(_SC_PAGESIZE);
    const char *dir = argc > 1 ? argv[1] : "/tmp";

    /* pages 0, 2, 5 and 15 of 16 written */
    char *a = anon(16);
    a[0] = 1; a[2 * P] = 1; a[5 * P] = 1; a[15 * P] = 1;
    printf("anon %lx\n", (unsigned long)a);

    /* page 1 of 4 mlocked (mlock faults it in); the others never touched */
    char *l = anon(4);
    if (mlock(l + P, P) != 0) { perror("mlock"); return 1; }
    printf("locked %lx\n", (unsigned long)l);

    /* 8 pages written, then 2..5 dropped */
    char *d = anon(8);
    memset(d, 1, 8 * P);
    madvise(d + 2 * P, 4 * P, MADV_DONTNEED);
    printf("dontneed %lx\n", (unsigned long)d);

    /* shared anonymous, pages 0 and 24 written; the fork child reads page 0,
     * and its fault-around (64 KiB) cannot reach page 24 */
    char *s = mmap(NULL, 32 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s[0] = 1; s[24 * P] = 1;
    printf("shared %lx\n", (unsigned long)s);

    /* private anonymous written before fork: copy-on-write shared with the child */
    char *c = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(c, 2 * P, MADV_NOHUGEPAGE);
    memset(c, 1, 2 * P);
    printf("cow %lx\n", (unsigned long)c);

    /* file pages in the page cache, pages 0 and 2 of 4 read; the name has spaces */
    char *f = file_map(dir, "page target data", 4, 0);
    sink = f[0]; sink = f[2 * P];
    printf("file %lx\n", (unsigned long)f);

    /* a mapped file that was then deleted */
    char *g = file_map(dir, "gone file", 1, 1);
    sink = g[0];
    printf("deleted %lx\n", (unsigned long)g);

    /* soft-dirty probe: both pages written; the test clears and asks for page 1 */
    char *sd = anon(2);
    memset(sd, 1, 2 * P);
    printf("softdirty %lx\n", (unsigned long)sd);

    /* a guard region on page 1 of 3 (Linux 6.15) */
    char *gd = anon(3);
    gd[0] = 1;
    if (madvise(gd + P, P, MADV_GUARD_INSTALL) == 0) printf("guard %lx\n", (unsigned long)gd);

    /* userfaultfd write protection on page 0 of 2 (both written) */
    char *u = anon(2);
    memset(u, 1, 2 * P);
    int ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    struct uffdio_register reg = {.range = {(unsigned long)u, 2 * P}, .mode = UFFDIO_REGISTER_MODE_WP};
    struct uffdio_writeprotect wp = {.range = {(unsigned long)u, P}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    if (ufd >= 0 && ioctl(ufd, UFFDIO_API, &api) == 0 && ioctl(ufd, UFFDIO_REGISTER, &reg) == 0 &&
        ioctl(ufd, UFFDIO_WRITEPROTECT, &wp) == 0)
        printf("uffd %lx\n", (unsigned long)u);

    /* 1 GiB shared anonymous, only page 0 written: a snapshot must not fault in the rest */
    char *big = mmap(NULL, 1L << 30, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (big == MAP_FAILED) { perror("mmap big"); return 1; }
    madvise(big, 1L << 30, MADV_DONTFORK);
    big[0] = 1;
    printf("bigshared %lx\n", (unsigned long)big);

    /* private anonymous, pages 0..3 of 8 only read: they map the shared zero page */
    char *z = anon(8);
    for (int i = 0; i < 4; i++) sink = z[i * P];
    printf("zero %lx\n", (unsigned long)z);

    /* a 2 MiB-aligned 2 MiB with MADV_HUGEPAGE, written: a THP when the kernel has one */
    char *raw = mmap(NULL, 6L << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *h = (char *)(((unsigned long)raw + (2L << 20) - 1) & ~((2L << 20) - 1));
    madvise(h, 2L << 20, MADV_HUGEPAGE);
    madvise(h, 2L << 20, MADV_DONTFORK);
    memset(h, 3, 2L << 20);
    printf("thp %lx\n", (unsigned long)h);

    /* hugetlb, when the kernel has a free huge page */
    char *ht = mmap(NULL, 2L << 20, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (ht != MAP_FAILED) { ht[0] = 1; printf("hugetlb %lx\n", (unsigned long)ht); }

    /* shared /dev/zero: shared anonymous memory named "/dev/zero (deleted)"; page 1 written */
    int zfd = open("/dev/zero", O_RDWR);
    char *dz = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_SHARED, zfd, 0);
    close(zfd);
    if (dz == MAP_FAILED) { perror("mmap /dev/zero"); return 1; }
    madvise(dz, 4 * P, MADV_DONTFORK);
    dz[P] = 1;
    printf("devzero %lx\n", (unsigned long)dz);

    /* a memfd (shmem file), pages 0 and 2 of 4 written */
    int mfd = (int)syscall(SYS_memfd_create, "zoo memfd", 0);
    if (mfd < 0 || ftruncate(mfd, 4 * P) != 0) { perror("memfd"); return 1; }
    char *mf = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    close(mfd);
    madvise(mf, 4 * P, MADV_DONTFORK);
    mf[0] = 1; mf[2 * P] = 1;
    printf("memfd %lx\n", (unsigned long)mf);

    /* PROT_NONE reservation, 4 pages */
    char *pn = mmap(NULL, 4 * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("protnone %lx\n", (unsigned long)pn);

    fflush(stdout);
    int done[2];
    if (pipe(done) != 0) { perror("pipe"); return 1; }
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sink = s[0];
        printf("child %d\n", getpid());
        fflush(stdout);
        write(done[1], "x", 1);
        pause();
        _exit(0);
    }
    char line[64];
    /* ready only once the child has mapped s[0] (however late it runs) */
    if (read(done[0], line, 1) != 1) { perror("read"); return 1; }
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "touch", 5) == 0) {
            sd[P] = 2;
            printf("done\n");
            fflush(stdout);
        }
    }
    kill(child, SIGKILL);
    return 0;
}
