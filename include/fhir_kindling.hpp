/**
 * @file fhir_kindling.hpp
 * @brief fhir_kindling for C++17: a header-only wrapper over the C API (fhir_kindling.h).
 *
 * Hand-written (the C header is generated). It adds no behaviour of its own: every call is one C
 * call, with ownership and errors turned into C++ terms.
 *
 * - **Owners**: fhir::Server, fhir::Options, fhir::Query and fhir::Json are move-only RAII owners
 *   (`std::unique_ptr` with the library's `_free` function as deleter); fhir::Error shares the
 *   native `fhir_error_t` (copyable, as an exception must be).
 * - **Strings in** are `std::string_view`. The C API takes NUL-terminated strings, so names, URLs
 *   and queries are copied into a NUL-terminated buffer for the call (a view with an embedded NUL
 *   is refused with `FHIR_ERR_INVALID_ARGUMENT`, never silently cut). JSON bodies are passed as
 *   pointer + length, without a copy. Optional strings: an empty view means "none" (NULL).
 * - **JSON out** is a fhir::Json: it owns the library's buffer (no copy) and frees it with
 *   fhir_string_free(); `view()` / `str()` / `c_str()` read it.
 * - **Errors**: each call `x(...)` throws fhir::Error (result code, HTTP status, the server's body
 *   such as an OperationOutcome, message). Each has a non-throwing twin `try_x(...)` returning a
 *   fhir::Result<T> (value or fhir::Error, with a `std::error_code`); only the `try_` forms exist
 *   when the code is built with `-fno-exceptions`. `std::bad_alloc` from a copy may still escape
 *   a `try_` call when exceptions are on.
 * - **Callbacks** (search_pages(), search_resources(), and the hooks of fhir_kindling 0.3) take any
 *   callable (a lambda, a `std::function`). An exception thrown by one is caught at the C
 *   boundary (it must not unwind through the library), the call is stopped, and the exception is
 *   rethrown unchanged once the C call has returned, after every buffer was freed.
 * - **Threads**: as the C API: one fhir::Server may be used by many threads at once (its methods
 *   are `const`); options and queries are not locked.
 */
#ifndef FHIR_KINDLING_HPP
#define FHIR_KINDLING_HPP

#include <fhir_kindling.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <mutex>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define FHIR_KINDLING_HPP_EXCEPTIONS 1
#else
#define FHIR_KINDLING_HPP_EXCEPTIONS 0
#endif

namespace fhir {

/// The version of the loaded library ("0.2.0"); compare with FHIR_KINDLING_VERSION_* of the header.
inline std::string_view version() noexcept { return fhir_version(); }

/// A static description of a result code, such as "not found".
inline std::string_view result_str(int code) noexcept { return fhir_result_str(code); }

// ------------------------------------------------------------------------------------------------
// Error codes as std::error_code

/// The `std::error_category` of `fhir_result` values: `std::error_code(FHIR_ERR_NOT_FOUND,
/// fhir::category())`, or `fhir::make_error_code(FHIR_ERR_NOT_FOUND)`.
inline const std::error_category &category() noexcept {
    struct Category final : std::error_category {
        const char *name() const noexcept override { return "fhir_kindling"; }
        std::string message(int code) const override { return fhir_result_str(code); }
    };
    static const Category instance;
    return instance;
}

/// A `std::error_code` for a result code.
inline std::error_code make_error_code(fhir_result code) noexcept {
    return std::error_code(static_cast<int>(code), category());
}

namespace detail {
struct StringDeleter {
    void operator()(char *p) const noexcept { fhir_string_free(p); }
};
struct ErrorDeleter {
    void operator()(fhir_error_t *p) const noexcept { fhir_error_free(p); }
};
struct OptionsDeleter {
    void operator()(fhir_options_t *p) const noexcept { fhir_options_free(p); }
};
struct QueryDeleter {
    void operator()(fhir_query_t *p) const noexcept { fhir_query_free(p); }
};
struct ServerDeleter {
    void operator()(fhir_server_t *p) const noexcept { fhir_server_free(p); }
};
} // namespace detail

// ------------------------------------------------------------------------------------------------
// Json: an owned buffer from the library

/**
 * A NUL-terminated buffer allocated by the library (JSON, a URL, a query string), owned without a
 * copy and freed with fhir_string_free(). Move-only. A default-constructed or moved-from Json is
 * null (`!json`, `size() == 0`, `view()` empty).
 */
class Json {
  public:
    Json() noexcept = default;
    /// Take ownership of a buffer the library returned (`len` bytes, NUL excluded).
    Json(char *adopt, std::size_t len) noexcept : ptr_(adopt), len_(adopt ? len : 0) {}
    /// Take ownership of a NUL-terminated buffer the library returned, measuring it.
    static Json adopt_cstr(char *adopt) noexcept { return Json(adopt, adopt ? std::strlen(adopt) : 0); }
    Json(Json &&other) noexcept : ptr_(std::move(other.ptr_)), len_(std::exchange(other.len_, 0)) {}
    Json &operator=(Json &&other) noexcept {
        ptr_ = std::move(other.ptr_);
        len_ = std::exchange(other.len_, 0);
        return *this;
    }

    const char *data() const noexcept { return ptr_ ? ptr_.get() : ""; }
    /// NUL-terminated (the library's buffer is); "" when null.
    const char *c_str() const noexcept { return data(); }
    std::size_t size() const noexcept { return len_; }
    bool empty() const noexcept { return len_ == 0; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    std::string_view view() const noexcept { return std::string_view(data(), len_); }
    operator std::string_view() const noexcept { return view(); }
    /// A copy as a std::string.
    std::string str() const { return std::string(data(), len_); }
    /// Give up ownership: the caller frees the result with fhir_string_free().
    char *release() noexcept {
        len_ = 0;
        return ptr_.release();
    }

  private:
    std::unique_ptr<char, detail::StringDeleter> ptr_;
    std::size_t len_ = 0;
};

inline bool operator==(const Json &a, std::string_view b) noexcept { return a.view() == b; }
inline bool operator==(std::string_view a, const Json &b) noexcept { return a == b.view(); }
inline bool operator!=(const Json &a, std::string_view b) noexcept { return a.view() != b; }
inline bool operator!=(std::string_view a, const Json &b) noexcept { return a != b.view(); }

// ------------------------------------------------------------------------------------------------
// Error

/**
 * A failed call: the result code, the HTTP status (0 when the failure was not an HTTP answer), the
 * server's body (usually an OperationOutcome, empty when none) and the library's message. Thrown
 * by the throwing calls; held by a failed fhir::Result. Copies share the native error object.
 */
class Error : public std::exception {
  public:
    /// Adopt a native error (may be NULL: then the code's description is the message).
    Error(fhir_result code, fhir_error_t *adopt) noexcept : code_(code) {
#if FHIR_KINDLING_HPP_EXCEPTIONS
        try {
            native_ = std::shared_ptr<fhir_error_t>(adopt, detail::ErrorDeleter());
        } catch (...) {
            // No memory for the control block: the deleter has freed the error; keep the code.
        }
#else
        native_ = std::shared_ptr<fhir_error_t>(adopt, detail::ErrorDeleter());
#endif
    }
    /// Adopt a native error from a C call of your own (its code from fhir_error_code()).
    explicit Error(fhir_error_t *adopt) noexcept : Error(adopt ? fhir_error_code(adopt) : FHIR_ERR_NULL_ARGUMENT, adopt) {}
    /// An error raised by this wrapper (no native object), such as an embedded NUL.
    Error(fhir_result code, std::string message) : code_(code), message_(std::move(message)) {}

    fhir_result code() const noexcept { return code_; }
    std::error_code error_code() const noexcept { return make_error_code(code_); }
    /// The HTTP status of the failing answer, 0 when there was none.
    std::uint16_t http_status() const noexcept { return native_ ? fhir_error_http_status(native_.get()) : 0; }
    /// The server's answer (an OperationOutcome as JSON, usually); empty when there was none.
    std::string_view body() const noexcept {
        if (!native_)
            return {};
        std::size_t len = 0;
        const char *b = fhir_error_body(native_.get(), &len);
        return b ? std::string_view(b, len) : std::string_view();
    }
    /// The library's message (never a secret); the code's description when there is none.
    std::string_view message() const noexcept { return what(); }
    const char *what() const noexcept override {
        if (native_) {
            const char *m = fhir_error_message(native_.get());
            if (m)
                return m;
        }
        if (!message_.empty())
            return message_.c_str();
        return fhir_result_str(code_);
    }
    /// For search_pages()/search_resources() failing while paging: the URL of the page to retry
    /// from (empty when there is none).
    std::string_view resume_url() const noexcept { return resume_ ? resume_->view() : std::string_view(); }
    /// The native error (owned by this object), or NULL.
    const fhir_error_t *native() const noexcept { return native_.get(); }

