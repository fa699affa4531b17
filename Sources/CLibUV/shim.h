// libuv for slmd (Debian: libuv1-dev). Only the header; the library comes from pkg-config "libuv".
#include <uv.h>
