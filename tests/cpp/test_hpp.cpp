// GoogleTest suite of include/fhir_kindling.hpp against the real services (tests/servers):
// HAPI FHIR directly (FHIR_HAPI_URL) and behind nginx with TLS and basic auth (FHIR_NGINX_HTTPS,
// FHIR_TEST_CA, FHIR_BASIC_USER/PASSWORD). Run by CTest (tests/cpp/CMakeLists.txt), plain and under
// AddressSanitizer/LeakSanitizer, which fail the run on a leaked or twice-freed library buffer.
#include <fhir_kindling.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(std::string("environment variable ") + name +
                                 " is not set: source tests/servers/services.sh env");
    return v;
}

// A tag unique to this run, so that searches only see the resources this run created.
const std::string &run_tag() {
    static const std::string tag = [] {
        std::random_device rd;
        auto now = std::chrono::steady_clock::now().time_since_epoch().count();
        return "cxx" + std::to_string(rd() ^ static_cast<unsigned>(now));
    }();
    return tag;
}

std::string patient(const std::string &family, const std::string &given = "Ann") {
    return R"({"resourceType":"Patient","name":[{"family":")" + family + R"(","given":[")" + given +
           R"("]}],"identifier":[{"system":"urn:fhir-kindling:cxx","value":")" + run_tag() + R"("}]})";
}

// The value of a top-level (or first) string field: enough to pick ids out of small resources.
std::string field(std::string_view json, std::string_view name) {
    std::string key = "\"" + std::string(name) + "\":\"";
    auto at = json.find(key);
    if (at == std::string_view::npos)
        return {};
    at += key.size();
    auto end = json.find('"', at);
    return std::string(json.substr(at, end - at));
}

std::size_t count_of(std::string_view hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + needle.size()))
        ++n;
    return n;
}

class Hapi : public ::testing::Test {
  protected:
    fhir::Server server = fhir::Server::open(env("FHIR_HAPI_URL"));
};

struct Boom : std::runtime_error {
    int page;
    explicit Boom(int p) : std::runtime_error("boom"), page(p) {}
};

} // namespace

TEST(Basics, VersionMatchesHeader) {
    std::string want = std::to_string(FHIR_KINDLING_VERSION_MAJOR) + "." + std::to_string(FHIR_KINDLING_VERSION_MINOR) +
                       "." + std::to_string(FHIR_KINDLING_VERSION_PATCH);
    EXPECT_EQ(fhir::version(), want);
    EXPECT_EQ(fhir::make_error_code(FHIR_ERR_NOT_FOUND).category().name(), std::string("fhir_kindling"));
    EXPECT_EQ(fhir::make_error_code(FHIR_ERR_NOT_FOUND).message(), std::string(fhir::result_str(FHIR_ERR_NOT_FOUND)));
}

TEST(Basics, BadUrlThrowsInvalidArgument) {
    try {
        (void)fhir::Server::open("not a url");
        FAIL() << "no exception";
    } catch (const fhir::Error &e) {
        EXPECT_EQ(e.code(), FHIR_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(e.http_status(), 0);
        EXPECT_TRUE(e.body().empty());
        EXPECT_FALSE(std::string(e.what()).empty());
    }
    auto r = fhir::Server::try_open("ftp://host/fhir");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), FHIR_ERR_INVALID_ARGUMENT);
}

TEST(Basics, EmbeddedNulIsRefusedNotTruncated) {
    using namespace std::string_literals;
    auto r = fhir::Server::try_open("http://127.0.0.1:1/fhir\0/evil"s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), FHIR_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(r.error().what()).find("NUL"), std::string::npos);
    EXPECT_EQ(r.error().native(), nullptr);
}

