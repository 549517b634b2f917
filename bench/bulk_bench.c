/* Bulk export benchmark client: one whole export (kick-off, wait, download) through
 * fhir_bulk_export() with a line callback, or the download into a directory; prints the totals,
 * the wall time and the peak resident set (VmHWM of /proc/self/status).
 *   bulk_bench BASE_URL callback|dir PARALLEL [DIR]     (bench/bulk.sh runs it) */
#define _POSIX_C_SOURCE 200809L
#include <fhir_kindling.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tally {
    unsigned long long lines, bytes, checksum;
};

static int on_line(const char *line, size_t len, const char *type, fhir_bulk_file_kind kind, size_t file,
                   void *ud) {
    struct tally *t = ud;
    (void)type; (void)kind; (void)file;
    t->lines++;
    t->bytes += len;
    t->checksum += (unsigned char)line[len / 2]; /* touch the line, as a consumer would */
    return 0;
}

static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char buf[256];
    long kb = -1;
    while (f && fgets(buf, sizeof buf, f))
        if (strncmp(buf, "VmHWM:", 6) == 0) kb = strtol(buf + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BASE_URL callback|dir PARALLEL [DIR]\n", argv[0]);
        return 2;
    }
    fhir_server_t *s = NULL;
    fhir_error_t *err = NULL;
    if (fhir_server_new(argv[1], NULL, &s, &err) != FHIR_OK) {
        fprintf(stderr, "%s\n", fhir_error_message(err));
        return 1;
    }
    fhir_bulk_t *b = fhir_bulk_new();
    fhir_bulk_set_poll_interval_ms(b, 10, 100, NULL);
    fhir_bulk_set_parallel(b, (size_t)atoi(argv[3]), NULL);
    struct tally t = { 0, 0, 0 };
    fhir_bulk_summary_t sum;
    double t0 = now();
    fhir_result rc;
    if (strcmp(argv[2], "dir") == 0) {
        char *status = NULL, *manifest = NULL;
        size_t len = 0;
        rc = fhir_bulk_kickoff(s, b, &status, &err);
        if (rc == FHIR_OK) rc = fhir_bulk_wait(s, b, status, &manifest, &len, &err);
        if (rc == FHIR_OK) rc = fhir_bulk_download_to_dir(s, b, manifest, len, argc > 4 ? argv[4] : "bulk-out", &sum, &err);
        t.lines = sum.resources + sum.errors + sum.deleted;
        t.bytes = sum.bytes;
        fhir_string_free(manifest);
        fhir_string_free(status);
    } else {
        rc = fhir_bulk_export(s, b, on_line, &t, NULL, &sum, &err);
    }
    double secs = now() - t0;
    if (rc != FHIR_OK) {
        fprintf(stderr, "%s: %s\n", fhir_result_str(rc), err ? fhir_error_message(err) : "");
        return 1;
    }
    printf("mode=%s parallel=%s files=%llu resources=%llu bytes=%llu secs=%.3f res_per_s=%.0f mb_per_s=%.1f vmhwm_kb=%ld\n",
           argv[2], argv[3], (unsigned long long)sum.files, t.lines, t.bytes, secs, t.lines / secs,
           t.bytes / secs / 1e6, vm_hwm_kb());
    fhir_bulk_free(b);
    fhir_server_free(s);
    return 0;
}
