/* Leaks from distinct functions, for grouping by the shim's allocation stacks.
 *
 * Run natively under the shim (LD_PRELOAD) and under valgrind, both stopping
 * at the same point; each leak comes from its own function, so valgrind's loss
 * records and memlens's stack groups can be matched by function:
 *   - leak_list: a list head (24) with 100 nodes (24) behind it, head dropped:
 *     1 definitely lost, 100 indirectly lost
 *   - leak_middle: a 56-byte block known only by a pointer to its middle:
 *     possibly lost
 *   - leak_aligned: a 40-byte block aligned to 64 (the shim's full record,
 *     with an offset back to the block), dropped: definitely lost
 *   - keep_blocks: eight 40-byte blocks in a global array: still reachable
 * At the check point: VALGRIND_DO_LEAK_CHECK (a no-op natively), then a line
 * "ready" on stdout and a wait on stdin.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

struct node { struct node *next; long value[2]; };

static char *middle;
static void *kept[8];

__attribute__((noinline)) static void leak_list(void) {
    struct node *head = calloc(1, sizeof *head);
    struct node *at = head;
    for (int i = 0; i < 100; i++) {
        at->next = malloc(sizeof *at);
        at = at->next;
        at->value[0] = i;
    }
    at->next = NULL;
    head = at = NULL;
}

__attribute__((noinline)) static void leak_middle(void) {
    char *p = malloc(56);
    memset(p, 0, 56);
    middle = p + 24;
    p = NULL;
}

__attribute__((noinline)) static void leak_aligned(void) {
    void *p = NULL;
    if (posix_memalign(&p, 64, 40) == 0) memset(p, 0, 40);
    p = NULL;
}

__attribute__((noinline)) static void keep_blocks(void) {
    for (int i = 0; i < 8; i++) kept[i] = calloc(1, 40);
}

__attribute__((noinline)) static void scrub_stack(void) {
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
}

int main(void) {
    keep_blocks();
    leak_list();
    leak_middle();
    leak_aligned();
    scrub_stack();
    VALGRIND_DO_LEAK_CHECK;
    if (write(1, "ready\n", 6) != 6) return 3;
    char cmd[16];
    if (read(0, cmd, sizeof cmd) < 0) return 4;
    return 0;
}