TEST(Basics, OptionsRejectBadValuesWithTheLibraryMessage) {
    fhir::Options o;
    auto r = o.try_set_retry_status_codes({200, 700});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), FHIR_ERR_INVALID_ARGUMENT);
    EXPECT_NE(r.error().native(), nullptr);
    EXPECT_THROW(o.set_proxy("gopher", "http://127.0.0.1:1"), fhir::Error);
    // Chaining, every setter once with a valid value.
    o.add_header("X-Test", "1")
        .set_timeout_ms(30000)
        .set_connect_timeout_ms(5000)
        .set_system_roots(true)
        .set_insecure_skip_tls_verify(false)
        .set_retry_status_codes({503})
        .set_retry_methods("GET,PUT")
        .set_retry_max_attempts(2)
        .set_retry_backoff_factor(0.01)
        .set_retry_jitter(0.1)
        .set_retry_max_backoff_wait(0.1)
        .set_user_agent("fhir-kindling-cxx-test")
        .set_oidc_scope("system/*.read")
        .set_oidc_auth_method("client_secret_post")
        .set_allow_foreign_links(false)
        .set_max_response_bytes(64 << 20)
        .set_max_result_bytes(64 << 20)
        .set_max_pages(1000)
        .set_smart_key_id("k1")
        .set_smart_algorithm("RS384")
        .set_smart_scope("system/*.rs")
        .set_smart_token_url("http://127.0.0.1:1/token")
        .set_smart_jku("https://example.org/jwks.json");
    auto s = fhir::Server::open("http://127.0.0.1:1/fhir", &o);
    EXPECT_EQ(s.base_url(), "http://127.0.0.1:1/fhir");
}

TEST(Basics, QueryBuilder) {
    fhir::Query q("Patient");
    q.where("birthdate", "gt", "2000-01-01")
        .where("name", ":exact", "Eve Smith")
        .param("_tag", "a|b")
        .include("Patient:organization")
        .revinclude("Observation:subject", true)
        .has("Observation:patient:code", "http://loinc.org|8867-4")
        .sort("-birthdate")
        .elements("name,birthDate")
        .summary("data")
        .page_size(50);
    fhir::Json s = q.build();
    EXPECT_EQ(s.view().substr(0, 8), "Patient?");
    EXPECT_NE(s.view().find("birthdate=gt2000-01-01"), std::string_view::npos);
    EXPECT_NE(s.view().find("name:exact=Eve%20Smith"), std::string_view::npos) << s.view();
    EXPECT_NE(s.view().find("_count=50"), std::string_view::npos);
    EXPECT_EQ(std::strlen(s.c_str()), s.size());
    EXPECT_THROW(fhir::Query("Pat ient"), fhir::Error);
    auto bad = q.try_where("bad name", {}, "x");
    EXPECT_EQ(bad.code(), FHIR_ERR_INVALID_ARGUMENT);
}

TEST(Basics, JsonOwnsAndMoves) {
    fhir::Query q("Patient");
    fhir::Json a = q.build();
    const char *p = a.data();
    fhir::Json b = std::move(a);
    EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): moved-from is null by contract
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(b.data(), p); // no copy: the library's buffer moved
    char *raw = b.release();
    EXPECT_FALSE(b);
    fhir::Json c(raw, std::strlen(raw)); // adopt it again: freed once, by c
    EXPECT_EQ(c, "Patient");
}

TEST(Basics, SmartPublicJwks) {
    fhir::Json jwks = fhir::smart_public_jwks(env("FHIR_SMART_EC_KEY"), "kid-1");
    EXPECT_NE(jwks.view().find("\"crv\":\"P-384\""), std::string_view::npos);
    auto bad = fhir::try_smart_public_jwks(env("FHIR_SMART_EC_KEY"), "kid-1", "RS384");
    EXPECT_EQ(bad.code(), FHIR_ERR_INVALID_ARGUMENT);
}

TEST_F(Hapi, CreateReadUpdateDelete) {
    fhir::Json created = server.create(patient("Crud-" + run_tag()));
    std::string id = field(created.view(), "id");
    ASSERT_FALSE(id.empty()) << created.view();
    std::string ref = "Patient/" + id;

    fhir::Json read = server.read(ref);
    EXPECT_NE(read.view().find("Crud-" + run_tag()), std::string_view::npos);

    std::string changed = patient("Crud2-" + run_tag());
    changed.insert(1, "\"id\":\"" + id + "\",");
    fhir::Json updated = server.update(changed, "1");
    EXPECT_EQ(field(updated.view(), "versionId"), "2");

    // A stale If-Match: 412 with HAPI's OperationOutcome.
    try {
        server.update(changed, "1");
        FAIL() << "stale update accepted";
    } catch (const fhir::Error &e) {
        EXPECT_EQ(e.code(), FHIR_ERR_CONFLICT);
        EXPECT_TRUE(e.http_status() == 412 || e.http_status() == 409) << e.http_status(); // HAPI: 409
        EXPECT_NE(e.body().find("OperationOutcome"), std::string_view::npos) << e.body();
    }

    server.remove(ref);
    try {
        server.read(ref);
        FAIL() << "read after delete succeeded";
    } catch (const fhir::Error &e) {
        EXPECT_EQ(e.code(), FHIR_ERR_GONE);
        EXPECT_EQ(e.http_status(), 410);
        EXPECT_NE(e.body().find("OperationOutcome"), std::string_view::npos);
    }
}

