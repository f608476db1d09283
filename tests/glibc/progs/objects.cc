// A C++ object graph with virtual classes: a lost tree of Branch objects with
// Leaf children, and a reachable Branch kept in a global.  Every object is
// 24 bytes (vtable pointer + two words), usable == requested.
#include <unistd.h>
#include <cstring>
#include <valgrind/memcheck.h>

struct Shape {
    virtual ~Shape() {}
    virtual long area() const = 0;
};
struct Leaf : Shape {
    long w = 1, h = 2;
    long area() const override { return w * h; }
};
struct Branch : Shape {
    Shape *left = nullptr, *right = nullptr;
    long area() const override { return left->area() + right->area(); }
};

static Shape *kept;

__attribute__((noinline)) static Shape *tree(int depth) {
    if (depth == 0) return new Leaf;
    Branch *b = new Branch;
    b->left = tree(depth - 1);
    b->right = tree(depth - 1);
    return b;
}

__attribute__((noinline)) static void lose(void) {
    Shape *t = tree(3);  // 7 Branch + 8 Leaf, lost
    t = nullptr;
    (void)t;
}

__attribute__((noinline)) static void scrub_stack(void) {
    volatile char pad[8192];
    memset((char *)pad, 0, sizeof pad);
}

int main() {
    kept = tree(1);  // 1 Branch + 2 Leaf, reachable
    lose();
    scrub_stack();
    VALGRIND_DO_LEAK_CHECK;
    if (write(1, "ready\n", 6) != 6) return 3;
    char cmd[16];
    if (read(0, cmd, sizeof cmd) < 0) return 4;
    return 0;
}
