/*
 * C test of the library against the real services started by tests/servers/services.sh
 * (HAPI FHIR behind nginx with TLS, basic auth, bearer token, mTLS, OIDC and SMART Backend
 * Services; tinyproxy).
 * Built with -Wall -Wextra -Werror and run under valgrind by `make c-test`.
 * Needs the variables of target/services/services.env; fails loudly when one is missing.
 */
#include <fhir_kindling.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

static const char *need(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "missing environment variable %s: source target/services/services.env\n", name);
        exit(2);
    }
    return v;
}

static void url2(char *buf, size_t n, const char *a, const char *b) { snprintf(buf, n, "%s%s", a, b); }

static const char *emsg(const fhir_error_t *e) { return e ? fhir_error_message(e) : "(no error object)"; }

static fhir_options_t *tls_options(void) {
    fhir_options_t *o = fhir_options_new();
    CHECK(fhir_options_add_ca_file(o, need("FHIR_TEST_CA"), NULL) == FHIR_OK, "ca");
    return o;
}

/* ---------------------------------------------------------------- argument handling */
static void test_bad_arguments(void) {
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    CHECK(fhir_server_new(NULL, NULL, &s, &err) == FHIR_ERR_NULL_ARGUMENT, "NULL url");
    CHECK(s == NULL, "no handle on failure");
    CHECK(err != NULL && strstr(fhir_error_message(err), "base_url") != NULL, "message names the argument");
    fhir_error_free(err);
    err = NULL;
    CHECK(fhir_server_new("ftp://x/fhir", NULL, &s, &err) == FHIR_ERR_INVALID_ARGUMENT, "bad scheme");
    fhir_error_free(err);
    CHECK(fhir_server_new("http://127.0.0.1:1/fhir", NULL, NULL, NULL) == FHIR_ERR_NULL_ARGUMENT, "NULL out");
    const char bad_utf8[] = {'h', 't', (char)0xff, 0};
    CHECK(fhir_server_new(bad_utf8, NULL, &s, NULL) == FHIR_ERR_INVALID_ARGUMENT, "non-UTF-8");
    fhir_server_free(NULL);
    fhir_options_free(NULL);
    fhir_error_free(NULL);
    fhir_string_free(NULL);
    fhir_query_free(NULL);
    CHECK(strcmp(fhir_result_str(FHIR_ERR_NOT_FOUND), "not found (HTTP 404)") == 0, "result_str");
    CHECK(strcmp(fhir_result_str(12345), "unknown result code") == 0, "unknown code");
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", FHIR_KINDLING_VERSION_MAJOR, FHIR_KINDLING_VERSION_MINOR, FHIR_KINDLING_VERSION_PATCH);
    CHECK(strcmp(fhir_version(), v) == 0, "version %s vs %s", fhir_version(), v);
}