TEST_F(Hapi, ConditionalCreateUpdateAndDeleteByQuery) {
    std::string ident = "cond-" + run_tag();
    std::string body = R"({"resourceType":"Patient","identifier":[{"system":"urn:cxx","value":")" + ident + R"("}]})";
    fhir::Json a = server.create(body, "identifier=urn:cxx%7C" + ident);
    fhir::Json b = server.create(body, "Patient?identifier=urn:cxx%7C" + ident);
    EXPECT_EQ(field(a.view(), "id"), field(b.view(), "id")); // the second matched the first
    fhir::Json u = server.update_conditional(
        R"({"resourceType":"Patient","active":true,"identifier":[{"system":"urn:cxx","value":")" + ident + R"("}]})",
        "Patient?identifier=urn:cxx%7C" + ident);
    EXPECT_EQ(field(u.view(), "id"), field(a.view(), "id"));
    server.remove_by_query("Patient?identifier=urn:cxx%7C" + ident);
    EXPECT_EQ(server.search_count("Patient?identifier=urn:cxx%7C" + ident), 0u);
}

TEST_F(Hapi, NotFoundCarriesOperationOutcome) {
    try {
        server.read("Patient/cxx-missing-" + run_tag());
        FAIL() << "no exception";
    } catch (const fhir::Error &e) {
        EXPECT_EQ(e.code(), FHIR_ERR_NOT_FOUND);
        EXPECT_EQ(e.http_status(), 404);
        EXPECT_NE(e.body().find("\"resourceType\""), std::string_view::npos);
        EXPECT_NE(e.body().find("OperationOutcome"), std::string_view::npos);
        EXPECT_EQ(e.error_code(), fhir::make_error_code(FHIR_ERR_NOT_FOUND));
    }
}

TEST_F(Hapi, NonThrowingApi) {
    auto missing = server.try_read("Patient/cxx-missing-" + run_tag());
    ASSERT_FALSE(missing.ok());
    EXPECT_FALSE(static_cast<bool>(missing));
    EXPECT_EQ(missing.code(), FHIR_ERR_NOT_FOUND);
    EXPECT_EQ(missing.error().http_status(), 404);
    EXPECT_NE(missing.error().body().find("OperationOutcome"), std::string_view::npos);
    EXPECT_THROW(missing.value(), fhir::Error); // value() of a failure throws the error

    auto created = server.try_create(patient("NoThrow-" + run_tag()));
    ASSERT_TRUE(created.ok()) << created.error().what();
    std::string ref = "Patient/" + field(created.value().view(), "id");
    auto read = server.try_read(ref);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(field(read->view(), "id"), field(created->view(), "id"));
    auto bad_json = server.try_create("{not json");
    EXPECT_EQ(bad_json.code(), FHIR_ERR_JSON);
    EXPECT_TRUE(server.try_remove(ref).ok());
    auto count = server.try_search_count("Patient?_id=" + ref.substr(8));
    ASSERT_TRUE(count.ok());
    EXPECT_EQ(count.value(), 0u);
}

class HapiSearch : public Hapi {
  protected:
    static constexpr int kPatients = 7;
    std::string family = "Search-" + run_tag();

    void SetUp() override {
        std::string bundle = "[";
        for (int i = 0; i < kPatients; ++i)
            bundle += (i ? "," : "") + patient(family, "G" + std::to_string(i));
        bundle += "]";
        fhir::Json out = server.create_all(bundle, 3);
        ASSERT_EQ(count_of(out.view(), "\"Patient/"), static_cast<std::size_t>(kPatients)) << out.view();
    }
    void TearDown() override { server.remove_by_query("Patient?family=" + family); }

    fhir::Query query(std::uint32_t page) const {
        fhir::Query q("Patient");
        q.where("family", ":exact", family).page_size(page);
        return q;
    }
};

