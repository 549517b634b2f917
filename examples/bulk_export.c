/* Bulk Data $export, step by step: kick off, keep the status URL (a later run could resume from it),
 * wait with progress reports (HAPI's "Retry-After: 120" clamped to 2 s), stream every NDJSON line
 * through a callback, save the files into a directory, then tell the server it may delete them.
 * It exports the Patients that examples/upload.c creates (a _typeFilter); drop the filter for all.
 *   FHIR_API_URL=http://127.0.0.1:18080/fhir ./bulk_export [dir] */
#include <fhir_kindling.h>

#include <stdio.h>
#include <string.h>

struct tally {
    unsigned long long resources, errors, bytes;
};

static void on_progress(const char *progress, uint64_t next_poll_ms, void *ud) {
    (void)ud;
    printf("  in progress (%s), next poll in %llu ms\n", progress ? progress : "no X-Progress",
           (unsigned long long)next_poll_ms);
}

static int on_line(const char *line, size_t len, const char *type, fhir_bulk_file_kind kind, size_t file,
                   void *ud) {
    struct tally *t = ud;
    (void)line; (void)file;
    if (kind == FHIR_BULK_ERROR) {
        ++t->errors;
        fprintf(stderr, "  export error: %.*s\n", (int)(len < 200 ? len : 200), line);
    } else if (strcmp(type, "Patient") == 0) {
        ++t->resources;
    }
    t->bytes += len;
    return 0; /* non-zero would stop the download */
}

static void report(const char *what, fhir_result rc, fhir_error_t *err) {
    fprintf(stderr, "%s: %s: %s\n", what, fhir_result_str(rc), err ? fhir_error_message(err) : "");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "target/c/bulk_export.out";
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    fhir_result rc = fhir_server_from_env(true, NULL, &s, &err);
    if (rc != FHIR_OK) {
        report("connect", rc, err);
        fhir_error_free(err);
        return 1;
    }

    fhir_bulk_t *b = fhir_bulk_new();
    fhir_bulk_add_type(b, "Patient", NULL);
    fhir_bulk_add_type_filter(b, "Patient?identifier=urn:example-upload|", NULL);
    fhir_bulk_set_poll_interval_ms(b, 200, 2000, NULL); /* however long Retry-After says */
    fhir_bulk_set_timeout_ms(b, 300000, NULL);
    fhir_bulk_set_progress_callback(b, on_progress, NULL, NULL);

    char *status_url = NULL, *manifest = NULL;
    size_t len = 0;
    struct tally t = { 0, 0, 0 };
    fhir_bulk_summary_t sum = { 0 };
    bool gone = false;
    const char *step = "kick-off";
    if ((rc = fhir_bulk_kickoff(s, b, &status_url, &err)) != FHIR_OK) goto out;
    printf("status URL: %s\n", status_url); /* store it to resume after a restart */
    step = "wait";
    if ((rc = fhir_bulk_wait(s, b, status_url, &manifest, &len, &err)) != FHIR_OK) goto out;
    printf("manifest: %zu bytes\n", len);

    step = "download";
    if ((rc = fhir_bulk_download(s, b, manifest, len, on_line, &t, &sum, &err)) != FHIR_OK) goto out;
    printf("streamed %llu files: %llu Patients (%llu bytes), %llu error lines\n",
           (unsigned long long)sum.files, t.resources, t.bytes, t.errors);

    step = "download to directory";
    if ((rc = fhir_bulk_download_to_dir(s, b, manifest, len, dir, &sum, &err)) != FHIR_OK) goto out;
    printf("saved %llu files into %s\n", (unsigned long long)sum.files, dir);

    step = "delete";
    if ((rc = fhir_bulk_cancel(s, status_url, &gone, &err)) != FHIR_OK) goto out; /* done: files may go */
    printf("export %s\n", gone ? "already gone" : "deleted on the server");

out:
    if (rc != FHIR_OK) report(step, rc, err);
    fhir_error_free(err);
    fhir_string_free(manifest);
    fhir_string_free(status_url);
    fhir_bulk_free(b);
    fhir_server_free(s);
    return rc == FHIR_OK && t.resources == sum.resources ? 0 : 1;
}
