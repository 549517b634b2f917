/*
 * The libcurl floor of bench/stream_bench.c (not a test; built and run by bench/run.sh).
 *
 *   curl_pages pages URL              follow `next` links from URL: one easy handle reused (one
 *                                     keep-alive connection), each body appended to a growing
 *                                     buffer, the next link found with memmem (no JSON parsing)
 *   curl_pages get N URL              N GETs of URL on one easy handle
 *   curl_pages threads T N URL        T threads, each with its own easy handle, N GETs each
 *
 * CURL_PAGES_GZIP=1 asks for gzip and `Accept: application/fhir+json` (what the library sends; for
 * a real server, where compression matters).
 *
 * Prints `mode=curl-MODE pages= bytes= requests=` then the measure.h figures.
 */
#include "measure.h"

#include <pthread.h>
#include <curl/curl.h>

typedef struct {
    char *data;
    size_t len, cap;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    buf *b = ud;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + add + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = 0;
    return add;
}

static CURL *handle(buf *b) {
    CURL *c = curl_easy_init();
    /* CURL_PAGES_GZIP=1: ask for gzip and FHIR JSON, as the library does (for a real server). */
    const char *gzip = getenv("CURL_PAGES_GZIP");
    if (gzip != NULL && strcmp(gzip, "1") == 0) {
        static struct curl_slist *accept = NULL;
        if (accept == NULL) accept = curl_slist_append(NULL, "Accept: application/fhir+json");
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, accept);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

static int fetch(CURL *c, buf *b, const char *url) {
    b->len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_pages: %s: %s\n", url, curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

typedef struct {
    const char *url;
    long n;
    int failed;
} job;

static void *worker(void *arg) {
    job *j = arg;
    buf b = {0};
    CURL *c = handle(&b);
    for (long i = 0; i < j->n && !j->failed; i++)
        if (fetch(c, &b, j->url) != 0) j->failed = 1;
    curl_easy_cleanup(c);
    free(b.data);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: curl_pages pages URL | get N URL | threads T N URL\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *mode = argv[1];
    buf b = {0};
    CURL *c = handle(&b);
    bench_span s;
    unsigned long long pages = 0, bytes = 0, requests = 0;
    if (strcmp(mode, "pages") == 0) {
        static const char key[] = "\"relation\":\"next\",\"url\":\"";
        char url[4096];
        snprintf(url, sizeof url, "%s", argv[2]);
        if (fetch(c, &b, url) != 0) return 1; /* warm-up: the connection is open, as for the library */
        bench_begin(&s);
        for (;;) {
            if (fetch(c, &b, url) != 0) return 1;
            pages++;
            requests++;
            bytes += b.len;
            char *p = memmem(b.data, b.len, key, sizeof key - 1);
            if (p == NULL) break;
            p += sizeof key - 1;
            char *q = memchr(p, '"', (size_t)(b.data + b.len - p));
            if (q == NULL || (size_t)(q - p) >= sizeof url) return 1;
            memcpy(url, p, (size_t)(q - p));
            url[q - p] = 0;
        }
        bench_end(&s);
    } else if (strcmp(mode, "get") == 0 && argc == 4) {
        long n = atol(argv[2]);
        if (fetch(c, &b, argv[3]) != 0) return 1;
        bench_begin(&s);
        for (long i = 0; i < n; i++) {
            if (fetch(c, &b, argv[3]) != 0) return 1;
            bytes += b.len;
        }
        requests = (unsigned long long)n;
        bench_end(&s);
    } else if (strcmp(mode, "threads") == 0 && argc == 5) {
        int t = atoi(argv[2]);
        long n = atol(argv[3]);
        pthread_t th[64];
        job jobs[64];
        if (t < 1 || t > 64) return 2;
        bench_begin(&s);
        for (int i = 0; i < t; i++) {
            jobs[i] = (job){argv[4], n, 0};
            pthread_create(&th[i], NULL, worker, &jobs[i]);
        }
        for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
        bench_end(&s);
        for (int i = 0; i < t; i++)
            if (jobs[i].failed) return 1;
        requests = (unsigned long long)t * (unsigned long long)n;
    } else {
        fprintf(stderr, "curl_pages: bad arguments\n");
        return 2;
    }
    printf("mode=curl-%s pages=%llu bytes=%llu requests=%llu", mode, pages, bytes, requests);
    bench_print(&s);
    printf(" version=%s\n", curl_version_info(CURLVERSION_NOW)->version);
    curl_easy_cleanup(c);
    free(b.data);
    curl_global_cleanup();
    return 0;
}
