/* memlens._pagewalk: the per-page work of `memlens pages`, in C.
 *
 * Hot paths over arrays are numpy elsewhere in memlens.  The pages path departs from
 * that on purpose: `import numpy` alone takes 90-130 ms on the reference
 * machine, more than the whole 113 ms budget of issue 2 for `memlens pages
 * PID` on a 512 MiB process, while the work itself (bulk reads, 131k lines of
 * text, a count of flag sets) takes a few ms in C.  So the text paths of
 * `memlens pages` import no numpy: this module reads pagemap and the kpage*
 * files and formats and counts pages straight from uint64 buffers, and numpy
 * arrays (other sources' tables, library users' views) go through the same
 * code by the buffer protocol.  One implementation of each thing, no numpy
 * twin.
 *
 * Every size allocated here is bounded by the buffers or counts the caller
 * passes (real region sizes), every read's result is checked, and the GIL is
 * released around the preads.  The target is only ever read.
 */
#include "pagewalk.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

/* -- uint64 buffers -------------------------------------------------------- */

/* Whether a struct-module format string is one native-endian 64-bit unsigned
 * integer ("Q", "L" with itemsize 8, optionally led by a byte-order mark that
 * means native here: numpy exports "<Q" for "<u8" arrays). */
static int native_u64_format(const char *f) {
    const int little = PY_LITTLE_ENDIAN;
    if (*f == '@' || *f == '=') {
        f++;
    } else if (*f == '<') {
        if (!little) return 0;
        f++;
    } else if (*f == '>' || *f == '!') {
        if (little) return 0;
        f++;
    }
    return (f[0] == 'Q' || f[0] == 'L') && f[1] == '\0';
}