/* ---------------------------------------------------------------- CRUD on the real server */
static void test_crud(fhir_server_t *s) {
    fhir_error_t *err = NULL;
    char *json = NULL;
    size_t len = 0;
    const char *patient = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Ctest\",\"given\":[\"Ada\"]}],"
                          "\"identifier\":[{\"system\":\"urn:ctest\",\"value\":\"c-1\"}]}";
    fhir_result rc = fhir_resource_create(s, patient, strlen(patient), NULL, &json, &len, &err);
    CHECK(rc == FHIR_OK, "create: %s", emsg(err));
    if (rc != FHIR_OK) { fhir_error_free(err); return; }
    CHECK(len == strlen(json), "length excludes NUL");
    const char *idp = strstr(json, "\"id\":\"");
    CHECK(idp != NULL, "created resource has an id: %s", json);
    char ref[128] = "Patient/";
    if (idp) { sscanf(idp + 6, "%64[^\"]", ref + 8); }
    fhir_string_free(json);

    CHECK(fhir_resource_read(s, ref, &json, NULL, &err) == FHIR_OK, "read %s: %s", ref, emsg(err));
    CHECK(json && strstr(json, "Ctest") != NULL, "read back");
    fhir_string_free(json);

    /* update with the right version, then with a stale one */
    char upd[512];
    snprintf(upd, sizeof upd, "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"name\":[{\"family\":\"Ctest2\"}]}", ref + 8);
    CHECK(fhir_resource_update(s, upd, strlen(upd), "1", &json, NULL, &err) == FHIR_OK, "update: %s", emsg(err));
    CHECK(json && strstr(json, "\"versionId\":\"2\"") != NULL, "new version: %s", json ? json : "");
    fhir_string_free(json);
    json = NULL;
    rc = fhir_resource_update(s, upd, strlen(upd), "1", &json, NULL, &err);
    CHECK(rc == FHIR_ERR_CONFLICT, "stale If-Match gives CONFLICT, got %d", rc);
    CHECK(json == NULL, "no output on failure");
    CHECK(fhir_error_http_status(err) == 409 || fhir_error_http_status(err) == 412, "status %u", fhir_error_http_status(err));
    size_t blen = 0;
    const char *body = fhir_error_body(err, &blen);
    CHECK(body && strstr(body, "OperationOutcome") && blen == strlen(body), "OperationOutcome body");
    fhir_error_free(err);
    err = NULL;

    CHECK(fhir_resource_delete(s, ref, &err) == FHIR_OK, "delete: %s", emsg(err));
    rc = fhir_resource_read(s, ref, &json, NULL, &err);
    CHECK(rc == FHIR_ERR_GONE, "read after delete is GONE, got %d (%s)", rc, emsg(err));
    CHECK(fhir_error_http_status(err) == 410, "410");
    fhir_error_free(err);
    err = NULL;
    rc = fhir_resource_read(s, "Patient/does-not-exist-42", &json, NULL, &err);
    CHECK(rc == FHIR_ERR_NOT_FOUND, "404 code, got %d", rc);
    fhir_error_free(err);
}

/* ---------------------------------------------------------------- search with the builder */
struct stream_ctx { fhir_server_t *s; int seen; int reread; };

/* Runs on the caller's thread and calls back into the library on the same handle. */
static int count_cb(const char *res, size_t len, const char *mode, void *ud) {
    struct stream_ctx *c = ud;
    char ref[128] = "Patient/";
    const char *idp = strstr(res, "\"id\":\"");
    if (len == strlen(res) && strcmp(mode, "match") == 0) { c->seen++; }
    if (idp && sscanf(idp + 6, "%64[^\"]", ref + 8) == 1) {
        char *json = NULL;
        if (fhir_resource_read(c->s, ref, &json, NULL, NULL) == FHIR_OK) { c->reread++; }
        fhir_string_free(json);
    }
    return 0;
}

static void test_search(fhir_server_t *s) {
    fhir_error_t *err = NULL;
    char *out = NULL;
    const char *bundle =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:csearch\",\"value\":\"1\"}],\"birthDate\":\"2001-02-03\"},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:csearch\",\"value\":\"2\"}],\"birthDate\":\"1990-02-03\"},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:csearch\",\"value\":\"3\"}],\"birthDate\":\"2005-02-03\"},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}";
    CHECK(fhir_bundle_send(s, bundle, strlen(bundle), &out, NULL, &err) == FHIR_OK, "transaction: %s", emsg(err));
    CHECK(out && strstr(out, "transaction-response"), "response bundle");
    fhir_string_free(out);

    fhir_query_t *q = NULL;
    CHECK(fhir_query_new("Patient", &q, NULL) == FHIR_OK, "query");
    CHECK(fhir_query_where(q, "identifier", NULL, "urn:csearch|", NULL) == FHIR_OK, "where");
    CHECK(fhir_query_where(q, "birthdate", "gt", "2000-01-01", NULL) == FHIR_OK, "where gt");
    CHECK(fhir_query_where(q, "birthdate", "after", "2000", &err) == FHIR_ERR_INVALID_ARGUMENT, "bad prefix");
    fhir_error_free(err);
    err = NULL;
    CHECK(fhir_query_page_size(q, 1, NULL) == FHIR_OK, "count");
    char *qs = NULL;
    CHECK(fhir_query_build(q, &qs, NULL, NULL) == FHIR_OK, "build");
    CHECK(qs && strcmp(qs, "Patient?identifier=urn:csearch%7C&birthdate=gt2000-01-01&_count=1") == 0, "query string %s", qs ? qs : "");
    fhir_query_free(q);

    uint64_t n = 0;
    CHECK(fhir_search_count(s, qs, &n, &err) == FHIR_OK, "count: %s", emsg(err));
    CHECK(n == 2, "two born after 2000, got %llu", (unsigned long long)n);
    size_t len = 0;
    CHECK(fhir_search_all(s, qs, &out, &len, &err) == FHIR_OK, "all: %s", emsg(err));
    CHECK(out && strstr(out, "\"total\":2") && strstr(out, "searchset"), "all pages, total 2: %.200s", out ? out : "");
    fhir_string_free(out);
    struct stream_ctx ctx = {s, 0, 0};
    char *next = NULL;
    CHECK(fhir_search_resources(s, qs, count_cb, &ctx, &next, &err) == FHIR_OK, "stream: %s", emsg(err));
    CHECK(ctx.seen == 2 && next == NULL, "streamed %d", ctx.seen);
    CHECK(ctx.reread == 2, "the callback read each resource again through the library: %d", ctx.reread);
    fhir_string_free(qs);

    const char *del = "Patient?identifier=urn:csearch%7C";
    CHECK(fhir_resource_delete_by_query(s, del, &err) == FHIR_OK, "conditional delete: %s", emsg(err));
}

