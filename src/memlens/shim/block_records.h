/*
 * memlens shim: writing and reading the in-band block records (formats 1, 2
 * and 3; the layouts are in memlens_shim.c's header comment).  Included by
 * memlens_shim.c.
 */

/* ---- records ---- */
static inline uint64_t *tail_of(void *user) { return (uint64_t *)user - 5; }

static inline int is_ours(void *user) {
    return ((uintptr_t)user & (ML_ALIGN - 1)) == 0 && ((uint64_t *)user)[-1] == ML_END_MAGIC;
}

/* A format-2 record: the word before the user data is the compact magic plus
 * flags plus the user address; the sum keeps the flags in bits 0-3 because the
 * address is 16-aligned and the magic's bits 0-3 are clear. */
static inline int is_compact(void *user) {
    return ((uintptr_t)user & (ML_ALIGN - 1)) == 0 &&
           ((((uint64_t *)user)[-1] - (uint64_t)(uintptr_t)user) & ~ML_FLAG_MASK) == ML_COMPACT_MAGIC;
}

static inline void *write_compact(unsigned char *raw, size_t size, unsigned flags);

/* A format-3 record: the same shape as format 2, its own magic, and the stack id
 * in the size word's bits 40-63. */
static inline int is_idrec(void *user) {
    return ((uintptr_t)user & (ML_ALIGN - 1)) == 0 &&
           ((((uint64_t *)user)[-1] - (uint64_t)(uintptr_t)user) & ~ML_FLAG_MASK) == ML_ID_MAGIC;
}

static inline void *write_idrec(unsigned char *raw, size_t size, unsigned flags, uint64_t id) {
    uint64_t *user = (uint64_t *)(raw + ML_COMPACT_BYTES);
    user[-2] = (uint64_t)size | (id << ML_SIZE_BITS);
    user[-1] = (ML_ID_MAGIC | flags) + (uint64_t)(uintptr_t)user;
    return user;
}

/* Whether a block of this size and alignment gets a 16-byte record (format 2 or 3). */
static inline int short_record(size_t size, size_t align, unsigned flags) {
    if (align > ML_ALIGN || (flags & ML_FLAG_INTERNAL)) return 0;
    return !(flags & ML_FLAG_STACK) || (uint64_t)size < (1ull << ML_SIZE_BITS);
}

static inline void *write_short(unsigned char *raw, size_t size, unsigned flags, uint64_t id) {
    return (flags & ML_FLAG_STACK) ? write_idrec(raw, size, flags, id) : write_compact(raw, size, flags);
}

static inline void *write_compact(unsigned char *raw, size_t size, unsigned flags) {
    uint64_t *user = (uint64_t *)(raw + ML_COMPACT_BYTES);
    user[-2] = size;
    user[-1] = (ML_COMPACT_MAGIC | flags) + (uint64_t)(uintptr_t)user;
    return user;
}

static inline void *write_record(unsigned char *raw, size_t offset, size_t size, const uint64_t *frames,
                                 int n, unsigned flags, uint64_t id) {
    unsigned char *user = raw + offset;
    uint64_t *rec = (uint64_t *)user - (ML_FIXED_WORDS + n);
    rec[0] = ML_START_MAGIC;
    rec[1] = ML_VERSION | ((uint64_t)flags << 16) | ((uint64_t)(uint32_t)n << 32);
    for (int i = 0; i < n; ++i) rec[2 + i] = frames[i];
    uint64_t *tail = rec + 2 + n;
    tail[0] = size;
    tail[1] = (next_seq() & ((1ull << ML_SEQ_BITS) - 1)) | (id << ML_SEQ_BITS);
    tail[2] = thread_id() | (g_sample_period << 32);
    tail[3] = offset;
    tail[4] = ML_END_MAGIC;
    return user;
}

/* What free needs to know about a live block of ours. */
struct block_info {
    unsigned char *raw; /* the underlying allocation */
    size_t size;
    unsigned flags;
    uint64_t id;      /* stack id in the table (0: none) */
    uint64_t *magics[2]; /* words to clear before the release */
    int compact;         /* a format-2 record */
};

/* A format-2 or -3 record: the word before the user data is the magic plus
 * flags plus the user address; format 3 keeps the stack id above the size. */
static inline int read_short(void *p, struct block_info *b, int idrec) {
    uint64_t *u = p;
    b->raw = (unsigned char *)p - ML_COMPACT_BYTES;
    b->size = idrec ? u[-2] & ((1ull << ML_SIZE_BITS) - 1) : u[-2];
    b->flags = (unsigned)((u[-1] - (uint64_t)(uintptr_t)p) & ML_FLAG_MASK);
    b->id = idrec ? u[-2] >> ML_SIZE_BITS : 0;
    b->magics[0] = &u[-1];
    b->magics[1] = NULL;
    b->compact = 1;
    return 1;
}

static void read_full(void *p, struct block_info *b) {
    uint64_t *tail = tail_of(p);
    size_t offset = tail[3];
    b->raw = (unsigned char *)p - offset;
    b->size = tail[0];
    b->flags = 0;
    b->id = 0;
    b->magics[0] = &tail[4];
    b->magics[1] = NULL;
    b->compact = 0;
    /* Find the start word: the frame count is in w[1], n words before the tail. */
    for (uint64_t n = 0; n <= ML_MAX_FRAMES; ++n) {
        uint64_t *rec = tail - 2 - n;
        if ((unsigned char *)rec < b->raw) break;
        if (rec[0] == ML_START_MAGIC && (rec[1] >> 32) == n) {
            b->magics[1] = rec;
            b->flags = (unsigned)((rec[1] >> 16) & 0xffff);
            if (b->flags & ML_FLAG_STACK) b->id = tail[1] >> ML_SEQ_BITS;
            break;
        }
    }
}

/* 1 and b filled when p is a block with a record, else 0. */
static inline int block_of(void *p, struct block_info *b) {
    if (is_compact(p)) return read_short(p, b, 0);
    if (is_idrec(p)) return read_short(p, b, 1);
    if (!is_ours(p)) return 0;
    read_full(p, b);
    return 1;
}

static inline void release(struct block_info *b) {
    *b->magics[0] = 0; /* a freed block is no longer a record */
    if (b->magics[1]) *b->magics[1] = 0;
    real.free(b->raw);
}

