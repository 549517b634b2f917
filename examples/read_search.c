/* Read and search: versioned read, error codes, the query builder, streaming pages.
 *   FHIR_API_URL=http://127.0.0.1:18080/fhir ./read_search */
#include <fhir_kindling.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_page(const char *bundle, size_t len, void *user_data) {
    int *pages = user_data;
    printf("  page %d: %zu bytes\n", ++*pages, len);
    (void)bundle;
    return *pages >= 3; /* stop after three pages */
}

int main(void) {
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    fhir_result rc = fhir_server_from_env(true, NULL, &s, &err);
    if (rc != FHIR_OK) { fprintf(stderr, "%s\n", fhir_error_message(err)); fhir_error_free(err); return 1; }

    const char *pat = "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:example-read\",\"value\":\"r1\"}]}";
    char *created = NULL, *json = NULL;
    if ((rc = fhir_resource_create(s, pat, strlen(pat), "identifier=urn:example-read%7Cr1", &created, NULL, &err)) != FHIR_OK) {
        fprintf(stderr, "create: %s\n", fhir_error_message(err));
        fhir_error_free(err);
        fhir_server_free(s);
        return 1;
    }
    char id[80] = {0}, ref[128];
    sscanf(strstr(created, "\"id\":\"") + 6, "%64[^\"]", id);
    fhir_string_free(created);
    snprintf(ref, sizeof ref, "Patient/%s/_history/1", id);
    rc = fhir_resource_read(s, ref, &json, NULL, &err);
    printf("read %s: %s\n", ref, rc == FHIR_OK ? "ok" : fhir_error_message(err));
    fhir_string_free(json);

    rc = fhir_resource_read(s, "Patient/no-such-patient", &json, NULL, &err);
    printf("read missing: %s (HTTP %u)\n", fhir_result_str(rc), fhir_error_http_status(err));
    fhir_error_free(err);
    err = NULL;

    const char *refs[] = {"Patient/no-such-patient", ref};
    if (fhir_resource_read_many(s, refs, 2, &json, NULL, &err) == FHIR_OK) { printf("read_many: %.160s...\n", json); fhir_string_free(json); }

    fhir_query_t *q = NULL;
    char *qs = NULL;
    fhir_query_new("Patient", &q, NULL);
    fhir_query_where(q, "birthdate", "ge", "1900-01-01", NULL);
    fhir_query_page_size(q, 10, NULL);
    fhir_query_build(q, &qs, NULL, NULL);
    fhir_query_free(q);
    int pages = 0;
    char *next = NULL;
    printf("streaming %s:\n", qs);
    if (fhir_search_pages(s, qs, on_page, &pages, &next, &err) != FHIR_OK) {
        /* On failure *next is the page that failed (or NULL): a caller could retry from it. */
        fprintf(stderr, "%s (retry from %s)\n", fhir_error_message(err), next ? next : "-");
        fhir_error_free(err);
        fhir_string_free(next);
        fhir_string_free(qs);
        fhir_server_free(s);
        return 1;
    }
    printf("stopped after %d pages; resume at %s\n", pages, next ? next : "(end)");
    fhir_string_free(next);
    fhir_string_free(qs);
    fhir_server_free(s);
    return 0;
}
