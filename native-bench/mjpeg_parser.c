/* Incremental MJPEG response parser: see mjpeg_parser.h. */
#include "mjpeg_parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { TOP_HEAD, TOP_BODY, TOP_DONE, TOP_ERROR };
enum { CH_SIZE, CH_SIZE_LF, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER };
enum { MP_SEEK, MP_TAIL, MP_HEADERS, MP_BODY_LEN, MP_BODY_DELIM, MP_END };

#define MAX_HEAD_LINES 128
#define MAX_PART_LINES 64

static int fail(mjpeg_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    p->top = TOP_ERROR;
    p->result = MJPEG_ERROR;
    return MJPEG_ERROR;
}

static void reset_head(mjpeg_parser *p)
{
    p->status = 0;
    p->head_lines = 0;
    p->head_has_length = 0;
    p->head_chunked = 0;
    p->head_length = 0;
    p->head_ctype[0] = 0;
    p->line_len = 0;
}

static void reset_part(mjpeg_parser *p)
{
    p->part_has_length = 0;
    p->part_length = 0;
    p->part.size = 0;
    p->part.has_ts = 0;
    p->part.ts_ns = 0;
    p->head_lines = 0;
    p->line_len = 0;
}

void mjpeg_parser_init(mjpeg_parser *p, mjpeg_frame_cb cb, void *user)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->user = user;
    p->top = TOP_HEAD;
    p->result = MJPEG_OK;
    reset_head(p);
}

/* Appends bytes up to the next LF to the line buffer. Returns 1 when a whole line is in p->line
 * (NUL-terminated, trailing CR removed; the caller resets line_len), 0 when more bytes are
 * needed, -1 when the line is too long. Advances *d and *n past what it took. */
static int take_line(mjpeg_parser *p, const char **d, size_t *n)
{
    const char *nl = memchr(*d, '\n', *n);
    size_t k = nl ? (size_t)(nl - *d) : *n;
    if (p->line_len + k >= MJPEG_MAX_LINE)
        return -1;
    memcpy(p->line + p->line_len, *d, k);
    p->line_len += k;
    if (!nl) {
        *d += k;
        *n -= k;
        return 0;
    }
    *d += k + 1;
    *n -= k + 1;
    if (p->line_len && p->line[p->line_len - 1] == '\r')
        p->line_len--;
    p->line[p->line_len] = 0;
    return 1;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Splits "Name: value" in p->line; returns 0 and sets name/value (value trimmed), -1 if no colon. */
static int split_header(char *line, size_t len, char **name, size_t *name_len, char **value, size_t *value_len)
{
    char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -1;
    *name = line;
    *name_len = (size_t)(colon - line);
    char *v = colon + 1, *end = line + len;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    *value = v;
    *value_len = (size_t)(end - v);
    return 0;
}

static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Parses a decimal uint64 that fills exactly len bytes. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int mjpeg_parse_timestamp(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    int64_t sec = 0, frac = 0;
    int sec_digits = 0, frac_digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (++sec_digits > 10)
            return -1;
        sec = sec * 10 + (s[i++] - '0');
    }
    if (sec_digits == 0)
        return -1;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (frac_digits < 9) {
                frac = frac * 10 + (s[i] - '0');
                frac_digits++;
            }
            i++;
        }
    }
    if (i != len)
        return -1;
    for (int k = frac_digits; k < 9; k++)
        frac *= 10;
    *ns = sec * 1000000000LL + frac;
    return 0;
}

/* Finds the boundary parameter of a Content-Type value. */
static int find_boundary(const char *ct, char *out)
{
    const char *s = strchr(ct, ';');
    while (s && *s) {
        while (*s == ';' || is_ows(*s))
            s++;
        const char *name = s;
        while (*s && *s != '=' && *s != ';')
            s++;
        if (*s != '=') {
            continue;
        }
        size_t name_len = (size_t)(s - name);
        while (name_len && is_ows(name[name_len - 1]))
            name_len--;
        s++;
        while (is_ows(*s))
            s++;
        const char *v = s, *v_end;
        if (*s == '"') {
            v = ++s;
            while (*s && *s != '"')
                s++;
            if (*s != '"')
                return -1;
            v_end = s++;
        } else {
            while (*s && *s != ';' && !is_ows(*s))
                s++;
            v_end = s;
        }
        if (name_is(name, name_len, "boundary")) {
            size_t len = (size_t)(v_end - v);
            if (len == 0 || len > MJPEG_MAX_BOUNDARY)
                return -1;
            memcpy(out, v, len);
            out[len] = 0;
            return 0;
        }
        while (*s && *s != ';')
            s++;
    }
    return -1;
}

