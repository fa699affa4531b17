/* socket_client: asks slmd for a completion over its Unix socket, with nothing but POSIX calls.
 *
 *   socket_client SOCKET_PATH "PROMPT" [MAX_TOKENS]
 *
 * Protocol v1 (docs/protocol.md): newline-delimited JSON. We send one request line
 *   {"id":1,"op":"generate","prompt":"...","max_tokens":N,"temperature":0}
 * and print the "text" of each {"event":"token"} reply until {"event":"done"} (statistics go to
 * stderr) or {"event":"error"}. The tiny JSON reader below reads only the flat fields we need.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { MAX_REPLY_LINE = 1 << 20, MAX_FIELD = 1 << 16 };

/* Appends `s` to `out` as a JSON string literal. */
static void json_quote(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

static void put_utf8(char **o, const char *end, unsigned long cp) {
    char buf[4];
    int n;
    if (cp < 0x80) { buf[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { buf[0] = (char)(0xC0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12)); buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        buf[0] = (char)(0xF0 | (cp >> 18)); buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    if (*o + n < end) { memcpy(*o, buf, (size_t)n); *o += n; }
}

/* Parses the JSON string at p (at its opening quote) into out (NUL-terminated, truncated to cap);
 * returns the position after the closing quote, or NULL when malformed. out may be NULL. */
static const char *parse_string(const char *p, char *out, size_t cap, size_t *out_len) {
    char scratch[1];
    char *o = out ? out : scratch;
    const char *end = out ? out + cap - 1 : scratch;
    if (*p++ != '"') return NULL;
    while (*p && *p != '"') {
        if (*p != '\\') {
            if (o < end) *o++ = *p;
            p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': if (o < end) *o++ = '\n'; break;
        case 't': if (o < end) *o++ = '\t'; break;
        case 'r': if (o < end) *o++ = '\r'; break;
        case 'b': if (o < end) *o++ = '\b'; break;
        case 'f': if (o < end) *o++ = '\f'; break;
        case 'u': {
            unsigned long cp = strtoul((char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {  /* surrogate pair */
                unsigned long low = strtoul((char[5]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            }
            put_utf8(&o, end, cp);
            break;
        }
        case '\0': return NULL;
        default: if (o < end) *o++ = *p; break;  /* \" \\ \/ */
        }
        p++;
    }
    if (*p != '"') return NULL;
    if (out) *o = '\0';
    if (out_len) *out_len = out ? (size_t)(o - out) : 0;
    return p + 1;
}

/* Skips any JSON value; returns the position after it, or NULL when malformed. */
static const char *skip_value(const char *p) {
    p = skip_space(p);
    if (*p == '"') return parse_string(p, NULL, 0, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p) {
            if (*p == '"') { p = parse_string(p, NULL, 0, NULL); if (!p) return NULL; continue; }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') { if (--depth == 0) return p + 1; }
            p++;
        }
        return NULL;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']') p++;  /* number, true, false, null */
    return p;
}

/* Finds top-level field `key` of the object in `line`; returns a pointer to its value or NULL. */
static const char *find_field(const char *line, const char *key) {
    char name[64];
    const char *p = skip_space(line);
    if (*p++ != '{') return NULL;
    for (;;) {
        p = skip_space(p);
        if (*p != '"') return NULL;
        p = parse_string(p, name, sizeof name, NULL);
        if (!p) return NULL;
        p = skip_space(p);
        if (*p++ != ':') return NULL;
        p = skip_space(p);
        if (strcmp(name, key) == 0) return p;
        p = skip_value(p);
        if (!p) return NULL;
        p = skip_space(p);
        if (*p++ != ',') return NULL;
    }
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Handles one reply line; returns 1 to keep reading, 0 when done, -1 on an error reply. */
static int handle_reply(const char *line, char *field) {
    const char *event = find_field(line, "event");
    if (!event || !parse_string(event, field, MAX_FIELD, NULL)) {
        fprintf(stderr, "unexpected reply: %s\n", line);
        return -1;
    }
    if (strcmp(field, "token") == 0) {
        size_t len = 0;
        const char *text = find_field(line, "text");
        if (text && parse_string(text, field, MAX_FIELD, &len)) fwrite(field, 1, len, stdout);
        fflush(stdout);
        return 1;
    }
    if (strcmp(field, "done") == 0) {
        printf("\n");
        fprintf(stderr, "done: %s\n", line);
        return 0;
    }
    if (strcmp(field, "error") == 0) {
        fprintf(stderr, "error: %s\n", line);
        return -1;
    }
    return 1;  /* events this client does not know are skipped */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH PROMPT [MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof address.sun_path) {
        fprintf(stderr, "socket path too long\n");
        return 2;
    }
    strcpy(address.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", argv[1], strerror(errno));
        if (fd >= 0) close(fd);
        return 1;
    }

    char *request = NULL;
    size_t request_len = 0;
    FILE *out = open_memstream(&request, &request_len);
    if (!out) { close(fd); return 1; }
    fputs("{\"id\":1,\"op\":\"generate\",\"prompt\":", out);
    json_quote(out, argv[2]);
    fprintf(out, ",\"max_tokens\":%d,\"temperature\":0}\n", argc > 3 ? atoi(argv[3]) : 64);
    fclose(out);
    int sent = write_all(fd, request, request_len);
    free(request);
    if (sent != 0) {
        fprintf(stderr, "cannot send: %s\n", strerror(errno));
        close(fd);
        return 1;
    }

    char *line = malloc(MAX_REPLY_LINE + 1);
    char *field = malloc(MAX_FIELD);
    size_t have = 0;
    int result = 1, state = 1;
    while (line && field && state == 1) {
        ssize_t n = read(fd, line + have, MAX_REPLY_LINE - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { fprintf(stderr, "connection closed before \"done\"\n"); break; }
        have += (size_t)n;
        char *start = line, *newline;
        while (state == 1 && (newline = memchr(start, '\n', have - (size_t)(start - line))) != NULL) {
            *newline = '\0';
            state = handle_reply(start, field);
            start = newline + 1;
        }
        have -= (size_t)(start - line);
        memmove(line, start, have);
        if (state == 1 && have == MAX_REPLY_LINE) { fprintf(stderr, "reply line too long\n"); break; }
    }
    if (state == 0) result = 0;
    free(line);
    free(field);
    close(fd);
    return result;
}
