/* Update and delete: update with a version check, conditional update, history, delete by
 * reference, by several references, by query.
 *   FHIR_API_URL=http://127.0.0.1:18080/fhir ./update_delete */
#include <fhir_kindling.h>

#include <stdio.h>
#include <string.h>

static void id_of(const char *json, char *ref, size_t n) {
    char id[80] = {0};
    const char *p = strstr(json, "\"id\":\"");
    if (p) { sscanf(p + 6, "%64[^\"]", id); }
    snprintf(ref, n, "Patient/%s", id);
}

int main(void) {
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    if (fhir_server_from_env(true, NULL, &s, &err) != FHIR_OK) { fprintf(stderr, "%s\n", fhir_error_message(err)); fhir_error_free(err); return 1; }
    char *out = NULL, ref[128], ref2[128], body[256];
    const char *p = "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:example-upd\",\"value\":\"1\"}]}";
    if (fhir_resource_create(s, p, strlen(p), NULL, &out, NULL, &err) != FHIR_OK) {
        fprintf(stderr, "%s\n", fhir_error_message(err));
        fhir_error_free(err);
        fhir_server_free(s);
        return 1;
    }
    id_of(out, ref, sizeof ref);
    fhir_string_free(out);

    snprintf(body, sizeof body, "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"active\":true}", ref + 8);
    fhir_result rc = fhir_resource_update(s, body, strlen(body), "1", &out, NULL, &err);
    printf("update with If-Match 1: %s\n", fhir_result_str(rc));
    fhir_string_free(out);
    rc = fhir_resource_update(s, body, strlen(body), "1", &out, NULL, &err);
    printf("again with the stale version: %s (HTTP %u)\n", fhir_result_str(rc), fhir_error_http_status(err));
    fhir_error_free(err);
    err = NULL;

    const char *c = "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:example-upd\",\"value\":\"2\"}],\"active\":false}";
    rc = fhir_resource_update_conditional(s, c, strlen(c), "identifier=urn:example-upd%7C2", &out, NULL, &err);
    printf("conditional update (creates): %s\n", fhir_result_str(rc));
    id_of(out ? out : "", ref2, sizeof ref2);
    fhir_string_free(out);

    if (fhir_history(s, ref, 0, &out, NULL, &err) == FHIR_OK) { printf("history of %s: %.80s...\n", ref, out); fhir_string_free(out); }

    const char *refs[] = {ref, ref2};
    if (fhir_resource_delete_many(s, refs, 2, &out, NULL, &err) == FHIR_OK) { printf("delete_many: %s\n", out); fhir_string_free(out); }
    rc = fhir_resource_read(s, ref, &out, NULL, &err);
    printf("read after delete: %s\n", fhir_result_str(rc));
    fhir_error_free(err);
    err = NULL;
    rc = fhir_resource_delete_by_query(s, "Patient?identifier=urn:example-upd%7C", &err);
    printf("delete by query: %s\n", fhir_result_str(rc));
    fhir_error_free(err);
    fhir_server_free(s);
    return 0;
}