    /// @cond internal
    void set_resume_url(std::shared_ptr<Json> url) noexcept { resume_ = std::move(url); }
    /// @endcond

  private:
    fhir_result code_;
    std::shared_ptr<fhir_error_t> native_;
    std::string message_;
    std::shared_ptr<Json> resume_;
};

// ------------------------------------------------------------------------------------------------
// Result<T>

/**
 * The outcome of a `try_` call: a value, or a fhir::Error. `value()` on a failed result throws
 * the error (with exceptions) or aborts (without): check `ok()` first in `-fno-exceptions` code.
 */
template <class T> class [[nodiscard]] Result {
  public:
    Result(T value) : value_(std::move(value)) {}
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    /// FHIR_OK, or the error's code.
    fhir_result code() const noexcept { return ok() ? FHIR_OK : error_->code(); }
    std::error_code error_code() const noexcept { return make_error_code(code()); }
    /// The error; only on a failed result.
    const Error &error() const noexcept { return *error_; }

    T &value() & {
        check();
        return *value_;
    }
    const T &value() const & {
        check();
        return *value_;
    }
    T &&value() && {
        check();
        return std::move(*value_);
    }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }

  private:
    void check() const {
        if (!ok()) {
#if FHIR_KINDLING_HPP_EXCEPTIONS
            throw *error_;
#else
            std::abort();
#endif
        }
    }
    std::optional<T> value_;
    std::optional<Error> error_;
};

/// The outcome of a `try_` call without a value.
template <> class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return !error_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    fhir_result code() const noexcept { return ok() ? FHIR_OK : error_->code(); }
    std::error_code error_code() const noexcept { return make_error_code(code()); }
    const Error &error() const noexcept { return *error_; }
    /// Throws the error (aborts without exceptions) when the call failed.
    void value() const {
        if (!ok()) {
#if FHIR_KINDLING_HPP_EXCEPTIONS
            throw *error_;
#else
            std::abort();
#endif
        }
    }

  private:
    std::optional<Error> error_;
};

namespace detail {

/// A NUL-terminated copy of a view for the C call; `ptr()` is NULL for an optional empty view.
class CStr {
  public:
    CStr(std::string_view s, bool empty_is_null = false) : s_(s), null_(empty_is_null && s.empty()) {}
    const char *ptr() const noexcept { return null_ ? nullptr : s_.c_str(); }
    bool has_nul() const noexcept { return s_.find('\0') != std::string::npos; }

  private:
    std::string s_;
    bool null_;
};

// An exception thrown by a callback of this thread's current call, rethrown when it returns.
inline std::exception_ptr &pending() noexcept {
    static thread_local std::exception_ptr slot;
    return slot;
}

inline Error nul_error(const char *what) {
    return Error(FHIR_ERR_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
}

// Run one C call `f(fhir_error_t **)`; a failure becomes an Error. A callback exception pending
// on this thread is rethrown after the call returned (with exceptions on).
template <class F> Result<void> invoke(F &&f) {
    pending() = nullptr;
    fhir_error_t *err = nullptr;
    fhir_result rc = f(&err);
#if FHIR_KINDLING_HPP_EXCEPTIONS
    if (pending()) {
        std::exception_ptr e = std::move(pending());
        pending() = nullptr;
        fhir_error_free(err);
        std::rethrow_exception(e);
    }
#endif
    if (rc != FHIR_OK)
        return Error(rc, err);
    fhir_error_free(err);
    return {};
}

// A C call producing a buffer and its length.
// The output is owned before invoke() may rethrow a callback's exception, so it is never leaked.
template <class F> Result<Json> invoke_json(F &&f) {
    Json json;
    Result<void> r = invoke([&](fhir_error_t **e) {
        char *out = nullptr;
        std::size_t len = 0;
        fhir_result rc = f(&out, &len, e);
        json = Json(out, len);
        return rc;
    });
    if (!r.ok())
        return r.error();
    return json;
}

// Map a callable's return (void: go on; bool: true = go on) to the C convention (0 = go on).
template <class R> int flow(R &&r) {
    if constexpr (std::is_same_v<std::decay_t<R>, bool>)
        return r ? 0 : 1;
    else
        return static_cast<int>(r);
}

template <class Fn, class... A> int call_guarded(Fn &fn, A &&...args) noexcept {
#if FHIR_KINDLING_HPP_EXCEPTIONS
    try {
#endif
        if constexpr (std::is_void_v<std::invoke_result_t<Fn &, A...>>) {
            fn(std::forward<A>(args)...);
            return 0;
        } else {
            return flow(fn(std::forward<A>(args)...));
        }
#if FHIR_KINDLING_HPP_EXCEPTIONS
    } catch (...) {
        pending() = std::current_exception();
        return 1; // stop: the exception is rethrown when the C call returns
    }
#endif
}

} // namespace detail

// A NUL-terminated copy of a view for the call, or a return of INVALID_ARGUMENT for an embedded NUL
// (the C call would see a shorter string). _OPT: an empty view is passed as NULL. #undef at the end.
#define FHIR_HPP_CSTR(var, view, name)                                                             \
    const ::fhir::detail::CStr var(view);                                                          \
    if (var.has_nul())                                                                             \
    return ::fhir::detail::nul_error(name)
#define FHIR_HPP_CSTR_OPT(var, view, name)                                                         \
    const ::fhir::detail::CStr var(view, true);                                                    \
    if (var.has_nul())                                                                             \
    return ::fhir::detail::nul_error(name)

// ------------------------------------------------------------------------------------------------
// Cancellation, call records, logging, request hooks (fhir_kindling 0.2 embedding API)

/**
 * A cancel token (fhir_cancel_t): give it to Server::scope(); trigger() from any thread ends the
 * calls of those scoped handles promptly with `FHIR_ERR_CANCELLED`. Move-only.
 */
class Cancel {
  public:
    Cancel() : ptr_(fhir_cancel_new()) {
        if (!ptr_) {
#if FHIR_KINDLING_HPP_EXCEPTIONS
            throw std::bad_alloc();
#else
            std::abort();
#endif
        }
    }
    /// Any thread, idempotent.
    void trigger() const noexcept { fhir_cancel_trigger(ptr_.get()); }
    bool triggered() const noexcept { return fhir_cancel_is_triggered(ptr_.get()); }
    const fhir_cancel_t *get() const noexcept { return ptr_.get(); }

  private:
    struct Deleter {
        void operator()(fhir_cancel_t *p) const noexcept { fhir_cancel_free(p); }
    };
    std::unique_ptr<fhir_cancel_t, Deleter> ptr_;
};

/// What the last call through a handle did (fhir_call_info_t: status, attempts, requests, bytes,
/// timings in microseconds, new connections).
using CallInfo = fhir_call_info_t;

/// Log levels (fhir_log_level).
enum class LogLevel : int {
    off = FHIR_LOG_OFF,
    error = FHIR_LOG_ERROR,
    warn = FHIR_LOG_WARN,
    info = FHIR_LOG_INFO,
    debug = FHIR_LOG_DEBUG,
    trace = FHIR_LOG_TRACE,
};

/// The headers of one request attempt, given to a request hook (valid during the hook only).
class Headers {
  public:
    explicit Headers(fhir_headers_t *h) noexcept : h_(h) {}
    /// Add a header (the library's own, such as Authorization, are refused).
    Result<void> try_add(std::string_view name, std::string_view value);
#if FHIR_KINDLING_HPP_EXCEPTIONS
    Headers &add(std::string_view name, std::string_view value) {
        try_add(name, value).value();
        return *this;
    }
#endif
    fhir_headers_t *get() const noexcept { return h_; }