static void build_pattern(mjpeg_parser *p)
{
    int m = snprintf(p->pat, sizeof p->pat, "\r\n--%s", p->boundary);
    p->pat_len = m;
    p->fail[0] = 0;
    for (int q = 1, k = 0; q < m; q++) {
        while (k > 0 && p->pat[k] != p->pat[q])
            k = p->fail[k - 1];
        if (p->pat[k] == p->pat[q])
            k++;
        p->fail[q] = k;
    }
}

/* Scans for the delimiter pattern from the current match state. Returns the bytes consumed;
 * *found is set when the pattern completed at the last consumed byte. */
static size_t kmp_scan(mjpeg_parser *p, const char *d, size_t n, int *found)
{
    size_t i = 0;
    int q = p->match;
    const int m = p->pat_len;
    *found = 0;
    while (i < n) {
        if (q == 0) {
            /* nothing matched: skip straight to the next CR, the pattern's first byte */
            const char *cr = memchr(d + i, '\r', n - i);
            if (!cr) {
                i = n;
                break;
            }
            i = (size_t)(cr - d) + 1;
            q = 1;
            continue;
        }
        char c = d[i++];
        while (q > 0 && p->pat[q] != c)
            q = p->fail[q - 1];
        if (p->pat[q] == c)
            q++;
        if (q == m) {
            *found = 1;
            p->match = 0;
            return i;
        }
    }
    p->match = q;
    return i;
}

static void frame_done(mjpeg_parser *p, uint64_t size)
{
    p->part.size = size;
    p->frames++;
    if (p->cb)
        p->cb(p->user, &p->part);
}

static void seek_delimiter(mjpeg_parser *p)
{
    p->mp_state = MP_SEEK;
    p->match = 2; /* as if "\r\n" had just been read: the first delimiter may open the body */
    p->scanned = 0;
}

static int part_header_line(mjpeg_parser *p)
{
    char *name, *value;
    size_t name_len, value_len;
    if (split_header(p->line, p->line_len, &name, &name_len, &value, &value_len) < 0)
        return fail(p, "malformed part header line");
    if (name_is(name, name_len, "content-length")) {
        if (parse_u64(value, value_len, &p->part_length) < 0)
            return fail(p, "bad part Content-Length");
        p->part_has_length = 1;
    } else if (name_is(name, name_len, "x-timestamp")) {
        p->part.has_ts = mjpeg_parse_timestamp(value, value_len, &p->part.ts_ns) == 0;
    }
    return MJPEG_OK;
}

/* Consumes multipart body bytes (after transfer decoding). */
static int mp_feed(mjpeg_parser *p, const char *d, size_t n)
{
    p->body_bytes += n;
    while (n > 0) {
        switch (p->mp_state) {
        case MP_SEEK: {
            int found;
            size_t k = kmp_scan(p, d, n, &found);
            p->scanned += k;
            d += k;
            n -= k;
            if (found) {
                /* "\r\n--B" is expected after a sized part; more bytes than that were unexpected */
                if (p->frames > 0 && p->scanned > (uint64_t)p->pat_len)
                    p->junk_bytes += p->scanned - (uint64_t)p->pat_len;
                p->mp_state = MP_TAIL;
                p->tail_dash = 0;
            }
            break;
        }
        case MP_TAIL: {
            char c = *d++;
            n--;
            if (p->tail_dash) {
                if (c != '-')
                    return fail(p, "bad character after boundary");
                p->mp_state = MP_END;
                return MJPEG_DONE;
            }
            if (c == '-')
                p->tail_dash = 1;
            else if (c == '\n') {
                p->mp_state = MP_HEADERS;
                reset_part(p);
            } else if (c != '\r' && !is_ows(c))
                return fail(p, "bad character after boundary");
            break;
        }
        case MP_HEADERS: {
            int r = take_line(p, &d, &n);
            if (r < 0)
                return fail(p, "part header line too long");
            if (r == 0)
                break;
            if (p->line_len == 0) {
                p->line_len = 0;
                if (p->part_has_length) {
                    p->part_left = p->part_length;
                    if (p->part_left == 0) {
                        frame_done(p, 0);
                        seek_delimiter(p);
                    } else
                        p->mp_state = MP_BODY_LEN;
                } else {
                    p->mp_state = MP_BODY_DELIM;
                    p->match = 0;
                    p->scanned = 0;
                }
                break;
            }
            if (++p->head_lines > MAX_PART_LINES)
                return fail(p, "too many part header lines");
            if (part_header_line(p) < 0)
                return MJPEG_ERROR;
            p->line_len = 0;
            break;
        }
        case MP_BODY_LEN: {
            size_t k = p->part_left < n ? (size_t)p->part_left : n;
            p->part_left -= k;
            d += k;
            n -= k;
            if (p->part_left == 0) {
                frame_done(p, p->part_length);
                seek_delimiter(p);
            }
            break;
        }
        case MP_BODY_DELIM: {
            int found;
            size_t k = kmp_scan(p, d, n, &found);
            p->scanned += k;
            d += k;
            n -= k;
            if (found) {
                frame_done(p, p->scanned - (uint64_t)p->pat_len);
                p->mp_state = MP_TAIL;
                p->tail_dash = 0;
            }
            break;
        }
        case MP_END:
            return MJPEG_DONE;
        }
    }
    return p->mp_state == MP_END ? MJPEG_DONE : MJPEG_OK;
}