TEST_F(HapiSearch, AllLimitFirstCount) {
    fhir::Query q = query(3);
    EXPECT_EQ(server.search_count(q), static_cast<std::uint64_t>(kPatients));
    fhir::Json all = server.search_all(q);
    EXPECT_EQ(count_of(all.view(), "\"resourceType\":\"Patient\""), static_cast<std::size_t>(kPatients));
    fhir::Json some = server.search_limit(q, 4);
    EXPECT_EQ(count_of(some.view(), "\"resourceType\":\"Patient\""), 4u);
    fhir::Json first = server.search_first(q);
    EXPECT_EQ(count_of(first.view(), "\"resourceType\":\"Patient\""), 3u);
}

TEST_F(HapiSearch, PagesAndResources) {
    fhir::Json q = query(3).build();
    int pages = 0;
    fhir::Paging p = server.search_pages(q.view(), [&](std::string_view page) {
        EXPECT_NE(page.find("\"searchset\""), std::string_view::npos);
        ++pages;
    });
    EXPECT_EQ(pages, 3); // 3 + 3 + 1
    EXPECT_TRUE(p.exhausted());

    // Stop after the first page: the resume URL leads to the rest.
    pages = 0;
    fhir::Paging stopped = server.search_pages(q.view(), [&](std::string_view) { return ++pages < 1; });
    EXPECT_EQ(pages, 1);
    ASSERT_FALSE(stopped.exhausted());
    std::vector<std::string> modes;
    std::function<bool(std::string_view, std::string_view)> collect = [&](std::string_view res, std::string_view mode) {
        EXPECT_NE(res.find("\"Patient\""), std::string_view::npos);
        modes.emplace_back(mode);
        return true;
    };
    fhir::Paging rest = server.search_resources(stopped.next_url.view(), collect);
    EXPECT_TRUE(rest.exhausted());
    EXPECT_EQ(modes.size(), static_cast<std::size_t>(kPatients - 3));
    for (const auto &m : modes)
        EXPECT_EQ(m, "match");
}

TEST_F(HapiSearch, CallbackExceptionIsRethrownAfterTheCall) {
    fhir::Json q = query(2).build();
    int pages = 0;
    try {
        server.search_pages(q.view(), [&](std::string_view) {
            ++pages;
            throw Boom(pages);
        });
        FAIL() << "exception swallowed";
    } catch (const Boom &b) {
        EXPECT_EQ(b.page, 1);
    }
    EXPECT_EQ(pages, 1); // the search stopped at the throw

    int resources = 0;
    EXPECT_THROW(server.search_resources(q.view(),
                                         [&](std::string_view, std::string_view) {
                                             if (++resources == 3)
                                                 throw std::out_of_range("third");
                                         }),
                 std::out_of_range);
    EXPECT_EQ(resources, 3);

    // The try_ form rethrows the callback's own exception too: it is the caller's, not a library error.
    EXPECT_THROW((void)server.try_search_pages(q.view(), [](std::string_view) { throw Boom(0); }), Boom);
    // And the handle is fine afterwards.
    EXPECT_EQ(server.search_count(q.view()), static_cast<std::uint64_t>(kPatients));
}

TEST_F(HapiSearch, ConcurrentCallsOnOneHandle) {
    fhir::Json q = query(50).build();
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5; ++i) {
                auto r = (t + i) % 2 ? server.try_search_count(q.view())
                                     : fhir::Result<std::uint64_t>(
                                           count_of(server.try_search_all(q.view()).value().view(), "\"Patient\""));
                if (r.ok() && r.value() == static_cast<std::uint64_t>(kPatients))
                    ++ok;
                else
                    ++failed;
            }
        });
    }
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(ok.load(), 40);
    EXPECT_EQ(failed.load(), 0);
}

TEST_F(Hapi, ManyBundleHistoryOperationRequestCapabilities) {
    fhir::Json a = server.create(patient("Many-" + run_tag()));
    fhir::Json b = server.create(patient("Many-" + run_tag()));
    std::string ra = "Patient/" + field(a.view(), "id"), rb = "Patient/" + field(b.view(), "id");
    std::string missing = "Patient/cxx-missing-" + run_tag();
    fhir::Json many = server.read_many({ra, rb, missing});
    EXPECT_EQ(count_of(many.view(), "\"status\":200"), 2u) << many.view();
    EXPECT_EQ(count_of(many.view(), "\"status\":404"), 1u);

    fhir::Json hist = server.history(ra);
    EXPECT_NE(hist.view().find("\"history\""), std::string_view::npos);
    fhir::Json everything = server.operation(ra, "$everything");
    EXPECT_NE(everything.view().find(field(a.view(), "id")), std::string_view::npos);

    std::string tx = R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)" +
                     patient("Tx-" + run_tag()) + R"(,"request":{"method":"POST","url":"Patient"}}]})";
    fhir::Json txr = server.send_bundle(tx);
    EXPECT_NE(txr.view().find("transaction-response"), std::string_view::npos);

    fhir::Response resp = server.request("GET", ra);
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(field(resp.body.view(), "id"), field(a.view(), "id"));
    EXPECT_NE(server.capabilities().view().find("CapabilityStatement"), std::string_view::npos);
    EXPECT_FALSE(server.summary().empty());

    fhir::Json deleted = server.remove_many({ra, rb});
    EXPECT_EQ(count_of(deleted.view(), "\"reference\""), 2u);
    EXPECT_TRUE(server.remove_many({}).view() == "[]");
}

