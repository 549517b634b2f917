/* Upload: create, conditional create, create_all in transaction batches, a caller-built batch.
 *   FHIR_API_URL=http://127.0.0.1:18080/fhir ./upload */
#include <fhir_kindling.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    if (fhir_server_from_env(true, NULL, &s, &err) != FHIR_OK) { fprintf(stderr, "%s\n", fhir_error_message(err)); fhir_error_free(err); return 1; }

    /* 250 patients in batches of 100: three transactions. */
    size_t cap = 250 * 160 + 16, n = 0;
    char *arr = malloc(cap);
    n += (size_t)snprintf(arr + n, cap - n, "[");
    for (int i = 0; i < 250; i++) {
        n += (size_t)snprintf(arr + n, cap - n, "%s{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:example-upload\",\"value\":\"u%d\"}]}", i ? "," : "", i);
    }
    n += (size_t)snprintf(arr + n, cap - n, "]");
    char *out = NULL;
    fhir_result rc = fhir_resource_create_all(s, arr, n, 100, &out, NULL, &err);
    free(arr);
    if (rc != FHIR_OK) {
        fprintf(stderr, "create_all: %s\n", fhir_error_message(err));
        fhir_error_free(err);
        fhir_server_free(s);
        return 1;
    }
    printf("create_all: %.120s...\n", out);
    fhir_string_free(out);

    const char *cond = "{\"resourceType\":\"Organization\",\"name\":\"Example Hospital\",\"identifier\":[{\"system\":\"urn:example-upload\",\"value\":\"org\"}]}";
    for (int i = 0; i < 2; i++) {
        rc = fhir_resource_create(s, cond, strlen(cond), "identifier=urn:example-upload%7Corg", &out, NULL, &err);
        if (rc != FHIR_OK) {
            fprintf(stderr, "create: %s\n", fhir_error_message(err));
            fhir_error_free(err);
            fhir_server_free(s);
            return 1;
        }
        printf("conditional create #%d: %.100s\n", i + 1, out);
        fhir_string_free(out);
    }

    /* A caller-built bundle whose bad entry fails the whole transaction, with the OperationOutcome. */
    const char *bad = "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"gender\":\"not-a-gender\"},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}";
    rc = fhir_bundle_send(s, bad, strlen(bad), &out, NULL, &err);
    printf("invalid transaction: %s, HTTP %u\n  %.200s\n", fhir_result_str(rc), fhir_error_http_status(err), fhir_error_message(err));
    fhir_error_free(err);
    uint64_t count = 0;
    fhir_search_count(s, "Patient?identifier=urn:example-upload%7C", &count, NULL);
    printf("patients uploaded by this example so far: %llu\n", (unsigned long long)count);
    fhir_server_free(s);
    return rc == FHIR_OK ? 1 : 0;
}
