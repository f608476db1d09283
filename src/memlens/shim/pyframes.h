/*
 * CPython frames in the shim's stacks (see pyframes.c and docs/python.md).
 *
 * A Python frame takes two words in a record's frame list:
 *
 *   w[i]     ML_PY_TAG | (minor version << 48) | address of the code object
 *   w[i+1]   byte offset of the instruction being executed in the code object
 *            (the "lasti" CPython itself gives to PyCode_Addr2Line)
 *
 * A user-space return address never has bits 56-63 set, so a tagged word
 * cannot be mistaken for one.  The minor version tells a reader which table of
 * code-object offsets to use.
 */
#ifndef MEMLENS_PYFRAMES_H
#define MEMLENS_PYFRAMES_H

#include <stddef.h>
#include <stdint.h>

#define ML_PY_TAG 0x5000000000000000ULL /* 'P' in the top byte */
#define ML_PY_TAG_MASK 0xff00000000000000ULL

/* Look for a CPython interpreter in the process (its exported symbols); 1 when
 * found and its version is one this shim knows.  MEMLENS_PYTHON=0 turns it off. */
int ml_py_init(void);

/* Have pymalloc take its arenas from alloc/release (the shim's malloc and free)
 * instead of mmap, so the memory of small objects is in the heap, each arena
 * under the stack of the allocation that opened it.  Call before the
 * interpreter allocates its first arena (at the shim's start-up). */
void ml_py_hook_arenas(void *(*alloc)(size_t), void (*release)(void *));

/* Rewrite n native return addresses (innermost first) into out: each frame of
 * the interpreter's evaluation loop is replaced by the Python frames it was
 * running.  Returns the number of words written (at most max). */
int ml_py_merge(const uint64_t *native, int n, uint64_t *out, int max);

#endif
