/*
 * parser-selftest: feeds crafted MJPEG responses to the load generator's parser (mjpeg_parser.c)
 * in pieces of 1 byte to 4 KB, and at every two-piece split of the smaller streams, and checks
 * that every frame is found, with its exact size and timestamp, in the very piece whose bytes
 * complete it. Also checks that malformed responses are refused. Exits 1 with a message on the
 * first failure, else prints one summary line and exits 0.
 */
#include "mjpeg_parser.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable byte buffer ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("parser-selftest: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void buf_add(buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, (size_t)n);
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- stream specification and generator ---- */

enum transfer { T_NONE, T_LENGTH, T_CHUNKED };
enum style { S_TRAILING, S_LEADING }; /* boundary after each part (framering) or before (mjpg-streamer) */

typedef struct {
    const char *name;
    const char *boundary;
    const char *ctype_extra;  /* Content-Type as written, "%s" = boundary */
    enum transfer transfer;
    enum style style;
    int with_length;          /* parts carry Content-Length */
    int frames;
    size_t min_size, max_size;
    int preamble, padding, close_delim, interim_100, chunk_ext, trailer;
    size_t chunk_max;         /* chunk sizes 1..chunk_max (random) */
} spec;

typedef struct {
    uint64_t size;
    int has_ts;
    int64_t ts_ns;
    size_t done_at;           /* raw offset just past the byte that completes the frame */
} expect;

typedef struct {
    buf raw;
    expect *ex;
    int n;
    int end_result;           /* result once every byte is fed */
    int eof_result;           /* result of mjpeg_parser_eof after that */
} stream;

/* A frame body: random bytes with near-misses of the delimiter, never the delimiter itself. */
static void make_body(buf *b, size_t size, const char *pat, int frame_no)
{
    size_t plen = strlen(pat);
    for (;;) {
        b->len = 0;
        while (b->len < size) {
            uint64_t r = rnd();
            size_t left = size - b->len;
            if (r % 7 == 0 && left > plen) {
                /* a proper prefix of the delimiter, then a byte that breaks it */
                size_t k = (size_t)(r >> 8) % plen;
                buf_add(b, pat, k);
                char breaker = (r >> 20) & 1 ? '\r' : 'x';
                buf_add(b, &breaker, 1);
            } else if (r % 11 == 0 && left > 2) {
                buf_add(b, "\r\n", 2);
            } else {
                char c = (char)(r >> 32);
                buf_add(b, &c, 1);
            }
        }
        b->len = size;
        if (size > 1) {
            b->p[0] = (char)0xff;
            b->p[1] = (char)0xd8;
        }
        /* the delimiter must not occur in the body + the delimiter that follows it, but at its end */
        buf_add(b, pat, plen);
        char *first = memmem(b->p, b->len, pat, plen);
        int bad = first != b->p + size;
        b->len = size;
        if (!bad)
            return;
        (void)frame_no;
    }
}

