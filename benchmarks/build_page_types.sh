#!/usr/bin/env bash
# Build the kernel's page-types (tools/mm/page-types.c) from a Linux source tree
# given on the command line, into benchmarks/.page-types/ (gitignored): the peer
# of `memlens pages --summary` in bench_pages.py and of tests/sources/live/
# test_page_types.py (MEMLENS_PAGE_TYPES=benchmarks/.page-types/page-types).
#
#   benchmarks/build_page_types.sh LINUX_SOURCE_DIR
#
# LINUX_SOURCE_DIR needs tools/mm/page-types.c; include/uapi/linux/magic.h and
# kernel-page-flags.h are taken from it when it has them, else from the system's
# /usr/include/linux (linux-libc-dev).  page-types includes <api/fs/fs.h> of the
# kernel's tools/lib for debugfs__mount(), used only by its hwpoison options: a
# stub that finds no debugfs stands in for it, so nothing else of tools/ is built.
# No kernel source is kept in the repository.
set -euo pipefail
src=${1:?usage: $0 LINUX_SOURCE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/.page-types"
[ -f "$src/tools/mm/page-types.c" ] || { echo "$src/tools/mm/page-types.c: not found" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out/tree/tools/mm" "$out/tree/include/uapi/linux" "$out/stub/api/fs"
cp "$src/tools/mm/page-types.c" "$out/tree/tools/mm/"
for h in magic.h kernel-page-flags.h; do
    if [ -f "$src/include/uapi/linux/$h" ]; then
        cp "$src/include/uapi/linux/$h" "$out/tree/include/uapi/linux/"
    else
        cp "/usr/include/linux/$h" "$out/tree/include/uapi/linux/"
    fi
done
cat > "$out/stub/api/fs/fs.h" <<'STUB'
/* memlens's stand-in for tools/lib/api/fs/fs.h: only what page-types calls */
const char *debugfs__mount(void);
STUB
cat > "$out/stub/fs.c" <<'STUB'
/* memlens's stand-in: no debugfs (page-types's -X/-x then say "mount debugfs") */
#include <errno.h>
#include <stddef.h>
const char *debugfs__mount(void) { errno = ENOENT; return NULL; }
STUB
gcc -O2 -I "$out/stub" -o "$out/page-types" "$out/tree/tools/mm/page-types.c" "$out/stub/fs.c"
echo "$out/page-types"
