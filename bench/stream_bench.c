/*
 * Streaming-search benchmark for the fhir_kindling C ABI (not a test; run by bench/run.sh).
 *
 *   stream_bench MODE BASE_URL [QUERY]
 *     MODE   pages      fhir_search_pages: callback per page (Bundle), counts entries and bytes
 *            resources  fhir_search_resources: callback per resource, counts resources and bytes
 *            all        fhir_search_all: one Bundle of every page, then counts its entries
 *     QUERY  default "Patient?_count=100"
 *
 * One mode per process, so each peak RSS (getrusage ru_maxrss) belongs to that mode alone.
 * Before the search the program creates the handle and sends one tiny request (GET metadata),
 * so the runtime, TLS roots, connection pool and allocator are warmed up: the "baseline" RSS.
 * Prints one line of key=value pairs (parsed by bench/run.sh):
 *   mode resources pages bytes max_page_bytes wall_s baseline_rss_kb baseline_peak_kb
 *   peak_rss_kb end_rss_kb
 * Exit status 0 on success, 1 on a library error, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "fhir_kindling.h"

typedef struct {
    unsigned long long resources;
    unsigned long long pages;
    unsigned long long bytes;
    unsigned long long max_page_bytes;
} counters;

/* Entries of a Bundle: occurrences of the key "resource" (the generated Patients have no
 * nested key of that name). memmem is GNU, so a plain scan is used. */
static unsigned long long count_entries(const char *json, size_t len) {
    static const char key[] = "\"resource\":";
    const size_t klen = sizeof key - 1;
    unsigned long long n = 0;
    const char *p = json, *end = json + len;
    while ((size_t)(end - p) >= klen) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL || (size_t)(end - q) < klen) break;
        if (memcmp(q, key, klen) == 0) {
            n++;
            p = q + klen;
        } else {
            p = q + 1;
        }
    }
    return n;
}

static long rss_now_kb(void) {
    /* Current resident set from /proc/self/statm (pages), -1 if unavailable. */
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * 4; /* 4 KiB pages on x86-64 / aarch64 Linux */
}

static long peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss; /* kilobytes on Linux */
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_page(const char *page_json, size_t len, void *user_data) {
    counters *c = user_data;
    c->pages++;
    c->bytes += len;
    if (len > c->max_page_bytes) c->max_page_bytes = len;
    c->resources += count_entries(page_json, len);
    return 0;
}

static int on_resource(const char *resource_json, size_t len, const char *search_mode, void *user_data) {
    counters *c = user_data;
    (void)resource_json;
    if (search_mode != NULL && strcmp(search_mode, "match") == 0) c->resources++;
    c->bytes += len;
    return 0;
}

static int fail(const char *what, fhir_result rc, fhir_error_t *err) {
    fprintf(stderr, "stream_bench: %s failed: %s (%d): %s\n", what, fhir_result_str(rc), (int)rc,
            fhir_error_message(err));
    fhir_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s pages|resources|all BASE_URL [QUERY]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    const char *base = argv[2];
    const char *query = argc == 4 ? argv[3] : "Patient?_count=100";
    if (strcmp(mode, "pages") != 0 && strcmp(mode, "resources") != 0 && strcmp(mode, "all") != 0) {
        fprintf(stderr, "stream_bench: unknown mode '%s'\n", mode);
        return 2;
    }

    fhir_error_t *err = NULL;
    fhir_server_t *server = NULL;
    fhir_options_t *opts = fhir_options_new();
    fhir_result rc = fhir_options_set_timeout_ms(opts, 600000, &err); /* `all` on 100k may be slow */
    if (rc != FHIR_OK) return fail("fhir_options_set_timeout_ms", rc, err);
    rc = fhir_server_new(base, opts, &server, &err);
    fhir_options_free(opts);
    if (rc != FHIR_OK) return fail("fhir_server_new", rc, err);

    /* Baseline: one tiny request, so everything but the search itself is already in memory. */
    char *tiny = NULL;
    rc = fhir_server_capabilities(server, &tiny, NULL, &err);
    if (rc != FHIR_OK) {
        fhir_server_free(server);
        return fail("fhir_server_capabilities (baseline request)", rc, err);
    }
    fhir_string_free(tiny);
    const long base_rss = rss_now_kb();
    const long base_peak = peak_rss_kb();

    counters c = {0, 0, 0, 0};
    char *next = NULL;
    const double t0 = now_s();
    if (strcmp(mode, "pages") == 0) {
        rc = fhir_search_pages(server, query, on_page, &c, &next, &err);
    } else if (strcmp(mode, "resources") == 0) {
        rc = fhir_search_resources(server, query, on_resource, &c, &next, &err);
    } else {
        char *bundle = NULL;
        size_t len = 0;
        rc = fhir_search_all(server, query, &bundle, &len, &err);
        if (rc == FHIR_OK) {
            c.resources = count_entries(bundle, len);
            c.bytes = len;
            c.max_page_bytes = len;
            fhir_string_free(bundle);
        }
    }
    const double t1 = now_s();
    if (rc != FHIR_OK) {
        fhir_server_free(server);
        return fail(mode, rc, err);
    }
    if (next != NULL) {
        fprintf(stderr, "stream_bench: search stopped early, next=%s\n", next);
        fhir_string_free(next);
    }
    const long peak = peak_rss_kb();
    const long end_rss = rss_now_kb();
    fhir_server_free(server);

    printf("mode=%s resources=%llu pages=%llu bytes=%llu max_page_bytes=%llu wall_s=%.4f "
           "baseline_rss_kb=%ld baseline_peak_kb=%ld peak_rss_kb=%ld end_rss_kb=%ld version=%s\n",
           mode, c.resources, c.pages, c.bytes, c.max_page_bytes, t1 - t0, base_rss, base_peak, peak,
           end_rss, fhir_version());
    return 0;
}
