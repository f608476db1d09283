/* /proc/kpagecount and /proc/kpageflags, read in spans of nearby PFNs.
 *
 * The kernel charges ~0.09 us per entry and a pread ~0.35 us more: PFNs are
 * sorted once (a radix sort) and PFNs less than `gap` apart share one pread,
 * whose entries are then scattered to the pages that asked for them
 * (ENGINEERING_NOTES section 2: 131k PFNs in ~14 ms, against ~2.3 s for one
 * read per page).
 */
#include "pagewalk.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

/* Entries per pread at most: bounds the read buffer to 512 KiB whatever the spans. */
#define MAX_SPAN (1u << 16)
/* Highest PFN the field can hold; higher ones (from a caller's array) read as 0
 * without a read, and keep every offset (pfn * 8) inside off_t. */
#define MAX_PFN PW_PFN_MASK
/* Output slot of a page: table index above, page index in the table below. */
#define SLOT_SHIFT 40
#define SLOT_PAGE_MASK ((UINT64_C(1) << SLOT_SHIFT) - 1)

typedef struct {
    uint64_t pfn;
    uint64_t slot;
} PfnRef;

/* Stable LSD radix sort by pfn, 11 bits a pass; passes whose digit is the same
 * for every PFN are skipped (PFNs of one machine share their top bits). */
