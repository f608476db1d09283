/*
 * CPython frames for the shim's stacks: at an allocation, the thread's chain of
 * interpreter frames is read (no interpreter call but one that reads a
 * thread-local key).  By default the native frames stop at the first frame of
 * the evaluation loop and the thread's Python frames follow, innermost first:
 *   malloc caller ... list_resize, <every python frame>
 * With MEMLENS_NATIVE=1 each eval-loop frame is replaced by the Python frames
 * that loop was running, and the native frames around them stay:
 *   malloc caller ... list_resize, <python frames of the inner eval>, builtin
 *   call ..., <python frames of the outer eval>, main
 * The code objects stay in the record as addresses; their names, files and
 * lines are read later from the process's memory (or from a core), so an
 * allocation costs a few loads per Python frame.  docs/python.md says why this
 * and not a shadow stack kept by the interpreter's hooks.
 *
 * Offsets are a table per minor version, checked by
 * tests/heap/test_python_layouts.py against offsetof() on each interpreter's
 * own internal headers.
 */
#define _GNU_SOURCE
#include "pyframes.h"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

struct py_layout {
    int minor;
    int ts_cframe;          /* PyThreadState.cframe; -1: the frame is in the thread state */
    int current_frame;      /* _PyCFrame.current_frame, or PyThreadState.current_frame */
    int fr_code;            /* _PyInterpreterFrame.f_code (3.13: f_executable) */
    int fr_previous;        /* _PyInterpreterFrame.previous */
    int fr_instr;           /* prev_instr (3.13: instr_ptr); minus the code start: "lasti" */
    int fr_owner;           /* _PyInterpreterFrame.owner */
    int fr_is_entry;        /* 3.11 is_entry: last frame of one eval call; -1 after */
    int owner_generator;    /* FRAME_OWNED_BY_GENERATOR */
    int owner_cstack;       /* FRAME_OWNED_BY_CSTACK (3.12+: an eval call's entry frame); -1 */
    int co_firsttraceable;  /* PyCodeObject._co_firsttraceable */
    int co_code;            /* PyCodeObject.co_code_adaptive (_PyCode_CODE) */
};

/* Include/cpython/pystate.h, Include/internal/pycore_frame.h and
 * Include/cpython/code.h of each version, for LP64 targets. */
static const struct py_layout k_layouts[] = {
    {11, 56, 8, 32, 48, 56, 69, 68, 1, -1, 168, 184},
    {12, 56, 0, 0, 8, 56, 70, -1, 1, 3, 176, 192},
    {13, -1, 72, 0, 8, 56, 70, -1, 1, 3, 184, 200},
};

typedef void *(*tstate_fn)(void);

static const struct py_layout *g_py;
static int g_all_native; /* MEMLENS_NATIVE=1: keep the native frames above Python ones too */
static tstate_fn g_this_thread_state;
static uintptr_t g_eval_lo, g_eval_hi;

int ml_py_init(void) {
    const char *env = getenv("MEMLENS_PYTHON");
    if (env && !strcmp(env, "0")) return 0;
    if (sizeof(void *) != 8) return 0; /* the tables are LP64 offsets */
    const char *native = getenv("MEMLENS_NATIVE");
    g_all_native = native && !strcmp(native, "1");
    const unsigned long *version = dlsym(RTLD_DEFAULT, "Py_Version");
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    /* This thread's state whether or not it holds the GIL (3.11's
     * _PyThreadState_UncheckedGet answers for the GIL holder). */
    g_this_thread_state = (tstate_fn)dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    if (!version || !eval || !g_this_thread_state) return 0;
    unsigned long v = *version;
    if (((v >> 24) & 0xff) != 3) return 0;
    int minor = (int)((v >> 16) & 0xff);
    for (size_t i = 0; i < sizeof k_layouts / sizeof k_layouts[0]; ++i)
        if (k_layouts[i].minor == minor) g_py = &k_layouts[i];
    if (!g_py) return 0;
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0) {
        g_py = NULL;
        return 0;
    }
    g_eval_lo = (uintptr_t)eval;
    g_eval_hi = g_eval_lo + sym->st_size;
    return 1;
}

/* PyObjectArenaAllocator (Include/cpython/objimpl.h), stable since 3.4. */
struct arena_allocator {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
};
typedef void (*arena_set_fn)(struct arena_allocator *);

