// The non-throwing half of include/fhir_kindling.hpp, built with -fno-exceptions (as code bases
// without exceptions build it): only the try_ forms exist there. Against the real HAPI server
// (FHIR_HAPI_URL); exits non-zero on the first failed check.
#include <fhir_kindling.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#if FHIR_KINDLING_HPP_EXCEPTIONS
#error "this test must be built with -fno-exceptions"
#endif

static int failures = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

int main() {
    const char *url = std::getenv("FHIR_HAPI_URL");
    if (!url) {
        std::fprintf(stderr, "FHIR_HAPI_URL is not set\n");
        return 2;
    }
    auto bad = fhir::Server::try_open("not a url");
    CHECK(!bad.ok() && bad.code() == FHIR_ERR_INVALID_ARGUMENT);

    auto server = fhir::Server::try_open(url);
    CHECK(server.ok());
    if (!server.ok())
        return 1;
    const fhir::Server &s = server.value();

    // A family name of this run only, so that the searches below see this run's patients alone.
    const std::string family = "NoExcept" + std::to_string(std::time(nullptr)) + std::to_string(std::rand());
    const std::string body_json = R"({"resourceType":"Patient","name":[{"family":")" + family + R"("}]})";
    auto created = s.try_create(body_json);
    auto second = s.try_create(body_json);
    CHECK(second.ok());
    CHECK(created.ok());
    std::string body(created.ok() ? created.value().view() : std::string_view());
    auto at = body.find("\"id\":\"");
    CHECK(at != std::string::npos);
    std::string id = body.substr(at + 6, body.find('"', at + 6) - at - 6);

    auto read = s.try_read("Patient/" + id);
    CHECK(read.ok() && read.value().view().find(family) != std::string_view::npos);

    auto missing = s.try_read("Patient/noexcept-missing-0");
    CHECK(!missing.ok());
    CHECK(missing.code() == FHIR_ERR_NOT_FOUND);
    CHECK(missing.error().http_status() == 404);
    CHECK(missing.error().body().find("OperationOutcome") != std::string_view::npos);
    CHECK(missing.error_code() == fhir::make_error_code(FHIR_ERR_NOT_FOUND));

    int pages = 0;
    auto paged = s.try_search_pages("Patient?family:exact=" + family + "&_count=1", [&](std::string_view) { return ++pages < 1; });
    CHECK(paged.ok() && pages == 1 && !paged.value().exhausted()); // stopped after page 1 of 2
    if (paged.ok()) {
        int rest = 0;
        auto more = s.try_search_pages(paged.value().next_url.view(), [&](std::string_view) { ++rest; });
        CHECK(more.ok() && rest == 1 && more.value().exhausted());
    }

    auto q = fhir::Query::try_make("Patient");
    CHECK(q.ok());
    CHECK(q.value().try_where("family", ":exact", family).ok());
    CHECK(q.value().try_where("bad name", {}, "x").code() == FHIR_ERR_INVALID_ARGUMENT);
    auto n = s.try_search_count(q.value());
    CHECK(n.ok() && n.value() == 2);

    CHECK(s.try_remove("Patient/" + id).ok());
    CHECK(s.try_remove_by_query("Patient?family:exact=" + family).ok());

    fhir::Cancel cancel;
    cancel.trigger();
    auto scoped = s.try_scope(cancel);
    CHECK(scoped.ok() && scoped.value().try_capabilities().code() == FHIR_ERR_CANCELLED);
    auto info = scoped.value().try_last_call();
    CHECK(info.ok());
    std::printf("noexcept: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