  private:
    fhir_headers_t *h_;
};

namespace detail {
// A log callback: `fn(LogLevel, std::string_view target, std::string_view message)`.
template <class Fn> struct LogTramp {
    static void call(fhir_log_level level, const char *target, std::size_t target_len, const char *message,
                     std::size_t message_len, void *ud) noexcept {
        (void)call_guarded(*static_cast<Fn *>(ud), static_cast<LogLevel>(level), std::string_view(target, target_len),
                           std::string_view(message, message_len));
    }
};
// A request hook: `fn(std::string_view method, std::string_view url, Headers &)` returning void
// or bool (false refuses the request: the call ends with FHIR_ERR_CANCELLED).
template <class Fn> struct HookTramp {
    static int call(const char *method, const char *url, fhir_headers_t *headers, void *ud) noexcept {
        Headers h(headers);
        return call_guarded(*static_cast<Fn *>(ud), std::string_view(method ? method : ""),
                            std::string_view(url ? url : ""), h);
    }
};
} // namespace detail

/**
 * Set the process-wide log callback (for handles without one of their own): `fn(LogLevel level,
 * std::string_view target, std::string_view message)`, called on the thread of the call during
 * it. It must not call the library's blocking functions. An exception it throws is rethrown on
 * that thread when the call returns (the call itself may have completed). The callbacks set here
 * are kept until the process exits, as calls running when one is replaced may still use it.
 */
template <class F> Result<void> try_set_log_callback(LogLevel max_level, F &&fn) {
    using Fn = std::decay_t<F>;
    static std::vector<std::shared_ptr<void>> kept; // guarded by the mutex below
    static std::mutex lock;
    auto holder = std::make_shared<Fn>(std::forward<F>(fn));
    std::lock_guard<std::mutex> guard(lock);
    Result<void> r = detail::invoke([&](fhir_error_t **e) {
        return fhir_set_log_callback(static_cast<int>(max_level), &detail::LogTramp<Fn>::call, holder.get(), e);
    });
    if (r.ok())
        kept.push_back(std::move(holder));
    return r;
}
/// Turn the process-wide log callback off.
inline Result<void> try_clear_log_callback() {
    return detail::invoke([&](fhir_error_t **e) { return fhir_set_log_callback(FHIR_LOG_OFF, nullptr, nullptr, e); });
}
#if FHIR_KINDLING_HPP_EXCEPTIONS
template <class F> void set_log_callback(LogLevel max_level, F &&fn) {
    try_set_log_callback(max_level, std::forward<F>(fn)).value();
}
inline void clear_log_callback() { try_clear_log_callback().value(); }
#endif

// ------------------------------------------------------------------------------------------------
// Options

/**
 * Settings for a server handle (fhir_options_t): headers, proxy, timeouts, TLS, retries, limits,
 * auth tuning. The constructors copy them, so one Options may serve several handles and be
 * dropped afterwards. Setters return `*this` for chaining (throwing forms) or a Result (`try_`).
 */
class Options {
  public:
    /// New default options (fhir_options_new()); throws std::bad_alloc when out of memory.
    Options() : ptr_(fhir_options_new()) {
        if (!ptr_) {
#if FHIR_KINDLING_HPP_EXCEPTIONS
            throw std::bad_alloc();
#else
            std::abort();
#endif
        }
    }
    const fhir_options_t *get() const noexcept { return ptr_.get(); }
    fhir_options_t *get() noexcept { return ptr_.get(); }

    Result<void> try_add_header(std::string_view name, std::string_view value) {
        FHIR_HPP_CSTR(n, name, "header name");
        FHIR_HPP_CSTR(v, value, "header value");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_add_header(get(), n.ptr(), v.ptr(), e); });
    }
    Result<void> try_set_proxy(std::string_view scheme, std::string_view proxy_url) {
        FHIR_HPP_CSTR(s, scheme, "proxy scheme");
        FHIR_HPP_CSTR(u, proxy_url, "proxy URL");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_proxy(get(), s.ptr(), u.ptr(), e); });
    }
    Result<void> try_set_timeout_ms(std::uint64_t ms) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_timeout_ms(get(), ms, e); });
    }
    Result<void> try_set_connect_timeout_ms(std::uint64_t ms) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_connect_timeout_ms(get(), ms, e); });
    }
    Result<void> try_add_ca_file(std::string_view path) {
        FHIR_HPP_CSTR(p, path, "CA file");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_add_ca_file(get(), p.ptr(), e); });
    }
    Result<void> try_set_system_roots(bool enabled) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_system_roots(get(), enabled, e); });
    }
    Result<void> try_set_client_cert(std::string_view cert_file, std::string_view key_file) {
        FHIR_HPP_CSTR(c, cert_file, "certificate file");
        FHIR_HPP_CSTR(k, key_file, "key file");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_client_cert(get(), c.ptr(), k.ptr(), e); });
    }
    Result<void> try_set_insecure_skip_tls_verify(bool skip) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_insecure_skip_tls_verify(get(), skip, e); });
    }
    Result<void> try_set_retry_status_codes(const std::vector<std::uint16_t> &codes) {
        return detail::invoke([&](fhir_error_t **e) {
            return fhir_options_set_retry_status_codes(get(), codes.empty() ? nullptr : codes.data(), codes.size(), e);
        });
    }
    Result<void> try_set_retry_methods(std::string_view methods) {
        FHIR_HPP_CSTR(m, methods, "retry methods");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_retry_methods(get(), m.ptr(), e); });
    }
    Result<void> try_set_retry_max_attempts(std::uint32_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_retry_max_attempts(get(), n, e); });
    }
    Result<void> try_set_retry_backoff_factor(double seconds) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_retry_backoff_factor(get(), seconds, e); });
    }
    Result<void> try_set_retry_jitter(double ratio) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_retry_jitter(get(), ratio, e); });
    }
    Result<void> try_set_retry_max_backoff_wait(double seconds) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_retry_max_backoff_wait(get(), seconds, e); });
    }
    Result<void> try_set_user_agent(std::string_view ua) {
        FHIR_HPP_CSTR(u, ua, "user agent");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_user_agent(get(), u.ptr(), e); });
    }
    Result<void> try_set_oidc_scope(std::string_view scope) {
        FHIR_HPP_CSTR(s, scope, "OIDC scope");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_oidc_scope(get(), s.ptr(), e); });
    }
    Result<void> try_set_oidc_auth_method(std::string_view method) {
        FHIR_HPP_CSTR(m, method, "OIDC auth method");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_oidc_auth_method(get(), m.ptr(), e); });
    }
    Result<void> try_set_allow_foreign_links(bool allow) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_allow_foreign_links(get(), allow, e); });
    }
    Result<void> try_set_max_response_bytes(std::uint64_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_max_response_bytes(get(), n, e); });
    }
    Result<void> try_set_max_result_bytes(std::uint64_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_max_result_bytes(get(), n, e); });
    }
    Result<void> try_set_max_pages(std::uint64_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_max_pages(get(), n, e); });
    }
    Result<void> try_set_smart_key_id(std::string_view kid) {
        FHIR_HPP_CSTR(k, kid, "SMART key id");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_smart_key_id(get(), k.ptr(), e); });
    }
    Result<void> try_set_smart_algorithm(std::string_view alg) {
        FHIR_HPP_CSTR(a, alg, "SMART algorithm");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_smart_algorithm(get(), a.ptr(), e); });
    }
    Result<void> try_set_smart_scope(std::string_view scope) {
        FHIR_HPP_CSTR(s, scope, "SMART scope");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_smart_scope(get(), s.ptr(), e); });
    }
    Result<void> try_set_smart_token_url(std::string_view url) {
        FHIR_HPP_CSTR(u, url, "SMART token URL");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_smart_token_url(get(), u.ptr(), e); });
    }
    Result<void> try_set_smart_jku(std::string_view url) {
        FHIR_HPP_CSTR(u, url, "SMART jku URL");
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_smart_jku(get(), u.ptr(), e); });
    }

    /// Up to `parallel` (1..64) transactions of create_all() in flight (default 1).
    Result<void> try_set_create_all_parallel(std::size_t parallel) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_create_all_parallel(get(), parallel, e); });
    }
    /// Searches whose URL is longer than `url_len` are sent as POST _search (0: always; SIZE_MAX: never).
    Result<void> try_set_search_post_threshold(std::size_t url_len) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_search_post_threshold(get(), url_len, e); });
    }
    Result<void> try_set_pool_idle_timeout_ms(std::uint64_t ms) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_options_set_pool_idle_timeout_ms(get(), ms, e); });
    }
    Result<void> try_set_pool_max_idle_per_host(std::size_t n) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_pool_max_idle_per_host(get(), n, e); });
    }
    /**
     * A log callback for the handles built with these options: `fn(LogLevel, std::string_view
     * target, std::string_view message)` (see fhir::set_log_callback()). The callable is kept
     * alive by these options and by every Server built with them.
     */
    template <class F> Result<void> try_set_log_callback(LogLevel max_level, F &&fn) {
        using Fn = std::decay_t<F>;
        auto holder = std::make_shared<Fn>(std::forward<F>(fn));
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            return fhir_options_set_log_callback(get(), static_cast<int>(max_level), &detail::LogTramp<Fn>::call,
                                                 holder.get(), e);
        });
        if (r.ok())
            log_ = std::move(holder);
        return r;
    }
    Result<void> try_clear_log_callback() {
        Result<void> r = detail::invoke(
            [&](fhir_error_t **e) { return fhir_options_set_log_callback(get(), FHIR_LOG_OFF, nullptr, nullptr, e); });
        if (r.ok())
            log_.reset();
        return r;
    }
    /**
     * A request hook: `fn(std::string_view method, std::string_view url, fhir::Headers &headers)`
     * before each attempt of each request, on the calling thread, returning void or bool (false
     * refuses the request: the call fails with `FHIR_ERR_CANCELLED`). An exception it throws
     * refuses the request too and is rethrown when the call returns. It must not call the
     * library's blocking functions. Kept alive by these options and the Servers built with them.
     */
    template <class F> Result<void> try_set_request_hook(F &&fn) {
        using Fn = std::decay_t<F>;
        auto holder = std::make_shared<Fn>(std::forward<F>(fn));
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            return fhir_options_set_request_hook(get(), &detail::HookTramp<Fn>::call, holder.get(), e);
        });
        if (r.ok())
            hook_ = std::move(holder);
        return r;
    }
    Result<void> try_clear_request_hook() {
        Result<void> r =
            detail::invoke([&](fhir_error_t **e) { return fhir_options_set_request_hook(get(), nullptr, nullptr, e); });
        if (r.ok())
            hook_.reset();
        return r;
    }

