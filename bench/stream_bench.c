/*
 * Benchmark program for the fhir_kindling C ABI (not a test; built and run by bench/run.sh).
 *
 *   stream_bench pages|resources|all BASE [QUERY]    one search (default QUERY Patient?_count=100)
 *   stream_bench sleep MS BASE [QUERY]               fhir_search_pages with a callback that sleeps
 *                                                    MS milliseconds per page (prefetch)
 *   stream_bench get N BASE PATH                     N fhir_server_request GETs of PATH, one thread
 *   stream_bench threads T N BASE PATH               T threads sharing ONE handle, N GETs each
 *   stream_bench upload FILE BATCH PARALLEL BASE     fhir_resource_create_all of the JSON array in
 *                                                    FILE, BATCH per transaction, PARALLEL in flight
 *                                                    (PARALLEL > 1 needs fhir_options_set_create_all_parallel)
 *
 * In the pages and sleep modes the page callback checks the NUL and counts pages and bytes; with
 * STREAM_BENCH_COUNT=1 it also counts the entries of each page (memmem over the page: a checking
 * run, not a measured one). The resources and all modes always count.
 *
 * One measurement per process. Before it the program creates the handle and sends one tiny
 * request (GET metadata), so runtime, connection pool and allocator are warmed up. Prints one
 * line of key=value pairs: mode, counts, then the figures of bench/measure.h.
 * Exit status 0 on success, 1 on a library error, 2 on bad usage.
 */
#include "measure.h"

#include <pthread.h>
#include <unistd.h>

#include "fhir_kindling.h"

typedef struct {
    unsigned long long resources, pages, bytes, max_page_bytes;
    long sleep_us;
    int count_entries; /* pages/sleep: count the entries of each page (STREAM_BENCH_COUNT=1) */
} counters;

/* Entries of a Bundle: occurrences of the key "resource" (the generated Patients have no nested
 * key of that name). */
static unsigned long long count_entries(const char *json, size_t len) {
    static const char key[] = "\"resource\":";
    unsigned long long n = 0;
    const char *p = json, *end = json + len;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL) {
        n++;
        p += sizeof key - 1;
    }
    return n;
}

static int on_page(const char *page_json, size_t len, void *user_data) {
    counters *c = user_data;
    c->pages++;
    c->bytes += len;
    if (len > c->max_page_bytes) c->max_page_bytes = len;
    /* A scan of the whole page: the caller's work, not the library's, and more than the libcurl
     * floor does with each page, so only in a checking run (bench/run.sh makes one per case). */
    if (c->count_entries) c->resources += count_entries(page_json, len);
    if (page_json[len] != 0) return 1; /* the promised NUL */
    if (c->sleep_us > 0) usleep((useconds_t)c->sleep_us);
    return 0;
}

static int on_resource(const char *resource_json, size_t len, const char *search_mode, void *user_data) {
    counters *c = user_data;
    if (search_mode != NULL && strcmp(search_mode, "match") == 0) c->resources++;
    c->bytes += len;
    return resource_json[len] != 0; /* the promised NUL */
}

static int fail(const char *what, fhir_result rc, fhir_error_t *err) {
    fprintf(stderr, "stream_bench: %s failed: %s (%d): %s\n", what, fhir_result_str(rc), (int)rc,
            fhir_error_message(err));
    fhir_error_free(err);
    return 1;
}

typedef struct {
    fhir_server_t *server;
    const char *path;
    long n;
    int failed;
} job;

