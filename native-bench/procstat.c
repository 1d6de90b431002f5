/* /proc readers: see procstat.h. */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return (int)n;
}

int proc_cpu_read(pid_t pid, proc_cpu *out)
{
    char path[64], buf[1024];
    out->sched_ns = 0;
    out->threads = 0;
    out->tick_ns = -1;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.16s/schedstat", (int)pid, de->d_name);
        if (read_small(path, buf, sizeof buf) <= 0)
            continue; /* the thread exited between the listing and the read */
        out->sched_ns += strtoll(buf, NULL, 10);
        out->threads++;
    }
    closedir(dir);
    /* /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks, after "(comm)" */
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) > 0) {
        char *s = strrchr(buf, ')');
        unsigned long long utime, stime;
        if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2) {
            long hz = sysconf(_SC_CLK_TCK);
            out->tick_ns = (int64_t)(utime + stime) * (1000000000LL / (hz > 0 ? hz : 100));
        }
    }
    return out->threads > 0 ? 0 : -1;
}

int proc_mem_read(pid_t pid, long *vm_hwm_kb, long *vm_rss_kb)
{
    char path[64], buf[16384];
    *vm_hwm_kb = -1;
    *vm_rss_kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return -1;
    char *s;
    if ((s = strstr(buf, "\nVmHWM:")))
        *vm_hwm_kb = strtol(s + 7, NULL, 10);
    if ((s = strstr(buf, "\nVmRSS:")))
        *vm_rss_kb = strtol(s + 7, NULL, 10);
    return 0;
}

int sys_cpu_read(sys_cpu *out)
{
    char buf[16384];
    memset(out, 0, sizeof *out);
    if (read_small("/proc/stat", buf, sizeof buf) <= 0)
        return -1;
    unsigned long long v[8] = {0};
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7]) < 7)
        return -1;
    for (char *s = strstr(buf, "\ncpu"); s; s = strstr(s + 1, "\ncpu"))
        out->cpus++;
    long hz = sysconf(_SC_CLK_TCK);
    int64_t tick = 1000000000LL / (hz > 0 ? hz : 100);
    out->busy_ns = (int64_t)(v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
    out->softirq_ns = (int64_t)v[6] * tick;
    out->steal_ns = (int64_t)v[7] * tick;
    return 0;
}