#if FHIR_KINDLING_HPP_EXCEPTIONS
    Options &set_create_all_parallel(std::size_t n) { return done(try_set_create_all_parallel(n)); }
    Options &set_search_post_threshold(std::size_t url_len) { return done(try_set_search_post_threshold(url_len)); }
    Options &set_pool_idle_timeout_ms(std::uint64_t ms) { return done(try_set_pool_idle_timeout_ms(ms)); }
    Options &set_pool_max_idle_per_host(std::size_t n) { return done(try_set_pool_max_idle_per_host(n)); }
    template <class F> Options &set_log_callback(LogLevel max_level, F &&fn) {
        return done(try_set_log_callback(max_level, std::forward<F>(fn)));
    }
    Options &clear_log_callback() { return done(try_clear_log_callback()); }
    template <class F> Options &set_request_hook(F &&fn) { return done(try_set_request_hook(std::forward<F>(fn))); }
    Options &clear_request_hook() { return done(try_clear_request_hook()); }
    Options &add_header(std::string_view name, std::string_view value) { return done(try_add_header(name, value)); }
    Options &set_proxy(std::string_view scheme, std::string_view url) { return done(try_set_proxy(scheme, url)); }
    Options &set_timeout_ms(std::uint64_t ms) { return done(try_set_timeout_ms(ms)); }
    Options &set_connect_timeout_ms(std::uint64_t ms) { return done(try_set_connect_timeout_ms(ms)); }
    Options &add_ca_file(std::string_view path) { return done(try_add_ca_file(path)); }
    Options &set_system_roots(bool enabled) { return done(try_set_system_roots(enabled)); }
    Options &set_client_cert(std::string_view cert, std::string_view key) { return done(try_set_client_cert(cert, key)); }
    Options &set_insecure_skip_tls_verify(bool skip) { return done(try_set_insecure_skip_tls_verify(skip)); }
    Options &set_retry_status_codes(const std::vector<std::uint16_t> &codes) {
        return done(try_set_retry_status_codes(codes));
    }
    Options &set_retry_methods(std::string_view methods) { return done(try_set_retry_methods(methods)); }
    Options &set_retry_max_attempts(std::uint32_t n) { return done(try_set_retry_max_attempts(n)); }
    Options &set_retry_backoff_factor(double s) { return done(try_set_retry_backoff_factor(s)); }
    Options &set_retry_jitter(double r) { return done(try_set_retry_jitter(r)); }
    Options &set_retry_max_backoff_wait(double s) { return done(try_set_retry_max_backoff_wait(s)); }
    Options &set_user_agent(std::string_view ua) { return done(try_set_user_agent(ua)); }
    Options &set_oidc_scope(std::string_view s) { return done(try_set_oidc_scope(s)); }
    Options &set_oidc_auth_method(std::string_view m) { return done(try_set_oidc_auth_method(m)); }
    Options &set_allow_foreign_links(bool allow) { return done(try_set_allow_foreign_links(allow)); }
    Options &set_max_response_bytes(std::uint64_t n) { return done(try_set_max_response_bytes(n)); }
    Options &set_max_result_bytes(std::uint64_t n) { return done(try_set_max_result_bytes(n)); }
    Options &set_max_pages(std::uint64_t n) { return done(try_set_max_pages(n)); }
    Options &set_smart_key_id(std::string_view kid) { return done(try_set_smart_key_id(kid)); }
    Options &set_smart_algorithm(std::string_view alg) { return done(try_set_smart_algorithm(alg)); }
    Options &set_smart_scope(std::string_view s) { return done(try_set_smart_scope(s)); }
    Options &set_smart_token_url(std::string_view u) { return done(try_set_smart_token_url(u)); }
    Options &set_smart_jku(std::string_view u) { return done(try_set_smart_jku(u)); }
#endif

  private:
#if FHIR_KINDLING_HPP_EXCEPTIONS
    Options &done(const Result<void> &r) {
        r.value();
        return *this;
    }
#endif
    std::unique_ptr<fhir_options_t, detail::OptionsDeleter> ptr_;
    std::shared_ptr<void> log_, hook_; // the callables whose address the C options hold

    friend class Server;
};

inline Result<void> Headers::try_add(std::string_view name, std::string_view value) {
    FHIR_HPP_CSTR(n, name, "header name");
    FHIR_HPP_CSTR(v, value, "header value");
    // Called inside a hook, itself inside a call: keep this thread's pending exception as it is.
    fhir_error_t *err = nullptr;
    fhir_result rc = fhir_headers_add(h_, n.ptr(), v.ptr(), &err);
    if (rc != FHIR_OK)
        return Error(rc, err);
    return {};
}

// ------------------------------------------------------------------------------------------------
// Bulk Data export

/// The level of an export (fhir_bulk_level).
enum class BulkLevel : int { system = FHIR_BULK_SYSTEM, patient = FHIR_BULK_PATIENT, group = FHIR_BULK_GROUP };
/// Which kind of manifest file a line comes from (fhir_bulk_file_kind).
enum class BulkFileKind : int { output = FHIR_BULK_OUTPUT, error = FHIR_BULK_ERROR, deleted = FHIR_BULK_DELETED };
/// The totals of a download (fhir_bulk_summary_t: files, resources, errors, deleted, bytes, stopped).
using BulkSummary = fhir_bulk_summary_t;

/// The answer of Server::bulk_poll(): done with the manifest, or the wait before the next poll.
struct BulkStatus {
    bool done = false;
    Json manifest;
    std::uint64_t next_poll_ms = 0;
};

/// The outcome of Server::bulk_export(): the status URL (to cancel) and the totals.
struct BulkExport {
    Json status_url;
    BulkSummary summary{};
};

namespace detail {
// A progress callback: `fn(std::string_view progress, std::uint64_t next_poll_ms)`.
template <class Fn> struct ProgressTramp {
    static void call(const char *progress, std::uint64_t next_poll_ms, void *ud) noexcept {
        (void)call_guarded(*static_cast<Fn *>(ud), std::string_view(progress ? progress : ""), next_poll_ms);
    }
};
// A line callback: `fn(std::string_view line, std::string_view resource_type, BulkFileKind kind,
// std::size_t file_index)` returning void or bool (false stops the download).
template <class Fn> struct LineTramp {
    static int call(const char *line, std::size_t len, const char *type, fhir_bulk_file_kind kind, std::size_t index,
                    void *ud) noexcept {
        return call_guarded(*static_cast<Fn *>(ud), std::string_view(line, len), std::string_view(type ? type : ""),
                            static_cast<BulkFileKind>(kind), index);
    }
};
} // namespace detail

/**
 * The parameters and bounds of a Bulk Data `$export` (fhir_bulk_t): level, types, `_since`,
 * `_until`, `_typeFilter`, output format, poll interval, timeout, parallel downloads, line limit,
 * attempts, progress callback. Used by the Server::bulk_* calls; not locked.
 */
class Bulk {
  public:
    Bulk() : ptr_(fhir_bulk_new()) {
        if (!ptr_) {
#if FHIR_KINDLING_HPP_EXCEPTIONS
            throw std::bad_alloc();
#else
            std::abort();
#endif
        }
    }
    const fhir_bulk_t *get() const noexcept { return ptr_.get(); }
    fhir_bulk_t *get() noexcept { return ptr_.get(); }

