/* Holds N MiB of touched anonymous memory until killed; prints "ready". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    size_t n = (size_t)atol(argv[1]) << 20;
    char *p = malloc(n);
    memset(p, 1, n);
    printf("ready\n"); fflush(stdout);
    pause();
    return p[0];
}
