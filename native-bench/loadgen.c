/*
 * loadgen: opens N Motion-JPEG streams to a loopback server from one thread (epoll), counts
 * the frames each client receives and their capture-to-receive latency, and measures the
 * server's CPU and memory over a fixed window. Prints ONE JSON line on stdout (schema in
 * README.md); diagnostics go to stderr. See `loadgen --help`.
 *
 * Phases: connect (paced, at most --connect-rate new connections per ms; ends when every client
 * streams or has failed, or --connect-timeout after the last connect started), warm-up
 * (--warmup s), window (--duration s). A hard deadline (alarm) ends the process whatever
 * happens.
 */
#include "mjpeg_parser.h"
#include "procstat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION 1
#define MAX_CLIENTS 100000
#define MAX_HEADERS 16
#define READ_BUF (256 * 1024)
#define DEADLINE_MARGIN_S 10

/* ---- options ---- */

static struct {
    const char *url;
    int clients;
    double duration, warmup, connect_rate, connect_timeout;
    long server_pid;
    const char *headers[MAX_HEADERS];
    int n_headers;
} opt = {NULL, 1, 10, 2, 1, 10, 0, {0}, 0};

static char host[64], host_header[80], path[2048];
static int port = 80;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static char request[8192];
static size_t request_len;

/* ---- clients ---- */

enum { C_NEW, C_CONNECTING, C_WAIT_HEAD, C_STREAMING, C_FAILED, C_DROPPED };
enum { F_CONNECT, F_TIMEOUT, F_HTTP, F_PROTOCOL, F_CLOSED, F_N };
enum { D_CLOSED, D_PROTOCOL, D_ENDED, D_N };
static const char *const fail_names[F_N] = {"connect", "timeout", "http_status", "protocol", "closed"};
static const char *const drop_names[D_N] = {"closed", "protocol", "ended"};

typedef struct {
    int fd;
    int state;
    int in_window;              /* streaming when the window started */
    size_t req_sent;
    double started;             /* monotonic s when its connect started */
    uint64_t frames, frames_at_window;
    mjpeg_parser parser;
} client;

static client *clients;
static int started, connected, failed, dropped, resolved;
static int failed_by[F_N], dropped_by[D_N];
static char first_error[256];
static int errors_printed;
static uint64_t bytes_total;
static int epfd;

/* ---- phases and clocks ---- */

enum { PH_CONNECT, PH_WARMUP, PH_WINDOW, PH_END };
static int phase = PH_CONNECT;
static int64_t read_realtime_ns; /* CLOCK_REALTIME of the read being parsed */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t self_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- latency histogram: exact to 1 µs below 1.024 ms, then 512 sub-buckets per octave ---- */

#define H_LINEAR 1024
#define H_SUB 512
#define H_OCTAVES 40
static uint64_t hist[H_LINEAR + H_OCTAVES * H_SUB];
static uint64_t lat_samples, lat_negative;
static double lat_sum_us, lat_max_us;

static void hist_add(int64_t ns)
{
    if (ns < 0) {
        lat_negative++;
        ns = 0;
    }
    uint64_t us = (uint64_t)ns / 1000;
    size_t i;
    if (us < H_LINEAR)
        i = (size_t)us;
    else {
        int e = 63 - __builtin_clzll(us) - 9; /* >= 1 */
        if (e > H_OCTAVES)
            e = H_OCTAVES, us = ((uint64_t)H_SUB * 2 - 1) << e;
        i = H_LINEAR + (size_t)(e - 1) * H_SUB + (size_t)((us >> e) - H_SUB);
    }
    hist[i]++;
    lat_samples++;
    lat_sum_us += (double)ns / 1000;
    if ((double)ns / 1000 > lat_max_us)
        lat_max_us = (double)ns / 1000;
}

