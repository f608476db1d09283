/* The per-page text of `memlens pages`, one line per present or swapped page:
 *
 *   00007fff5e59b000  phys 000000022762a000  exclusive  count 1  UPTODATE,LRU,ANON
 *   00007fff5e59c000  swap 0000000000001234  type 0  soft-dirty
 *   00007fff5e59d000  guard region
 *   ... 30 pages not present ...
 *
 * The names (kpageflags, pagemap bits) come from Python's tables in display
 * order (memlens.core.pages), so this file holds the layout, not the names.
 * What follows the hex columns depends only on the entry's bits 55-63 (and swap
 * type), the count and the flags; neighbouring pages mostly share them, so the
 * previous line's tail is reused when they are equal.
 */
#include "pagewalk.h"

#include <stddef.h>
#include <structmember.h>

#define MAX_FLAG_NAMES 64
#define MAX_WORDS 8
#define MAX_NAME 32 /* bytes of a name, with its NUL */
/* "... N pages not present ...\n" with N up to 20 digits */
#define GAP_MAX 48

typedef struct {
    unsigned char bit;
    unsigned char len;
    char text[MAX_NAME];
} Name;

/* A bit the kernel overloads: named `name.text` instead when (flags & mask) == value
 * (kpageflags bit 34 is anon_exclusive on anonymous pages, mappedtodisk otherwise) */
typedef struct {
    uint64_t mask, value;
    Name name;
} Overload;

#define MAX_OVERLOADS 8

typedef struct {
    PyObject_HEAD
    uint64_t flags_mask;
    int nflags, nwords, nover;
    Name flags[MAX_FLAG_NAMES];
    Name words[MAX_WORDS];
    Overload over[MAX_OVERLOADS];
    size_t tail_max;        /* longest text after the hex columns, newline included */
    Py_ssize_t min_buffer;  /* smallest buffer render_into takes */
} LineFormat;

/* above the longest tail: "  type 31" / "  present", the words, "  count " + 20
 * digits, "  " + every flag name and comma, "\n" (lf_new computes the exact bound) */
#define TAIL_MAX (64 + MAX_WORDS * MAX_NAME + MAX_FLAG_NAMES * MAX_NAME)
#define PREFIX_MAX (16 + 7 + 16)

/* Eight lowercase hex digits of `x` as the 8 bytes to store, most significant
 * digit first in memory: each nibble spread into a byte, then made ASCII in
 * one addition (~4x faster here than a digit-pair table lookup per byte). */
static inline uint64_t hex8(uint32_t x) {
    uint64_t v = x;
    v = ((v & UINT64_C(0xFFFF0000)) << 16) | (v & UINT64_C(0xFFFF));
    v = ((v & UINT64_C(0x0000FF000000FF00)) << 8) | (v & UINT64_C(0x000000FF000000FF));
    v = ((v & UINT64_C(0x00F000F000F000F0)) << 4) | (v & UINT64_C(0x000F000F000F000F));
    /* 1 in each byte whose nibble is 10 or more */
    uint64_t letters = ((v + UINT64_C(0x0606060606060606)) >> 4) & UINT64_C(0x0101010101010101);
    v += UINT64_C(0x3030303030303030) + letters * ('a' - '0' - 10);
#if PY_LITTLE_ENDIAN
    v = __builtin_bswap64(v); /* the least significant digit is in the lowest byte */
#endif
    return v;
}

static char *put_hex16(char *p, uint64_t v) {
    uint64_t hi = hex8((uint32_t)(v >> 32)), lo = hex8((uint32_t)v);
    memcpy(p, &hi, 8);
    memcpy(p + 8, &lo, 8);
    return p + 16;
}