    /// The level; `group_id` for BulkLevel::group only.
    Result<void> try_set_level(BulkLevel level, std::string_view group_id = {}) {
        FHIR_HPP_CSTR_OPT(g, group_id, "group id");
        return detail::invoke([&](fhir_error_t **e) {
            return fhir_bulk_set_level(get(), static_cast<fhir_bulk_level>(level), g.ptr(), e);
        });
    }
    Result<void> try_add_type(std::string_view type) {
        FHIR_HPP_CSTR(t, type, "resource type");
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_add_type(get(), t.ptr(), e); });
    }
    Result<void> try_set_since(std::string_view instant) {
        FHIR_HPP_CSTR(i, instant, "since");
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_since(get(), i.ptr(), e); });
    }
    Result<void> try_set_until(std::string_view instant) {
        FHIR_HPP_CSTR(i, instant, "until");
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_until(get(), i.ptr(), e); });
    }
    Result<void> try_add_type_filter(std::string_view filter) {
        FHIR_HPP_CSTR(f, filter, "type filter");
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_add_type_filter(get(), f.ptr(), e); });
    }
    Result<void> try_set_output_format(std::string_view format) {
        FHIR_HPP_CSTR(f, format, "output format");
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_output_format(get(), f.ptr(), e); });
    }
    Result<void> try_set_lenient(bool lenient) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_lenient(get(), lenient, e); });
    }
    Result<void> try_set_poll_interval_ms(std::uint64_t min_ms, std::uint64_t max_ms) {
        return detail::invoke(
            [&](fhir_error_t **e) { return fhir_bulk_set_poll_interval_ms(get(), min_ms, max_ms, e); });
    }
    Result<void> try_set_timeout_ms(std::uint64_t ms) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_timeout_ms(get(), ms, e); });
    }
    Result<void> try_set_parallel(std::size_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_parallel(get(), n, e); });
    }
    Result<void> try_set_max_line_bytes(std::size_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_max_line_bytes(get(), n, e); });
    }
    Result<void> try_set_file_attempts(std::uint32_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_bulk_set_file_attempts(get(), n, e); });
    }
    /// `fn(std::string_view progress, std::uint64_t next_poll_ms)` while an export runs, on the
    /// calling thread; an exception it throws is rethrown when the call returns. Kept alive here.
    template <class F> Result<void> try_set_progress_callback(F &&fn) {
        using Fn = std::decay_t<F>;
        auto holder = std::make_shared<Fn>(std::forward<F>(fn));
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            return fhir_bulk_set_progress_callback(get(), &detail::ProgressTramp<Fn>::call, holder.get(), e);
        });
        if (r.ok())
            progress_ = std::move(holder);
        return r;
    }
    Result<void> try_clear_progress_callback() {
        Result<void> r = detail::invoke(
            [&](fhir_error_t **e) { return fhir_bulk_set_progress_callback(get(), nullptr, nullptr, e); });
        if (r.ok())
            progress_.reset();
        return r;
    }

#if FHIR_KINDLING_HPP_EXCEPTIONS
    Bulk &set_level(BulkLevel level, std::string_view group_id = {}) { return done(try_set_level(level, group_id)); }
    Bulk &add_type(std::string_view type) { return done(try_add_type(type)); }
    Bulk &set_since(std::string_view instant) { return done(try_set_since(instant)); }
    Bulk &set_until(std::string_view instant) { return done(try_set_until(instant)); }
    Bulk &add_type_filter(std::string_view filter) { return done(try_add_type_filter(filter)); }
    Bulk &set_output_format(std::string_view format) { return done(try_set_output_format(format)); }
    Bulk &set_lenient(bool lenient) { return done(try_set_lenient(lenient)); }
    Bulk &set_poll_interval_ms(std::uint64_t min_ms, std::uint64_t max_ms) {
        return done(try_set_poll_interval_ms(min_ms, max_ms));
    }
    Bulk &set_timeout_ms(std::uint64_t ms) { return done(try_set_timeout_ms(ms)); }
    Bulk &set_parallel(std::size_t n) { return done(try_set_parallel(n)); }
    Bulk &set_max_line_bytes(std::size_t n) { return done(try_set_max_line_bytes(n)); }
    Bulk &set_file_attempts(std::uint32_t n) { return done(try_set_file_attempts(n)); }
    template <class F> Bulk &set_progress_callback(F &&fn) { return done(try_set_progress_callback(std::forward<F>(fn))); }
    Bulk &clear_progress_callback() { return done(try_clear_progress_callback()); }
#endif

  private:
#if FHIR_KINDLING_HPP_EXCEPTIONS
    Bulk &done(const Result<void> &r) {
        r.value();
        return *this;
    }
#endif
    struct Deleter {
        void operator()(fhir_bulk_t *p) const noexcept { fhir_bulk_free(p); }
    };
    std::shared_ptr<void> progress_; // declared first: outlives ptr_
    std::unique_ptr<fhir_bulk_t, Deleter> ptr_;
};

// ------------------------------------------------------------------------------------------------
// Query

/**
 * A search query under construction (fhir_query_t); `build()` gives the string the search calls
 * take. Builder calls return `*this` (throwing forms) or a Result (`try_`).
 */
class Query {
  public:
    /// A query for one resource type, or a Result holding the error.
    static Result<Query> try_make(std::string_view resource_type) {
        FHIR_HPP_CSTR(t, resource_type, "resource type");
        Query query(nullptr);
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            fhir_query_t *q = nullptr;
            fhir_result rc = fhir_query_new(t.ptr(), &q, e);
            query.ptr_.reset(q);
            return rc;
        });
        if (!r.ok())
            return r.error();
        return query;
    }
#if FHIR_KINDLING_HPP_EXCEPTIONS
    /// A query for one resource type ("Patient"); throws fhir::Error for a malformed type.
    explicit Query(std::string_view resource_type) : Query(try_make(resource_type).value()) {}
#endif
    const fhir_query_t *get() const noexcept { return ptr_.get(); }
    fhir_query_t *get() noexcept { return ptr_.get(); }

    /// `field[op]=value`; `op` empty for none, a prefix ("gt") or a modifier (":exact").
    Result<void> try_where(std::string_view field, std::string_view op, std::string_view value) {
        FHIR_HPP_CSTR(f, field, "field");
        FHIR_HPP_CSTR_OPT(o, op, "op");
        FHIR_HPP_CSTR(v, value, "value");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_where(get(), f.ptr(), o.ptr(), v.ptr(), e); });
    }
    Result<void> try_param(std::string_view name, std::string_view value) {
        FHIR_HPP_CSTR(n, name, "name");
        FHIR_HPP_CSTR(v, value, "value");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_param(get(), n.ptr(), v.ptr(), e); });
    }
    Result<void> try_include(std::string_view target, bool iterate = false) {
        FHIR_HPP_CSTR(t, target, "include target");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_include(get(), t.ptr(), iterate, e); });
    }
    Result<void> try_revinclude(std::string_view target, bool iterate = false) {
        FHIR_HPP_CSTR(t, target, "revinclude target");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_revinclude(get(), t.ptr(), iterate, e); });
    }
    Result<void> try_has(std::string_view chain, std::string_view value) {
        FHIR_HPP_CSTR(c, chain, "chain");
        FHIR_HPP_CSTR(v, value, "value");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_has(get(), c.ptr(), v.ptr(), e); });
    }
    Result<void> try_sort(std::string_view fields) {
        FHIR_HPP_CSTR(f, fields, "sort fields");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_sort(get(), f.ptr(), e); });
    }
    Result<void> try_elements(std::string_view fields) {
        FHIR_HPP_CSTR(f, fields, "elements");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_elements(get(), f.ptr(), e); });
    }
    Result<void> try_summary(std::string_view mode) {
        FHIR_HPP_CSTR(m, mode, "summary mode");
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_summary(get(), m.ptr(), e); });
    }
    Result<void> try_page_size(std::uint32_t n) {
        return detail::invoke([&](fhir_error_t **e) { return fhir_query_page_size(get(), n, e); });
    }
    /// The query string, such as `Patient?birthdate=gt2000&_count=50`.
    Result<Json> try_build() const {
        return detail::invoke_json(
            [&](char **out, std::size_t *len, fhir_error_t **e) { return fhir_query_build(get(), out, len, e); });
    }

#if FHIR_KINDLING_HPP_EXCEPTIONS
    Query &where(std::string_view field, std::string_view value) { return done(try_where(field, {}, value)); }
    Query &where(std::string_view field, std::string_view op, std::string_view value) {
        return done(try_where(field, op, value));
    }
    Query &param(std::string_view name, std::string_view value) { return done(try_param(name, value)); }
    Query &include(std::string_view target, bool iterate = false) { return done(try_include(target, iterate)); }
    Query &revinclude(std::string_view target, bool iterate = false) { return done(try_revinclude(target, iterate)); }
    Query &has(std::string_view chain, std::string_view value) { return done(try_has(chain, value)); }
    Query &sort(std::string_view fields) { return done(try_sort(fields)); }
    Query &elements(std::string_view fields) { return done(try_elements(fields)); }
    Query &summary(std::string_view mode) { return done(try_summary(mode)); }
    Query &page_size(std::uint32_t n) { return done(try_page_size(n)); }
    Json build() const { return try_build().value(); }
#endif

  private:
    explicit Query(fhir_query_t *adopt) noexcept : ptr_(adopt) {}
#if FHIR_KINDLING_HPP_EXCEPTIONS
    Query &done(const Result<void> &r) {
        r.value();
        return *this;
    }
#endif
    std::unique_ptr<fhir_query_t, detail::QueryDeleter> ptr_;
};