TEST(Nginx, BasicAuthOverTlsAndWrongPassword) {
    fhir::Options o;
    o.add_ca_file(env("FHIR_TEST_CA"));
    std::string url = env("FHIR_NGINX_HTTPS") + "/basic/fhir";
    auto s = fhir::Server::open_basic(url, env("FHIR_BASIC_USER"), env("FHIR_BASIC_PASSWORD"), &o);
    EXPECT_NE(s.capabilities().view().find("CapabilityStatement"), std::string_view::npos);
    auto wrong = fhir::Server::open_basic(url, env("FHIR_BASIC_USER"), "wrong-password", &o);
    auto r = wrong.try_search_count("Patient");
    EXPECT_EQ(r.code(), FHIR_ERR_AUTH);
    EXPECT_EQ(r.error().http_status(), 401);
    EXPECT_EQ(std::string(r.error().what()).find("wrong-password"), std::string::npos);
    auto tok = fhir::Server::open_token(env("FHIR_NGINX_HTTPS") + "/token/fhir", env("FHIR_STATIC_TOKEN"), &o);
    EXPECT_NO_THROW((void)tok.search_count("Patient"));
    // Without the test CA the certificate is refused.
    auto untrusted = fhir::Server::open(env("FHIR_NGINX_HTTPS") + "/fhir");
    EXPECT_EQ(untrusted.try_capabilities().code(), FHIR_ERR_TLS);
}

// --- embedding: cancel, deadlines, call records, request hooks, log callbacks ---------------------

namespace {
fhir::Server slow_server() {
    fhir::Options o;
    o.add_ca_file(env("FHIR_TEST_CA"));
    return fhir::Server::open(env("FHIR_SLOW_URL"), &o);
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

TEST(Embedding, CancelFromAnotherThreadEndsTheCallPromptly) {
    fhir::Server slow = slow_server();
    fhir::Cancel cancel;
    fhir::Server scoped = slow.scope(cancel);
    std::thread trigger([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancel.trigger();
    });
    auto t0 = std::chrono::steady_clock::now();
    auto r = scoped.try_request("GET", "anything");
    double took = seconds_since(t0);
    trigger.join();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), FHIR_ERR_CANCELLED);
    EXPECT_LT(took, 2.5) << "the slow server answers after 3 s";
    EXPECT_TRUE(cancel.triggered());
    // Later calls through the scope fail at once; the parent handle is not affected.
    EXPECT_THROW(scoped.capabilities(), fhir::Error);
    EXPECT_EQ(slow.try_request("GET", "anything?delay=0").code(), FHIR_OK);
}

TEST(Embedding, CancelledBeforeAndDeadline) {
    fhir::Server slow = slow_server();
    fhir::Cancel cancel;
    cancel.trigger();
    EXPECT_EQ(slow.scope(cancel).try_request("GET", "anything").code(), FHIR_ERR_CANCELLED);

    fhir::Server deadline = slow.scope(nullptr, std::chrono::milliseconds(300));
    auto t0 = std::chrono::steady_clock::now();
    try {
        deadline.request("GET", "anything");
        FAIL() << "no timeout";
    } catch (const fhir::Error &e) {
        EXPECT_EQ(e.code(), FHIR_ERR_TIMEOUT);
    }
    EXPECT_LT(seconds_since(t0), 2.5);
    fhir::CallInfo info = deadline.last_call();
    EXPECT_EQ(info.requests, 1u);
    EXPECT_GE(info.total_us, 300000u);
}