static char *put_dec(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

static char *put_gap(char *p, uint64_t pages) {
    p = put_str(p, "... ", 4);
    p = put_dec(p, pages);
    return put_str(p, " pages not present ...\n", 23);
}

/* kpageflags names of `flags` (masked), overloads applied, joined by commas, each
   wrapped in `quote` unless it is 0; nothing when none is set */
static char *put_flag_list(const LineFormat *lf, char *p, uint64_t flags, char quote) {
    const uint64_t all = flags;
    flags &= lf->flags_mask;
    int first = 1;
    for (int k = 0; k < lf->nflags && flags; k++) {
        const Name *nm = &lf->flags[k];
        if (!(flags >> nm->bit & 1)) continue;
        flags &= ~(UINT64_C(1) << nm->bit);
        for (int o = 0; o < lf->nover; o++)
            if (lf->over[o].name.bit == nm->bit && (all & lf->over[o].mask) == lf->over[o].value) {
                nm = &lf->over[o].name;
                break;
            }
        if (!first) *p++ = ',';
        if (quote) *p++ = quote;
        p = put_str(p, nm->text, nm->len);
        if (quote) *p++ = quote;
        first = 0;
    }
    return p;
}

/* kpageflags names of `flags` (masked) joined by commas; nothing when none is set */
static char *put_flag_names(const LineFormat *lf, char *p, uint64_t flags) {
    return put_flag_list(lf, p, flags, 0);
}

/* "  file-page exclusive": the pagemap bits' names as one field */
static char *put_words(const LineFormat *lf, char *p, uint64_t entry) {
    int first = 1;
    for (int k = 0; k < lf->nwords; k++) {
        const Name *nm = &lf->words[k];
        if (!(entry >> nm->bit & 1)) continue;
        p = first ? put_str(p, "  ", 2) : put_str(p, " ", 1);
        p = put_str(p, nm->text, nm->len);
        first = 0;
    }
    return p;
}

/* Everything after the hex columns, each field led by two spaces.  Without
 * PFNs the kernel zeroes swap slots too: then a page is only "present" or
 * "swapped", never a made-up frame or slot 0. */
static size_t build_tail(const LineFormat *lf, char *t, uint64_t e, int pfn_known,
                         int show_counts, int show_flags, uint64_t count, uint64_t flags) {
    char *p = t;
    int present = (int)(e >> PW_BIT_PRESENT);
    if (!present && (e >> PW_BIT_GUARD & 1)) {
        /* a guard-region PTE marker: pagemap flags it "swapped", but nothing is in swap */
        p = put_str(p, "  guard region\n", 15);
        return (size_t)(p - t);
    }
    if (!present) {
        if (pfn_known) {
            p = put_str(p, "  type ", 7);
            p = put_dec(p, e & 0x1f);
        } else {
            p = put_str(p, "  swapped", 9);
        }
    } else if (!pfn_known) {
        p = put_str(p, "  present", 9);
    }
    p = put_words(lf, p, e);
    if (present && show_counts) {
        p = put_str(p, "  count ", 8);
        p = put_dec(p, count);
    }
    if (present && show_flags) {
        p = put_str(p, "  ", 2);
        char *names = p;
        p = put_flag_names(lf, p, flags);
        if (p == names) *p++ = '-';
    }
    *p++ = '\n';
    return (size_t)(p - t);
}

/* Whether a present page lies beyond the counts or flags shown (n < 0: not shown). */
static inline int present_beyond(uint64_t entry, Py_ssize_t i, Py_ssize_t counts, Py_ssize_t flags) {
    return (entry >> PW_BIT_PRESENT) && ((counts >= 0 && i >= counts) || (flags >= 0 && i >= flags));
}

static int read_names(PyObject *seq, Name *out, int max, const char *what) {
    PyObject *fast = PySequence_Fast(seq, "names must be a sequence of (bit, name)");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > max) {
        PyErr_Format(PyExc_ValueError, "%s: at most %d names", what, max);
        goto fail;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        int bit;
        const char *text;
        Py_ssize_t len;
        PyObject *item = PySequence_Fast_GET_ITEM(fast, k);
        if (!PyArg_ParseTuple(item, "is#", &bit, &text, &len)) goto fail;
        if (bit < 0 || bit > 63 || len <= 0 || len >= MAX_NAME) {
            PyErr_Format(PyExc_ValueError, "%s: bad bit %d or name length %zd", what, bit, len);
            goto fail;
        }
        for (Py_ssize_t c = 0; c < len; c++)
            if ((unsigned char)text[c] < 0x21 || (unsigned char)text[c] > 0x7e) {
                PyErr_Format(PyExc_ValueError, "%s: names are printable ASCII", what);
                goto fail;
            }
        out[k].bit = (unsigned char)bit;
        out[k].len = (unsigned char)len;
        memcpy(out[k].text, text, (size_t)len);
    }
    Py_DECREF(fast);
    return (int)n;
fail:
    Py_DECREF(fast);
    return -1;
}

