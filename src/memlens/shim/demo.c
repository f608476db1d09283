/* The built-in workload of `memlens run` with no command: a toy key-value
 * service that keeps a table, an index and a cache, and leaks a little. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row { char *key; char *value; };

__attribute__((noinline)) static char *copy_text(const char *s, size_t extra) {
    size_t n = strlen(s);
    char *p = malloc(n + extra + 1);
    memcpy(p, s, n + 1);
    return p;
}

__attribute__((noinline)) static struct row *load_table(int n) {
    struct row *rows = calloc((size_t)n, sizeof *rows);
    char key[32];
    for (int i = 0; i < n; ++i) {
        snprintf(key, sizeof key, "user:%06d", i);
        rows[i].key = copy_text(key, 0);
        rows[i].value = copy_text("profile", 200 + (size_t)(i % 7) * 64);
    }
    return rows;
}

__attribute__((noinline)) static void **build_index(int n) {
    void **buckets = malloc((size_t)n * 2 * sizeof *buckets);
    for (int i = 0; i < n * 2; ++i) buckets[i] = NULL;
    return buckets;
}

__attribute__((noinline)) static char *fill_cache(size_t bytes) {
    char *cache = malloc(bytes);
    memset(cache, 0xab, bytes);
    return cache;
}

__attribute__((noinline)) static void handle_request(int i) {
    char *scratch = malloc(4096);
    snprintf(scratch, 4096, "request %d", i);
    if (i % 50 != 0) free(scratch); /* the leak: every 50th request */
}

int main(void) {
    struct row *rows = load_table(5000);
    void **index = build_index(5000);
    char *cache = fill_cache(3u << 20);
    for (int i = 0; i < 2000; ++i) handle_request(i);
    printf("demo: table %p, index %p, cache %p\n", (void *)rows, (void *)index, (void *)cache);
    return 0;
}