/* ---------------------------------------------------------------- threads share one handle */
struct tharg { fhir_server_t *s; int ok; };
static void *worker(void *p) {
    struct tharg *a = p;
    for (int i = 0; i < 10; i++) {
        char *json = NULL;
        fhir_error_t *err = NULL;
        if (fhir_server_capabilities(a->s, &json, NULL, &err) == FHIR_OK) { a->ok++; }
        fhir_string_free(json);
        fhir_error_free(err);
    }
    return NULL;
}

static void test_threads(fhir_server_t *s) {
    pthread_t t[6];
    struct tharg a[6];
    for (int i = 0; i < 6; i++) { a[i].s = s; a[i].ok = 0; pthread_create(&t[i], NULL, worker, &a[i]); }
    int ok = 0;
    for (int i = 0; i < 6; i++) { pthread_join(t[i], NULL); ok += a[i].ok; }
    CHECK(ok == 60, "60 concurrent calls, %d ok", ok);
}

/* ---------------------------------------------------------------- auth modes through nginx */
static fhir_result caps(fhir_server_t *s, fhir_error_t **err) {
    char *json = NULL;
    fhir_result rc = fhir_server_capabilities(s, &json, NULL, err);
    fhir_string_free(json);
    return rc;
}

static void test_auth_modes(void) {
    const char *https = need("FHIR_NGINX_HTTPS");
    char url[512];
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    fhir_options_t *o = tls_options();

    url2(url, sizeof url, https, "/basic/fhir");
    CHECK(fhir_server_new_basic(url, need("FHIR_BASIC_USER"), need("FHIR_BASIC_PASSWORD"), o, &s, &err) == FHIR_OK, "basic new");
    CHECK(caps(s, &err) == FHIR_OK, "basic: %s", emsg(err));
    fhir_server_free(s);
    CHECK(fhir_server_new_basic(url, need("FHIR_BASIC_USER"), "wrong-password", o, &s, NULL) == FHIR_OK, "basic new");
    err = NULL;
    CHECK(caps(s, &err) == FHIR_ERR_AUTH && fhir_error_http_status(err) == 401, "wrong password gives AUTH/401");
    CHECK(err && strstr(fhir_error_message(err), "wrong-password") == NULL, "no secret in message");
    fhir_error_free(err);
    err = NULL;
    fhir_server_free(s);

    url2(url, sizeof url, https, "/token/fhir");
    CHECK(fhir_server_new_token(url, need("FHIR_STATIC_TOKEN"), o, &s, NULL) == FHIR_OK, "token new");
    CHECK(caps(s, &err) == FHIR_OK, "token: %s", emsg(err));
    fhir_server_free(s);
    CHECK(fhir_server_new_token(url, "not-the-token", o, &s, NULL) == FHIR_OK, "token new");
    CHECK(caps(s, &err) == FHIR_ERR_AUTH, "wrong token gives AUTH");
    fhir_error_free(err);
    err = NULL;
    fhir_server_free(s);

    url2(url, sizeof url, https, "/oidc/fhir");
    CHECK(fhir_server_new_oidc(url, need("FHIR_OIDC_CLIENT_ID"), need("FHIR_OIDC_CLIENT_SECRET"), need("FHIR_OIDC_ISSUER"), o, &s, NULL) == FHIR_OK, "oidc new");
    CHECK(caps(s, &err) == FHIR_OK, "oidc: %s", emsg(err));
    fhir_server_free(s);
    CHECK(fhir_server_new_oidc(url, need("FHIR_OIDC_CLIENT_ID"), "bad-secret", need("FHIR_OIDC_ISSUER"), o, &s, NULL) == FHIR_OK, "oidc new");
    CHECK(caps(s, &err) == FHIR_ERR_AUTH, "bad client secret gives AUTH");
    CHECK(err && strstr(fhir_error_message(err), "bad-secret") == NULL, "no secret in message");
    fhir_error_free(err);
    err = NULL;
    fhir_server_free(s);

    /* mTLS: without a client certificate refused, with one accepted */
    url2(url, sizeof url, https, "/mtls/fhir");
    CHECK(fhir_server_new(url, o, &s, NULL) == FHIR_OK, "mtls new");
    CHECK(caps(s, &err) == FHIR_ERR_AUTH, "no client cert gives AUTH");
    fhir_error_free(err);
    err = NULL;
    fhir_server_free(s);
    fhir_options_t *m = tls_options();
    CHECK(fhir_options_set_client_cert(m, need("FHIR_TEST_CLIENT_CERT"), need("FHIR_TEST_CLIENT_KEY"), NULL) == FHIR_OK, "cert");
    CHECK(fhir_server_new(url, m, &s, &err) == FHIR_OK, "mtls new: %s", emsg(err));
    CHECK(caps(s, &err) == FHIR_OK, "mtls: %s", emsg(err));
    fhir_server_free(s);
    fhir_options_free(m);

    /* TLS verified by default: without the test CA the certificate is refused */
    url2(url, sizeof url, https, "/fhir");
    CHECK(fhir_server_new(url, NULL, &s, NULL) == FHIR_OK, "new");
    CHECK(caps(s, &err) == FHIR_ERR_TLS, "untrusted CA gives TLS error: %s", emsg(err));
    fhir_error_free(err);
    err = NULL;
    fhir_server_free(s);
    fhir_options_free(o);
}

