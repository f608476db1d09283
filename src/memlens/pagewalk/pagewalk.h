/* memlens._pagewalk: shared declarations of the extension's three files.
 *
 * module.c  buffers of uint64, pagemap reads, the summary's key counts
 * kpage.c   /proc/kpagecount and /proc/kpageflags read in spans of nearby PFNs
 * lines.c   the per-page text of `memlens pages`
 */
#ifndef MEMLENS_PAGEWALK_H
#define MEMLENS_PAGEWALK_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PW_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define PW_BIT_GUARD 58
#define PW_BIT_SWAPPED 62
#define PW_BIT_PRESENT 63

/* A read-only, C-contiguous run of native-endian uint64 held through the buffer
 * protocol: numpy uint64 arrays, memoryview.cast("Q"), or bytes/bytearray of
 * whole 8-byte entries.  `data` may be unaligned (a memoryview slice): read it
 * with pw_load. */
typedef struct {
    Py_buffer view;
    const unsigned char *data;
    Py_ssize_t n;
    int held;
} PwU64;

/* 0, or -1 with TypeError/ValueError/BufferError set.  `obj` may be None when
 * `optional`: then n is 0, data NULL, and nothing is held. */
int pw_u64_get(PyObject *obj, PwU64 *v, const char *what, int optional);
void pw_u64_release(PwU64 *v);

static inline uint64_t pw_load(const unsigned char *data, Py_ssize_t i) {
    uint64_t x;
    memcpy(&x, data + 8 * (size_t)i, sizeof x);
    return x;
}

/* kpage.c */
PyObject *pw_kpage_fill(PyObject *self, PyObject *args);
PyObject *pw_kpage_read(PyObject *self, PyObject *args);
PyObject *pw_kpage_spans(PyObject *self, PyObject *args);

/* lines.c */
extern PyTypeObject PwLineFormatType;

#endif