static void gen(const spec *s, stream *st)
{
    buf body = {0}, part = {0};
    char pat[96];
    snprintf(pat, sizeof pat, "\r\n--%s", s->boundary);
    st->ex = calloc((size_t)s->frames, sizeof *st->ex);
    st->n = s->frames;
    size_t *done_body = calloc((size_t)s->frames, sizeof *done_body);

    if (s->preamble)
        buf_str(&body, "This is the preamble. It is to be ignored.\r\n--not-it\r\n");
    for (int i = 0; i < s->frames; i++) {
        size_t size = s->min_size + (s->max_size > s->min_size ? (size_t)(rnd() % (s->max_size - s->min_size + 1)) : 0);
        make_body(&part, size, pat, i);
        expect *e = &st->ex[i];
        e->size = size;
        /* timestamps: 6 digits (framering), 3, 9, more than 9, none, no fraction */
        int64_t sec = 1732500000 + i;
        int64_t us = (int64_t)(rnd() % 1000000);
        char ts[64] = "";
        switch (i % 6) {
        case 0: case 1:
            snprintf(ts, sizeof ts, "%" PRId64 ".%06" PRId64, sec, us);
            e->has_ts = 1, e->ts_ns = sec * 1000000000LL + us * 1000;
            break;
        case 2:
            snprintf(ts, sizeof ts, "%" PRId64 ".%03" PRId64, sec, us / 1000);
            e->has_ts = 1, e->ts_ns = sec * 1000000000LL + (us / 1000) * 1000000;
            break;
        case 3:
            snprintf(ts, sizeof ts, "%" PRId64 ".%06" PRId64 "123", sec, us);
            e->has_ts = 1, e->ts_ns = sec * 1000000000LL + us * 1000 + 123;
            break;
        case 4:
            snprintf(ts, sizeof ts, "%" PRId64 ".%06" PRId64 "12345", sec, us); /* 11 digits: 9 used */
            e->has_ts = 1, e->ts_ns = sec * 1000000000LL + us * 1000 + 123;
            break;
        case 5:
            if (i % 12 == 5) {
                snprintf(ts, sizeof ts, "%" PRId64, sec);
                e->has_ts = 1, e->ts_ns = sec * 1000000000LL;
            } else
                e->has_ts = 0;
            break;
        }
        /* the delimiter that opens the part */
        if (i == 0 || s->style == S_LEADING) {
            if (i > 0 || s->preamble)
                buf_str(&body, "\r\n");
            buf_fmt(&body, "--%s", s->boundary);
            if (s->padding)
                buf_str(&body, " \t ");
            buf_str(&body, "\r\n");
        }
        if (i % 2)
            buf_str(&body, "content-type:image/jpeg\r\n");
        else
            buf_str(&body, "Content-Type: image/jpeg\r\n");
        if (s->with_length)
            buf_fmt(&body, i % 3 == 1 ? "content-length:%zu  \r\n" : "Content-Length: %zu\r\n", size);
        if (e->has_ts)
            buf_fmt(&body, i % 2 ? "x-timestamp:  %s\r\n" : "X-Timestamp: %s\r\n", ts);
        else if (i % 12 == 11)
            buf_str(&body, "X-Timestamp: not-a-time\r\n");
        if (i % 4 == 3)
            buf_str(&body, "X-Frame-Note: ignored: really\r\n");
        buf_str(&body, "\r\n");
        buf_add(&body, part.p, part.len);
        if (s->with_length)
            done_body[i] = body.len; /* complete at its last body byte */
        if (s->style == S_TRAILING) {
            buf_fmt(&body, "\r\n--%s", s->boundary);
            if (!s->with_length)
                done_body[i] = body.len; /* complete once the delimiter is read in full */
            if (i == s->frames - 1 && s->close_delim)
                buf_str(&body, "--\r\n");
            else {
                if (s->padding)
                    buf_str(&body, "\t");
                buf_str(&body, "\r\n");
            }
        } else if (i == s->frames - 1) {
            buf_fmt(&body, "\r\n--%s", s->boundary);
            if (!s->with_length)
                done_body[i] = body.len;
            buf_str(&body, s->close_delim ? "--\r\n" : "\r\n");
        } else if (!s->with_length) {
            /* the next part's delimiter ends this one */
            done_body[i] = body.len + strlen(pat);
        }
    }
    if (s->close_delim)
        buf_str(&body, "epilogue, ignored\r\n");

    /* response head */
    buf *raw = &st->raw;
    raw->len = 0;
    if (s->interim_100)
        buf_str(raw, "HTTP/1.1 100 Continue\r\n\r\n");
    buf_str(raw, "HTTP/1.1 200 OK\r\nServer: selftest\r\nCache-Control: no-store\r\n");
    buf_str(raw, "Content-Type: ");
    buf_fmt(raw, s->ctype_extra, s->boundary);
    buf_str(raw, "\r\n");
    if (s->transfer == T_LENGTH)
        buf_fmt(raw, "Content-Length: %zu\r\n", body.len);
    if (s->transfer == T_CHUNKED)
        buf_str(raw, "Transfer-Encoding: chunked\r\n");
    buf_str(raw, "Connection: keep-alive\r\n\r\n");

    /* body, with a map from body offsets to raw offsets */
    size_t *map = malloc((body.len + 1) * sizeof *map);
    if (s->transfer != T_CHUNKED) {
        for (size_t i = 0; i <= body.len; i++)
            map[i] = raw->len + i;
        buf_add(raw, body.p, body.len);
    } else {
        size_t off = 0;
        int k = 0;
        while (off < body.len) {
            size_t n = 1 + (size_t)(rnd() % s->chunk_max);
            if (n > body.len - off)
                n = body.len - off;
            if (s->chunk_ext && k % 3 == 1)
                buf_fmt(raw, "%zX;name=\"v\"\r\n", n);
            else if (s->chunk_ext && k % 3 == 2)
                buf_fmt(raw, "%04zx \r\n", n);
            else
                buf_fmt(raw, "%zx\r\n", n);
            for (size_t i = 0; i < n; i++)
                map[off + i] = raw->len + i;
            buf_add(raw, body.p + off, n);
            buf_str(raw, "\r\n");
            off += n;
            k++;
        }
        buf_str(raw, "0\r\n");
        if (s->trailer)
            buf_str(raw, "X-Trailer: yes\r\n");
        buf_str(raw, "\r\n");
    }
    for (int i = 0; i < s->frames; i++)
        st->ex[i].done_at = map[done_body[i] - 1] + 1;

    /* how the response ends */
    if (s->close_delim || s->transfer != T_NONE) {
        st->end_result = MJPEG_DONE;
        st->eof_result = MJPEG_DONE;
    } else {
        st->end_result = MJPEG_OK;
        st->eof_result = MJPEG_DONE;
    }
    free(map);
    free(done_body);
    free(body.p);
    free(part.p);
}

