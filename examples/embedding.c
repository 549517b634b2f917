/* Embedding: a log callback, a request hook stamping a W3C traceparent, a per-call deadline and a
 * cancel token triggered from another thread, and the call record.
 *   FHIR_API_URL=http://127.0.0.1:18080/fhir ./embedding */
#include <fhir_kindling.h>

#include <pthread.h>
#include <stdio.h>
#include <time.h>

static void on_log(fhir_log_level level, const char *target, size_t tlen, const char *msg, size_t mlen, void *ud) {
    (void)ud;
    fprintf(stderr, "[fhir %d %.*s] %.*s\n", (int)level, (int)tlen, target, (int)mlen, msg);
}

static int stamp(const char *method, const char *url, fhir_headers_t *headers, void *ud) {
    (void)method; (void)url; (void)ud;
    return fhir_headers_add(headers, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL);
}

static int slow_page(const char *bundle, size_t len, void *pages) {
    (void)bundle; (void)len;
    struct timespec d = { 0, 20 * 1000 * 1000 }; /* the host's work per page */
    nanosleep(&d, NULL);
    ++*(int *)pages;
    return 0;
}

static void *shutdown_soon(void *cancel) {
    struct timespec d = { 0, 200 * 1000 * 1000 };
    nanosleep(&d, NULL);
    fhir_cancel_trigger(cancel); /* e.g. the host is shutting down */
    return NULL;
}

int main(void) {
    fhir_set_log_callback(FHIR_LOG_DEBUG, on_log, NULL, NULL);
    fhir_options_t *o = fhir_options_new();
    fhir_options_set_request_hook(o, stamp, NULL, NULL);
    fhir_server_t *s = NULL, *call = NULL;
    fhir_error_t *err = NULL;
    if (fhir_server_from_env(true, o, &s, &err) != FHIR_OK) {
        fprintf(stderr, "%s\n", fhir_error_message(err));
        return 1;
    }
    fhir_options_free(o);

    /* One call with its own cancel token and a 5 s deadline (all attempts and waits included). */
    fhir_cancel_t *cancel = fhir_cancel_new();
    fhir_server_scope(s, cancel, 5000, &call, NULL);
    char *json = NULL;
    fhir_result rc = fhir_search_first(call, "Patient?_count=5", &json, NULL, &err);
    fhir_call_info_t info;
    fhir_server_last_call(call, &info, NULL);
    printf("search: %s, HTTP %u, %u attempt(s), %llu bytes in %llu us\n", fhir_result_str(rc), info.status,
           info.attempts, (unsigned long long)info.bytes_received, (unsigned long long)info.total_us);
    fhir_string_free(json);
    fhir_error_free(err);
    err = NULL;

    /* A long walk over every page, cancelled from another thread after 200 ms. */
    pthread_t t;
    pthread_create(&t, NULL, shutdown_soon, cancel);
    char *resume = NULL;
    int pages = 0;
    rc = fhir_search_pages(call, "Patient?_count=1", slow_page, &pages, &resume, &err);
    pthread_join(t, NULL);
    printf("walk: %s after %d pages%s%s\n", fhir_result_str(rc), pages, resume ? "; resume from " : "",
           resume ? resume : "");
    fhir_string_free(resume);
    fhir_error_free(err);
    fhir_server_free(call);
    fhir_cancel_free(cancel);
    fhir_server_free(s);
    fhir_set_log_callback(FHIR_LOG_OFF, NULL, NULL, NULL);
    return 0;
}