/* The value (µs) at quantile q: the middle of the bucket holding the ceil(q*n)-th sample. */
static double hist_quantile(double q)
{
    uint64_t rank = (uint64_t)ceil(q * (double)lat_samples), seen = 0;
    if (rank < 1)
        rank = 1;
    for (size_t i = 0; i < sizeof hist / sizeof *hist; i++) {
        seen += hist[i];
        if (seen >= rank) {
            if (i < H_LINEAR)
                return (double)i;
            size_t e = (i - H_LINEAR) / H_SUB + 1, sub = (i - H_LINEAR) % H_SUB;
            double lo = (double)((uint64_t)(H_SUB + sub) << e);
            return lo + (double)((uint64_t)1 << e) / 2;
        }
    }
    return lat_max_us;
}

/* ---- hard deadline ---- */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "loadgen: hard deadline reached, exiting without a result\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}

/* ---- client life ---- */

static void record_error(int i, const char *what)
{
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "client %d: %s", i, what);
    if (errors_printed < 5)
        diag("client %d: %s", i, what);
    else if (errors_printed == 5)
        diag("(further client errors are only counted)");
    errors_printed++;
}

static void close_client(client *c)
{
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
}

static void fail_client(int i, int kind, const char *what)
{
    client *c = &clients[i];
    close_client(c);
    c->state = C_FAILED;
    failed++;
    resolved++;
    failed_by[kind]++;
    record_error(i, what);
}

static void drop_client(int i, int kind, const char *what)
{
    client *c = &clients[i];
    close_client(c);
    c->state = C_DROPPED;
    dropped++;
    dropped_by[kind]++;
    char msg[200];
    snprintf(msg, sizeof msg, "stream lost after %llu frames: %s", (unsigned long long)c->frames, what);
    record_error(i, msg);
}

static void on_frame(void *user, const mjpeg_frame *f)
{
    client *c = user;
    c->frames++;
    if (phase == PH_WINDOW && f->has_ts)
        hist_add(read_realtime_ns - f->ts_ns);
}

static void start_client(int i, double now)
{
    client *c = &clients[i];
    c->started = now;
    started++;
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail_client(i, F_CONNECT, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) {
        char msg[160];
        snprintf(msg, sizeof msg, "connect: %s", strerror(errno));
        fail_client(i, F_CONNECT, msg);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        fail_client(i, F_CONNECT, strerror(errno));
        return;
    }
    c->state = C_CONNECTING;
}

