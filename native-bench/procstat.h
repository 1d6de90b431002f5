/* Reading another process's CPU time and memory from /proc (Linux). */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

typedef struct {
    int64_t sched_ns;   /* sum of the first field of /proc/PID/task/TID/schedstat: exact ns on CPU */
    int threads;        /* live threads summed */
    int64_t tick_ns;    /* utime + stime of /proc/PID/stat (tick-sampled, includes exited threads) */
} proc_cpu;

/* Returns 0, or -1 if the process is gone. */
int proc_cpu_read(pid_t pid, proc_cpu *out);

/* VmHWM and VmRSS of /proc/PID/status in KiB; -1 where unknown. Returns 0 or -1. */
int proc_mem_read(pid_t pid, long *vm_hwm_kb, long *vm_rss_kb);

/* Machine-wide CPU time from the first line of /proc/stat, in ns (tick-sampled, USER_HZ). */
typedef struct {
    int cpus;           /* "cpuN" lines */
    int64_t busy_ns;    /* user + nice + system + irq + softirq (guest time is inside user) */
    int64_t softirq_ns;
    int64_t steal_ns;
} sys_cpu;

/* Returns 0 or -1. */
int sys_cpu_read(sys_cpu *out);

#endif
