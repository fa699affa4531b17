// The SQLite C API for Swift. SQLITE_TRANSIENT is a macro that casts -1 to a function pointer,
// which Swift cannot import: it is handed over through this function instead.
#include <sqlite3.h>

static inline sqlite3_destructor_type csqlite_transient(void) { return SQLITE_TRANSIENT; }