/* (bit, mask, value, name) tuples into `out`; the count, or -1 with an exception set */
static int read_overloads(PyObject *seq, Overload *out) {
    PyObject *fast = PySequence_Fast(seq, "overloads must be a sequence of (bit, mask, value, name)");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > MAX_OVERLOADS) {
        PyErr_Format(PyExc_ValueError, "overloads: at most %d", MAX_OVERLOADS);
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        int bit;
        unsigned long long mask, value;
        PyObject *name;
        PyObject *item = PySequence_Fast_GET_ITEM(fast, k);
        if (!PyArg_ParseTuple(item, "iKKO", &bit, &mask, &value, &name)) goto fail;
        PyObject *pair = Py_BuildValue("[(iO)]", bit, name);
        if (pair == NULL) goto fail;
        int got = read_names(pair, &out[k].name, 1, "overloads");
        Py_DECREF(pair);
        if (got < 0) goto fail;
        out[k].mask = mask;
        out[k].value = value;
    }
    Py_DECREF(fast);
    return (int)n;
fail:
    Py_DECREF(fast);
    return -1;
}

static PyObject *lf_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"flag_names", "pagemap_words", "flags_mask", "overloads", NULL};
    PyObject *flags_o, *words_o, *over_o = NULL;
    unsigned long long mask;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOK|O:LineFormat", kwlist, &flags_o, &words_o,
                                     &mask, &over_o))
        return NULL;
    LineFormat *self = (LineFormat *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->flags_mask = mask;
    self->nflags = read_names(flags_o, self->flags, MAX_FLAG_NAMES, "flag_names");
    if (self->nflags >= 0) self->nwords = read_names(words_o, self->words, MAX_WORDS, "pagemap_words");
    if (self->nflags >= 0 && self->nwords >= 0 && over_o != NULL)
        self->nover = read_overloads(over_o, self->over);
    if (self->nflags < 0 || self->nwords < 0 || self->nover < 0) {
        Py_DECREF(self);
        return NULL;
    }
    size_t t = 9 + 2 + 28 + 2 + 2 + 1;
    for (int k = 0; k < self->nwords; k++) t += self->words[k].len + 1u;
    for (int k = 0; k < self->nflags; k++) {
        size_t len = self->flags[k].len;
        for (int o = 0; o < self->nover; o++)
            if (self->over[o].name.bit == self->flags[k].bit && self->over[o].name.len > len)
                len = self->over[o].name.len;
        t += len + 1u;
    }
    self->tail_max = t;
    self->min_buffer = (Py_ssize_t)(PREFIX_MAX + t + 2 * GAP_MAX);
    return (PyObject *)self;
}

PyDoc_STRVAR(render_into_doc,
"render_into(buffer, entries, counts, flags, start, page_size, pfn_known, pos, max_lines)\n"
"    -> (int, int)\n\n"
"Writes into the writable `buffer` the lines of the pages from index `pos` of a\n"
"table whose first page is at `start`: a line per present, swapped or guard\n"
"page, one per run of other pages.  `counts` and `flags` (per page, or None)\n"
"are shown only when `pfn_known`; a present page beyond them is a ValueError.\n"
"Stops after `max_lines` page lines or when the buffer may not hold another;\n"
"returns the bytes written and the index to go on from (len(entries) when\n"
"done).  One buffer, reused, keeps the text in cache: no fresh pages to fault\n"
"in for every block of a large table.");