static void on_writable(int i)
{
    client *c = &clients[i];
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            char msg[160];
            snprintf(msg, sizeof msg, "connect: %s", strerror(err));
            fail_client(i, F_CONNECT, msg);
            return;
        }
        c->state = C_WAIT_HEAD;
    }
    while (c->req_sent < request_len) {
        ssize_t n = send(c->fd, request + c->req_sent, request_len - c->req_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            char msg[160];
            snprintf(msg, sizeof msg, "send: %s", strerror(errno));
            fail_client(i, F_CONNECT, msg);
            return;
        }
        c->req_sent += (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* The stream of client i ended (EOF, reset, parse error or the response's own end). */
static void stream_ended(int i, int parse_result, const char *io_error)
{
    client *c = &clients[i];
    mjpeg_parser *p = &c->parser;
    char msg[200];
    if (!p->head_done) {
        if (parse_result == MJPEG_ERROR && p->status && p->status != 200)
            fail_client(i, F_HTTP, p->error);
        else if (parse_result == MJPEG_ERROR && !io_error)
            fail_client(i, p->status ? F_PROTOCOL : F_CLOSED, p->error);
        else {
            snprintf(msg, sizeof msg, "closed before the response head%s%s", io_error ? ": " : "", io_error ? io_error : "");
            fail_client(i, F_CLOSED, msg);
        }
        return;
    }
    if (io_error) {
        drop_client(i, D_CLOSED, io_error);
    } else if (parse_result == MJPEG_ERROR)
        drop_client(i, strstr(p->error, "connection closed") ? D_CLOSED : D_PROTOCOL, p->error);
    else
        drop_client(i, D_ENDED, "the server ended the response");
}

static void on_readable(int i, char *buf)
{
    client *c = &clients[i];
    ssize_t n = read(c->fd, buf, READ_BUF);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        stream_ended(i, MJPEG_ERROR, strerror(errno));
        return;
    }
    if (n == 0) {
        int r = mjpeg_parser_eof(&c->parser);
        stream_ended(i, r, r == MJPEG_DONE ? "connection closed by the server" : NULL);
        return;
    }
    read_realtime_ns = realtime_ns();
    bytes_total += (uint64_t)n;
    int was_streaming = c->parser.head_done;
    int r = mjpeg_parser_feed(&c->parser, buf, (size_t)n);
    if (!was_streaming && c->parser.head_done) {
        c->state = C_STREAMING;
        connected++;
        resolved++;
    }
    if (r != MJPEG_OK)
        stream_ended(i, r, NULL);
}

/* ---- setup ---- */

static void usage(FILE *f)
{
    fputs("usage: loadgen --url http://HOST:PORT/PATH [options]\n"
          "  --url URL               MJPEG stream to open; HOST must be 127.0.0.0/8, [::1] or localhost\n"
          "  --clients N             streams to open (default 1, at most 100000)\n"
          "  --duration S            measured window, seconds (default 10)\n"
          "  --warmup S              seconds between the connect phase and the window (default 2)\n"
          "  --connect-rate R        at most R new connections per millisecond (default 1; 0.1 = one per 10 ms)\n"
          "  --connect-timeout S     a client without a response head S seconds after its connect\n"
          "                          started has failed (default 10)\n"
          "  --server-pid PID        measure this process's CPU (all threads) and memory\n"
          "  --header 'Name: value'  extra request header (repeatable, up to 16)\n"
          "Prints one JSON line on stdout. Exit status: 0 every client streamed to the end, 1 some\n"
          "clients failed or dropped (the JSON line is printed), 2 usage, 3 fatal error or hard deadline.\n",
          f);
}

static void bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    exit(2);
}

static double parse_num(const char *name, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max))
        bad_usage("%s: expected a number from %g to %g, got \"%s\"", name, min, max, s);
    return v;
}

static long parse_int(const char *name, const char *s, long min, long max)
{
    double v = parse_num(name, s, (double)min, (double)max);
    if (v != floor(v))
        bad_usage("%s: expected a whole number, got \"%s\"", name, s);
    return (long)v;
}

static void parse_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        bad_usage("--url must start with http://");
    const char *h = url + 7, *h_end, *rest;
    if (*h == '[') {
        h_end = strchr(h, ']');
        if (!h_end)
            bad_usage("--url: unclosed [ in host");
        rest = h_end + 1;
        h++;
    } else {
        h_end = h + strcspn(h, ":/?#");
        rest = h_end;
    }
    size_t hl = (size_t)(h_end - h);
    if (hl == 0 || hl >= sizeof host)
        bad_usage("--url: bad host");
    memcpy(host, h, hl);
    host[hl] = 0;
    if (*rest == ':') {
        char *end;
        long p = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || p < 1 || p > 65535)
            bad_usage("--url: bad port");
        port = (int)p;
        rest = end;
    }
    if (*rest == 0)
        snprintf(path, sizeof path, "/");
    else if (*rest == '/' || *rest == '?') {
        if (strlen(rest) + 2 > sizeof path)
            bad_usage("--url: path too long");
        snprintf(path, sizeof path, "%s%s", *rest == '?' ? "/" : "", rest);
    } else
        bad_usage("--url: unexpected \"%s\" after the host", rest);
    char *hash = strchr(path, '#');
    if (hash)
        *hash = 0;

    /* loopback only, numeric addresses only (no name lookup: nothing but the given host is ever contacted) */
    const char *numeric = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    memset(&addr, 0, sizeof addr);
    if (inet_pton(AF_INET, numeric, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            bad_usage("refusing %s: load tests only target loopback (127.0.0.0/8, ::1)", host);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        addr_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, numeric, &a6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            bad_usage("refusing %s: load tests only target loopback (127.0.0.0/8, ::1)", host);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        addr_len = sizeof *a6;
    } else
        bad_usage("refusing \"%s\": give a loopback address (127.0.0.0/8, [::1] or localhost)", host);
    if (strchr(host, ':'))
        snprintf(host_header, sizeof host_header, "[%s]:%d", host, port);
    else
        snprintf(host_header, sizeof host_header, "%s:%d", host, port);
}

