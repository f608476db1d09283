/* A CPython extension that leaks, for comparing memlens with valgrind on a real
 * interpreter.  leak_list(n): a 24-byte list head with n 24-byte nodes behind
 * it, the head dropped (1 definitely lost, n indirectly lost); leak_middle():
 * a 56-byte block known only by a pointer to its middle (possibly lost);
 * check(): the check point -- VALGRIND_DO_LEAK_CHECK (a no-op natively), then
 * "ready" on stdout and a wait on stdin, all without allocating. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

struct node { struct node *next; long value[2]; };

static char *middle;

__attribute__((noinline)) static void lose_list(long n) {
    struct node *head = calloc(1, sizeof *head);
    struct node *at = head;
    for (long i = 0; i < n; i++) {
        at->next = calloc(1, sizeof *at);
        at = at->next;
        at->value[0] = i;
    }
    head = at = NULL;
}

static PyObject *leak_list(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n < 0 && PyErr_Occurred()) return NULL;
    lose_list(n);
    Py_RETURN_NONE;
}

__attribute__((noinline)) static void keep_middle(void) {
    char *p = calloc(1, 56);
    middle = p + 24;
}

static PyObject *leak_middle(PyObject *self, PyObject *unused) {
    keep_middle();
    Py_RETURN_NONE;
}

__attribute__((noinline)) static void scrub_stack(void) {
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
}

static PyObject *check(PyObject *self, PyObject *unused) {
    scrub_stack();
    VALGRIND_DO_LEAK_CHECK;
    char cmd[16];
    if (write(1, "ready\n", 6) != 6 || read(0, cmd, sizeof cmd) < 0) return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"leak_list", leak_list, METH_O, "lose a list of n nodes"},
    {"leak_middle", leak_middle, METH_NOARGS, "keep only a pointer to a block's middle"},
    {"check", check, METH_NOARGS, "the check point: leak check, 'ready', wait on stdin"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "leakext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_leakext(void) { return PyModule_Create(&module); }
