/*
 * floor: the least work any Motion-JPEG server can do, as a physical reference for benchmarks.
 *
 * One thread, epoll. Loads every *.jpg / *.jpeg of --frames DIR into memory (natural sort
 * order) and, at --fps (timerfd), sends the next one to every client in framering's wire format
 * (src/multipart.ts): a response head with Content-Type multipart/x-mixed-replace;
 * boundary=frame, a body that starts with "--frame\r\n", then per frame
 *
 *   "Content-Type: image/jpeg\r\nContent-Length: N\r\nX-Timestamp: S.UUUUUU\r\n\r\n" JPEG "\r\n--frame\r\n"
 *
 * The part headers are formatted once per frame into one buffer shared by every client, and
 * each client gets ONE writev per frame (headers, JPEG, trailing boundary). A client whose
 * previous part is still in flight (the socket took only part of it) skips frames: on EPOLLOUT
 * the in-flight part is finished, then the client waits for the next frame. No backlog.
 *
 * Prints "listening PORT" as the first line on stdout once it accepts connections; exits 0 on
 * SIGTERM or SIGINT, after a summary on stderr.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST 8192

static const char RESPONSE_HEAD[] = "HTTP/1.1 200 OK\r\n"
                                    "Content-Type: multipart/x-mixed-replace; boundary=frame\r\n"
                                    "Cache-Control: no-store\r\n"
                                    "X-Content-Type-Options: nosniff\r\n"
                                    "Connection: close\r\n"
                                    "\r\n"
                                    "--frame\r\n";
static const char TRAILER[] = "\r\n--frame\r\n";
#define TRAILER_LEN (sizeof TRAILER - 1)
#define HDR_MAX 256

typedef struct {
    char *data;
    size_t len;
} jpeg;

enum { K_LISTEN, K_TIMER, K_SIGNAL, K_CONN };

typedef struct conn {
    int kind; /* K_CONN: first member, so an epoll pointer to a conn or a marker tells which it is */
    int fd;
    int streaming;    /* request read, response head queued */
    int slot;         /* index in the streaming list, -1 if not streaming */
    size_t req_len;
    char *req;        /* request bytes until the blank line; freed once read */
    /* the part in flight: private copy of its headers (the shared buffer changes every frame) */
    int inflight;
    size_t hdr_len, jpeg_len, sent;
    const char *jpeg;
    int has_trailer;
    int dead;         /* closed; freed after the current batch of events */
    struct conn *prev, *next, *next_dead;
    char hdr[HDR_MAX];
} conn;

static int kind_listen = K_LISTEN, kind_timer = K_TIMER, kind_signal = K_SIGNAL;
static int epfd;
static conn **streams;
static int n_streams, cap_streams;
static int reserve_fd = -1;
static conn *all_conns;  /* every open connection, for shutdown */
static conn *dead_conns; /* closed during the current batch of events */

static struct {
    unsigned long long accepted, ticks, late_ticks, parts, partial, skipped, closed, refused;
} stats;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(FILE *f)
{
    fputs("usage: floor --frames DIR [--fps N] [--port N] [--host ADDR]\n"
          "  --frames DIR   every *.jpg / *.jpeg in DIR, natural sort order, looped\n"
          "  --fps N        frames per second (default 30)\n"
          "  --port N       TCP port, 0 = a free one (default 0); printed as \"listening PORT\" on stdout\n"
          "  --host ADDR    numeric address to listen on (default 127.0.0.1)\n"
          "Serves GET on any path as multipart/x-mixed-replace; boundary=frame. SIGTERM/SIGINT: exit 0.\n",
          f);
}

/* ---- frames ---- */