static void *(*g_arena_alloc)(size_t);
static void (*g_arena_release)(void *);

static void *arena_alloc(void *ctx, size_t size) {
    (void)ctx;
    return g_arena_alloc(size);
}

static void arena_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    (void)size;
    g_arena_release(ptr);
}

void ml_py_hook_arenas(void *(*alloc)(size_t), void (*release)(void *)) {
    const char *env = getenv("MEMLENS_PYARENAS");
    if (!g_py || (env && !strcmp(env, "0"))) return;
    arena_set_fn set = (arena_set_fn)dlsym(RTLD_DEFAULT, "PyObject_SetArenaAllocator");
    if (!set) return;
    g_arena_alloc = alloc;
    g_arena_release = release;
    struct arena_allocator ours = {NULL, arena_alloc, arena_free};
    set(&ours); /* copied by the interpreter */
}

#define FIELD(type, base, off) (*(type *)((const char *)(base) + (off)))

/* The next frame of the current eval call that has started running (a frame
 * just pushed has not: its instruction pointer is before the code's first
 * traceable instruction), or NULL once that call's frames are used up.  *last
 * says the frame returned is its call's last (3.11's is_entry); 3.12 and later
 * end a call with an entry frame owned by the C stack, consumed here. */
static const char *next_frame(const char **cursor, int *last) {
    const struct py_layout *L = g_py;
    *last = 0;
    while (*cursor) {
        const char *f = *cursor;
        *cursor = FIELD(const char *, f, L->fr_previous);
        char owner = FIELD(char, f, L->fr_owner);
        if (L->owner_cstack >= 0 && owner == L->owner_cstack) return NULL;
        int entry = L->fr_is_entry >= 0 && FIELD(unsigned char, f, L->fr_is_entry) != 0;
        const char *code = FIELD(const char *, f, L->fr_code);
        const char *first = code ? code + L->co_code + 2 * (intptr_t)FIELD(int, code, L->co_firsttraceable) : NULL;
        if (!code || (owner != L->owner_generator && FIELD(const char *, f, L->fr_instr) < first)) {
            if (entry) return NULL; /* an eval call that has not begun: nothing of it ran */
            continue;
        }
        *last = entry;
        return f;
    }
    return NULL;
}

static int put_frame(const char *f, uint64_t *out, int at, int max) {
    const struct py_layout *L = g_py;
    if (at + 2 > max) return at;
    const char *code = FIELD(const char *, f, L->fr_code);
    const char *instr = FIELD(const char *, f, L->fr_instr);
    out[at] = ML_PY_TAG | ((uint64_t)L->minor << 48) | ((uint64_t)(uintptr_t)code & 0xffffffffffffULL);
    out[at + 1] = (uint64_t)(instr - (code + L->co_code));
    return at + 2;
}

int ml_py_merge(const uint64_t *native, int n, uint64_t *out, int max) {
    const struct py_layout *L = g_py;
    const char *cursor = NULL;
    if (L) {
        const char *ts = g_this_thread_state();
        const char *holder = ts && L->ts_cframe >= 0 ? FIELD(const char *, ts, L->ts_cframe) : ts;
        cursor = holder ? FIELD(const char *, holder, L->current_frame) : NULL;
    }
    int at = 0;
    for (int i = 0; i < n && at < max; ++i) {
        uintptr_t pc = (uintptr_t)native[i];
        if (!cursor || pc <= g_eval_lo || pc > g_eval_hi) {
            out[at++] = native[i];
            continue;
        }
        /* By default (memray's choice too) the native frames end at the first
         * eval frame: all the Python frames follow, and nothing above them. */
        if (!g_all_native) break;
        /* One eval call: its frames, innermost first. */
        int wrote = 0, last = 0;
        const char *f;
        while (!last && (f = next_frame(&cursor, &last)) != NULL) {
            at = put_frame(f, out, at, max);
            wrote = 1;
        }
        if (!wrote) out[at++] = native[i];
    }
    /* Frames left over (an eval frame the unwinder did not reach, or one in a
     * split-off .cold part) still belong to the stack: outermost last. */
    while (cursor && at + 2 <= max) {
        int last;
        const char *f = next_frame(&cursor, &last);
        if (f) at = put_frame(f, out, at, max);
    }
    return at;
}
