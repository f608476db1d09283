/* Four threads, each with a block kept only in its TLS, one kept only on its
 * stack, and a lost list (head + 99 nodes); all checked while the threads wait.
 * Under valgrind VALGRIND_DO_LEAK_CHECK reports at the check point; natively
 * the program prints "ready" and waits on stdin. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#define THREADS 4
struct node { struct node *next; long value[2]; };
static __thread void *tls_keep;
static pthread_barrier_t ready, never;

__attribute__((noinline)) static void lose_list(void) {
    struct node *head = malloc(sizeof *head), *at = head;
    for (int i = 0; i < 99; i++) { at->next = malloc(sizeof *at); at = at->next; }
    at->next = NULL;
    head = at = NULL;
}

static void *worker(void *arg) {
    (void)arg;
    tls_keep = malloc(24);
    void *volatile on_stack = malloc(40);
    lose_list();
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&never);
    return on_stack;
}

int main(void) {
    pthread_t tid[THREADS];
    pthread_barrier_init(&ready, NULL, THREADS + 1);
    pthread_barrier_init(&never, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) pthread_create(&tid[i], NULL, worker, NULL);
    pthread_barrier_wait(&ready);
    VALGRIND_DO_LEAK_CHECK;
    if (write(1, "ready\n", 6) != 6) return 3;
    char cmd[8];
    if (read(0, cmd, sizeof cmd) < 0) return 4;
    _exit(0);
}