static int is_jpeg_name(const struct dirent *de)
{
    const char *dot = strrchr(de->d_name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static jpeg *load_frames(const char *dir, int *count)
{
    struct dirent **list;
    int n = scandir(dir, &list, is_jpeg_name, versionsort);
    if (n < 0)
        die("--frames %s: %s", dir, strerror(errno));
    if (n == 0)
        die("--frames %s: no *.jpg or *.jpeg files", dir);
    jpeg *frames = calloc((size_t)n, sizeof *frames);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, list[i]->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            die("%s: %s", p, strerror(errno));
        frames[i].len = (size_t)st.st_size;
        frames[i].data = malloc(frames[i].len ? frames[i].len : 1);
        size_t got = 0;
        while (got < frames[i].len) {
            ssize_t r = read(fd, frames[i].data + got, frames[i].len - got);
            if (r <= 0)
                die("%s: short read", p);
            got += (size_t)r;
        }
        close(fd);
        const unsigned char *d = (const unsigned char *)frames[i].data;
        size_t len = frames[i].len;
        if (len < 4 || d[0] != 0xff || d[1] != 0xd8 || d[len - 2] != 0xff || d[len - 1] != 0xd9)
            fprintf(stderr, "floor: warning: %s is not a whole JPEG (served anyway)\n", p);
        total += len;
        free(list[i]);
    }
    free(list);
    fprintf(stderr, "floor: %d frames from %s, %.1f KB on average\n", n, dir, (double)total / n / 1024);
    *count = n;
    return frames;
}

/* ---- connections ---- */

static void stream_add(conn *c)
{
    if (n_streams == cap_streams) {
        cap_streams = cap_streams ? cap_streams * 2 : 1024;
        streams = realloc(streams, sizeof *streams * (size_t)cap_streams);
        if (!streams)
            die("out of memory");
    }
    c->slot = n_streams;
    streams[n_streams++] = c;
}

static void conn_close(conn *c)
{
    if (c->slot >= 0) {
        conn *last = streams[--n_streams];
        streams[c->slot] = last;
        last->slot = c->slot;
        c->slot = -1;
    }
    if (c->dead)
        return;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->dead = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        all_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* freed after the batch: a later event of the same epoll_wait may still point to it */
    c->next_dead = dead_conns;
    dead_conns = c;
    stats.closed++;
}

static void free_dead(void)
{
    while (dead_conns) {
        conn *c = dead_conns;
        dead_conns = c->next_dead;
        free(c->req);
        free(c);
    }
}

static void want_out(conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is left of the in-flight part. Returns 0, or -1 if the connection was closed. */
static int flush_inflight(conn *c)
{
    for (;;) {
        struct iovec iov[3];
        int n = 0;
        size_t off = c->sent;
        size_t seg[3] = {c->hdr_len, c->jpeg_len, c->has_trailer ? TRAILER_LEN : 0};
        const char *base[3] = {c->hdr, c->jpeg, TRAILER};
        for (int k = 0; k < 3; k++) {
            if (off >= seg[k]) {
                off -= seg[k];
                continue;
            }
            iov[n].iov_base = (void *)(base[k] + off);
            iov[n].iov_len = seg[k] - off;
            n++;
            off = 0;
        }
        if (n == 0) {
            c->inflight = 0;
            want_out(c, 0);
            return 0;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            conn_close(c);
            return -1;
        }
        c->sent += (size_t)w;
    }
}

/* Starts a part: one writev; what the socket does not take stays in flight. */
static void send_part(conn *c, const char *hdr, size_t hdr_len, const char *jpg, size_t jpg_len, int trailer)
{
    struct iovec iov[3] = {
        {(void *)hdr, hdr_len},
        {(void *)jpg, jpg_len},
        {(void *)TRAILER, trailer ? TRAILER_LEN : 0},
    };
    size_t total = hdr_len + jpg_len + (trailer ? TRAILER_LEN : 0);
    ssize_t w = writev(c->fd, iov, jpg_len ? 3 : 1);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return;
        }
        w = 0;
    }
    if ((size_t)w == total)
        return;
    stats.partial++;
    c->inflight = 1;
    memcpy(c->hdr, hdr, hdr_len);
    c->hdr_len = hdr_len;
    c->jpeg = jpg;
    c->jpeg_len = jpg_len;
    c->has_trailer = trailer;
    c->sent = (size_t)w;
    want_out(c, 1);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* out of descriptors: accept and close with the reserve one, or the listener spins */
                close(reserve_fd);
                fd = accept(lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                stats.refused++;
                continue;
            }
            return; /* EAGAIN, or an aborted connection */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        if (!c)
            die("out of memory");
        c->kind = K_CONN;
        c->fd = fd;
        c->slot = -1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = all_conns;
        if (all_conns)
            all_conns->prev = c;
        all_conns = c;
        stats.accepted++;
    }
}