// ------------------------------------------------------------------------------------------------
// Server

/// The answer of Server::request(): the 2xx status and the body as sent.
struct Response {
    std::uint16_t status = 0;
    Json body;
};

/// Where a streamed search stopped: the URL of the next page to resume from (null when the
/// search is exhausted).
struct Paging {
    Json next_url;
    bool exhausted() const noexcept { return !next_url; }
};

/**
 * A handle for one FHIR server (fhir_server_t). Move-only; thread-safe: its methods are `const`
 * and may be called by many threads at once (only destruction must not race with them).
 */
class Server {
  public:
    // --- constructors (no request is sent yet) ---

    /// No authentication. `options` may be NULL for the defaults.
    static Result<Server> try_open(std::string_view base_url, const Options *options = nullptr) {
        FHIR_HPP_CSTR(u, base_url, "base URL");
        return make(options, [&](fhir_server_t **s, fhir_error_t **e) { return fhir_server_new(u.ptr(), opt(options), s, e); });
    }
    /// HTTP basic auth.
    static Result<Server> try_open_basic(std::string_view base_url, std::string_view username,
                                         std::string_view password, const Options *options = nullptr) {
        FHIR_HPP_CSTR(u, base_url, "base URL");
        FHIR_HPP_CSTR(n, username, "username");
        FHIR_HPP_CSTR(p, password, "password");
        return make(options, [&](fhir_server_t **s, fhir_error_t **e) {
            return fhir_server_new_basic(u.ptr(), n.ptr(), p.ptr(), opt(options), s, e);
        });
    }
    /// A static bearer token.
    static Result<Server> try_open_token(std::string_view base_url, std::string_view token,
                                         const Options *options = nullptr) {
        FHIR_HPP_CSTR(u, base_url, "base URL");
        FHIR_HPP_CSTR(t, token, "token");
        return make(options, [&](fhir_server_t **s, fhir_error_t **e) {
            return fhir_server_new_token(u.ptr(), t.ptr(), opt(options), s, e);
        });
    }
    /// OpenID Connect client credentials.
    static Result<Server> try_open_oidc(std::string_view base_url, std::string_view client_id,
                                        std::string_view client_secret, std::string_view provider_url,
                                        const Options *options = nullptr) {
        FHIR_HPP_CSTR(u, base_url, "base URL");
        FHIR_HPP_CSTR(i, client_id, "client id");
        FHIR_HPP_CSTR(c, client_secret, "client secret");
        FHIR_HPP_CSTR(p, provider_url, "provider URL");
        return make(options, [&](fhir_server_t **s, fhir_error_t **e) {
            return fhir_server_new_oidc(u.ptr(), i.ptr(), c.ptr(), p.ptr(), opt(options), s, e);
        });
    }
    /// SMART Backend Services (a private key, PEM text or a file path).
    static Result<Server> try_open_smart_backend(std::string_view base_url, std::string_view client_id,
                                                 std::string_view private_key, const Options *options = nullptr) {
        FHIR_HPP_CSTR(u, base_url, "base URL");
        FHIR_HPP_CSTR(i, client_id, "client id");
        FHIR_HPP_CSTR(k, private_key, "private key");
        return make(options, [&](fhir_server_t **s, fhir_error_t **e) {
            return fhir_server_new_smart_backend(u.ptr(), i.ptr(), k.ptr(), opt(options), s, e);
        });
    }
    /// Configured by environment variables (FHIR_API_URL and one auth mode, see the C header).
    static Result<Server> try_from_env(bool no_auth = false, const Options *options = nullptr) {
        return make(options, [&](fhir_server_t **s, fhir_error_t **e) { return fhir_server_from_env(no_auth, opt(options), s, e); });
    }

    /// Adopt a handle from the C API (freed by this object).
    explicit Server(fhir_server_t *adopt) noexcept : ptr_(adopt) {}
    const fhir_server_t *get() const noexcept { return ptr_.get(); }
    /// The base URL, normalised (no trailing slash).
    std::string_view base_url() const noexcept {
        const char *u = fhir_server_base_url(get());
        return u ? std::string_view(u) : std::string_view();
    }