int pw_u64_get(PyObject *obj, PwU64 *v, const char *what, int optional) {
    memset(v, 0, sizeof *v);
    if (obj == Py_None && optional) return 0;
    if (PyObject_GetBuffer(obj, &v->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    v->held = 1;
    const char *f = v->view.format != NULL ? v->view.format : "B";
    int bytes = v->view.itemsize == 1 && (strcmp(f, "B") == 0 || strcmp(f, "b") == 0 ||
                                          strcmp(f, "c") == 0);
    if (bytes) {
        if (v->view.len % 8 != 0) {
            PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of 8-byte entries",
                         what, v->view.len);
            pw_u64_release(v);
            return -1;
        }
    } else if (v->view.itemsize != 8 || !native_u64_format(f)) {
        PyErr_Format(PyExc_TypeError, "%s: expected native uint64 items, not format '%s' of %zd bytes",
                     what, f, v->view.itemsize);
        pw_u64_release(v);
        return -1;
    }
    v->data = (const unsigned char *)v->view.buf;
    v->n = v->view.len / 8;
    return 0;
}

void pw_u64_release(PwU64 *v) {
    if (v->held) PyBuffer_Release(&v->view);
    v->held = 0;
}

/* -- pagemap ---------------------------------------------------------------- */

PyDoc_STRVAR(pagemap_read_doc,
"pagemap_read(fd, first_page, count, chunk_pages) -> (bytearray, errno)\n\n"
"Up to `count` pagemap entries from page index `first_page` of the open\n"
"/proc/PID/pagemap `fd`, in preads of at most `chunk_pages` entries.  Reading\n"
"stops early at end of file (above the task size, or the mm is gone) or at an\n"
"error, whose errno is returned (0 otherwise); the entries read so far come back\n"
"either way, so the caller can tell a partial table from a failed one.");

static PyObject *pagemap_read(PyObject *self, PyObject *args) {
    (void)self;
    int fd;
    unsigned long long first;
    Py_ssize_t count, chunk;
    if (!PyArg_ParseTuple(args, "iKnn:pagemap_read", &fd, &first, &count, &chunk)) return NULL;
    if (count < 0 || chunk <= 0) {
        PyErr_SetString(PyExc_ValueError, "count must be >= 0 and chunk_pages > 0");
        return NULL;
    }
    /* every byte offset read, (first + count) * 8, must fit off_t */
    const uint64_t max_index = (uint64_t)INT64_MAX / 8;
    if (first > max_index || (uint64_t)count > max_index - first ||
        count > PY_SSIZE_T_MAX / 8) {
        PyErr_SetString(PyExc_OverflowError, "pagemap range beyond the file's offsets");
        return NULL;
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, count * 8);
    if (out == NULL) return NULL;
    char *buf = PyByteArray_AS_STRING(out);
    Py_ssize_t done = 0;
    int err = 0, eof = 0;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        while (done < count && !eof && !err) {
            Py_ssize_t want = count - done < chunk ? count - done : chunk;
            ssize_t got = pread(fd, buf + done * 8, (size_t)want * 8, (off_t)((first + done) * 8));
            if (got < 0) {
                err = errno;
                break;
            }
            done += got / 8;  /* pagemap returns whole entries; a torn one is dropped */
            if (got / 8 < want) eof = 1;
        }
        Py_END_ALLOW_THREADS
        if (err != EINTR) break;
        /* a signal: let Python's handler run (Ctrl-C raises), then go on */
        if (PyErr_CheckSignals() < 0) {
            Py_DECREF(out);
            return NULL;
        }
        err = 0;
    }
    if (done < count && PyByteArray_Resize(out, done * 8) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return Py_BuildValue("(Ni)", out, err);
}

PyDoc_STRVAR(self_pagemap_entry_doc,
"self_pagemap_entry() -> int | None\n\n"
"The pagemap entry of a page this process maps and writes for the purpose (and\n"
"unmaps): None when /proc/self/pagemap gives no entry.  Raises OSError.");

static PyObject *self_pagemap_entry(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    void *mem = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return PyErr_SetFromErrno(PyExc_OSError);
    *(volatile char *)mem = 1;  /* present, and written since the mapping was made */
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t entry = 0;
    ssize_t got = -1;
    int err = 0;
    if (fd < 0) {
        err = errno;
    } else {
        got = pread(fd, &entry, sizeof entry, (off_t)((uintptr_t)mem / (uintptr_t)page * 8));
        if (got < 0) err = errno;
        close(fd);
    }
    munmap(mem, (size_t)page);
    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (got != (ssize_t)sizeof entry) Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(entry);
}

PyDoc_STRVAR(pfn_census_doc,
"pfn_census(tables) -> (present, with_pfn)\n\n"
"How many entries of the tables are present, and how many of those show a\n"
"PFN other than 0 (the kernel zeroes PFNs for processes without CAP_SYS_ADMIN).");

static PyObject *pfn_census(PyObject *self, PyObject *tables_o) {
    (void)self;
    PyObject *tables = PySequence_Fast(tables_o, "tables must be a sequence");
    if (tables == NULL) return NULL;
    Py_ssize_t present = 0, with_pfn = 0;
    for (Py_ssize_t t = 0; t < PySequence_Fast_GET_SIZE(tables); t++) {
        PwU64 e;
        if (pw_u64_get(PySequence_Fast_GET_ITEM(tables, t), &e, "table", 0) < 0) {
            Py_DECREF(tables);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < e.n; i++) {
            uint64_t entry = pw_load(e.data, i);
            present += (Py_ssize_t)(entry >> PW_BIT_PRESENT);
            with_pfn += (entry >> PW_BIT_PRESENT) && (entry & PW_PFN_MASK);
        }
        pw_u64_release(&e);
    }
    Py_DECREF(tables);
    return Py_BuildValue("(nn)", present, with_pfn);
}

/* -- summary ---------------------------------------------------------------- */

static int add_count(PyObject *counts, uint64_t key, Py_ssize_t n) {
    PyObject *k = PyLong_FromUnsignedLongLong(key);
    if (k == NULL) return -1;
    PyObject *old = PyDict_GetItemWithError(counts, k); /* borrowed */
    Py_ssize_t base = 0;
    if (old != NULL) {
        base = PyLong_AsSsize_t(old);
        if (base == -1 && PyErr_Occurred()) goto fail;
    } else if (PyErr_Occurred()) {
        goto fail;
    }
    PyObject *v = PyLong_FromSsize_t(base + n);
    if (v == NULL) goto fail;
    int r = PyDict_SetItem(counts, k, v);
    Py_DECREF(v);
    Py_DECREF(k);
    return r;
fail:
    Py_DECREF(k);
    return -1;
}

PyDoc_STRVAR(count_keys_doc,
"count_keys(entries, flags, entry_mask, flags_mask, extra, counts) -> None\n\n"
"For every present or swapped page (entry bit 63 or 62), its key\n"
"(entry & entry_mask) | (flags & flags_mask) | extra is counted into the dict\n"
"`counts` (key -> pages).  `flags` may be None.  Equal neighbours are counted\n"
"as one run, so the dict sees a run, not a page.");

static PyObject *count_keys(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *eo, *fo, *counts;
    unsigned long long entry_mask, flags_mask, extra;
    if (!PyArg_ParseTuple(args, "OOKKKO!:count_keys", &eo, &fo, &entry_mask, &flags_mask, &extra,
                          &PyDict_Type, &counts))
        return NULL;
    PwU64 e, f;
    if (pw_u64_get(eo, &e, "entries", 0) < 0) return NULL;
    if (pw_u64_get(fo, &f, "flags", 1) < 0) {
        pw_u64_release(&e);
        return NULL;
    }
    PyObject *result = NULL;
    uint64_t run_key = 0;
    Py_ssize_t run = 0;
    for (Py_ssize_t i = 0; i < e.n; i++) {
        uint64_t entry = pw_load(e.data, i);
        if (!(entry >> PW_BIT_SWAPPED)) continue;  /* neither present nor swapped */
        uint64_t key = (entry & entry_mask) | extra;
        if (f.data != NULL) {
            if (i >= f.n) {
                PyErr_Format(PyExc_ValueError, "no flags for page %zd", i);
                goto done;
            }
            key |= pw_load(f.data, i) & flags_mask;
        }
        if (run && key == run_key) {
            run++;
            continue;
        }
        if (run && add_count(counts, run_key, run) < 0) goto done;
        run_key = key;
        run = 1;
    }
    if (run && add_count(counts, run_key, run) < 0) goto done;
    result = Py_NewRef(Py_None);
done:
    pw_u64_release(&f);
    pw_u64_release(&e);
    return result;
}

/* -- module ------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"pagemap_read", pagemap_read, METH_VARARGS, pagemap_read_doc},
    {"self_pagemap_entry", self_pagemap_entry, METH_NOARGS, self_pagemap_entry_doc},
    {"pfn_census", pfn_census, METH_O, pfn_census_doc},
    {"count_keys", count_keys, METH_VARARGS, count_keys_doc},
    {"kpage_fill", pw_kpage_fill, METH_VARARGS,
     "kpage_fill(tables, fds, gap) -> list[list[bytearray] | int]\n\n"
     "For each open kpage* file in `fds`: per table of pagemap entries, the file's\n"
     "value for each present page (0 elsewhere), or the errno that stopped the\n"
     "reads.  The PFNs of all tables are sorted once and read in spans of PFNs\n"
     "less than `gap` apart, one pread per span; PFNs past the end read as 0."},
    {"kpage_read", pw_kpage_read, METH_VARARGS,
     "kpage_read(fd, pfns, gap) -> bytearray\n\n"
     "The kpage* value of each PFN of `pfns` (any order, repeats allowed; past the\n"
     "end of the file: 0), read as kpage_fill does.  Raises OSError."},
    {"kpage_spans", pw_kpage_spans, METH_VARARGS,
     "kpage_spans(pfns, gap) -> list[tuple[int, int]]\n\n"
     "The reads kpage_read makes for `pfns`: (first PFN, entries) per pread."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memlens._pagewalk",
    .m_doc = "Bulk pagemap/kpage* reads, per-page text and flag-set counts, without numpy.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__pagewalk(void) {
    if (PyType_Ready(&PwLineFormatType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "LineFormat", (PyObject *)&PwLineFormatType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
