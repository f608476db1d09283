/* Memory the program never touched: a 64 MiB .bss array and a 64 MiB mmapped
 * chunk (only its header page is written), plus a thread-less small heap.
 * Prints "big=ADDR" (the mmapped block) and waits on stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char untouched_bss[64 << 20];
static void *keep[4];

int main(void) {
    keep[0] = malloc(64 << 20);
    keep[1] = malloc(100);
    keep[2] = untouched_bss;
    char line[64];
    int len = snprintf(line, sizeof line, "big=%lu\n", (unsigned long)keep[0]);
    if (write(1, line, (size_t)len) != len) return 3;
    char cmd[8];
    if (read(0, cmd, sizeof cmd) < 0) return 4;
    return 0;
}
