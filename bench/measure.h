/*
 * What bench/stream_bench.c, bench/curl_pages.c and bench/curl_simdjson.cpp measure, the same way (bench/run.sh parses
 * the key=value pairs they print):
 *   wall_s   CLOCK_MONOTONIC around the measured call(s) only
 *   cpu_s    CLOCK_PROCESS_CPUTIME_ID over the same span: every thread of the process (user + system)
 *   vcsw     voluntary context switches of the process over the span (all threads, from
 *            /proc/self/task/<tid>/status: the process's own /proc/self/status counts only the
 *            main thread)
 *   ivcsw    involuntary context switches, likewise
 *   hwm_kb   VmHWM of /proc/self/status after the span: this process's own peak resident set
 *            (getrusage's ru_maxrss can carry the parent's peak across exec)
 *   base_hwm_kb VmHWM before the span (after the warm-up request)
 */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H
#ifndef _GNU_SOURCE /* g++ defines it */
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double bench_clock(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A "Key:   N" line of a status file, -1 if absent. */
static long bench_status_value(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Context switches summed over the live threads of this process. Threads that ended are not
 * counted by the kernel here: the benchmarks keep their threads alive across the measurement
 * (the library's runtime threads live as long as the process). */
static void bench_ctxt(long *vol, long *invol) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    char path[300];
    *vol = 0;
    *invol = 0;
    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        long v = bench_status_value(path, "voluntary_ctxt_switches");
        long iv = bench_status_value(path, "nonvoluntary_ctxt_switches");
        if (v > 0) *vol += v;
        if (iv > 0) *invol += iv;
    }
    closedir(d);
}

typedef struct {
    double wall0, cpu0;
    long vol0, invol0, hwm0;
    double wall, cpu;
    long vol, invol, hwm;
} bench_span;

static void bench_begin(bench_span *s) {
    s->hwm0 = bench_status_value("/proc/self/status", "VmHWM");
    bench_ctxt(&s->vol0, &s->invol0);
    s->cpu0 = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
    s->wall0 = bench_clock(CLOCK_MONOTONIC);
}

static void bench_end(bench_span *s) {
    s->wall = bench_clock(CLOCK_MONOTONIC) - s->wall0;
    s->cpu = bench_clock(CLOCK_PROCESS_CPUTIME_ID) - s->cpu0;
    bench_ctxt(&s->vol, &s->invol);
    s->vol -= s->vol0;
    s->invol -= s->invol0;
    s->hwm = bench_status_value("/proc/self/status", "VmHWM");
}

static void bench_print(const bench_span *s) {
    printf(" wall_s=%.6f cpu_s=%.6f vcsw=%ld ivcsw=%ld hwm_kb=%ld base_hwm_kb=%ld", s->wall, s->cpu,
           s->vol, s->invol, s->hwm, s->hwm0);
}
#endif