static void sort_refs(PfnRef *a, PfnRef *tmp, size_t n) {
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

/* End (exclusive) of the span that starts at refs[i]: the following PFNs at
 * most `gap` beyond their predecessor, within MAX_SPAN entries of the first. */
static size_t span_end(const PfnRef *refs, size_t i, size_t m, uint64_t gap) {
    uint64_t first = refs[i].pfn, last = first;
    size_t j = i + 1;
    while (j < m && refs[j].pfn - last <= gap && refs[j].pfn - first < MAX_SPAN) last = refs[j++].pfn;
    return j;
}

/* How many of the sorted refs can be read (PFN within the field). */
static size_t readable(const PfnRef *refs, size_t m) {
    while (m > 0 && refs[m - 1].pfn > MAX_PFN) m--;
    return m;
}

/* Reads every span of `refs` (sorted, all readable) from `fd` into `buf`, and
 * stores each ref's value at its slot in `bases`.  0, or the errno of a failed
 * read.  Runs without the GIL: touches no Python object. */
static int fill_from(int fd, const PfnRef *refs, size_t m, uint64_t gap, uint64_t *buf,
                     uint64_t *const *bases) {
    size_t i = 0;
    while (i < m) {
        size_t j = span_end(refs, i, m, gap);
        uint64_t first = refs[i].pfn;
        size_t count = (size_t)(refs[j - 1].pfn - first + 1);
        size_t got = 0;
        while (got < count * 8) {
            ssize_t r = pread(fd, (char *)buf + got, count * 8 - got, (off_t)(first * 8 + got));
            if (r < 0) {
                if (errno == EINTR) continue;
                return errno;
            }
            if (r == 0) break;  /* past the last page frame: the rest reads as 0 */
            got += (size_t)r;
        }
        memset((char *)buf + got, 0, count * 8 - got);
        for (size_t k = i; k < j; k++)
            bases[refs[k].slot >> SLOT_SHIFT][refs[k].slot & SLOT_PAGE_MASK] = buf[refs[k].pfn - first];
        i = j;
    }
    return 0;
}

/* The largest span's entries, to size the read buffer by what is read. */
static size_t largest_span(const PfnRef *refs, size_t m, uint64_t gap) {
    size_t most = 1, i = 0;
    while (i < m) {
        size_t j = span_end(refs, i, m, gap);
        size_t count = (size_t)(refs[j - 1].pfn - refs[i].pfn + 1);
        if (count > most) most = count;
        i = j;
    }
    return most;
}

/* Sorted refs for the PFNs of a uint64 buffer (slot = index), or NULL with an error set. */
static PfnRef *refs_of_pfns(const PwU64 *pfns) {
    size_t n = (size_t)pfns->n;
    PfnRef *refs = PyMem_Malloc((n ? n : 1) * sizeof *refs);
    PfnRef *tmp = PyMem_Malloc((n ? n : 1) * sizeof *tmp);
    if (refs == NULL || tmp == NULL) {
        PyMem_Free(refs);
        PyMem_Free(tmp);
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < n; i++) refs[i] = (PfnRef){pw_load(pfns->data, (Py_ssize_t)i), i};
    sort_refs(refs, tmp, n);
    PyMem_Free(tmp);
    return refs;
}

PyObject *pw_kpage_spans(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *po;
    unsigned long long gap;
    if (!PyArg_ParseTuple(args, "OK:kpage_spans", &po, &gap)) return NULL;
    PwU64 pfns;
    if (pw_u64_get(po, &pfns, "pfns", 0) < 0) return NULL;
    PfnRef *refs = refs_of_pfns(&pfns);
    pw_u64_release(&pfns);
    if (refs == NULL) return NULL;
    size_t m = readable(refs, (size_t)pfns.n), i = 0;
    PyObject *out = PyList_New(0);
    while (out != NULL && i < m) {
        size_t j = span_end(refs, i, m, gap);
        PyObject *span = Py_BuildValue("(KK)", (unsigned long long)refs[i].pfn,
                                       (unsigned long long)(refs[j - 1].pfn - refs[i].pfn + 1));
        if (span == NULL || PyList_Append(out, span) < 0) Py_CLEAR(out);
        Py_XDECREF(span);
        i = j;
    }
    PyMem_Free(refs);
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
    PfnRef *refs = refs_of_pfns(&pfns);
    size_t n = (size_t)pfns.n;
    pw_u64_release(&pfns);
    if (refs == NULL) return NULL;
    size_t m = readable(refs, n);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    uint64_t *buf = PyMem_Malloc(largest_span(refs, m, gap) * 8);
    if (out == NULL || buf == NULL) {
        Py_XDECREF(out);
        PyMem_Free(buf);
        PyMem_Free(refs);
        return buf == NULL ? PyErr_NoMemory() : NULL;
    }
    uint64_t *base = (uint64_t *)PyByteArray_AS_STRING(out);
    memset(base, 0, n * 8);  /* PFNs beyond the field read as 0 */
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = fill_from(fd, refs, m, gap, buf, &base);
    Py_END_ALLOW_THREADS
    PyMem_Free(buf);
    PyMem_Free(refs);
    if (err) {
        Py_DECREF(out);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return out;
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
    PfnRef *refs = NULL, *tmp = NULL;
    uint64_t *buf = NULL;
    int *fdv = NULL, *errs = NULL;
    Py_ssize_t held = 0;
    if ((uint64_t)nt >= UINT64_C(1) << (64 - SLOT_SHIFT)) {
        PyErr_SetString(PyExc_ValueError, "too many tables");
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
    size_t present = 0;
    for (; held < nt; held++) {
        if (pw_u64_get(PySequence_Fast_GET_ITEM(tables, held), &views[held], "table", 0) < 0) goto done;
        if ((uint64_t)views[held].n > SLOT_PAGE_MASK) {
            PyErr_SetString(PyExc_ValueError, "table too large");
            held++;
            goto done;
        }
        for (Py_ssize_t i = 0; i < views[held].n; i++) present += pw_load(views[held].data, i) >> PW_BIT_PRESENT;
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
    refs = PyMem_Malloc((present ? present : 1) * sizeof *refs);
    tmp = PyMem_Malloc((present ? present : 1) * sizeof *tmp);
    if (refs == NULL || tmp == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    size_t m = 0;
    for (Py_ssize_t t = 0; t < nt; t++)
        for (Py_ssize_t i = 0; i < views[t].n; i++) {
            uint64_t e = pw_load(views[t].data, i);
            if (e >> PW_BIT_PRESENT)
                refs[m++] = (PfnRef){e & PW_PFN_MASK, (uint64_t)t << SLOT_SHIFT | (uint64_t)i};
        }
    sort_refs(refs, tmp, m);
    buf = PyMem_Malloc(largest_span(refs, m, gap) * 8);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t f = 0; f < nf; f++) errs[f] = fill_from(fdv[f], refs, m, gap, buf, bases + f * nt);
    Py_END_ALLOW_THREADS
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
    PyMem_Free(refs);
    PyMem_Free(tmp);
    PyMem_Free(buf);
    Py_DECREF(tables);
    Py_DECREF(fds);
    return result;
}