static void build_request(void)
{
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: framering-loadgen\r\nAccept: */*\r\n", path,
                     host_header);
    for (int i = 0; i < opt.n_headers; i++) {
        const char *h = opt.headers[i];
        if (!strchr(h, ':') || strpbrk(h, "\r\n"))
            bad_usage("--header: expected 'Name: value'");
        n += snprintf(request + n, sizeof request - (size_t)n, "%s\r\n", h);
        if ((size_t)n >= sizeof request)
            bad_usage("--header: too long");
    }
    n += snprintf(request + n, sizeof request - (size_t)n, "\r\n");
    if ((size_t)n >= sizeof request)
        bad_usage("request too long");
    request_len = (size_t)n;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            bad_usage("%s: missing value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--url"))
            opt.url = v;
        else if (!strcmp(a, "--clients"))
            opt.clients = (int)parse_int(a, v, 1, MAX_CLIENTS);
        else if (!strcmp(a, "--duration"))
            opt.duration = parse_num(a, v, 0.1, 86400);
        else if (!strcmp(a, "--warmup"))
            opt.warmup = parse_num(a, v, 0, 86400);
        else if (!strcmp(a, "--connect-rate"))
            opt.connect_rate = parse_num(a, v, 0.001, 1000);
        else if (!strcmp(a, "--connect-timeout"))
            opt.connect_timeout = parse_num(a, v, 0.1, 3600);
        else if (!strcmp(a, "--server-pid"))
            opt.server_pid = parse_int(a, v, 1, 1 << 30);
        else if (!strcmp(a, "--header")) {
            if (opt.n_headers == MAX_HEADERS)
                bad_usage("--header: at most %d", MAX_HEADERS);
            opt.headers[opt.n_headers++] = v;
        } else
            bad_usage("unknown option %s", a);
    }
    if (!opt.url)
        bad_usage("--url is required");
    parse_url(opt.url);
    build_request();
}

static void raise_fd_limit(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur >= (rlim_t)need)
        return;
    if (rl.rlim_max < (rlim_t)need) {
        rl.rlim_max = (rlim_t)need; /* possible as root */
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        fprintf(stderr, "loadgen: %d clients need %d file descriptors; RLIMIT_NOFILE is %llu and cannot be raised\n",
                opt.clients, need, (unsigned long long)rl.rlim_max);
        exit(3);
    }
}