static int head_done(mjpeg_parser *p)
{
    if (p->status >= 100 && p->status < 200) {
        reset_head(p); /* interim response (100 Continue): the real one follows */
        return MJPEG_OK;
    }
    if (p->status != 200)
        return fail(p, "HTTP status %d", p->status);
    if (strncasecmp(p->head_ctype, "multipart/", 10) != 0)
        return fail(p, "Content-Type is not multipart: \"%.60s\"", p->head_ctype);
    if (find_boundary(p->head_ctype, p->boundary) < 0)
        return fail(p, "no valid boundary in Content-Type \"%.60s\"", p->head_ctype);
    build_pattern(p);
    if (p->head_chunked) {
        p->transfer = MJPEG_TE_CHUNKED;
        p->chunk_state = CH_SIZE;
        p->chunk_size = 0;
        p->chunk_digits = 0;
    } else if (p->head_has_length) {
        p->transfer = MJPEG_TE_LENGTH;
        p->remaining = p->head_length;
    } else
        p->transfer = MJPEG_TE_NONE;
    p->head_done = 1;
    p->top = TOP_BODY;
    p->line_len = 0;
    seek_delimiter(p);
    if (p->transfer == MJPEG_TE_LENGTH && p->remaining == 0) {
        p->top = TOP_DONE;
        p->result = MJPEG_DONE;
        return MJPEG_DONE;
    }
    return MJPEG_OK;
}

