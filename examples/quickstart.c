/*
 * Quickstart: connect, upload a synthetic data set, search with paging, print a summary.
 *
 *   FHIR_API_URL=http://127.0.0.1:18080/fhir ./quickstart data.json
 *
 * Credentials come from the environment as in fhir_kindling's from_env (FHIR_USER/FHIR_PW,
 * FHIR_TOKEN, or CLIENT_ID/CLIENT_SECRET/OIDC_PROVIDER_URL); with none set it connects without auth.
 */
#include <fhir_kindling.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Report a failed call, then free what the program holds (every _free accepts NULL). */
static int fail(const char *what, fhir_result rc, fhir_error_t *err, fhir_server_t *server) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, fhir_result_str(rc), err ? fhir_error_message(err) : "");
    if (err && fhir_error_body(err, NULL)) { fprintf(stderr, "server said: %s\n", fhir_error_body(err, NULL)); }
    fhir_error_free(err);
    fhir_server_free(server);
    return 1;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) { buf[n] = 0; *len = (size_t)n; } else { free(buf); buf = NULL; }
    fclose(f);
    return buf;
}

/* Prints one field value found after `key` in a JSON text (enough for a demo). */
static void print_field(const char *json, const char *key) {
    const char *p = strstr(json, key);
    if (p) { printf("%.*s", (int)strcspn(p + strlen(key), "\""), p + strlen(key)); }
}

struct page_stats { int pages; int observations; };

static int on_resource(const char *json, size_t len, const char *mode, void *user_data) {
    struct page_stats *st = user_data;
    (void)len;
    if (strcmp(mode, "match") == 0 && strstr(json, "\"Observation\"")) { st->observations++; }
    return 0; /* go on */
}

int main(int argc, char **argv) {
    fhir_error_t *err = NULL;
    fhir_server_t *server = NULL;
    int no_auth = !getenv("FHIR_USER") && !getenv("FHIR_TOKEN") && !getenv("CLIENT_ID");
    fhir_options_t *opts = fhir_options_new();
    unsigned short retry_on[] = {429, 502, 503, 504};
    fhir_options_set_retry_status_codes(opts, retry_on, 4, NULL);
    fhir_options_set_retry_max_attempts(opts, 4, NULL);
    fhir_result rc = fhir_server_from_env(no_auth, opts, &server, &err);
    fhir_options_free(opts);
    if (rc != FHIR_OK) { return fail("connect (from environment)", rc, err, server); }
    printf("fhir_kindling %s -> %s\n", fhir_version(), fhir_server_base_url(server));

    char *json = NULL;
    if ((rc = fhir_server_capabilities(server, &json, NULL, &err)) != FHIR_OK) { return fail("capabilities", rc, err, server); }
    printf("server: FHIR ");
    print_field(json, "\"fhirVersion\":\"");
    printf(", software ");
    print_field(json, "\"software\":{\"name\":\"");
    printf("\n");
    fhir_string_free(json);

    if (argc > 1) {
        size_t len = 0;
        char *data = read_file(argv[1], &len);
        if (!data) { fprintf(stderr, "cannot read %s\n", argv[1]); fhir_server_free(server); return 1; }
        double t0 = now();
        size_t out_len = 0;
        rc = fhir_resource_create_all(server, data, len, 0, &json, &out_len, &err);
        free(data);
        if (rc != FHIR_OK) { return fail("upload", rc, err, server); }
        int quotes = 0;
        for (const char *p = strstr(json, "\"created\":["); p && *p && *p != ']'; p++) { quotes += *p == '"'; }
        int created = (quotes - 2) / 2; /* minus the key's own quotes */
        printf("uploaded %d resources in %.2f s\n", created, now() - t0);
        fhir_string_free(json);
    }

    /* Count with _summary=count, then page through with the builder. */
    uint64_t patients = 0;
    if ((rc = fhir_search_count(server, "Patient?identifier=urn:fhir-kindling-demo%7C", &patients, &err)) != FHIR_OK) {
        return fail("count", rc, err, server);
    }
    printf("demo patients on the server: %llu\n", (unsigned long long)patients);

    fhir_query_t *q = NULL;
    char *qs = NULL;
    fhir_query_new("Observation", &q, NULL);
    fhir_query_where(q, "code", NULL, "http://loinc.org|8867-4", NULL); /* heart rate */
    fhir_query_page_size(q, 25, NULL);
    fhir_query_build(q, &qs, NULL, NULL);
    fhir_query_free(q);
    struct page_stats st = {0, 0};
    double t0 = now();
    rc = fhir_search_resources(server, qs, on_resource, &st, NULL, &err);
    if (rc != FHIR_OK) { fhir_string_free(qs); return fail("search", rc, err, server); }
    printf("heart-rate observations (%s, 25 per page): %d in %.2f s\n", qs, st.observations, now() - t0);
    fhir_string_free(qs);

    size_t len = 0;
    if ((rc = fhir_search_limit(server, "Patient?identifier=urn:fhir-kindling-demo%7C&_sort=birthdate", 3, &json, &len, &err)) != FHIR_OK) {
        return fail("search_limit", rc, err, server);
    }
    printf("three oldest demo patients: %zu bytes of searchset Bundle\n", len);
    const char *p = json;
    while ((p = strstr(p, "\"family\":\"")) != NULL) { printf("  - "); print_field(p, "\"family\":\""); printf("\n"); p++; }
    fhir_string_free(json);

    if ((rc = fhir_server_summary(server, &json, NULL, &err)) != FHIR_OK) { return fail("summary", rc, err, server); }
    printf("summary: %s\n", json);
    fhir_string_free(json);
    fhir_server_free(server);
    return 0;
}