    /**
     * A scoped handle sharing this one's connections, token cache and options: every call made
     * through it is governed by `cancel` (may be NULL; the handle keeps its own reference) and by
     * a deadline `timeout` from now (0: none) covering all attempts, waits and pages of all its
     * calls. One scope per call gives a call its own cancel and deadline.
     */
    Result<Server> try_scope(const Cancel *cancel, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
        if (timeout.count() < 0)
            return Error(FHIR_ERR_INVALID_ARGUMENT, "negative scope timeout");
        Server scoped(nullptr);
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            fhir_server_t *s = nullptr;
            fhir_result rc = fhir_server_scope(get(), cancel ? cancel->get() : nullptr,
                                               static_cast<std::uint64_t>(timeout.count()), &s, e);
            scoped.ptr_.reset(s);
            return rc;
        });
        if (!r.ok())
            return r.error();
        scoped.keep_ = keep_;
        return scoped;
    }
    Result<Server> try_scope(const Cancel &cancel, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
        return try_scope(&cancel, timeout);
    }
    /// What the last call through this handle did (exact on a scoped handle used by one thread).
    Result<CallInfo> try_last_call() const {
        CallInfo info{};
        Result<void> r = detail::invoke([&](fhir_error_t **e) { return fhir_server_last_call(get(), &info, e); });
        if (!r.ok())
            return r.error();
        return info;
    }

    // --- operations: try_ forms ---

    Result<Json> try_read(std::string_view reference) const {
        FHIR_HPP_CSTR(r, reference, "reference");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_resource_read(get(), r.ptr(), o, l, e);
        });
    }
    /// A JSON array, one item per reference, in order (see fhir_resource_read_many()).
    Result<Json> try_read_many(const std::vector<std::string_view> &references) const {
        return with_refs(references, [&](const char *const *refs, std::size_t n) {
            return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
                return fhir_resource_read_many(get(), refs, n, o, l, e);
            });
        });
    }
    /// POST a resource; `if_none_exist` empty for a plain create, or a condition.
    Result<Json> try_create(std::string_view json, std::string_view if_none_exist = {}) const {
        FHIR_HPP_CSTR_OPT(c, if_none_exist, "condition");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_resource_create(get(), json.data(), json.size(), c.ptr(), o, l, e);
        });
    }
    /// Create every resource of a JSON array or Bundle in transactions of `batch_size` (0: default).
    Result<Json> try_create_all(std::string_view json, std::size_t batch_size = 0) const {
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_resource_create_all(get(), json.data(), json.size(), batch_size, o, l, e);
        });
    }
    /// PUT a resource; `if_match` empty for an unconditional update, or the expected version.
    Result<Json> try_update(std::string_view json, std::string_view if_match = {}) const {
        FHIR_HPP_CSTR_OPT(m, if_match, "if_match");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_resource_update(get(), json.data(), json.size(), m.ptr(), o, l, e);
        });
    }
    Result<Json> try_update_conditional(std::string_view json, std::string_view condition) const {
        FHIR_HPP_CSTR(c, condition, "condition");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_resource_update_conditional(get(), json.data(), json.size(), c.ptr(), o, l, e);
        });
    }
    Result<void> try_remove(std::string_view reference) const {
        FHIR_HPP_CSTR(r, reference, "reference");
        return detail::invoke([&](fhir_error_t **e) { return fhir_resource_delete(get(), r.ptr(), e); });
    }
    Result<Json> try_remove_many(const std::vector<std::string_view> &references) const {
        return with_refs(references, [&](const char *const *refs, std::size_t n) {
            return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
                return fhir_resource_delete_many(get(), refs, n, o, l, e);
            });
        });
    }
    Result<void> try_remove_by_query(std::string_view query) const {
        FHIR_HPP_CSTR(q, query, "query");
        return detail::invoke([&](fhir_error_t **e) { return fhir_resource_delete_by_query(get(), q.ptr(), e); });
    }
    /// Send a transaction or batch Bundle; the response Bundle.
    Result<Json> try_send_bundle(std::string_view json) const {
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_bundle_send(get(), json.data(), json.size(), o, l, e);
        });
    }
    /// History of the server (empty target), a type or a resource; `limit` 0 for all.
    Result<Json> try_history(std::string_view target = {}, std::uint64_t limit = 0) const {
        FHIR_HPP_CSTR_OPT(t, target, "target");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_history(get(), t.ptr(), limit, o, l, e);
        });
    }
    /// A FHIR operation; `target` empty for the system level; `parameters` empty for none.
    Result<Json> try_operation(std::string_view target, std::string_view name, std::string_view method = "GET",
                               std::string_view parameters = {}) const {
        FHIR_HPP_CSTR_OPT(t, target, "target");
        FHIR_HPP_CSTR(n, name, "operation name");
        FHIR_HPP_CSTR(m, method, "method");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_operation(get(), t.ptr(), n.ptr(), m.ptr(), parameters.empty() ? nullptr : parameters.data(),
                                  parameters.size(), o, l, e);
        });
    }
    Result<Json> try_summary() const {
        return detail::invoke_json(
            [&](char **o, std::size_t *l, fhir_error_t **e) { return fhir_server_summary(get(), o, l, e); });
    }
    Result<Json> try_capabilities() const {
        return detail::invoke_json(
            [&](char **o, std::size_t *l, fhir_error_t **e) { return fhir_server_capabilities(get(), o, l, e); });
    }
    /// The scope granted to a SMART Backend Services or OIDC handle.
    Result<Json> try_granted_scope() const {
        return detail::invoke_json(
            [&](char **o, std::size_t *l, fhir_error_t **e) { return fhir_server_granted_scope(get(), o, l, e); });
    }
    /// One raw request; `body` empty for none.
    Result<Response> try_request(std::string_view method, std::string_view path, std::string_view body = {}) const {
        FHIR_HPP_CSTR(m, method, "method");
        FHIR_HPP_CSTR(p, path, "path");
        Response resp;
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            char *out = nullptr;
            std::size_t len = 0;
            fhir_result rc = fhir_server_request(get(), m.ptr(), p.ptr(), body.empty() ? nullptr : body.data(),
                                                 body.size(), &resp.status, &out, &len, e);
            resp.body = Json(out, len);
            return rc;
        });
        if (!r.ok())
            return r.error();
        return resp;
    }

    // --- Bulk Data export ---

    /// Kick off an export; the status URL (keep it to poll, download or cancel).
    Result<Json> try_bulk_kickoff(const Bulk &bulk) const {
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            fhir_result rc = fhir_bulk_kickoff(get(), bulk.get(), o, e);
            *l = (rc == FHIR_OK && *o) ? std::strlen(*o) : 0;
            return rc;
        });
    }
    /// Poll once: done with the manifest, or the wait before the next poll.
    Result<BulkStatus> try_bulk_poll(const Bulk &bulk, std::string_view status_url) const {
        FHIR_HPP_CSTR(u, status_url, "status URL");
        BulkStatus st;
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            char *m = nullptr;
            std::size_t len = 0;
            fhir_result rc = fhir_bulk_poll(get(), bulk.get(), u.ptr(), &st.done, &m, &len, &st.next_poll_ms, e);
            st.manifest = Json(m, len);
            return rc;
        });
        if (!r.ok())
            return r.error();
        return st;
    }
    /// Poll until the export completes (or the Bulk's timeout); the manifest.
    Result<Json> try_bulk_wait(const Bulk &bulk, std::string_view status_url) const {
        FHIR_HPP_CSTR(u, status_url, "status URL");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_bulk_wait(get(), bulk.get(), u.ptr(), o, l, e);
        });
    }
    /**
     * Download every file of a manifest: `on_line(std::string_view line, std::string_view
     * resource_type, fhir::BulkFileKind kind, std::size_t file_index)` returning void or bool
     * (false stops), on the calling thread; an exception stops the download and is rethrown.
     */
    template <class F>
    Result<BulkSummary> try_bulk_download(const Bulk &bulk, std::string_view manifest, F &&on_line) const {
        using Fn = std::remove_reference_t<F>;
        BulkSummary sum{};
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            return fhir_bulk_download(get(), bulk.get(), manifest.data(), manifest.size(), &detail::LineTramp<Fn>::call,
                                      const_cast<void *>(static_cast<const void *>(&on_line)), &sum, e);
        });
        if (!r.ok())
            return r.error();
        return sum;
    }
    /// Download every file of a manifest into `dir` (one NDJSON file per manifest entry).
    Result<BulkSummary> try_bulk_download_to_dir(const Bulk &bulk, std::string_view manifest,
                                                 std::string_view dir) const {
        FHIR_HPP_CSTR(d, dir, "directory");
        BulkSummary sum{};
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            return fhir_bulk_download_to_dir(get(), bulk.get(), manifest.data(), manifest.size(), d.ptr(), &sum, e);
        });
        if (!r.ok())
            return r.error();
        return sum;
    }
    /// Cancel an export (DELETE its status URL); true when the server no longer knew it (404/410).
    Result<bool> try_bulk_cancel(std::string_view status_url) const {
        FHIR_HPP_CSTR(u, status_url, "status URL");
        bool gone = false;
        Result<void> r = detail::invoke([&](fhir_error_t **e) { return fhir_bulk_cancel(get(), u.ptr(), &gone, e); });
        if (!r.ok())
            return r.error();
        return gone;
    }
    /// A whole export (kick-off, wait, download with `on_line` as for try_bulk_download()). On a
    /// failure after the kick-off, the error's resume_url() is the status URL.
    template <class F> Result<BulkExport> try_bulk_export(const Bulk &bulk, F &&on_line) const {
        using Fn = std::remove_reference_t<F>;
        BulkExport out;
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            char *url = nullptr;
            fhir_result rc =
                fhir_bulk_export(get(), bulk.get(), &detail::LineTramp<Fn>::call,
                                 const_cast<void *>(static_cast<const void *>(&on_line)), &url, &out.summary, e);
            out.status_url = Json::adopt_cstr(url); // written on failures too: owned before a rethrow
            return rc;
        });
        if (!r.ok()) {
            Error err = r.error();
            if (out.status_url)
                err.set_resume_url(std::make_shared<Json>(std::move(out.status_url)));
            return err;
        }
        return out;
    }

    // --- search ---

    Result<Json> try_search_all(std::string_view query) const {
        FHIR_HPP_CSTR(q, query, "query");
        return detail::invoke_json(
            [&](char **o, std::size_t *l, fhir_error_t **e) { return fhir_search_all(get(), q.ptr(), o, l, e); });
    }
    Result<Json> try_search_all(const Query &query) const { return built(query, [&](std::string_view q) { return try_search_all(q); }); }
    Result<Json> try_search_limit(std::string_view query, std::uint64_t limit) const {
        FHIR_HPP_CSTR(q, query, "query");
        return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
            return fhir_search_limit(get(), q.ptr(), limit, o, l, e);
        });
    }
    Result<Json> try_search_limit(const Query &query, std::uint64_t limit) const {
        return built(query, [&](std::string_view q) { return try_search_limit(q, limit); });
    }
    Result<Json> try_search_first(std::string_view query) const {
        FHIR_HPP_CSTR(q, query, "query");
        return detail::invoke_json(
            [&](char **o, std::size_t *l, fhir_error_t **e) { return fhir_search_first(get(), q.ptr(), o, l, e); });
    }
    Result<Json> try_search_first(const Query &query) const {
        return built(query, [&](std::string_view q) { return try_search_first(q); });
    }
    Result<std::uint64_t> try_search_count(std::string_view query) const {
        FHIR_HPP_CSTR(q, query, "query");
        std::uint64_t n = 0;
        Result<void> r = detail::invoke([&](fhir_error_t **e) { return fhir_search_count(get(), q.ptr(), &n, e); });
        if (!r.ok())
            return r.error();
        return n;
    }
    Result<std::uint64_t> try_search_count(const Query &query) const {
        return built(query, [&](std::string_view q) { return try_search_count(q); });
    }

    /**
     * Stream a search page by page: `on_page(std::string_view bundle)` returns void or bool
     * (false stops). The view is valid only during the callback. An exception thrown by it stops
     * the search and is rethrown when the call returns. On a paging failure the error's
     * resume_url() is the page to retry from.
     */
    template <class F> Result<Paging> try_search_pages(std::string_view query, F &&on_page) const {
        FHIR_HPP_CSTR(q, query, "query");
        using Fn = std::remove_reference_t<F>;
        struct Tramp {
            static int call(const char *page, std::size_t len, void *ud) noexcept {
                return detail::call_guarded(*static_cast<Fn *>(ud), std::string_view(page, len));
            }
        };
        return paged([&](char **next, fhir_error_t **e) {
            return fhir_search_pages(get(), q.ptr(), &Tramp::call, const_cast<void *>(static_cast<const void *>(&on_page)),
                                     next, e);
        });
    }
    /**
     * Stream a search resource by resource: `on_resource(std::string_view json, std::string_view
     * search_mode)` returns void or bool (false stops); as try_search_pages() otherwise.
     */
    template <class F> Result<Paging> try_search_resources(std::string_view query, F &&on_resource) const {
        FHIR_HPP_CSTR(q, query, "query");
        using Fn = std::remove_reference_t<F>;
        struct Tramp {
            static int call(const char *res, std::size_t len, const char *mode, void *ud) noexcept {
                return detail::call_guarded(*static_cast<Fn *>(ud), std::string_view(res, len),
                                            std::string_view(mode ? mode : ""));
            }
        };
        return paged([&](char **next, fhir_error_t **e) {
            return fhir_search_resources(get(), q.ptr(), &Tramp::call,
                                         const_cast<void *>(static_cast<const void *>(&on_resource)), next, e);
        });
    }

