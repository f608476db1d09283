/*
 * memlens shim: stack unwinding (libunwind, libgcc, frame pointers), and
 * starting libunwind with its pipe above the program's descriptors.
 * Included by memlens_shim.c.
 */

/* ---- unwinding ---- */
struct gcc_state {
    void **out;
    int n, max;
};

static _Unwind_Reason_Code gcc_step(struct _Unwind_Context *ctx, void *arg) {
    struct gcc_state *st = arg;
    uintptr_t pc = _Unwind_GetIP(ctx);
    if (pc == 0) return _URC_END_OF_STACK;
    if (st->n >= st->max) return _URC_END_OF_STACK;
    st->out[st->n++] = (void *)pc;
    return _URC_NO_REASON;
}

static int fp_backtrace(void **out, int max) {
    void **fp = __builtin_frame_address(0);
    int n = 0;
    while (fp && n < max) {
        void **next = (void **)fp[0];
        void *ret = fp[1];
        if (!ret) break;
        out[n++] = ret;
        /* Stop on a chain that does not climb the stack: no frame pointers there. */
        if (next <= fp || (uintptr_t)next - (uintptr_t)fp > (1u << 20) || ((uintptr_t)next & 7)) break;
        fp = next;
    }
    return n;
}

static int raw_backtrace(void **out, int max) {
    switch (g_unwinder) {
    case UNW_LIBUNWIND:
        return g_unw_backtrace(out, max);
    case UNW_FP:
        return fp_backtrace(out, max);
    case UNW_GCC: {
        struct gcc_state st = {out, 0, max};
        _Unwind_Backtrace(gcc_step, &st);
        return st.n;
    }
    default:
        return 0;
    }
}

/* The shim's own code, found at start-up: leading frames inside it are dropped
 * (the compiler may tail-call or inline our helpers, so no fixed skip count
 * is right). */
static uintptr_t g_self_lo, g_self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    uintptr_t probe = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (probe >= lo && probe < hi) {
            g_self_lo = lo;
            g_self_hi = hi;
            return 1;
        }
    }
    return 0;
}

static inline int in_self(void *pc) {
    uintptr_t a = (uintptr_t)pc;
    return (a >= g_self_lo && a < g_self_hi) ||
           ((char *)pc >= __start_memlens_hooks && (char *)pc < __stop_memlens_hooks);
}

/* Frames of the caller, with the shim's own frames dropped. */
static int collect(uint64_t *frames) {
    void *buf[ML_MAX_FRAMES + 4];
    int want = g_frames + 4; /* room for the unwinder's and our own frames */
    int n = raw_backtrace(buf, want);
    int skip = 0;
    /* The unwinder's own frames (libunwind/libgcc) may come first, then ours. */
    while (skip < n && !in_self(buf[skip]) && skip < 3) ++skip;
    if (skip == n || !in_self(buf[skip])) skip = 0;
    while (skip < n && in_self(buf[skip])) ++skip;
    int count = n - skip;
    if (g_python) {
        /* Interpreter frames become Python frames (two words each, pyframes.h). */
        uint64_t native[ML_MAX_FRAMES + 4];
        for (int i = 0; i < count; ++i) native[i] = (uint64_t)(uintptr_t)buf[skip + i];
        return ml_py_merge(native, count, frames, g_frames);
    }
    if (count > g_frames) count = g_frames;
    for (int i = 0; i < count; ++i) frames[i] = (uint64_t)(uintptr_t)buf[skip + i];
    return count;
}

/* libunwind keeps a pipe (its memory validation) at the lowest free
 * descriptors, and when a write to it fails it closes those numbers and makes
 * a new pipe: a daemon that closed fds 3+ and opened its log at 3 lost the log.
 * So a pipe made while the shim runs (t_in_hook: the unwinder's, never the
 * program's) is moved above the program's range at once -- two fcntl and two
 * close, where holding every free descriptor below the floor while libunwind
 * started cost some 2000 system calls at every start. */
static int high_fd_floor(void) {
    struct rlimit rl;
    int floor = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < floor + 64)
        floor = (int)rl.rlim_cur - 64;
    return floor > 3 ? floor : 3;
}

typedef int (*pipe2_fn)(int *, int);
static pipe2_fn g_real_pipe2;

EXPORT int pipe2(int fds[2], int flags) {
    if (!g_real_pipe2) g_real_pipe2 = (pipe2_fn)dlsym(RTLD_NEXT, "pipe2");
    if (!g_real_pipe2) {
        errno = ENOSYS;
        return -1;
    }
    int r = g_real_pipe2(fds, flags);
    if (r != 0 || !t_in_hook) return r;
    int floor = high_fd_floor(), cmd = (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD;
    for (int i = 0; i < 2; ++i) {
        int high = fds[i] < floor ? fcntl(fds[i], cmd, floor) : -1;
        if (high >= 0) {
            close(fds[i]);
            fds[i] = high;
        }
    }
    return 0;
}