/* ---------------------------------------------------------------- SMART Backend Services */
static void test_smart(void) {
    char url[512];
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    /* Plain HTTP like the provider's token endpoint (from https, an http one is refused). */
    url2(url, sizeof url, need("FHIR_NGINX_HTTP"), "/smart/fhir");

    /* Without a key id: refused at construction. */
    fhir_options_t *o = tls_options();
    CHECK(fhir_server_new_smart_backend(url, need("FHIR_SMART_ES384_CLIENT_ID"), need("FHIR_SMART_EC_SEC1_KEY"), o, &s, &err) == FHIR_ERR_INVALID_ARGUMENT, "no kid");
    CHECK(s == NULL && err && strstr(fhir_error_message(err), "smart_key_id"), "kid named: %s", emsg(err));
    fhir_error_free(err);
    err = NULL;

    /* ES384 with the SEC1 key file: discovery, token, a read through the gateway, the scope. */
    CHECK(fhir_options_set_smart_key_id(o, need("FHIR_SMART_EC_KID"), NULL) == FHIR_OK, "kid");
    CHECK(fhir_options_set_smart_scope(o, "system/Patient.rs", NULL) == FHIR_OK, "scope");
    CHECK(fhir_options_set_smart_algorithm(o, "RS384", NULL) == FHIR_OK, "alg");
    CHECK(fhir_server_new_smart_backend(url, need("FHIR_SMART_ES384_CLIENT_ID"), need("FHIR_SMART_EC_SEC1_KEY"), o, &s, &err) == FHIR_ERR_INVALID_ARGUMENT, "RS384 with an EC key");
    fhir_error_free(err);
    err = NULL;
    CHECK(fhir_options_set_smart_algorithm(o, "ES384", NULL) == FHIR_OK, "alg");
    CHECK(fhir_server_new_smart_backend(url, need("FHIR_SMART_ES384_CLIENT_ID"), need("FHIR_SMART_EC_SEC1_KEY"), o, &s, &err) == FHIR_OK, "smart new: %s", emsg(err));
    CHECK(caps(s, &err) == FHIR_OK, "smart ES384: %s", emsg(err));
    char *scope = NULL;
    size_t len = 0;
    CHECK(fhir_server_granted_scope(s, &scope, &len, &err) == FHIR_OK, "scope: %s", emsg(err));
    CHECK(scope && strcmp(scope, "system/Patient.rs") == 0 && len == strlen(scope), "granted %s", scope ? scope : "(null)");
    fhir_string_free(scope);
    fhir_server_free(s);
    fhir_options_free(o);

    /* RS384 with the 4096-bit PKCS#1 key, given as PEM text, over HTTPS with the token URL given. */
    FILE *f = fopen(need("FHIR_SMART_RSA4096_PKCS1_KEY"), "rb");
    CHECK(f != NULL, "open key");
    static char pem[8192];
    size_t n = f ? fread(pem, 1, sizeof pem - 1, f) : 0;
    pem[n] = '\0';
    if (f) fclose(f);
    o = tls_options();
    CHECK(fhir_options_set_smart_key_id(o, need("FHIR_SMART_RSA4096_KID"), NULL) == FHIR_OK, "kid");
    CHECK(fhir_options_set_smart_token_url(o, need("FHIR_OIDC_TOKEN_URL"), NULL) == FHIR_OK, "token url");
    char https[512];
    url2(https, sizeof https, need("FHIR_NGINX_HTTPS"), "/smart/fhir");
    CHECK(fhir_server_new_smart_backend(https, need("FHIR_SMART_RS384_CLIENT_ID"), pem, o, &s, &err) == FHIR_OK, "smart new: %s", emsg(err));
    CHECK(caps(s, &err) == FHIR_OK, "smart RS384: %s", emsg(err));
    fhir_server_free(s);

    /* A key the client never registered: AUTH with the provider's error, no key in the message. */
    CHECK(fhir_server_new_smart_backend(url, need("FHIR_SMART_RS384_CLIENT_ID"), need("FHIR_SMART_OTHER_KEY"), o, &s, NULL) == FHIR_OK, "smart new");
    CHECK(caps(s, &err) == FHIR_ERR_AUTH, "wrong key gives AUTH");
    CHECK(err && strstr(fhir_error_message(err), "invalid_client") != NULL, "provider error: %s", emsg(err));
    CHECK(err && strstr(fhir_error_message(err), "PRIVATE KEY") == NULL, "no key in message");
    fhir_error_free(err);
    err = NULL;
    fhir_server_free(s);
    fhir_options_free(o);

    /* An unreadable key file: IO at construction. */
    o = tls_options();
    fhir_options_set_smart_key_id(o, "k", NULL);
    CHECK(fhir_server_new_smart_backend(url, "c", "/nonexistent/key.pem", o, &s, &err) == FHIR_ERR_IO, "missing file gives IO");
    fhir_error_free(err);
    err = NULL;
    fhir_options_free(o);

    /* The public JWK Set. */
    char *jwks = NULL;
    CHECK(fhir_smart_public_jwks(need("FHIR_SMART_EC_KEY"), "p384", NULL, &jwks, &len, &err) == FHIR_OK, "jwks: %s", emsg(err));
    CHECK(jwks && strstr(jwks, "\"crv\":\"P-384\"") && strstr(jwks, "\"alg\":\"ES384\"") && !strstr(jwks, "\"d\""), "jwks %s", jwks ? jwks : "(null)");
    fhir_string_free(jwks);
}