#if FHIR_KINDLING_HPP_EXCEPTIONS
    // --- throwing forms (fhir::Error) ---

    static Server open(std::string_view base_url, const Options *options = nullptr) {
        return try_open(base_url, options).value();
    }
    static Server open(std::string_view base_url, const Options &options) { return open(base_url, &options); }
    static Server open_basic(std::string_view base_url, std::string_view user, std::string_view password,
                             const Options *options = nullptr) {
        return try_open_basic(base_url, user, password, options).value();
    }
    static Server open_token(std::string_view base_url, std::string_view token, const Options *options = nullptr) {
        return try_open_token(base_url, token, options).value();
    }
    static Server open_oidc(std::string_view base_url, std::string_view client_id, std::string_view client_secret,
                            std::string_view provider_url, const Options *options = nullptr) {
        return try_open_oidc(base_url, client_id, client_secret, provider_url, options).value();
    }
    static Server open_smart_backend(std::string_view base_url, std::string_view client_id,
                                     std::string_view private_key, const Options *options = nullptr) {
        return try_open_smart_backend(base_url, client_id, private_key, options).value();
    }
    static Server from_env(bool no_auth = false, const Options *options = nullptr) {
        return try_from_env(no_auth, options).value();
    }

    Server scope(const Cancel *cancel, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
        return try_scope(cancel, timeout).value();
    }
    Server scope(const Cancel &cancel, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
        return try_scope(&cancel, timeout).value();
    }
    CallInfo last_call() const { return try_last_call().value(); }

    Json read(std::string_view reference) const { return try_read(reference).value(); }
    Json read_many(const std::vector<std::string_view> &refs) const { return try_read_many(refs).value(); }
    Json create(std::string_view json, std::string_view if_none_exist = {}) const {
        return try_create(json, if_none_exist).value();
    }
    Json create_all(std::string_view json, std::size_t batch_size = 0) const {
        return try_create_all(json, batch_size).value();
    }
    Json update(std::string_view json, std::string_view if_match = {}) const { return try_update(json, if_match).value(); }
    Json update_conditional(std::string_view json, std::string_view condition) const {
        return try_update_conditional(json, condition).value();
    }
    /// Delete a resource ("delete" is a keyword).
    void remove(std::string_view reference) const { try_remove(reference).value(); }
    Json remove_many(const std::vector<std::string_view> &refs) const { return try_remove_many(refs).value(); }
    void remove_by_query(std::string_view query) const { try_remove_by_query(query).value(); }
    Json send_bundle(std::string_view json) const { return try_send_bundle(json).value(); }
    Json history(std::string_view target = {}, std::uint64_t limit = 0) const { return try_history(target, limit).value(); }
    Json operation(std::string_view target, std::string_view name, std::string_view method = "GET",
                   std::string_view parameters = {}) const {
        return try_operation(target, name, method, parameters).value();
    }
    Json summary() const { return try_summary().value(); }
    Json capabilities() const { return try_capabilities().value(); }
    Json granted_scope() const { return try_granted_scope().value(); }
    Response request(std::string_view method, std::string_view path, std::string_view body = {}) const {
        return try_request(method, path, body).value();
    }
    Json bulk_kickoff(const Bulk &bulk) const { return try_bulk_kickoff(bulk).value(); }
    BulkStatus bulk_poll(const Bulk &bulk, std::string_view status_url) const {
        return try_bulk_poll(bulk, status_url).value();
    }
    Json bulk_wait(const Bulk &bulk, std::string_view status_url) const { return try_bulk_wait(bulk, status_url).value(); }
    template <class F> BulkSummary bulk_download(const Bulk &bulk, std::string_view manifest, F &&on_line) const {
        return try_bulk_download(bulk, manifest, std::forward<F>(on_line)).value();
    }
    BulkSummary bulk_download_to_dir(const Bulk &bulk, std::string_view manifest, std::string_view dir) const {
        return try_bulk_download_to_dir(bulk, manifest, dir).value();
    }
    bool bulk_cancel(std::string_view status_url) const { return try_bulk_cancel(status_url).value(); }
    template <class F> BulkExport bulk_export(const Bulk &bulk, F &&on_line) const {
        return try_bulk_export(bulk, std::forward<F>(on_line)).value();
    }

    Json search_all(std::string_view query) const { return try_search_all(query).value(); }
    Json search_all(const Query &query) const { return try_search_all(query).value(); }
    Json search_limit(std::string_view query, std::uint64_t limit) const { return try_search_limit(query, limit).value(); }
    Json search_limit(const Query &query, std::uint64_t limit) const { return try_search_limit(query, limit).value(); }
    Json search_first(std::string_view query) const { return try_search_first(query).value(); }
    Json search_first(const Query &query) const { return try_search_first(query).value(); }
    std::uint64_t search_count(std::string_view query) const { return try_search_count(query).value(); }
    std::uint64_t search_count(const Query &query) const { return try_search_count(query).value(); }
    template <class F> Paging search_pages(std::string_view query, F &&on_page) const {
        return try_search_pages(query, std::forward<F>(on_page)).value();
    }
    template <class F> Paging search_resources(std::string_view query, F &&on_resource) const {
        return try_search_resources(query, std::forward<F>(on_resource)).value();
    }
#endif

  private:
    static const fhir_options_t *opt(const Options *o) noexcept { return o ? o->get() : nullptr; }

    template <class F> static Result<Server> make(const Options *options, F &&f) {
        Server server(nullptr);
        if (options) { // the C handle holds the addresses of the options' callables
            if (options->log_)
                server.keep_.push_back(options->log_);
            if (options->hook_)
                server.keep_.push_back(options->hook_);
        }
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            fhir_server_t *s = nullptr;
            fhir_result rc = f(&s, e);
            server.ptr_.reset(s);
            return rc;
        });
        if (!r.ok())
            return r.error();
        return server;
    }

    template <class F> static auto built(const Query &query, F &&f) -> decltype(f(std::string_view())) {
        Result<Json> q = query.try_build();
        if (!q.ok())
            return q.error();
        return f(q.value().view());
    }

    template <class F> static Result<Json> with_refs(const std::vector<std::string_view> &refs, F &&f) {
        std::vector<std::string> owned;
        std::vector<const char *> ptrs;
        owned.reserve(refs.size());
        ptrs.reserve(refs.size());
        for (std::string_view r : refs) {
            if (r.find('\0') != std::string_view::npos)
                return detail::nul_error("reference");
            owned.emplace_back(r);
            ptrs.push_back(owned.back().c_str());
        }
        return f(ptrs.empty() ? nullptr : ptrs.data(), ptrs.size());
    }

    template <class F> static Result<Paging> paged(F &&f) {
        Json next_url;
        Result<void> r = detail::invoke([&](fhir_error_t **e) {
            char *next = nullptr;
            fhir_result rc = f(&next, e);
            next_url = Json::adopt_cstr(next); // written on failures too: owned before a rethrow
            return rc;
        });
        if (!r.ok()) {
            Error err = r.error();
            if (next_url)
                err.set_resume_url(std::make_shared<Json>(std::move(next_url)));
            return err;
        }
        Paging p;
        p.next_url = std::move(next_url);
        return p;
    }

    // Callables the C handle calls (log callback, request hook): declared first, so destroyed
    // after the handle.
    std::vector<std::shared_ptr<void>> keep_;
    std::unique_ptr<fhir_server_t, detail::ServerDeleter> ptr_;
};

// ------------------------------------------------------------------------------------------------
// Free functions

/// The public JWK Set of a private key (PEM text or a file path); `algorithm` empty for the key's own.
inline Result<Json> try_smart_public_jwks(std::string_view private_key, std::string_view kid,
                                          std::string_view algorithm = {}) {
    FHIR_HPP_CSTR(k, private_key, "private key");
    FHIR_HPP_CSTR(i, kid, "kid");
    FHIR_HPP_CSTR_OPT(a, algorithm, "algorithm");
    return detail::invoke_json([&](char **o, std::size_t *l, fhir_error_t **e) {
        return fhir_smart_public_jwks(k.ptr(), i.ptr(), a.ptr(), o, l, e);
    });
}
#if FHIR_KINDLING_HPP_EXCEPTIONS
inline Json smart_public_jwks(std::string_view private_key, std::string_view kid, std::string_view algorithm = {}) {
    return try_smart_public_jwks(private_key, kid, algorithm).value();
}
#endif

} // namespace fhir

#undef FHIR_HPP_CSTR
#undef FHIR_HPP_CSTR_OPT

#endif /* FHIR_KINDLING_HPP */