/* ---- output ---- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_num(const char *key, double v, int decimals, int comma)
{
    printf("\"%s\":", key);
    if (isfinite(v))
        printf("%.*f", decimals, v);
    else
        fputs("null", stdout);
    if (comma)
        putchar(',');
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    if (opt.server_pid) {
        proc_cpu probe;
        if (proc_cpu_read((pid_t)opt.server_pid, &probe) < 0) {
            fprintf(stderr, "loadgen: --server-pid %ld: no such process (or /proc not readable)\n", opt.server_pid);
            exit(2);
        }
    }

    /* The hard deadline. Connects may start until start_limit (twice the paced schedule, plus
     * 1 s, in case the loop is too busy to keep the pace); the last one has connect_timeout to
     * get its head; then warm-up, window and a margin. */
    const double start_limit = 2 * opt.clients / (opt.connect_rate * 1000.0) + 1;
    double budget = start_limit + opt.connect_timeout + opt.warmup + opt.duration + DEADLINE_MARGIN_S;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)ceil(budget));

    raise_fd_limit(opt.clients + 32);
    clients = calloc((size_t)opt.clients, sizeof *clients);
    char *buf = malloc(READ_BUF);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!clients || !buf || epfd < 0) {
        fprintf(stderr, "loadgen: setup failed: %s\n", strerror(errno));
        exit(3);
    }
    for (int i = 0; i < opt.clients; i++) {
        clients[i].fd = -1;
        mjpeg_parser_init(&clients[i].parser, on_frame, &clients[i]);
    }

    diag("opening %d stream%s to %s (at most %g new per ms)", opt.clients, opt.clients == 1 ? "" : "s", opt.url,
         opt.connect_rate);
    const double t0 = mono_s();
    double connect_done = 0, warmup_end = 0, window_start = 0, window_end = 0, last_timeout_scan = 0;
    double window_len = 0;
    const double bucket = opt.connect_rate > 1 ? opt.connect_rate : 1;
    double tokens = bucket, last_refill = t0;
    proc_cpu srv0 = {0}, srv1 = {0};
    int srv_ok = 0;
    int64_t self0 = 0, self1 = 0;
    sys_cpu sys0 = {0}, sys1 = {0};
    int sys_ok = 0;
    uint64_t bytes_at_window = 0, bytes_window = 0;
    int window_clients = 0;
    struct epoll_event events[1024];

    while (phase != PH_END) {
        double now = mono_s();
        int timeout_ms = 100;
        switch (phase) {
        case PH_CONNECT: {
            /* paced connects: a token bucket filled at connect_rate per ms, holding at most
             * max(1, connect_rate) tokens, so a busy loop never catches up in a burst */
            tokens += opt.connect_rate * (now - last_refill) * 1000.0;
            last_refill = now;
            if (tokens > bucket)
                tokens = bucket;
            while (started < opt.clients && tokens >= 1) {
                tokens -= 1;
                start_client(started, now);
            }
            if (started < opt.clients && now - t0 > start_limit) {
                diag("could not start %d connections within %.1f s", opt.clients - started, start_limit);
                while (started < opt.clients) {
                    clients[started].started = now;
                    fail_client(started++, F_TIMEOUT, "not started: the connect phase took too long");
                }
            }
            if (now - last_timeout_scan >= 0.05) {
                last_timeout_scan = now;
                for (int i = 0; i < started; i++) {
                    client *c = &clients[i];
                    if ((c->state == C_CONNECTING || c->state == C_WAIT_HEAD) && now - c->started > opt.connect_timeout)
                        fail_client(i, F_TIMEOUT, c->state == C_CONNECTING ? "connect timed out" : "no response head in time");
                }
            }
            if (started == opt.clients && resolved >= opt.clients) {
                connect_done = now;
                if (connected - dropped <= 0) {
                    /* nothing streams: no window to measure (rates and CPU are null) */
                    diag("no client streams (%d failed, %d dropped): nothing to measure", failed, dropped);
                    phase = PH_END;
                    continue;
                }
                warmup_end = now + opt.warmup;
                phase = PH_WARMUP;
                diag("%d connected, %d failed in %.3f s; warm-up %g s", connected, failed, now - t0, opt.warmup);
                continue;
            }
            timeout_ms = started < opt.clients ? 1 : 50;
            break;
        }
        case PH_WARMUP:
            if (now >= warmup_end) {
                /* the window opens: snapshot everything */
                phase = PH_WINDOW;
                memset(hist, 0, sizeof hist);
                lat_samples = lat_negative = 0;
                lat_sum_us = lat_max_us = 0;
                for (int i = 0; i < opt.clients; i++) {
                    client *c = &clients[i];
                    c->in_window = c->state == C_STREAMING;
                    c->frames_at_window = c->frames;
                    window_clients += c->in_window;
                }
                bytes_at_window = bytes_total;
                if (opt.server_pid)
                    srv_ok = proc_cpu_read((pid_t)opt.server_pid, &srv0) == 0;
                sys_ok = sys_cpu_read(&sys0) == 0;
                self0 = self_cpu_ns();
                window_start = mono_s();
                window_end = window_start + opt.duration;
                diag("measuring %g s with %d streaming clients", opt.duration, window_clients);
                continue;
            }
            timeout_ms = (int)ceil((warmup_end - now) * 1000);
            break;
        case PH_WINDOW:
            if (now >= window_end) {
                window_len = mono_s() - window_start;
                self1 = self_cpu_ns();
                if (sys_ok)
                    sys_ok = sys_cpu_read(&sys1) == 0;
                if (opt.server_pid && srv_ok)
                    srv_ok = proc_cpu_read((pid_t)opt.server_pid, &srv1) == 0;
                bytes_window = bytes_total - bytes_at_window;
                phase = PH_END;
                continue;
            }
            timeout_ms = (int)ceil((window_end - now) * 1000);
            break;
        }
        if (timeout_ms < 1)
            timeout_ms = 1;
        int n = epoll_wait(epfd, events, (int)(sizeof events / sizeof *events), timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "loadgen: epoll_wait: %s\n", strerror(errno));
            exit(3);
        }
        for (int k = 0; k < n; k++) {
            int i = (int)events[k].data.u32;
            client *c = &clients[i];
            if (c->fd < 0)
                continue;
            if (c->state == C_CONNECTING || (c->req_sent < request_len && (events[k].events & EPOLLOUT)))
                on_writable(i);
            else if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                on_readable(i, buf);
        }
    }

    /* ---- results ---- */
    long hwm = -1, rss = -1;
    if (opt.server_pid)
        proc_mem_read((pid_t)opt.server_pid, &hwm, &rss);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    double *fps = malloc(sizeof(double) * (size_t)(window_clients ? window_clients : 1));
    int nf = 0;
    uint64_t frames_window = 0;
    for (int i = 0; i < opt.clients; i++) {
        client *c = &clients[i];
        if (!c->in_window)
            continue;
        uint64_t f = c->frames - c->frames_at_window;
        frames_window += f;
        fps[nf++] = (double)f / window_len;
    }
    qsort(fps, (size_t)nf, sizeof *fps, cmp_double);
    double fps_sum = 0;
    for (int i = 0; i < nf; i++)
        fps_sum += fps[i];

    printf("{\"tool\":\"loadgen\",\"schema\":%d,\"url\":", SCHEMA_VERSION);
    json_string(opt.url);
    printf(",\"clients\":%d,\"connected\":%d,\"failed\":%d,\"dropped\":%d,", opt.clients, connected, failed, dropped);
    printf("\"failed_by\":{");
    for (int k = 0; k < F_N; k++)
        printf("%s\"%s\":%d", k ? "," : "", fail_names[k], failed_by[k]);
    printf("},\"dropped_by\":{");
    for (int k = 0; k < D_N; k++)
        printf("%s\"%s\":%d", k ? "," : "", drop_names[k], dropped_by[k]);
    printf("},\"first_error\":");
    if (first_error[0])
        json_string(first_error);
    else
        fputs("null", stdout);
    putchar(',');
    json_num("connect_s", connect_done - t0, 3, 1);
    json_num("warmup_s", opt.warmup, 3, 1);
    json_num("duration_s", opt.duration, 3, 1);
    json_num("window_s", window_len, 3, 1);
    printf("\"window_clients\":%d,\"frames\":%llu,", window_clients, (unsigned long long)frames_window);
    printf("\"fps\":{");
    double nan_ = NAN;
    json_num("min", nf ? fps[0] : nan_, 2, 1);
    json_num("p50", nf ? fps[(nf - 1) / 2] : nan_, 2, 1);
    json_num("mean", nf ? fps_sum / nf : nan_, 2, 1);
    json_num("max", nf ? fps[nf - 1] : nan_, 2, 0);
    printf("},\"latency_ms\":{\"samples\":%llu,", (unsigned long long)lat_samples);
    json_num("p50", lat_samples ? hist_quantile(0.5) / 1000 : nan_, 3, 1);
    json_num("p99", lat_samples ? hist_quantile(0.99) / 1000 : nan_, 3, 1);
    json_num("mean", lat_samples ? lat_sum_us / (double)lat_samples / 1000 : nan_, 3, 1);
    json_num("max", lat_samples ? lat_max_us / 1000 : nan_, 3, 1);
    printf("\"negative\":%llu},", (unsigned long long)lat_negative);
    printf("\"bytes\":%llu,\"window_bytes\":%llu,", (unsigned long long)bytes_total, (unsigned long long)bytes_window);
    json_num("window_mbit_s", (double)bytes_window * 8 / 1e6 / window_len, 1, 1);
    printf("\"server\":");
    if (!opt.server_pid)
        fputs("null", stdout);
    else {
        printf("{\"pid\":%ld,", opt.server_pid);
        double cpu = srv_ok ? (double)(srv1.sched_ns - srv0.sched_ns) / 1e9 / window_len * 100 : nan_;
        double ticks = srv_ok && srv0.tick_ns >= 0 && srv1.tick_ns >= 0
                           ? (double)(srv1.tick_ns - srv0.tick_ns) / 1e9 / window_len * 100
                           : nan_;
        json_num("cpu_pct", cpu, 2, 1);
        json_num("cpu_pct_ticks", ticks, 2, 1);
        printf("\"threads\":%d,\"alive\":%s,", srv_ok ? srv1.threads : 0, srv_ok ? "true" : "false");
        json_num("vm_hwm_kb", hwm >= 0 ? (double)hwm : nan_, 0, 1);
        json_num("vm_rss_kb", rss >= 0 ? (double)rss : nan_, 0, 0);
        putchar('}');
    }
    printf(",\"loadgen\":{");
    json_num("cpu_pct", (double)(self1 - self0) / 1e9 / window_len * 100, 2, 1);
    json_num("vm_hwm_kb", (double)ru.ru_maxrss, 0, 0);
    printf("},\"system\":");
    if (!sys_ok)
        fputs("null", stdout);
    else {
        printf("{\"cpus\":%d,", sys1.cpus);
        json_num("busy_pct", (double)(sys1.busy_ns - sys0.busy_ns) / 1e9 / window_len * 100, 1, 1);
        json_num("softirq_pct", (double)(sys1.softirq_ns - sys0.softirq_ns) / 1e9 / window_len * 100, 1, 1);
        json_num("steal_pct", (double)(sys1.steal_ns - sys0.steal_ns) / 1e9 / window_len * 100, 1, 0);
        putchar('}');
    }
    printf("}\n");
    fflush(stdout);

    if (window_len > 0)
        diag("window %.3f s: %llu frames, fps per client min %.2f p50 %.2f max %.2f; latency p50 %.3f ms p99 %.3f ms",
             window_len, (unsigned long long)frames_window, nf ? fps[0] : 0, nf ? fps[(nf - 1) / 2] : 0,
             nf ? fps[nf - 1] : 0, lat_samples ? hist_quantile(0.5) / 1000 : 0,
             lat_samples ? hist_quantile(0.99) / 1000 : 0);

    for (int i = 0; i < opt.clients; i++)
        close_client(&clients[i]);
    free(fps);
    free(buf);
    free(clients);
    return connected == opt.clients && dropped == 0 ? 0 : 1;
}
