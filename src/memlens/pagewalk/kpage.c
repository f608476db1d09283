/* /proc/kpagecount and /proc/kpageflags, read in spans of nearby PFNs.
 *
 * The kernel charges ~0.09 us per entry and a pread ~0.35 us more: PFNs are
 * sorted once (a radix sort of runs of consecutive PFNs) and PFNs at most `gap`
 * apart share one pread, whose entries are then copied to the pages that asked
 * for them (measured here: 131k PFNs in ~14 ms, against ~2.3 s for one read
 * per page).
 */
#include "pagewalk.h" /* first: Python.h sets _GNU_SOURCE (sched_getaffinity) */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* Entries per pread at most: bounds each read buffer to 512 KiB whatever the spans. */
#define MAX_SPAN (1u << 16)
/* Highest PFN the field can hold; higher ones (from a caller's array) read as 0
 * without a read, and keep every offset (pfn * 8) inside off_t. */
#define MAX_PFN PW_PFN_MASK
/* kpage* files read in one call at most, and threads reading them */
#define MAX_FILES 4
#define MAX_JOBS 8
/* Output slot of a page: table index above, page index in the table below. */
#define SLOT_SHIFT 40
#define SLOT_PAGE_MASK ((UINT64_C(1) << SLOT_SHIFT) - 1)

/* `len` consecutive pages (slots) backed by `len` consecutive PFNs.  A process's
 * PFNs mostly come in such runs (131k pages of a 512 MiB process: ~19k runs),
 * so runs, not pages, are sorted and scattered. */
typedef struct {
    uint64_t pfn;
    uint64_t slot;
    uint64_t len;
} Run;

/* Collects runs from pages given in slot order; with out == NULL only counts them. */
typedef struct {
    Run *out;
    size_t m;
    Run cur;
    int open;
} RunBuilder;

static inline void rb_flush(RunBuilder *b) {
    if (!b->open) return;
    if (b->out != NULL) b->out[b->m] = b->cur;
    b->m++;
    b->open = 0;
}

static inline void rb_add(RunBuilder *b, uint64_t pfn, uint64_t slot) {
    Run *r = &b->cur;
    /* r->pfn <= MAX_PFN and len <= MAX_SPAN: the sums cannot wrap */
    if (b->open && r->pfn <= MAX_PFN && pfn <= MAX_PFN && pfn == r->pfn + r->len &&
        slot == r->slot + r->len && r->len < MAX_SPAN) {
        r->len++;
        return;
    }
    rb_flush(b);
    b->cur = (Run){pfn, slot, 1};
    b->open = 1;
}

/* Stable LSD radix sort of runs by first PFN, 11 bits a pass; passes whose digit
 * is the same for every run are skipped (PFNs of one machine share top bits). */
