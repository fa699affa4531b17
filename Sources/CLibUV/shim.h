// libuv for slmd (Debian: libuv1-dev). Only the header; the library comes from pkg-config "libuv".
#include <uv.h>
// glibc's malloc_trim, which the Glibc module does not expose: slmd gives the heap back when idle.
#if defined(__GLIBC__)
#include <malloc.h>
#endif