static PyObject *lf_render_into(LineFormat *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", "entries", "counts", "flags", "start", "page_size",
                             "pfn_known", "pos", "max_lines", NULL};
    PyObject *eo, *co, *fo;
    Py_buffer out;
    unsigned long long start, page_size;
    int pfn_known;
    Py_ssize_t pos, max_lines;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "w*OOOKKpnn:render_into", kwlist, &out, &eo, &co,
                                     &fo, &start, &page_size, &pfn_known, &pos, &max_lines))
        return NULL;
    PwU64 e, c, f;
    int got_e = pw_u64_get(eo, &e, "entries", 0) == 0;
    int got_c = got_e && pw_u64_get(co, &c, "counts", 1) == 0;
    int got_f = got_c && pw_u64_get(fo, &f, "flags", 1) == 0;
    PyObject *result = NULL;
    if (!got_f) goto done;
    /* A page line with the gap line before it takes at most `per_line`; the loop
     * stops when that much (and a final gap line) may no longer fit. */
    Py_ssize_t per_line = (Py_ssize_t)(PREFIX_MAX + self->tail_max + GAP_MAX);
    if (pos < 0 || pos > e.n || max_lines < 1) {
        PyErr_SetString(PyExc_ValueError, "pos out of range, or max_lines below 1");
        goto done;
    }
    if (out.len < self->min_buffer) {
        PyErr_Format(PyExc_ValueError, "buffer of %zd bytes: lines need %zd", out.len, self->min_buffer);
        goto done;
    }
    int show_counts = pfn_known && c.data != NULL, show_flags = pfn_known && f.data != NULL;
    char *base = out.buf, *p = base, *end = base + out.len;
    const uint64_t shown = UINT64_C(1) << PW_BIT_PRESENT | UINT64_C(1) << PW_BIT_SWAPPED |
                           UINT64_C(1) << PW_BIT_GUARD;
    char tail[TAIL_MAX];
    size_t tail_len = 0;
    uint64_t tail_key = 0, tail_count = 0, tail_flags = 0;
    int tail_valid = 0;
    uint64_t gap = 0;
    Py_ssize_t lines = 0, resume = pos, i;
    for (i = pos; i < e.n; i++) {
        uint64_t entry = pw_load(e.data, i);
        if (!(entry & shown)) {
            gap++;
            continue;
        }
        if (lines >= max_lines || end - p < per_line + GAP_MAX) break;
        if (present_beyond(entry, i, show_counts ? c.n : -1, show_flags ? f.n : -1)) {
            /* counts and flags need only cover the present pages */
            PyErr_Format(PyExc_ValueError, "no count or flags for present page %zd", i);
            goto done;
        }
        if (gap) p = put_gap(p, gap);
        gap = 0;
        p = put_hex16(p, start + (uint64_t)i * page_size);
        int present = (int)(entry >> PW_BIT_PRESENT), guard = !present && (entry >> PW_BIT_GUARD & 1);
        uint64_t key = entry & (UINT64_C(0x1ff) << 55);
        if (present && pfn_known) {
            p = put_str(p, "  phys ", 7);
            p = put_hex16(p, (entry & PW_PFN_MASK) * page_size);
        } else if (!present && !guard && pfn_known) {
            p = put_str(p, "  swap ", 7);
            p = put_hex16(p, (entry & PW_PFN_MASK) >> 5);
            key |= entry & 0x1f; /* the swap type is in the tail */
        }
        uint64_t count = present && show_counts ? pw_load(c.data, i) : 0;
        uint64_t flags = present && show_flags ? pw_load(f.data, i) & self->flags_mask : 0;
        if (!tail_valid || key != tail_key || count != tail_count || flags != tail_flags) {
            tail_len = build_tail(self, tail, entry, pfn_known, show_counts, show_flags, count, flags);
            tail_key = key, tail_count = count, tail_flags = flags, tail_valid = 1;
        }
        p = put_str(p, tail, tail_len);
        lines++;
        resume = i + 1;
    }
    if (i == e.n) {
        if (gap) p = put_gap(p, gap);
        resume = e.n;
    }
    result = Py_BuildValue("(nn)", (Py_ssize_t)(p - base), resume);
done:
    if (got_f) pw_u64_release(&f);
    if (got_c) pw_u64_release(&c);
    if (got_e) pw_u64_release(&e);
    PyBuffer_Release(&out);
    return result;
}

/* -- JSON ------------------------------------------------------------------- */

/* ["A","B"]: the (masked) kpageflags names of `flags`, overloads applied */
static char *put_json_flags(const LineFormat *lf, char *p, uint64_t flags) {
    *p++ = '[';
    p = put_flag_list(lf, p, flags, '"');
    *p++ = ']';
    return p;
}