static void sort_runs(Run *a, Run *tmp, size_t n) {
    enum { BITS = 11, BUCKETS = 1 << BITS, PASSES = (64 + BITS - 1) / BITS };
    static size_t hist[PASSES][BUCKETS]; /* 96 KiB: static, used with the GIL held */
    if (n < 2) return;
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < PASSES; p++) hist[p][(a[i].pfn >> (p * BITS)) & (BUCKETS - 1)]++;
    for (int p = 0; p < PASSES; p++) {
        size_t *h = hist[p];
        int trivial = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            if (h[b] == n) trivial = 1;
            if (h[b]) break;
        }
        if (trivial) continue;
        size_t sum = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            size_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) tmp[h[(a[i].pfn >> (p * BITS)) & (BUCKETS - 1)]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* End (exclusive) of the span of sorted runs that starts at runs[i]: runs that
 * start at most `gap` PFNs beyond the span's last PFN so far (or inside it),
 * within MAX_SPAN entries of its first.  *last gets the span's last PFN. */
static size_t span_end(const Run *runs, size_t i, size_t m, uint64_t gap, uint64_t *last) {
    uint64_t first = runs[i].pfn, hi = first + runs[i].len - 1;
    size_t j = i + 1;
    for (; j < m; j++) {
        uint64_t start = runs[j].pfn, end = start + runs[j].len - 1;
        if (start > hi && start - hi > gap) break;
        uint64_t new_hi = end > hi ? end : hi;
        if (new_hi - first >= MAX_SPAN) break;
        hi = new_hi;
    }
    *last = hi;
    return j;
}

/* How many of the sorted runs can be read (PFNs within the field; runs never
 * cross MAX_PFN, see rb_add). */
static size_t readable(const Run *runs, size_t m) {
    while (m > 0 && runs[m - 1].pfn > MAX_PFN) m--;
    return m;
}

/* The largest span's entries, to size a read buffer by what is read. */
static size_t largest_span(const Run *runs, size_t m, uint64_t gap) {
    size_t most = 1, i = 0;
    while (i < m) {
        uint64_t last;
        size_t j = span_end(runs, i, m, gap, &last);
        if (last - runs[i].pfn + 1 > most) most = (size_t)(last - runs[i].pfn + 1);
        i = j;
    }
    return most;
}

/* Reads every span of `runs` (sorted, all readable) from `fd` into `buf`, and
 * copies each run's values to its slots in `bases`.  0, or the errno of a
 * failed read.  Runs without the GIL: touches no Python object. */
static int fill_from(int fd, const Run *runs, size_t m, uint64_t gap, uint64_t *buf,
                     uint64_t *const *bases) {
    size_t i = 0;
    while (i < m) {
        uint64_t first = runs[i].pfn, last;
        size_t j = span_end(runs, i, m, gap, &last);
        size_t want = (size_t)(last - first + 1) * 8, got = 0;
        while (got < want) {
            ssize_t r = pread(fd, (char *)buf + got, want - got, (off_t)(first * 8 + got));
            if (r < 0) {
                if (errno == EINTR) continue;
                return errno;
            }
            if (r == 0) break; /* past the last page frame: the rest reads as 0 */
            got += (size_t)r;
        }
        memset((char *)buf + got, 0, want - got);
        for (size_t k = i; k < j; k++)
            memcpy(bases[runs[k].slot >> SLOT_SHIFT] + (runs[k].slot & SLOT_PAGE_MASK),
                   buf + (runs[k].pfn - first), (size_t)runs[k].len * 8);
        i = j;
    }
    return 0;
}

/* Sorted runs of a PFN buffer (slot = index), or NULL with an error set. */
static Run *runs_of_pfns(const PwU64 *pfns, size_t *m) {
    if ((uint64_t)pfns->n > SLOT_PAGE_MASK) {
        PyErr_SetString(PyExc_ValueError, "too many PFNs");
        return NULL;
    }
    RunBuilder b = {0};
    for (Py_ssize_t i = 0; i < pfns->n; i++) rb_add(&b, pw_load(pfns->data, i), (uint64_t)i);
    rb_flush(&b);
    Run *runs = PyMem_Malloc((b.m ? b.m : 1) * sizeof *runs);
    Run *tmp = PyMem_Malloc((b.m ? b.m : 1) * sizeof *tmp);
    if (runs == NULL || tmp == NULL) {
        PyMem_Free(runs);
        PyMem_Free(tmp);
        PyErr_NoMemory();
        return NULL;
    }
    b = (RunBuilder){.out = runs};
    for (Py_ssize_t i = 0; i < pfns->n; i++) rb_add(&b, pw_load(pfns->data, i), (uint64_t)i);
    rb_flush(&b);
    sort_runs(runs, tmp, b.m);
    PyMem_Free(tmp);
    *m = b.m;
    return runs;
}

PyObject *pw_kpage_spans(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *po;
    unsigned long long gap;
    if (!PyArg_ParseTuple(args, "OK:kpage_spans", &po, &gap)) return NULL;
    PwU64 pfns;
    if (pw_u64_get(po, &pfns, "pfns", 0) < 0) return NULL;
    size_t m;
    Run *runs = runs_of_pfns(&pfns, &m);
    pw_u64_release(&pfns);
    if (runs == NULL) return NULL;
    m = readable(runs, m);
    size_t i = 0;
    PyObject *out = PyList_New(0);
    while (out != NULL && i < m) {
        uint64_t last;
        size_t j = span_end(runs, i, m, gap, &last);
        PyObject *span = Py_BuildValue("(KK)", (unsigned long long)runs[i].pfn,
                                       (unsigned long long)(last - runs[i].pfn + 1));
        if (span == NULL || PyList_Append(out, span) < 0) Py_CLEAR(out);
        Py_XDECREF(span);
        i = j;
    }
    PyMem_Free(runs);
    return out;
}

PyObject *pw_kpage_read(PyObject *self, PyObject *args) {
    (void)self;
    int fd;
    PyObject *po;
    unsigned long long gap;
    if (!PyArg_ParseTuple(args, "iOK:kpage_read", &fd, &po, &gap)) return NULL;
    PwU64 pfns;
    if (pw_u64_get(po, &pfns, "pfns", 0) < 0) return NULL;
    size_t n = (size_t)pfns.n, m;
    Run *runs = runs_of_pfns(&pfns, &m);
    pw_u64_release(&pfns);
    if (runs == NULL) return NULL;
    m = readable(runs, m);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    uint64_t *buf = PyMem_Malloc(largest_span(runs, m, gap) * 8);
    if (out == NULL || buf == NULL) {
        Py_XDECREF(out);
        PyMem_Free(buf);
        PyMem_Free(runs);
        return buf == NULL ? PyErr_NoMemory() : NULL;
    }
    uint64_t *base = (uint64_t *)PyByteArray_AS_STRING(out);
    memset(base, 0, n * 8); /* PFNs beyond the field read as 0 */
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = fill_from(fd, runs, m, gap, buf, &base);
    Py_END_ALLOW_THREADS
    PyMem_Free(buf);
    PyMem_Free(runs);
    if (err) {
        Py_DECREF(out);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return out;
}

/* A share of one file's reads (whole spans), for a thread of its own. */
typedef struct {
    int fd;
    const Run *runs;
    size_t m;
    uint64_t gap;
    uint64_t *buf;
    uint64_t *const *bases;
    int err;
} ReadJob;

static void *read_job(void *arg) {
    ReadJob *job = arg;
    job->err = fill_from(job->fd, job->runs, job->m, job->gap, job->buf, job->bases);
    return NULL;
}

/* CPUs this process may run on (1 when unknown). */
static int usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return 1;
}

/* Index of the first span boundary at or after run `target`, from boundary `lo`. */
static size_t boundary_after(const Run *runs, size_t m, uint64_t gap, size_t lo, size_t target) {
    size_t i = lo;
    uint64_t last;
    while (i < m && i < target) i = span_end(runs, i, m, gap, &last);
    return i;
}

/* Reads every file, each in `parts` shares of whole spans, the first share on
 * this thread and the others on threads of their own: without the GIL the
 * kernel's work per entry (~0.1 us, which dominates) runs on every CPU.
 * kpageflags and kpagecount do not wait for each other, nor do two halves of
 * one file.  `errs[f]` gets 0 or the errno that stopped file f.  Returns -1
 * when a buffer could not be allocated. */
static int read_files(const int *fds, Py_ssize_t nf, const Run *runs, size_t m, uint64_t gap,
                      uint64_t **bases, Py_ssize_t nt, int *errs) {
    ReadJob jobs[MAX_JOBS];
    pthread_t threads[MAX_JOBS];
    int started[MAX_JOBS] = {0};
    size_t parts = 1, njobs = 0, bufsize = largest_span(runs, m, gap) * 8;
    size_t cpus = (size_t)usable_cpus();
    if (nf > 0 && cpus > (size_t)nf) parts = (cpus < MAX_JOBS ? cpus : MAX_JOBS) / (size_t)nf;
    if (m < 2 * parts) parts = 1; /* a few runs: not worth a thread */
    for (Py_ssize_t f = 0; f < nf; f++) {
        size_t lo = 0;
        for (size_t k = 0; k < parts; k++) {
            size_t hi = k + 1 == parts ? m : boundary_after(runs, m, gap, lo, m * (k + 1) / parts);
            jobs[njobs] = (ReadJob){fds[f], runs + lo, hi - lo, gap, NULL, bases + f * nt, 0};
            jobs[njobs].buf = PyMem_RawMalloc(bufsize);
            if (jobs[njobs].buf == NULL) {
                for (size_t j = 0; j < njobs; j++) PyMem_RawFree(jobs[j].buf);
                return -1;
            }
            njobs++;
            lo = hi;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (size_t j = 1; j < njobs; j++) started[j] = pthread_create(&threads[j], NULL, read_job, &jobs[j]) == 0;
    if (njobs > 0) read_job(&jobs[0]);
    for (size_t j = 1; j < njobs; j++) {
        if (started[j])
            pthread_join(threads[j], NULL);
        else
            read_job(&jobs[j]); /* no thread to be had: read it here */
    }
    Py_END_ALLOW_THREADS
    for (size_t j = 0; j < njobs; j++) {
        Py_ssize_t f = (Py_ssize_t)(j / parts);
        if (errs[f] == 0) errs[f] = jobs[j].err;
        PyMem_RawFree(jobs[j].buf);
    }
    return 0;
}

PyObject *pw_kpage_fill(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *tables_o, *fds_o;
    unsigned long long gap;
    if (!PyArg_ParseTuple(args, "OOK:kpage_fill", &tables_o, &fds_o, &gap)) return NULL;
    PyObject *tables = PySequence_Fast(tables_o, "tables must be a sequence");
    if (tables == NULL) return NULL;
    PyObject *fds = PySequence_Fast(fds_o, "fds must be a sequence");
    if (fds == NULL) {
        Py_DECREF(tables);
        return NULL;
    }
    Py_ssize_t nt = PySequence_Fast_GET_SIZE(tables), nf = PySequence_Fast_GET_SIZE(fds);
    PyObject *result = NULL, **outs = NULL;
    PwU64 *views = NULL;
    uint64_t **bases = NULL;
    Run *runs = NULL, *tmp = NULL;
    int *fdv = NULL, *errs = NULL;
    Py_ssize_t held = 0;
    if ((uint64_t)nt >= UINT64_C(1) << (64 - SLOT_SHIFT) || nf > MAX_FILES) {
        PyErr_SetString(PyExc_ValueError, "too many tables or files");
        goto done;
    }
    views = PyMem_Calloc((size_t)nt + 1, sizeof *views);
    bases = PyMem_Calloc(((size_t)nt + 1) * ((size_t)nf + 1), sizeof *bases);
    outs = PyMem_Calloc(((size_t)nt + 1) * ((size_t)nf + 1), sizeof *outs);
    fdv = PyMem_Calloc((size_t)nf + 1, sizeof *fdv);
    errs = PyMem_Calloc((size_t)nf + 1, sizeof *errs);
    if (!views || !bases || !outs || !fdv || !errs) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t f = 0; f < nf; f++) {
        long fd = PyLong_AsLong(PySequence_Fast_GET_ITEM(fds, f));
        if (fd == -1 && PyErr_Occurred()) goto done;
        if (fd < 0 || fd > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "not a file descriptor");
            goto done;
        }
        fdv[f] = (int)fd;
    }
    for (; held < nt; held++) {
        if (pw_u64_get(PySequence_Fast_GET_ITEM(tables, held), &views[held], "table", 0) < 0) goto done;
        if ((uint64_t)views[held].n > SLOT_PAGE_MASK) {
            PyErr_SetString(PyExc_ValueError, "table too large");
            held++;
            goto done;
        }
    }
    /* outputs: one zeroed bytearray per file and table (0 where not present) */
    for (Py_ssize_t f = 0; f < nf; f++)
        for (Py_ssize_t t = 0; t < nt; t++) {
            PyObject *o = PyByteArray_FromStringAndSize(NULL, views[t].n * 8);
            if (o == NULL) goto done;
            outs[f * nt + t] = o;
            bases[f * nt + t] = (uint64_t *)PyByteArray_AS_STRING(o);
            memset(bases[f * nt + t], 0, (size_t)views[t].n * 8);
        }
    /* the present pages' runs: counted, then collected, then sorted by PFN */
    RunBuilder b = {0};
    for (int pass = 0; pass < 2; pass++) {
        for (Py_ssize_t t = 0; t < nt; t++)
            for (Py_ssize_t i = 0; i < views[t].n; i++) {
                uint64_t e = pw_load(views[t].data, i);
                if (e >> PW_BIT_PRESENT) rb_add(&b, e & PW_PFN_MASK, (uint64_t)t << SLOT_SHIFT | (uint64_t)i);
            }
        rb_flush(&b);
        if (pass == 0) {
            runs = PyMem_Malloc((b.m ? b.m : 1) * sizeof *runs);
            tmp = PyMem_Malloc((b.m ? b.m : 1) * sizeof *tmp);
            if (runs == NULL || tmp == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            b = (RunBuilder){.out = runs};
        }
    }
    size_t m = b.m; /* PFNs come from the 55-bit field: every run is readable */
    sort_runs(runs, tmp, m);
    if (read_files(fdv, nf, runs, m, gap, bases, nt, errs) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New(nf);
    if (result == NULL) goto done;
    for (Py_ssize_t f = 0; f < nf; f++) {
        PyObject *item;
        if (errs[f]) {
            item = PyLong_FromLong(errs[f]);
        } else {
            item = PyList_New(nt);
            for (Py_ssize_t t = 0; item != NULL && t < nt; t++) {
                PyList_SET_ITEM(item, t, outs[f * nt + t]); /* steals */
                outs[f * nt + t] = NULL;
            }
        }
        if (item == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, f, item);
    }
done:
    for (Py_ssize_t t = 0; t < held; t++) pw_u64_release(&views[t]);
    if (outs != NULL)
        for (Py_ssize_t k = 0; k < nt * nf; k++) Py_XDECREF(outs[k]);
    PyMem_Free(views);
    PyMem_Free(bases);
    PyMem_Free(outs);
    PyMem_Free(fdv);
    PyMem_Free(errs);
    PyMem_Free(runs);
    PyMem_Free(tmp);
    Py_DECREF(tables);
    Py_DECREF(fds);
    return result;
}