static void *worker(void *arg) {
    job *j = arg;
    for (long i = 0; i < j->n && !j->failed; i++) {
        char *body = NULL;
        fhir_error_t *err = NULL;
        fhir_result rc = fhir_server_request(j->server, "GET", j->path, NULL, 0, NULL, &body, NULL, &err);
        if (rc != FHIR_OK) {
            fail("fhir_server_request", rc, err);
            j->failed = 1;
        }
        fhir_string_free(body);
    }
    return NULL;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (d == NULL || fread(d, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(d);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the head of bench/stream_bench.c\n");
        return 2;
    }
    const char *mode = argv[1];
    const char *base = NULL, *query = "Patient?_count=100", *path = NULL, *file = NULL;
    long n = 0, threads = 1, sleep_ms = 0;
    size_t batch = 0, parallel = 1;
    if (!strcmp(mode, "pages") || !strcmp(mode, "resources") || !strcmp(mode, "all")) {
        base = argv[2];
        if (argc > 3) query = argv[3];
    } else if (!strcmp(mode, "sleep") && argc >= 4) {
        sleep_ms = atol(argv[2]);
        base = argv[3];
        if (argc > 4) query = argv[4];
    } else if (!strcmp(mode, "get") && argc == 5) {
        n = atol(argv[2]);
        base = argv[3];
        path = argv[4];
    } else if (!strcmp(mode, "threads") && argc == 6) {
        threads = atol(argv[2]);
        n = atol(argv[3]);
        base = argv[4];
        path = argv[5];
        if (threads < 1 || threads > 64) return 2;
    } else if (!strcmp(mode, "upload") && argc == 6) {
        file = argv[2];
        batch = (size_t)atol(argv[3]);
        parallel = (size_t)atol(argv[4]);
        base = argv[5];
    } else {
        fprintf(stderr, "stream_bench: bad arguments for mode '%s'\n", mode);
        return 2;
    }

    fhir_error_t *err = NULL;
    fhir_server_t *server = NULL;
    fhir_options_t *opts = fhir_options_new();
    fhir_result rc = fhir_options_set_timeout_ms(opts, 600000, &err);
    if (rc != FHIR_OK) return fail("fhir_options_set_timeout_ms", rc, err);
#ifdef BENCH_PARALLEL_UPLOADS
    if (parallel > 1) {
        rc = fhir_options_set_create_all_parallel(opts, parallel, &err);
        if (rc != FHIR_OK) return fail("fhir_options_set_create_all_parallel", rc, err);
    }
#else
    if (parallel > 1) {
        fprintf(stderr, "stream_bench: this library has no parallel uploads\n");
        return 2;
    }
#endif
    rc = fhir_server_new(base, opts, &server, &err);
    fhir_options_free(opts);
    if (rc != FHIR_OK) return fail("fhir_server_new", rc, err);

    char *tiny = NULL;
    rc = fhir_server_capabilities(server, &tiny, NULL, &err);
    if (rc != FHIR_OK) {
        fhir_server_free(server);
        return fail("fhir_server_capabilities (warm-up request)", rc, err);
    }
    fhir_string_free(tiny);

    const char *count_env = getenv("STREAM_BENCH_COUNT");
    counters c = {0, 0, 0, 0, sleep_ms * 1000, count_env != NULL && !strcmp(count_env, "1")};
    unsigned long long requests = 0;
    char *next = NULL;
    bench_span s;
    if (!strcmp(mode, "get") || !strcmp(mode, "threads")) {
        pthread_t th[64];
        job jobs[64];
        int failed = 0;
        bench_begin(&s);
        if (threads == 1) {
            jobs[0] = (job){server, path, n, 0};
            worker(&jobs[0]);
        } else {
            for (long i = 0; i < threads; i++) {
                jobs[i] = (job){server, path, n, 0};
                pthread_create(&th[i], NULL, worker, &jobs[i]);
            }
            for (long i = 0; i < threads; i++) pthread_join(th[i], NULL);
        }
        bench_end(&s);
        for (long i = 0; i < threads; i++) failed |= jobs[i].failed;
        if (failed) return 1;
        requests = (unsigned long long)threads * (unsigned long long)n;
    } else if (!strcmp(mode, "upload")) {
        size_t len = 0;
        char *json = read_file(file, &len);
        char *out = NULL;
        if (json == NULL) {
            fprintf(stderr, "stream_bench: cannot read %s\n", file);
            return 2;
        }
        bench_begin(&s);
        rc = fhir_resource_create_all(server, json, len, batch, &out, NULL, &err);
        bench_end(&s);
        free(json);
        if (rc != FHIR_OK) return fail("fhir_resource_create_all", rc, err);
        c.resources = count_entries(out, strlen(out)); /* not entries: references */
        c.resources = 0;
        for (const char *p = out; (p = strstr(p, "\"Patient/")) != NULL; p++) c.resources++;
        fhir_string_free(out);
    } else {
        bench_begin(&s);
        if (!strcmp(mode, "pages") || !strcmp(mode, "sleep")) {
            rc = fhir_search_pages(server, query, on_page, &c, &next, &err);
        } else if (!strcmp(mode, "resources")) {
            rc = fhir_search_resources(server, query, on_resource, &c, &next, &err);
        } else {
            char *bundle = NULL;
            size_t len = 0;
            rc = fhir_search_all(server, query, &bundle, &len, &err);
            if (rc == FHIR_OK) {
                bench_end(&s);
                c.resources = count_entries(bundle, len);
                c.bytes = len;
                c.max_page_bytes = len;
                fhir_string_free(bundle);
            }
        }
        if (strcmp(mode, "all") != 0 || rc != FHIR_OK) bench_end(&s);
        if (rc != FHIR_OK) {
            fhir_server_free(server);
            return fail(mode, rc, err);
        }
        if (next != NULL) {
            fprintf(stderr, "stream_bench: search stopped early, next=%s\n", next);
            fhir_string_free(next);
            return 1;
        }
    }
    fhir_server_free(server);
    printf("mode=%s resources=%llu pages=%llu bytes=%llu max_page_bytes=%llu requests=%llu", mode,
           c.resources, c.pages, c.bytes, c.max_page_bytes, requests);
    bench_print(&s);
    printf(" version=%s\n", fhir_version());
    return 0;
}