/* ["file-page","exclusive"]: the pagemap bits' names */
static char *put_json_words(const LineFormat *lf, char *p, uint64_t entry) {
    *p++ = '[';
    int first = 1;
    for (int k = 0; k < lf->nwords; k++) {
        const Name *nm = &lf->words[k];
        if (!(entry >> nm->bit & 1)) continue;
        if (!first) *p++ = ',';
        *p++ = '"';
        p = put_str(p, nm->text, nm->len);
        *p++ = '"';
        first = 0;
    }
    *p++ = ']';
    return p;
}

#define PUT_LIT(p, s) put_str((p), (s), sizeof(s) - 1)

PyDoc_STRVAR(json_into_doc,
"json_into(buffer, entries, counts, flags, start, page_size, pfn_known, pos, max_pages,\n"
"          first, extra) -> (int, int)\n\n"
"Like render_into, but each present, swapped or guard page as a compact JSON object\n"
"with sorted keys (address, count, entry, flag_names, kpageflags, pagemap_bits, pfn,\n"
"state; swapped pages swap_offset and swap_type), `extra` (bytes, e.g. ',\"type\":\"page\"')\n"
"before its closing brace.  Objects are separated by a comma, and preceded by one\n"
"unless `first` (the first object of the array).  Counts and flags are those given\n"
"(null when None); pfn, swap type and offset are null unless `pfn_known`.");

static PyObject *lf_json_into(LineFormat *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"buffer", "entries", "counts", "flags", "start", "page_size",
                             "pfn_known", "pos", "max_pages", "first", "extra", NULL};
    PyObject *eo, *co, *fo;
    Py_buffer out;
    unsigned long long start, page_size;
    int pfn_known, first;
    Py_ssize_t pos, max_pages;
    const char *extra;
    Py_ssize_t extra_len;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "w*OOOKKpnnpy#:json_into", kwlist, &out, &eo,
                                     &co, &fo, &start, &page_size, &pfn_known, &pos, &max_pages,
                                     &first, &extra, &extra_len))
        return NULL;
    PwU64 e, c, f;
    int got_e = pw_u64_get(eo, &e, "entries", 0) == 0;
    int got_c = got_e && pw_u64_get(co, &c, "counts", 1) == 0;
    int got_f = got_c && pw_u64_get(fo, &f, "flags", 1) == 0;
    PyObject *result = NULL;
    if (!got_f) goto done;
    /* the longest object: keys and punctuation, five 20-digit numbers, every name quoted */
    Py_ssize_t per_page = (Py_ssize_t)(256 + 2 * self->tail_max + (size_t)extra_len);
    if (pos < 0 || pos > e.n || max_pages < 1 || extra_len > 4096) {
        PyErr_SetString(PyExc_ValueError, "pos out of range, max_pages below 1 or extra too long");
        goto done;
    }
    if (out.len < per_page) {
        PyErr_Format(PyExc_ValueError, "buffer of %zd bytes: objects need %zd", out.len, per_page);
        goto done;
    }
    char *base = out.buf, *p = base, *end = base + out.len;
    const uint64_t shown = UINT64_C(1) << PW_BIT_PRESENT | UINT64_C(1) << PW_BIT_SWAPPED |
                           UINT64_C(1) << PW_BIT_GUARD;
    /* the names of the last flag word, reused while neighbours share it */
    char names[MAX_FLAG_NAMES * (MAX_NAME + 3) + 2];
    size_t names_len = 0;
    uint64_t names_key = 0;
    int names_valid = 0;
    Py_ssize_t pages = 0, resume = pos, i;
    for (i = pos; i < e.n; i++) {
        uint64_t entry = pw_load(e.data, i);
        if (!(entry & shown)) continue;
        if (pages >= max_pages || end - p < per_page) break;
        int present = (int)(entry >> PW_BIT_PRESENT);
        int guard = !present && (entry >> PW_BIT_GUARD & 1);
        if (present && ((c.data != NULL && i >= c.n) || (f.data != NULL && i >= f.n))) {
            PyErr_Format(PyExc_ValueError, "no count or flags for present page %zd", i);
            goto done;
        }
        if (!first) *p++ = ',';
        first = 0;
        p = PUT_LIT(p, "{\"address\":");
        p = put_dec(p, start + (uint64_t)i * page_size);
        if (present) {
            p = PUT_LIT(p, ",\"count\":");
            if (c.data != NULL) p = put_dec(p, pw_load(c.data, i));
            else p = PUT_LIT(p, "null");
        }
        p = PUT_LIT(p, ",\"entry\":");
        p = put_dec(p, entry);
        if (present) {
            p = PUT_LIT(p, ",\"flag_names\":");
            if (f.data != NULL) {
                uint64_t fl = pw_load(f.data, i);
                if (!names_valid || fl != names_key) {
                    names_len = (size_t)(put_json_flags(self, names, fl) - names);
                    names_key = fl, names_valid = 1;
                }
                p = put_str(p, names, names_len);
                p = PUT_LIT(p, ",\"kpageflags\":");
                p = put_dec(p, fl);
            } else {
                p = PUT_LIT(p, "null,\"kpageflags\":null");
            }
        }
        p = PUT_LIT(p, ",\"pagemap_bits\":");
        p = put_json_words(self, p, entry);
        if (present) {
            p = PUT_LIT(p, ",\"pfn\":");
            if (pfn_known) p = put_dec(p, entry & PW_PFN_MASK);
            else p = PUT_LIT(p, "null");
            p = PUT_LIT(p, ",\"state\":\"present\"");
        } else if (guard) {
            p = PUT_LIT(p, ",\"state\":\"guard\"");
        } else {
            p = PUT_LIT(p, ",\"state\":\"swapped\",\"swap_offset\":");
            if (pfn_known) p = put_dec(p, (entry & PW_PFN_MASK) >> 5);
            else p = PUT_LIT(p, "null");
            p = PUT_LIT(p, ",\"swap_type\":");
            if (pfn_known) p = put_dec(p, entry & 0x1f);
            else p = PUT_LIT(p, "null");
        }
        p = put_str(p, extra, (size_t)extra_len);
        *p++ = '}';
        pages++;
        resume = i + 1;
    }
    if (i == e.n) resume = e.n;
    result = Py_BuildValue("(nn)", (Py_ssize_t)(p - base), resume);
