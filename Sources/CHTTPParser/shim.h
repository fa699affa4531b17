// Debian's libhttp-parser-dev (nodejs/http-parser 2.9): the HTTP/1.1 request parser slmd uses.
// The parser's state is C bitfields; these accessors read them without depending on how the
// Swift importer lays bitfields out.
#include <http_parser.h>

static inline unsigned slm_http_errno(const http_parser *p) { return p->http_errno; }
static inline unsigned slm_http_method(const http_parser *p) { return p->method; }
static inline int slm_http_upgrade(const http_parser *p) { return p->upgrade; }
static inline unsigned short slm_http_major(const http_parser *p) { return p->http_major; }
static inline unsigned short slm_http_minor(const http_parser *p) { return p->http_minor; }