/* ---------------------------------------------------------------- embedding: cancel, deadline, log, hook */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct trigger_arg { fhir_cancel_t *c; long delay_us; };
static void *trigger_later(void *p) {
    struct trigger_arg *a = p;
    struct timespec d = { a->delay_us / 1000000, (a->delay_us % 1000000) * 1000 };
    nanosleep(&d, NULL);
    fhir_cancel_trigger(a->c);
    return NULL;
}

static fhir_result slow_get(fhir_server_t *s) {
    char *body = NULL;
    uint16_t status = 0;
    fhir_result rc = fhir_server_request(s, "GET", "anything", NULL, 0, &status, &body, NULL, NULL);
    fhir_string_free(body);
    return rc;
}

struct race_arg { fhir_server_t *parent; fhir_cancel_t *c; int ok, cancelled, other; };
static void *race_worker(void *p) {
    struct race_arg *a = p;
    for (int i = 0; i < 5; i++) {
        fhir_server_t *scoped = NULL;
        if (fhir_server_scope(a->parent, a->c, 0, &scoped, NULL) != FHIR_OK) { a->other++; continue; }
        fhir_result rc = caps(scoped, NULL);
        if (rc == FHIR_OK) a->ok++; else if (rc == FHIR_ERR_CANCELLED) a->cancelled++; else a->other++;
        fhir_server_free(scoped);
    }
    return NULL;
}