static void on_readable(conn *c)
{
    char buf[4096];
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (r < 0 || c->streaming)
        return; /* anything after the request is ignored */
    if (!c->req && !(c->req = malloc(MAX_REQUEST)))
        die("out of memory");
    size_t take = (size_t)r < MAX_REQUEST - c->req_len ? (size_t)r : MAX_REQUEST - c->req_len;
    memcpy(c->req + c->req_len, buf, take);
    c->req_len += take;
    if (!memmem(c->req, c->req_len, "\r\n\r\n", 4)) {
        if (c->req_len == MAX_REQUEST)
            conn_close(c);
        return;
    }
    int is_get = c->req_len > 4 && !memcmp(c->req, "GET ", 4);
    free(c->req);
    c->req = NULL;
    if (!is_get) {
        static const char bad[] = "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ssize_t w = write(c->fd, bad, sizeof bad - 1);
        (void)w;
        conn_close(c);
        return;
    }
    c->streaming = 1;
    stream_add(c);
    send_part(c, RESPONSE_HEAD, sizeof RESPONSE_HEAD - 1, NULL, 0, 0);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    const char *dir = NULL, *host = "127.0.0.1";
    double fps = 30;
    long port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "floor: %s: missing value\n", argv[i]);
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        char *end;
        if (!strcmp(a, "--frames"))
            dir = v;
        else if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--fps")) {
            fps = strtod(v, &end);
            if (*end || end == v || !(fps > 0 && fps <= 10000)) {
                fprintf(stderr, "floor: --fps: expected a number above 0 up to 10000\n");
                return 2;
            }
        } else if (!strcmp(a, "--port")) {
            port = strtol(v, &end, 10);
            if (*end || end == v || port < 0 || port > 65535) {
                fprintf(stderr, "floor: --port: expected 0 to 65535\n");
                return 2;
            }
        } else {
            fprintf(stderr, "floor: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }

    int n_frames;
    jpeg *frames = load_frames(dir, &n_frames);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    /* listener */
    struct sockaddr_storage ss;
    socklen_t ss_len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        ss_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        ss_len = sizeof *a6;
    } else {
        fprintf(stderr, "floor: --host: expected a numeric address, got %s\n", host);
        return 2;
    }
    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, ss_len) < 0 || listen(lfd, SOMAXCONN) < 0)
        die("cannot listen on %s:%ld: %s", host, port, strerror(errno));
    ss_len = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &ss_len);
    int bound_port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);

    /* frame clock */
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    long long period_ns = (long long)(1e9 / fps);
    struct itimerspec its = {
        .it_interval = {period_ns / 1000000000, period_ns % 1000000000},
        .it_value = {period_ns / 1000000000, period_ns % 1000000000},
    };
    if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
        die("timerfd: %s", strerror(errno));

    /* signals */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &kind_listen};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &kind_timer;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.ptr = &kind_signal;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

    printf("listening %d\n", bound_port);
    fflush(stdout);
    fprintf(stderr, "floor: listening on http://%s%s%s:%d/ at %g fps\n", strchr(host, ':') ? "[" : "", host,
            strchr(host, ':') ? "]" : "", bound_port, fps);

    char hdr[HDR_MAX];
    unsigned long long seq = 0;
    int running = 1;
    struct epoll_event events[1024];
    while (running) {
        int n = epoll_wait(epfd, events, (int)(sizeof events / sizeof *events), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int k = 0; k < n; k++) {
            int kind = *(int *)events[k].data.ptr;
            if (kind == K_LISTEN)
                accept_all(lfd);
            else if (kind == K_SIGNAL) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                    running = 0;
            } else if (kind == K_TIMER) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations)
                    continue;
                stats.ticks++;
                if (expirations > 1)
                    stats.late_ticks += expirations - 1;
                const jpeg *f = &frames[seq++ % (unsigned long long)n_frames];
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                int hl = snprintf(hdr, sizeof hdr,
                                  "Content-Type: image/jpeg\r\nContent-Length: %zu\r\nX-Timestamp: %lld.%06ld\r\n\r\n",
                                  f->len, (long long)now.tv_sec, now.tv_nsec / 1000);
                /* iterate backwards: a closed connection is swapped with the last one */
                for (int s = n_streams - 1; s >= 0; s--) {
                    if (s >= n_streams)
                        continue;
                    conn *c = streams[s];
                    if (c->inflight) {
                        stats.skipped++;
                        continue;
                    }
                    stats.parts++;
                    send_part(c, hdr, (size_t)hl, f->data, f->len, 1);
                }
            } else {
                conn *c = events[k].data.ptr;
                if (c->dead)
                    continue;
                if (events[k].events & EPOLLOUT && c->inflight) {
                    if (flush_inflight(c) < 0)
                        continue;
                }
                if (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    on_readable(c);
            }
        }
        free_dead();
    }

    fprintf(stderr,
            "floor: stopping: %llu connections accepted, %d streaming; %llu frames (%llu late ticks), "
            "%llu parts sent, %llu partial writes, %llu skipped; %llu refused for lack of descriptors\n",
            stats.accepted, n_streams, stats.ticks, stats.late_ticks, stats.parts, stats.partial, stats.skipped,
            stats.refused);
    while (all_conns)
        conn_close(all_conns);
    free_dead();
    close(lfd);
    close(tfd);
    close(sfd);
    close(epfd);
    for (int i = 0; i < n_frames; i++)
        free(frames[i].data);
    free(frames);
    free(streams);
    return 0;
}
