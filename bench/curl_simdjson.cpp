/*
 * A validating floor for bench/stream_bench.c (not a test; built and run by bench/run.sh): what a
 * C++ programmer would write by hand to page a search and know that every page is JSON. libcurl
 * as in bench/curl_pages.c (one easy handle reused, each body into a buffer kept from page to
 * page), and each page parsed by simdjson's DOM parser (stage 1 and 2: UTF-8, every token, the
 * grammar, nesting), the `next` link read from the parsed document.
 *
 *   curl_simdjson pages URL      follow `next` links from URL
 *   curl_simdjson warm URL       the warm-up alone (the fixed cost subtracted from the
 *                                instruction count of `pages`)
 *
 * Prints `mode=curl-simdjson pages= bytes= requests= resources=` then the measure.h figures
 * (resources: the sizes of the parsed `entry` arrays, a few instructions per page).
 */
#include "measure.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <string>

namespace {

struct Buf {
    char *data = nullptr;
    size_t len = 0, cap = 0;
};

// Room for the body and simdjson's padding after it (it reads up to SIMDJSON_PADDING bytes past
// the end), grown by doubling as curl_pages grows its buffer.
size_t on_data(char *p, size_t size, size_t n, void *ud) {
    Buf *b = static_cast<Buf *>(ud);
    size_t add = size * n;
    if (b->len + add + simdjson::SIMDJSON_PADDING > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : size_t(1) << 16;
        while (cap < b->len + add + simdjson::SIMDJSON_PADDING) cap *= 2;
        char *d = static_cast<char *>(realloc(b->data, cap));
        if (d == nullptr) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    return add;
}

int fetch(CURL *c, Buf *b, const std::string &url) {
    b->len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_simdjson: %s: %s\n", url.c_str(), curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

// The page parsed; its `next` link into `next` (empty when there is none), its entries counted.
// -1 when the page is not JSON or not a Bundle.
int read_page(simdjson::dom::parser &parser, const Buf &b, std::string &next,
              unsigned long long &entries) {
    simdjson::dom::element doc;
    if (parser.parse(b.data, b.len, false).get(doc) != simdjson::SUCCESS) return -1;
    std::string_view rt;
    if (doc["resourceType"].get_string().get(rt) != simdjson::SUCCESS || rt != "Bundle") return -1;
    next.clear();
    simdjson::dom::array links;
    if (doc["link"].get_array().get(links) == simdjson::SUCCESS) {
        for (simdjson::dom::element link : links) {
            std::string_view relation, url;
            if (link["relation"].get_string().get(relation) == simdjson::SUCCESS &&
                relation == "next" && link["url"].get_string().get(url) == simdjson::SUCCESS) {
                next.assign(url);
                break;
            }
        }
    }
    simdjson::dom::array entry;
    if (doc["entry"].get_array().get(entry) == simdjson::SUCCESS) entries += entry.size();
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "pages") != 0 && strcmp(argv[1], "warm") != 0)) {
        fprintf(stderr, "usage: curl_simdjson pages|warm URL\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Buf b;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    simdjson::dom::parser parser;
    std::string url = argv[2], next;
    unsigned long long pages = 0, bytes = 0, entries = 0, warm = 0;
    // Warm-up: the connection is open and the parser's buffers are allocated for a page, as the
    // library's handle is set up before its measured call.
    if (fetch(c, &b, url) != 0 || read_page(parser, b, next, warm) != 0) return 1;
    if (strcmp(argv[1], "warm") == 0) {
        printf("mode=curl-simdjson-warm resources=%llu\n", warm);
        return 0;
    }
    bench_span s;
    bench_begin(&s);
    for (;;) {
        if (fetch(c, &b, url) != 0) return 1;
        pages++;
        bytes += b.len;
        if (read_page(parser, b, next, entries) != 0) {
            fprintf(stderr, "curl_simdjson: page %llu is not a JSON Bundle\n", pages);
            return 1;
        }
        if (next.empty()) break;
        url = next;
    }
    bench_end(&s);
    printf("mode=curl-simdjson pages=%llu bytes=%llu requests=%llu resources=%llu", pages, bytes,
           pages, entries);
    bench_print(&s);
    printf(" version=simdjson-%d.%d.%d\n", int(simdjson::SIMDJSON_VERSION_MAJOR),
           int(simdjson::SIMDJSON_VERSION_MINOR), int(simdjson::SIMDJSON_VERSION_REVISION));
    curl_easy_cleanup(c);
    free(b.data);
    return 0;
}
