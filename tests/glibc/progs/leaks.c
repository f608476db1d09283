/* Known leaks, checked at one point both natively and under valgrind.
 *
 * Blocks have usable size == requested size (24, 40, 56: 16k + 8 bytes), so
 * glibc's chunk sizes and valgrind's requested sizes give the same bytes.
 *   - a list head (24) with 1000 nodes (24) behind it, head pointer dropped:
 *     1 definitely lost, 1000 indirectly lost
 *   - a 56-byte block known only by a pointer to its middle: possibly lost
 *   - a cycle of three 40-byte blocks, no pointer in: 1 definitely, 2 indirectly
 *   - ten 24-byte blocks in a global array: still reachable
 * At the check point: VALGRIND_DO_LEAK_CHECK (a no-op natively), then a line
 * "ready" on stdout and a wait on stdin.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

struct node { struct node *next; long value[2]; };

static char *middle;
static void *kept[10];

__attribute__((noinline)) static void lose_list(void) {
    struct node *head = malloc(sizeof *head);
    struct node *at = head;
    for (int i = 0; i < 1000; i++) {
        at->next = malloc(sizeof *at);
        at = at->next;
        at->value[0] = i;
    }
    at->next = NULL;
    head = at = NULL;
}

__attribute__((noinline)) static void lose_cycle(void) {
    void **a = malloc(40), **b = malloc(40), **c = malloc(40);
    memset(a, 0, 40); memset(b, 0, 40); memset(c, 0, 40);
    a[0] = b; b[0] = c; c[0] = a;
    a = b = c = NULL;
}

__attribute__((noinline)) static void keep_middle(void) {
    char *p = malloc(56);
    memset(p, 0, 56);
    middle = p + 16;
    p = NULL;
}

__attribute__((noinline)) static void scrub_stack(void) {
    volatile char pad[8192];
    memset((char *)pad, 0, sizeof pad);
}

int main(void) {
    for (int i = 0; i < 10; i++) kept[i] = calloc(1, 24);
    lose_list();
    lose_cycle();
    keep_middle();
    scrub_stack();
    VALGRIND_DO_LEAK_CHECK;
    if (write(1, "ready\n", 6) != 6) return 3;
    char cmd[16];
    if (read(0, cmd, sizeof cmd) < 0) return 4;
    return 0;
}