done:
    if (got_f) pw_u64_release(&f);
    if (got_c) pw_u64_release(&c);
    if (got_e) pw_u64_release(&e);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *lf_flag_text(LineFormat *self, PyObject *arg) {
    unsigned long long flags = PyLong_AsUnsignedLongLongMask(arg);
    if (flags == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    char text[MAX_FLAG_NAMES * MAX_NAME];
    char *p = put_flag_names(self, text, flags);
    return PyUnicode_FromStringAndSize(text, p - text);
}

static PyMethodDef lf_methods[] = {
    {"render_into", (PyCFunction)(void (*)(void))lf_render_into, METH_VARARGS | METH_KEYWORDS,
     render_into_doc},
    {"json_into", (PyCFunction)(void (*)(void))lf_json_into, METH_VARARGS | METH_KEYWORDS,
     json_into_doc},
    {"flag_text", (PyCFunction)lf_flag_text, METH_O,
     "flag_text(flags) -> str\n\nThe names of the (masked) kpageflags bits set, comma-separated."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef lf_members[] = {
    {"min_buffer", T_PYSSIZET, offsetof(LineFormat, min_buffer), READONLY,
     "smallest buffer render_into takes (a longest line and two gap lines)"},
    {NULL, 0, 0, 0, NULL},
};

PyTypeObject PwLineFormatType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memlens._pagewalk.LineFormat",
    .tp_doc = "LineFormat(flag_names, pagemap_words, flags_mask, overloads=())\n\n"
              "The page line layout with its names: (bit, name) pairs in display order\n"
              "for kpageflags and for the pagemap bits; flags outside flags_mask are not named.\n"
              "overloads: (bit, mask, value, name): the bit is called name instead when\n"
              "flags & mask == value (bits the kernel reuses by page kind).",
    .tp_basicsize = sizeof(LineFormat),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = lf_new,
    .tp_methods = lf_methods,
    .tp_members = lf_members,
};