TEST(Embedding, ScopedHandleOutlivesItsParentAndCountsItsCall) {
    fhir::Server scoped = [] {
        fhir::Server parent = fhir::Server::open(env("FHIR_HAPI_URL"));
        return parent.scope(nullptr);
    }(); // the parent is freed here
    fhir::Json caps = scoped.capabilities();
    fhir::CallInfo info = scoped.last_call();
    EXPECT_EQ(info.status, 200);
    EXPECT_EQ(info.requests, 1u);
    EXPECT_EQ(info.bytes_received, caps.size());
}

TEST(Embedding, RequestHookAddsHeadersRefusesAndPropagates) {
    std::atomic<int> calls{0};
    std::string seen_url;
    fhir::Server server = [&] {
        fhir::Options o; // freed before the server: the server keeps the hook alive
        o.set_request_hook([&](std::string_view method, std::string_view url, fhir::Headers &h) {
            ++calls;
            seen_url = std::string(method) + " " + std::string(url);
            h.add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
            EXPECT_EQ(h.try_add("Authorization", "x").code(), FHIR_ERR_INVALID_ARGUMENT);
        });
        return fhir::Server::open(env("FHIR_HAPI_URL"), &o);
    }();
    EXPECT_NO_THROW((void)server.search_count("Patient?_id=cxx-none"));
    EXPECT_EQ(calls.load(), 1);
    EXPECT_NE(seen_url.find("GET "), std::string::npos);
    EXPECT_NE(seen_url.find("_summary=count"), std::string::npos) << seen_url;

    fhir::Options refuse;
    refuse.set_request_hook([](std::string_view, std::string_view, fhir::Headers &) { return false; });
    auto r = fhir::Server::open(env("FHIR_HAPI_URL"), &refuse).try_capabilities();
    EXPECT_EQ(r.code(), FHIR_ERR_CANCELLED);

    fhir::Options boom;
    boom.set_request_hook([](std::string_view, std::string_view, fhir::Headers &) { throw Boom(7); });
    fhir::Server b = fhir::Server::open(env("FHIR_HAPI_URL"), &boom);
    try {
        b.capabilities();
        FAIL() << "hook exception lost";
    } catch (const Boom &e) {
        EXPECT_EQ(e.page, 7);
    }
    EXPECT_THROW((void)b.try_read("Patient/x"), Boom); // the try_ form too: it is the caller's exception
}

TEST(Embedding, LogCallbacksPerHandleAndProcessWide) {
    std::vector<std::string> records;
    fhir::Options o;
    o.set_log_callback(fhir::LogLevel::trace, [&](fhir::LogLevel level, std::string_view target, std::string_view msg) {
        EXPECT_LE(static_cast<int>(level), static_cast<int>(fhir::LogLevel::trace));
        records.push_back(std::string(target) + ": " + std::string(msg));
    });
    fhir::Server server = fhir::Server::open(env("FHIR_HAPI_URL"), &o);
    (void)server.capabilities();
    EXPECT_FALSE(records.empty());

    fhir::Options throwing;
    throwing.set_log_callback(fhir::LogLevel::trace,
                              [](fhir::LogLevel, std::string_view, std::string_view) { throw std::logic_error("log"); });
    EXPECT_THROW(fhir::Server::open(env("FHIR_HAPI_URL"), &throwing).capabilities(), std::logic_error);

    std::atomic<int> global{0};
    fhir::set_log_callback(fhir::LogLevel::debug, [&](fhir::LogLevel, std::string_view, std::string_view) { ++global; });
    (void)fhir::Server::open(env("FHIR_HAPI_URL")).capabilities();
    fhir::clear_log_callback();
    int after = global.load();
    EXPECT_GT(after, 0);
    (void)fhir::Server::open(env("FHIR_HAPI_URL")).capabilities();
    EXPECT_EQ(global.load(), after);
    EXPECT_EQ(fhir::try_set_log_callback(static_cast<fhir::LogLevel>(9), [](fhir::LogLevel, std::string_view,
                                                                             std::string_view) {})
                  .code(),
              FHIR_ERR_INVALID_ARGUMENT);
}

TEST_F(HapiSearch, PostSearchAndPoolOptions) {
    fhir::Options o;
    o.set_search_post_threshold(0).set_pool_idle_timeout_ms(1000).set_pool_max_idle_per_host(0);
    fhir::Server posting = fhir::Server::open(env("FHIR_HAPI_URL"), &o);
    fhir::Json q = query(3).build();
    fhir::Json all = posting.search_all(q.view());
    EXPECT_EQ(count_of(all.view(), "\"resourceType\":\"Patient\""), static_cast<std::size_t>(kPatients));
    fhir::CallInfo info = posting.last_call();
    EXPECT_EQ(info.requests, 3u); // 3 + 3 + 1
    EXPECT_EQ(info.new_connections, 3u); // max idle 0: no reuse
}

