/* A heap corrupted on purpose, then waiting on stdin.
 *   corrupt overflow : a 24-byte block written 8 bytes too far, over the next
 *                      chunk's size field
 *   corrupt double   : a block freed twice into the tcache (the second free
 *                      passes glibc's check because the block's tcache key was
 *                      overwritten first, as a use after free would)
 *   corrupt crash    : the overflow, then free(b): glibc aborts in free() ("free():
 *                      invalid size") and the kernel writes a core
 * Prints "a=ADDR b=ADDR" (user pointers) at the check point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *keep[64];

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    for (int i = 0; i < 16; i++) keep[i] = malloc(100);
    char *a = malloc(24), *b = malloc(24), *c = malloc(24);
    keep[20] = c;
    if (strcmp(mode, "overflow") == 0) {
        memset(a, 'A', 32); /* 24 usable bytes, then b's size field */
    } else if (strcmp(mode, "double") == 0) {
        free(b);
        ((void **)b)[1] = NULL; /* the tcache key: defeats the double-free check */
        free(b);
    }
    char line[128];
    int len = snprintf(line, sizeof line, "a=%lu b=%lu\n", (unsigned long)a, (unsigned long)b);
    if (write(1, line, (size_t)len) != len) return 3;
    if (strcmp(mode, "crash") == 0) {
        memset(a, 'A', 32);
        free(b); /* aborts */
    }
    char cmd[16];
    if (read(0, cmd, sizeof cmd) < 0) return 4;
    return 0;
}