static int log_records = 0;
static void count_log(fhir_log_level level, const char *target, size_t target_len, const char *msg,
                      size_t msg_len, void *ud) {
    (void)level; (void)target; (void)ud;
    if (target_len > 0 && msg_len > 0 && msg[msg_len] == '\0') log_records++;
}

static int hook_calls = 0;
static int add_trace(const char *method, const char *url, fhir_headers_t *h, void *ud) {
    (void)method; (void)url; (void)ud;
    hook_calls++;
    return fhir_headers_add(h, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL) == FHIR_OK ? 0 : 1;
}

static void test_embedding(fhir_server_t *hapi) {
    fhir_server_t *slow = NULL, *scoped = NULL;
    fhir_options_t *o = tls_options();
    CHECK(fhir_server_new(need("FHIR_SLOW_URL"), o, &slow, NULL) == FHIR_OK, "slow handle");
    fhir_options_free(o);
    if (!slow) return;

    /* Cancelled before the call: fails at once. */
    fhir_cancel_t *c = fhir_cancel_new();
    fhir_cancel_trigger(c);
    CHECK(fhir_cancel_is_triggered(c), "triggered");
    CHECK(fhir_server_scope(slow, c, 0, &scoped, NULL) == FHIR_OK, "scope");
    CHECK(slow_get(scoped) == FHIR_ERR_CANCELLED, "cancelled before");
    fhir_server_free(scoped);
    fhir_cancel_free(c);

    /* Cancelled during the call, from another thread; the token freed before the scoped handle. */
    c = fhir_cancel_new();
    CHECK(fhir_server_scope(slow, c, 0, &scoped, NULL) == FHIR_OK, "scope");
    struct trigger_arg ta = { c, 300000 };
    pthread_t t;
    pthread_create(&t, NULL, trigger_later, &ta);
    double t0 = now_s();
    fhir_error_t *err = NULL;
    char *body = NULL;
    uint16_t status = 0;
    fhir_result rc = fhir_server_request(scoped, "GET", "anything", NULL, 0, &status, &body, NULL, &err);
    double took = now_s() - t0;
    pthread_join(t, NULL);
    CHECK(rc == FHIR_ERR_CANCELLED && fhir_error_code(err) == FHIR_ERR_CANCELLED, "cancelled during: %d %s", rc, emsg(err));
    CHECK(took < 5.0, "returned in %.2f s, not at the slow server's pace", took);
    CHECK(body == NULL, "no output on failure");
    fhir_error_free(err);
    fhir_cancel_free(c);
    fhir_server_free(scoped);

    /* A deadline on the slow server: FHIR_ERR_TIMEOUT; the call record says what happened. */
    CHECK(fhir_server_scope(slow, NULL, 300, &scoped, NULL) == FHIR_OK, "scope deadline");
    CHECK(slow_get(scoped) == FHIR_ERR_TIMEOUT, "deadline");
    fhir_call_info_t info;
    CHECK(fhir_server_last_call(scoped, &info, NULL) == FHIR_OK && info.requests == 1 && info.total_us >= 300000,
          "call record: %u requests, %llu us", info.requests, (unsigned long long)info.total_us);
    fhir_server_free(scoped);
    fhir_server_free(slow);

    /* Cancelled after the call: the call succeeded; later calls through the scope fail. The parent
       is freed before the scoped handle. */
    fhir_server_t *parent = NULL;
    CHECK(fhir_server_new(need("FHIR_HAPI_URL"), NULL, &parent, NULL) == FHIR_OK, "parent");
    c = fhir_cancel_new();
    CHECK(fhir_server_scope(parent, c, 0, &scoped, NULL) == FHIR_OK, "scope");
    CHECK(caps(scoped, NULL) == FHIR_OK, "before the cancel");
    fhir_cancel_trigger(c);
    fhir_server_free(parent);
    CHECK(caps(scoped, NULL) == FHIR_ERR_CANCELLED, "after the cancel");
    fhir_server_free(scoped);
    fhir_cancel_free(c);

    /* Threads racing a cancel on one token, each with its own scope on a shared handle. */
    c = fhir_cancel_new();
    pthread_t w[4];
    struct race_arg ra[4];
    for (int i = 0; i < 4; i++) {
        ra[i] = (struct race_arg){ hapi, c, 0, 0, 0 };
        pthread_create(&w[i], NULL, race_worker, &ra[i]);
    }
    struct trigger_arg rt = { c, 50000 };
    pthread_create(&t, NULL, trigger_later, &rt);
    pthread_join(t, NULL);
    int ok = 0, cancelled = 0, other = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i], NULL);
        ok += ra[i].ok; cancelled += ra[i].cancelled; other += ra[i].other;
    }
    CHECK(other == 0 && ok + cancelled == 20, "race: %d ok, %d cancelled, %d other", ok, cancelled, other);
    fhir_cancel_free(c);

    /* The process-wide log callback and a request hook. */
    CHECK(fhir_set_log_callback(FHIR_LOG_DEBUG, count_log, NULL, NULL) == FHIR_OK, "log callback");
    o = fhir_options_new();
    CHECK(fhir_options_set_request_hook(o, add_trace, NULL, NULL) == FHIR_OK, "hook");
    CHECK(fhir_options_set_search_post_threshold(o, 0, NULL) == FHIR_OK, "post threshold");
    CHECK(fhir_options_set_pool_max_idle_per_host(o, 0, NULL) == FHIR_OK, "pool");
    CHECK(fhir_options_set_pool_idle_timeout_ms(o, 1000, NULL) == FHIR_OK, "pool idle");
    fhir_server_t *hooked = NULL;
    CHECK(fhir_server_new(need("FHIR_HAPI_URL"), o, &hooked, NULL) == FHIR_OK, "hooked");
    fhir_options_free(o);
    char *json = NULL;
    CHECK(fhir_search_first(hooked, "Patient?_count=1", &json, NULL, NULL) == FHIR_OK, "posted search");
    fhir_string_free(json);
    CHECK(fhir_server_last_call(hooked, &info, NULL) == FHIR_OK && info.new_connections == 1 && info.status == 200,
          "record: %u new connections, status %u", info.new_connections, info.status);
    CHECK(hook_calls >= 1, "hook called %d times", hook_calls);
    CHECK(log_records >= 2, "%d log records", log_records);
    CHECK(fhir_set_log_callback(FHIR_LOG_OFF, NULL, NULL, NULL) == FHIR_OK, "log off");
    CHECK(fhir_set_log_callback(9, count_log, NULL, &err) == FHIR_ERR_INVALID_ARGUMENT, "bad level");
    fhir_error_free(err);
    fhir_server_free(hooked);
}

int main(void) {
    test_bad_arguments();
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    fhir_options_t *o = fhir_options_new();
    fhir_options_add_header(o, "X-Test-Suite", "c", NULL);
    CHECK(fhir_server_new(need("FHIR_HAPI_URL"), o, &s, &err) == FHIR_OK, "new: %s", emsg(err));
    fhir_options_free(o);
    if (s) {
        test_crud(s);
        test_search(s);
        test_threads(s);
        test_embedding(s);
        fhir_server_free(s);
    }
    test_auth_modes();
    test_smart();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
