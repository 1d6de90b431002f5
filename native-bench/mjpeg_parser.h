/*
 * Incremental parser for an HTTP/1.1 Motion-JPEG response (multipart/x-mixed-replace).
 *
 * Feed it the bytes of one connection's response as they arrive, in pieces of any size; it
 * never copies the body and keeps only one header line in memory. Layers:
 *
 *   response head  status line + headers: status, Content-Type boundary, Content-Length,
 *                  Transfer-Encoding: chunked (1xx interim responses are skipped)
 *   transfer       chunked (chunk-size lines with extensions, trailers), Content-Length, or
 *                  neither (the body runs until the connection closes)
 *   multipart      preamble, delimiter "--BOUNDARY" (transport padding allowed after it),
 *                  part headers (Content-Length, X-Timestamp), body sized by Content-Length or
 *                  found by the next delimiter "\r\nBOUNDARY", close delimiter "--BOUNDARY--"
 *
 * A part with Content-Length is complete at its last body byte; one without is complete when
 * the delimiter that ends it has been read in full. Either way the frame callback runs inside
 * the mjpeg_parser_feed() call whose bytes completed the frame.
 */
#ifndef MJPEG_PARSER_H
#define MJPEG_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define MJPEG_MAX_LINE 4096     /* longest header line (response head or part headers) */
#define MJPEG_MAX_BOUNDARY 70   /* RFC 2046 */

typedef struct {
    uint64_t size;      /* body bytes of the part (the JPEG) */
    int64_t ts_ns;      /* X-Timestamp in Unix nanoseconds, when has_ts */
    int has_ts;         /* the part carried a valid X-Timestamp header */
} mjpeg_frame;

typedef void (*mjpeg_frame_cb)(void *user, const mjpeg_frame *frame);

enum mjpeg_result {
    MJPEG_OK = 0,       /* more bytes expected */
    MJPEG_DONE = 1,     /* the response ended properly (close delimiter, last chunk or length) */
    MJPEG_ERROR = -1,   /* malformed or refused response: see error */
};

enum mjpeg_transfer { MJPEG_TE_NONE = 0, MJPEG_TE_LENGTH, MJPEG_TE_CHUNKED };

typedef struct {
    /* results, readable by the caller */
    int status;                     /* HTTP status code, 0 until the status line is read */
    int head_done;                  /* the final response head has been read and accepted */
    enum mjpeg_transfer transfer;
    char boundary[MJPEG_MAX_BOUNDARY + 1];
    uint64_t frames;                /* complete parts */
    uint64_t body_bytes;            /* response body bytes after transfer decoding */
    uint64_t junk_bytes;            /* unexpected bytes between a sized part and the next delimiter */
    char error[128];                /* why MJPEG_ERROR was returned */

    /* private */
    mjpeg_frame_cb cb;
    void *user;
    int top;                        /* response-level state */
    int result;                     /* sticky: once DONE or ERROR, stays */
    /* line accumulator (response head and part headers) */
    size_t line_len;
    char line[MJPEG_MAX_LINE];
    /* response head */
    int head_lines;
    int head_has_length, head_chunked;
    uint64_t head_length;
    char head_ctype[256];
    /* transfer decoding */
    uint64_t remaining;             /* Content-Length body left, or current chunk's data left */
    int chunk_state;
    uint64_t chunk_size;
    int chunk_digits;
    /* multipart */
    int mp_state;
    char pat[MJPEG_MAX_BOUNDARY + 5];   /* "\r\n--" BOUNDARY */
    int pat_len;
    int fail[MJPEG_MAX_BOUNDARY + 5];   /* KMP failure function of pat */
    int match;                      /* KMP: bytes of pat matched so far */
    uint64_t scanned;               /* bytes scanned in the current search */
    int tail_dash;                  /* after a delimiter: one '-' seen */
    int part_has_length;
    uint64_t part_length, part_left;
    mjpeg_frame part;
} mjpeg_parser;

void mjpeg_parser_init(mjpeg_parser *p, mjpeg_frame_cb cb, void *user);

/* Consumes len bytes. Returns MJPEG_OK, MJPEG_DONE or MJPEG_ERROR (sticky). Bytes after the end
 * of the response are ignored. */
int mjpeg_parser_feed(mjpeg_parser *p, const char *data, size_t len);

/* The connection closed: MJPEG_DONE if the response had ended or runs until close (no
 * Content-Length, not chunked) with no part cut short, else MJPEG_ERROR with the reason. */
int mjpeg_parser_eof(mjpeg_parser *p);

/* Parses "SECONDS[.FRACTION]" (up to 9 fraction digits used) into Unix ns; 0 on success. */
int mjpeg_parse_timestamp(const char *s, size_t len, int64_t *ns);

#endif