/* ---- running a stream through the parser ---- */

typedef struct {
    const stream *st;
    const char *what;
    int got;
    size_t piece_start, piece_end;
} run_ctx;

static void on_frame(void *user, const mjpeg_frame *f)
{
    run_ctx *r = user;
    const stream *st = r->st;
    if (r->got >= st->n)
        die("%s: an extra frame (%d found, %d sent)", r->what, r->got + 1, st->n);
    const expect *e = &st->ex[r->got];
    if (f->size != e->size)
        die("%s: frame %d has %" PRIu64 " bytes, expected %" PRIu64, r->what, r->got, f->size, e->size);
    if (f->has_ts != e->has_ts || (e->has_ts && f->ts_ns != e->ts_ns))
        die("%s: frame %d timestamp %d/%" PRId64 ", expected %d/%" PRId64, r->what, r->got, f->has_ts, f->ts_ns,
            e->has_ts, e->ts_ns);
    if (!(e->done_at > r->piece_start && e->done_at <= r->piece_end))
        die("%s: frame %d completed in piece [%zu,%zu), expected at offset %zu", r->what, r->got, r->piece_start,
            r->piece_end, e->done_at);
    r->got++;
}

static long long bytes_fed, feeds;

/* Feeds the stream cut at the offsets produced by next_len; checks frames and results. */
static void run(const stream *st, const char *what, size_t (*next_len)(void *), void *arg)
{
    mjpeg_parser *p = malloc(sizeof *p);
    run_ctx r = {st, what, 0, 0, 0};
    mjpeg_parser_init(p, on_frame, &r);
    size_t off = 0;
    int res = MJPEG_OK;
    while (off < st->raw.len) {
        size_t n = next_len(arg);
        if (n > st->raw.len - off)
            n = st->raw.len - off;
        r.piece_start = off;
        r.piece_end = off + n;
        res = mjpeg_parser_feed(p, st->raw.p + off, n);
        bytes_fed += (long long)n;
        feeds++;
        if (res == MJPEG_ERROR)
            die("%s: parser error at offset %zu: %s", what, off, p->error);
        off += n;
    }
    if (res != st->end_result)
        die("%s: result %d after the last byte, expected %d", what, res, st->end_result);
    res = mjpeg_parser_eof(p);
    if (res != st->eof_result)
        die("%s: result %d at EOF, expected %d (%s)", what, res, st->eof_result, p->error);
    if (r.got != st->n)
        die("%s: %d frames found, %d sent", what, r.got, st->n);
    if (p->junk_bytes)
        die("%s: %" PRIu64 " junk bytes reported", what, p->junk_bytes);
    free(p);
}