TEST(Basics, AdoptANativeError) {
    fhir_error_t *raw = nullptr;
    fhir_server_t *s = nullptr;
    ASSERT_EQ(fhir_server_new("not a url", nullptr, &s, &raw), FHIR_ERR_INVALID_ARGUMENT);
    fhir::Error e(raw); // owns it now: freed once (ASan/LSan would say otherwise)
    EXPECT_EQ(e.code(), FHIR_ERR_INVALID_ARGUMENT);
    fhir::Error copy = e;
    EXPECT_STREQ(copy.what(), e.what());
}

// --- Bulk Data export against HAPI ------------------------------------------------------------------

TEST_F(Hapi, BulkExportStepByStepAndInOneCall) {
    const std::string tag = "bulk-" + run_tag();
    for (int i = 0; i < 2; ++i)
        server.create(R"({"resourceType":"Patient","identifier":[{"system":"urn:fhir-kindling:cxx-bulk","value":")" +
                      tag + R"("}]})");
    fhir::Bulk bulk;
    std::atomic<int> progress{0};
    bulk.add_type("Patient")
        .add_type_filter("Patient?identifier=urn:fhir-kindling:cxx-bulk|" + tag)
        .set_poll_interval_ms(200, 1000)
        .set_timeout_ms(120000)
        .set_parallel(2)
        .set_progress_callback([&](std::string_view, std::uint64_t next_poll_ms) {
            EXPECT_LE(next_poll_ms, 1000u);
            ++progress;
        });
    EXPECT_EQ(bulk.try_set_parallel(0).code(), FHIR_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bulk.try_set_level(fhir::BulkLevel::group, "bad id!").code(), FHIR_ERR_INVALID_ARGUMENT);

    fhir::Json status_url = server.bulk_kickoff(bulk);
    ASSERT_NE(status_url.view().find("http"), std::string_view::npos) << status_url.view();
    fhir::Json manifest = server.bulk_wait(bulk, status_url.view());
    EXPECT_NE(manifest.view().find("\"output\""), std::string_view::npos) << manifest.view();
    fhir::BulkStatus st = server.bulk_poll(bulk, status_url.view());
    EXPECT_TRUE(st.done);
    EXPECT_EQ(st.manifest.view(), manifest.view());

    std::vector<std::string> lines;
    fhir::BulkSummary sum = server.bulk_download(
        bulk, manifest.view(), [&](std::string_view line, std::string_view type, fhir::BulkFileKind kind, std::size_t) {
            if (kind == fhir::BulkFileKind::output) {
                EXPECT_EQ(type, "Patient");
                lines.emplace_back(line);
            }
        });
    EXPECT_EQ(lines.size(), 2u);
    EXPECT_EQ(sum.resources, 2u);
    for (const auto &l : lines)
        EXPECT_NE(l.find(tag), std::string::npos);
    // A throwing line callback stops the download; the exception comes out after the call.
    EXPECT_THROW(server.bulk_download(bulk, manifest.view(),
                                      [](std::string_view, std::string_view, fhir::BulkFileKind, std::size_t) {
                                          throw Boom(1);
                                      }),
                 Boom);
    EXPECT_NO_THROW((void)server.bulk_cancel(status_url.view())); // HAPI: already gone (true) once complete

    // The same in one call.
    int n = 0;
    fhir::BulkExport all = server.bulk_export(bulk, [&](std::string_view line, std::string_view, fhir::BulkFileKind kind,
                                                        std::size_t) {
        if (kind == fhir::BulkFileKind::output && line.find(tag) != std::string_view::npos)
            ++n;
        return true;
    });
    EXPECT_EQ(n, 2);
    EXPECT_EQ(all.summary.resources, 2u);
    EXPECT_TRUE(static_cast<bool>(all.status_url));
    (void)server.bulk_cancel(all.status_url.view());
    server.remove_by_query("Patient?identifier=urn:fhir-kindling:cxx-bulk%7C" + tag);
    // progress is not counted: HAPI may finish before the first poll; when called, its bound holds.
}
