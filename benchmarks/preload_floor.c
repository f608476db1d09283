/* The floor of any LD_PRELOAD allocation shim (bench_heap.py --attribution):
 * malloc, free, calloc and realloc interposed and forwarded through function
 * pointers found with dlsym(RTLD_NEXT), no record; dlsym's own early
 * allocations come from a static arena.  Build: gcc -O2 -shared -fPIC. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
static void *(*rmalloc)(size_t);
static void (*rfree)(void *);
static void *(*rcalloc)(size_t, size_t);
static void *(*rrealloc)(void *, size_t);
static _Alignas(16) char arena[65536];
static size_t used;
static int busy;
static void init(void) {
    if (rmalloc || busy) return;
    busy = 1;
    rmalloc = dlsym(RTLD_NEXT, "malloc");
    rfree = dlsym(RTLD_NEXT, "free");
    rcalloc = dlsym(RTLD_NEXT, "calloc");
    rrealloc = dlsym(RTLD_NEXT, "realloc");
    busy = 0;
}
static void *early(size_t n) { void *p = arena + used; used += (n + 15) & ~(size_t)15; return p; }
static int in_arena(void *p) { return (char *)p >= arena && (char *)p < arena + sizeof arena; }
__attribute__((visibility("default"))) void *malloc(size_t n) { init(); return rmalloc ? rmalloc(n) : early(n); }
__attribute__((visibility("default"))) void free(void *p) { if (p && !in_arena(p)) { init(); rfree(p); } }
__attribute__((visibility("default"))) void *calloc(size_t a, size_t b) { init(); return rcalloc ? rcalloc(a, b) : early(a * b); }
__attribute__((visibility("default"))) void *realloc(void *p, size_t n) { init(); if (in_arena(p)) { void *q = rmalloc(n); memcpy(q, p, n); return q; } return rrealloc(p, n); }