static size_t fixed_len(void *arg) { return *(size_t *)arg; }
static size_t random_len(void *arg)
{
    (void)arg;
    return 1 + (size_t)(rnd() % 4096);
}
static size_t random_small_len(void *arg)
{
    (void)arg;
    return 1 + (size_t)(rnd() % 17);
}

typedef struct {
    size_t cut;
    int calls;
} split_arg;
static size_t split_len(void *arg)
{
    split_arg *s = arg;
    return s->calls++ == 0 ? s->cut : (size_t)-1 / 2;
}

static int runs;

static void check_stream(const spec *s)
{
    stream st = {0};
    gen(s, &st);
    char what[160];
    static const size_t sizes[] = {1, 2, 3, 5, 7, 13, 64, 100, 1000, 1460, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        snprintf(what, sizeof what, "%s, pieces of %zu", s->name, n);
        run(&st, what, fixed_len, &n);
        runs++;
    }
    for (int seed = 0; seed < 20; seed++) {
        snprintf(what, sizeof what, "%s, random pieces (round %d)", s->name, seed);
        run(&st, what, seed % 2 ? random_len : random_small_len, NULL);
        runs++;
    }
    size_t whole = st.raw.len;
    snprintf(what, sizeof what, "%s, in one piece", s->name);
    run(&st, what, fixed_len, &whole);
    runs++;
    if (st.raw.len <= 12000) {
        /* every two-piece split: each delimiter, header and chunk-size line cut at every position */
        for (size_t cut = 1; cut < st.raw.len; cut++) {
            split_arg a = {cut, 0};
            snprintf(what, sizeof what, "%s, split at %zu", s->name, cut);
            run(&st, what, split_len, &a);
            runs++;
        }
    }
    free(st.raw.p);
    free(st.ex);
}

/* ---- malformed responses ---- */

static void expect_error(const char *what, const char *raw, size_t len, int feed_eof, const char *needle,
                         int frames_before)
{
    for (int piecewise = 0; piecewise < 2; piecewise++) {
        mjpeg_parser p;
        mjpeg_parser_init(&p, NULL, NULL);
        int res = MJPEG_OK;
        for (size_t off = 0; off < len && res == MJPEG_OK;) {
            size_t n = piecewise ? 1 : len;
            res = mjpeg_parser_feed(&p, raw + off, n);
            off += n;
        }
        if (res == MJPEG_OK && feed_eof)
            res = mjpeg_parser_eof(&p);
        if (res != MJPEG_ERROR)
            die("%s: accepted (result %d)", what, res);
        if (!strstr(p.error, needle))
            die("%s: error \"%s\" does not mention \"%s\"", what, p.error, needle);
        if ((int)p.frames != frames_before)
            die("%s: %" PRIu64 " frames before the error, expected %d", what, p.frames, frames_before);
        runs++;
    }
}