static int head_line(mjpeg_parser *p)
{
    if (p->head_lines++ == 0) {
        /* status line: HTTP/1.x SSS reason */
        const char *l = p->line;
        if (p->line_len < 12 || strncmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ' || l[9] < '1' || l[9] > '5' ||
            l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' || (p->line_len > 12 && l[12] != ' '))
            return fail(p, "bad status line \"%.60s\"", l);
        p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
        return MJPEG_OK;
    }
    if (p->head_lines > MAX_HEAD_LINES)
        return fail(p, "too many response header lines");
    char *name, *value;
    size_t name_len, value_len;
    if (split_header(p->line, p->line_len, &name, &name_len, &value, &value_len) < 0)
        return fail(p, "malformed response header line");
    if (name_is(name, name_len, "content-type")) {
        if (value_len >= sizeof p->head_ctype)
            return fail(p, "Content-Type too long");
        memcpy(p->head_ctype, value, value_len);
        p->head_ctype[value_len] = 0;
    } else if (name_is(name, name_len, "content-length")) {
        if (parse_u64(value, value_len, &p->head_length) < 0)
            return fail(p, "bad Content-Length");
        p->head_has_length = 1;
    } else if (name_is(name, name_len, "transfer-encoding")) {
        /* the last coding must be chunked for a chunked body */
        size_t k = value_len;
        while (k && (is_ows(value[k - 1]) || value[k - 1] == ','))
            k--;
        if (k >= 7 && strncasecmp(value + k - 7, "chunked", 7) == 0)
            p->head_chunked = 1;
        else if (k)
            return fail(p, "unsupported Transfer-Encoding \"%.40s\"", value);
    }
    return MJPEG_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One chunk-size line read: data or the last chunk follows. */
static void chunk_size_done(mjpeg_parser *p)
{
    if (p->chunk_size == 0) {
        p->chunk_state = CH_TRAILER;
        p->line_len = 0;
    } else {
        p->chunk_state = CH_DATA;
        p->remaining = p->chunk_size;
    }
}

static int chunked_feed(mjpeg_parser *p, const char *d, size_t n)
{
    while (n > 0) {
        switch (p->chunk_state) {
        case CH_SIZE: {
            char c = *d++;
            n--;
            int v = hexval(c);
            if (v >= 0) {
                if (++p->chunk_digits > 15)
                    return fail(p, "chunk size too large");
                p->chunk_size = p->chunk_size * 16 + (uint64_t)v;
                break;
            }
            if (p->chunk_digits == 0)
                return fail(p, "bad chunk size line");
            if (c == '\r')
                p->chunk_state = CH_SIZE_LF;
            else if (c == '\n')
                chunk_size_done(p);
            else if (c == ';' || is_ows(c))
                p->chunk_state = CH_EXT;
            else
                return fail(p, "bad chunk size line");
            break;
        }
        case CH_EXT: {
            const char *nl = memchr(d, '\n', n);
            if (!nl) {
                n = 0;
                break;
            }
            n -= (size_t)(nl - d) + 1;
            d = nl + 1;
            chunk_size_done(p);
            break;
        }
        case CH_SIZE_LF:
            if (*d != '\n')
                return fail(p, "bad chunk size line");
            d++;
            n--;
            chunk_size_done(p);
            break;
        case CH_DATA: {
            size_t k = p->remaining < n ? (size_t)p->remaining : n;
            int r = mp_feed(p, d, k);
            if (r != MJPEG_OK)
                return r;
            p->remaining -= k;
            d += k;
            n -= k;
            if (p->remaining == 0)
                p->chunk_state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (*d == '\r')
                p->chunk_state = CH_DATA_LF;
            else if (*d == '\n') {
                p->chunk_state = CH_SIZE;
                p->chunk_size = 0;
                p->chunk_digits = 0;
            } else
                return fail(p, "missing CRLF after chunk data");
            d++;
            n--;
            break;
        case CH_DATA_LF:
            if (*d != '\n')
                return fail(p, "missing CRLF after chunk data");
            d++;
            n--;
            p->chunk_state = CH_SIZE;
            p->chunk_size = 0;
            p->chunk_digits = 0;
            break;
        case CH_TRAILER: {
            int r = take_line(p, &d, &n);
            if (r < 0)
                return fail(p, "trailer line too long");
            if (r == 1) {
                if (p->line_len == 0)
                    return MJPEG_DONE;
                p->line_len = 0;
            }
            break;
        }
        }
    }
    return MJPEG_OK;
}

int mjpeg_parser_feed(mjpeg_parser *p, const char *d, size_t n)
{
    while (n > 0 && p->result == MJPEG_OK) {
        if (p->top == TOP_HEAD) {
            int r = take_line(p, &d, &n);
            if (r < 0)
                return fail(p, "response header line too long");
            if (r == 0)
                break;
            if (p->line_len == 0 && p->head_lines > 0) {
                if (head_done(p) != MJPEG_OK)
                    return p->result;
                continue;
            }
            if (p->line_len == 0)
                continue; /* tolerate empty lines before the status line */
            if (head_line(p) < 0)
                return MJPEG_ERROR;
            p->line_len = 0;
            continue;
        }
        /* TOP_BODY */
        int r;
        switch (p->transfer) {
        case MJPEG_TE_CHUNKED:
            r = chunked_feed(p, d, n);
            n = 0;
            break;
        case MJPEG_TE_LENGTH: {
            size_t k = p->remaining < n ? (size_t)p->remaining : n;
            r = mp_feed(p, d, k);
            p->remaining -= k;
            n = 0;
            if (r == MJPEG_OK && p->remaining == 0)
                r = MJPEG_DONE;
            break;
        }
        default:
            r = mp_feed(p, d, n);
            n = 0;
            break;
        }
        if (r == MJPEG_DONE) {
            p->top = TOP_DONE;
            p->result = MJPEG_DONE;
        }
    }
    return p->result;
}

int mjpeg_parser_eof(mjpeg_parser *p)
{
    if (p->result != MJPEG_OK)
        return p->result;
    if (p->top == TOP_HEAD)
        return fail(p, "connection closed before the response head");
    if (p->transfer != MJPEG_TE_NONE)
        return fail(p, "connection closed before the end of the body");
    /* between parts: looking for a delimiter, or right after one */
    int between = p->mp_state == MP_SEEK || p->mp_state == MP_TAIL ||
                  (p->mp_state == MP_HEADERS && p->line_len == 0 && p->head_lines == 0);
    if (!between)
        return fail(p, "connection closed in the middle of a part");
    p->top = TOP_DONE;
    p->result = MJPEG_DONE;
    return MJPEG_DONE;
}