static void check_errors(void)
{
    const char *ok_head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";
    const char *part = "--frame\r\nContent-Length: 3\r\n\r\nabc\r\n--frame\r\n";
    char tmp[8192];

    const char *s404 = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
    expect_error("404", s404, strlen(s404), 1, "status 404", 0);
    const char *s503 = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n";
    expect_error("503", s503, strlen(s503), 1, "status 503", 0);
    const char *html = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
    expect_error("not multipart", html, strlen(html), 1, "not multipart", 0);
    const char *nob = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace\r\n\r\n";
    expect_error("no boundary", nob, strlen(nob), 1, "boundary", 0);
    const char *junk = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    expect_error("not HTTP", junk, strlen(junk), 1, "status line", 0);
    const char *gz = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\nTransfer-Encoding: gzip\r\n\r\n";
    expect_error("gzip transfer coding", gz, strlen(gz), 1, "Transfer-Encoding", 0);

    int n = snprintf(tmp, sizeof tmp, "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    expect_error("bad chunk size", tmp, (size_t)n, 1, "chunk size", 0);
    n = snprintf(tmp, sizeof tmp, "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX");
    expect_error("no CRLF after chunk", tmp, (size_t)n, 1, "CRLF", 0);
    n = snprintf(tmp, sizeof tmp, "HTTP/1.1 200 OK\r\nX-Long: ");
    memset(tmp + n, 'a', 5000);
    n += 5000;
    n += snprintf(tmp + n, sizeof tmp - (size_t)n, "\r\n\r\n");
    expect_error("header line too long", tmp, (size_t)n, 1, "too long", 0);

    /* connection closed: before the head, in a part, in a chunked body */
    expect_error("EOF before head", "HTTP/1.1 200 OK\r\n", 17, 1, "before the response head", 0);
    n = snprintf(tmp, sizeof tmp, "%s%sContent-Length: 10\r\n\r\nabc", ok_head, part);
    expect_error("EOF in a sized part", tmp, (size_t)n, 1, "middle of a part", 1);
    n = snprintf(tmp, sizeof tmp, "%s%sContent-Type: image/jpeg\r\n\r\nabc\r\n--fra", ok_head, part);
    expect_error("EOF in a delimited part", tmp, (size_t)n, 1, "middle of a part", 1);
    n = snprintf(tmp, sizeof tmp, "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n--fra\r\n");
    expect_error("EOF in a chunked body", tmp, (size_t)n, 1, "end of the body", 0);

    /* the boundary inside a delimited body, followed by a byte that cannot follow a delimiter:
     * the part counts as ended by it (as a browser would show it), then the stream is refused */
    n = snprintf(tmp, sizeof tmp, "%s%sContent-Type: image/jpeg\r\n\r\nab\r\n--frameX\r\n--frame\r\n", ok_head, part);
    expect_error("boundary prefix inside a body", tmp, (size_t)n, 0, "after boundary", 2);
    n = snprintf(tmp, sizeof tmp, "%s%sContent-Length: x1\r\n\r\n", ok_head, part);
    expect_error("bad part Content-Length", tmp, (size_t)n, 0, "Content-Length", 1);

    /* junk between a sized part and the next delimiter is tolerated and counted */
    n = snprintf(tmp, sizeof tmp, "%s--frame\r\nContent-Length: 3\r\n\r\nabcJUNK\r\n--frame\r\nContent-Length: 1\r\n\r\nz\r\n--frame--\r\n", ok_head);
    mjpeg_parser p;
    mjpeg_parser_init(&p, NULL, NULL);
    if (mjpeg_parser_feed(&p, tmp, (size_t)n) != MJPEG_DONE || p.frames != 2 || p.junk_bytes != 4)
        die("junk after a sized part: result, %" PRIu64 " frames, %" PRIu64 " junk bytes (%s)", p.frames, p.junk_bytes, p.error);
    runs++;
}

static void check_timestamps(void)
{
    static const struct {
        const char *s;
        int ok;
        int64_t ns;
    } cases[] = {
        {"1732571234.123456", 1, 1732571234123456000LL},
        {"1732571234.5", 1, 1732571234500000000LL},
        {"1732571234", 1, 1732571234000000000LL},
        {"1732571234.", 1, 1732571234000000000LL},
        {"0.000000001", 1, 1},
        {"1.1234567891", 1, 1123456789},
        {"", 0, 0},
        {"abc", 0, 0},
        {"1.2.3", 0, 0},
        {"-1.5", 0, 0},
        {".5", 0, 0},
        {"12345678901", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t ns = -1;
        int ok = mjpeg_parse_timestamp(cases[i].s, strlen(cases[i].s), &ns) == 0;
        if (ok != cases[i].ok || (ok && ns != cases[i].ns))
            die("timestamp \"%s\": ok=%d ns=%" PRId64 ", expected ok=%d ns=%" PRId64, cases[i].s, ok, ns, cases[i].ok,
                cases[i].ns);
        runs++;
    }
}

int main(void)
{
    static const spec specs[] = {
        /* name, boundary, content type, transfer, style, length, frames, sizes, preamble, padding,
         * close, 100, chunk ext, trailer, chunk max */
        {"framering (Content-Length, until close)", "frame", "multipart/x-mixed-replace; boundary=%s", T_NONE,
         S_TRAILING, 1, 12, 1, 400, 0, 0, 0, 0, 0, 0, 0},
        {"framering over chunked", "frame", "multipart/x-mixed-replace; boundary=%s", T_CHUNKED, S_TRAILING, 1, 12, 1,
         400, 0, 0, 1, 0, 1, 1, 300},
        {"delimiters only", "frame", "multipart/x-mixed-replace; boundary=%s", T_NONE, S_TRAILING, 0, 12, 1, 400, 0,
         0, 0, 0, 0, 0, 0},
        {"delimiters only, chunked in tiny chunks", "frame", "multipart/x-mixed-replace;boundary=%s", T_CHUNKED,
         S_TRAILING, 0, 12, 1, 300, 1, 1, 1, 0, 1, 0, 7},
        {"mjpg-streamer style (boundary before each part)", "boundarydonotcross",
         "multipart/x-mixed-replace;boundary=%s", T_NONE, S_LEADING, 1, 12, 1, 400, 0, 0, 0, 0, 0, 0, 0},
        {"leading boundary, delimiters only, chunked", "boundarydonotcross",
         "multipart/x-mixed-replace; boundary=%s", T_CHUNKED, S_LEADING, 0, 12, 1, 400, 0, 0, 0, 0, 1, 1, 200},
        {"quoted boundary, preamble, padding, close delimiter", "--my:bound'ary",
         "Multipart/X-Mixed-Replace; charset=x; BOUNDARY=\"%s\"; x=y", T_NONE, S_TRAILING, 1, 12, 1, 300, 1, 1, 1,
         1, 0, 0, 0},
        {"Content-Length response body", "frame", "multipart/x-mixed-replace; boundary=%s", T_LENGTH, S_TRAILING, 0,
         10, 1, 300, 0, 0, 0, 0, 0, 0, 0},
        {"realistic 21 KB frames", "frame", "multipart/x-mixed-replace; boundary=%s", T_NONE, S_TRAILING, 1, 6,
         18000, 24000, 0, 0, 0, 0, 0, 0, 0},
        {"realistic 21 KB frames, chunked", "frame", "multipart/x-mixed-replace; boundary=%s", T_CHUNKED, S_TRAILING,
         1, 6, 18000, 24000, 0, 0, 0, 0, 0, 0, 16384},
        {"realistic 21 KB frames, delimiters only, chunked", "frame", "multipart/x-mixed-replace; boundary=%s",
         T_CHUNKED, S_TRAILING, 0, 6, 18000, 24000, 0, 0, 0, 0, 0, 0, 5000},
    };
    int streams = 0;
    check_timestamps();
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        check_stream(&specs[i]);
        streams++;
    }
    check_errors();
    printf("parser-selftest: ok: %d streams and the error cases, %d runs, %lld feeds, %lld bytes\n", streams, runs,
           feeds, bytes_fed);
    return 0;
}
