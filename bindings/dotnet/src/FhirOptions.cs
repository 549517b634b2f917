using System;

namespace FhirKindling
{
    /// <summary>
    /// Connection options for the FhirServer constructors (a fhir_options_t): headers, proxies,
    /// timeouts, TLS, retries, OpenID Connect and SMART details, limits. Each setter checks its value
    /// at once (a bad value throws FhirException naming the option) and returns this for chaining.
    /// A constructor copies the options: changing or disposing them later does not affect a server.
    /// Not thread-safe.
    /// </summary>
    public sealed partial class FhirOptions : IDisposable
    {
        internal readonly OptionsHandle Handle;

        public FhirOptions()
        {
            Handle = Native.fhir_options_new();
            if (Handle.IsInvalid) throw new OutOfMemoryException("fhir_options_new");
        }

        public void Dispose() { Handle.Dispose(); }

        delegate FhirResult Setter(OptionsHandle o, out ErrorHandle e);

        FhirOptions Set(Setter f)
        {
            ErrorHandle err;
            FhirException.Check(f(Handle, out err), err);
            return this;
        }

        /// <summary>A header sent with every request to the FHIR server; its value is a secret for the library.</summary>
        public FhirOptions AddHeader(string name, string value)
        {
            var n = Utf8.Z(name, "header name");
            var v = Utf8.Z(value, "header value");
            try { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_add_header(o, n, v, out e)); }
            finally { Utf8.Wipe(v); }
        }

        /// <summary>A proxy for "http", "https" (CONNECT) or "all" requests; credentials in the URL stay secret.</summary>
        public FhirOptions SetProxy(string scheme, string proxyUrl)
        {
            var s = Utf8.Z(scheme, "proxy scheme");
            var u = Utf8.Z(proxyUrl, "proxy URL");
            try { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_proxy(o, s, u, out e)); }
            finally { Utf8.Wipe(u); }
        }

        internal static ulong Ms(TimeSpan t)
        {
            if (t <= TimeSpan.Zero) return 0;
            var ms = (ulong)Math.Ceiling(t.TotalMilliseconds);
            return ms == 0 ? 1 : ms;
        }

        /// <summary>The whole-request timeout (TimeSpan.Zero: none; default 60 s).</summary>
        public FhirOptions SetTimeout(TimeSpan t) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_timeout_ms(o, Ms(t), out e)); }

        /// <summary>The timeout of opening a connection (TCP and TLS).</summary>
        public FhirOptions SetConnectTimeout(TimeSpan t) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_connect_timeout_ms(o, Ms(t), out e)); }

        /// <summary>Trust the PEM certificates of a file too.</summary>
        public FhirOptions AddCaFile(string file)
        {
            var f = Utf8.Z(file, "CA file");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_add_ca_file(o, f, out e));
        }

        /// <summary>Use the system's trusted roots (on by default).</summary>
        public FhirOptions SetSystemRoots(bool enabled) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_system_roots(o, enabled, out e)); }

        /// <summary>A client certificate for mutual TLS (PEM files; keyFile null when certFile holds the key).</summary>
        public FhirOptions SetClientCert(string certFile, string keyFile = null)
        {
            var c = Utf8.Z(certFile, "client certificate file");
            var k = Utf8.ZOpt(keyFile, "client key file");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_client_cert(o, c, k, out e));
        }

        /// <summary>Turn certificate verification off. For tests only.</summary>
        public FhirOptions SetInsecureSkipTlsVerify(bool skip) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_insecure_skip_tls_verify(o, skip, out e)); }

        /// <summary>Turn retrying on, for these HTTP statuses.</summary>
        public FhirOptions SetRetryStatusCodes(params ushort[] codes)
        {
            var c = codes ?? new ushort[0];
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_retry_status_codes(o, c.Length == 0 ? null : c, (UIntPtr)c.Length, out e));
        }

        /// <summary>The methods retried, such as "GET,PUT"; turns retrying on.</summary>
        public FhirOptions SetRetryMethods(string methods)
        {
            var m = Utf8.Z(methods, "retry methods");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_retry_methods(o, m, out e));
        }

        /// <summary>Attempts per request, the first included.</summary>
        public FhirOptions SetRetryMaxAttempts(uint n) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_retry_max_attempts(o, n, out e)); }

        /// <summary>The exponential backoff factor in seconds.</summary>
        public FhirOptions SetRetryBackoffFactor(double seconds) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_retry_backoff_factor(o, seconds, out e)); }

        /// <summary>The random part of each wait, as a ratio (0 to 1).</summary>
        public FhirOptions SetRetryJitter(double ratio) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_retry_jitter(o, ratio, out e)); }

        /// <summary>The longest single backoff wait (Retry-After included).</summary>
        public FhirOptions SetRetryMaxBackoffWait(TimeSpan t) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_retry_max_backoff_wait(o, t.TotalSeconds, out e)); }

        /// <summary>The User-Agent header.</summary>
        public FhirOptions SetUserAgent(string userAgent)
        {
            var u = Utf8.Z(userAgent, "user agent");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_user_agent(o, u, out e));
        }

        /// <summary>The scope of OpenID Connect token requests.</summary>
        public FhirOptions SetOidcScope(string scope)
        {
            var s = Utf8.Z(scope, "OIDC scope");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_oidc_scope(o, s, out e));
        }

        /// <summary>"client_secret_basic" or "client_secret_post".</summary>
        public FhirOptions SetOidcAuthMethod(string method)
        {
            var m = Utf8.Z(method, "OIDC auth method");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_oidc_auth_method(o, m, out e));
        }

        /// <summary>Let paging follow next links to another server (off by default).</summary>
        public FhirOptions SetAllowForeignLinks(bool allow) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_allow_foreign_links(o, allow, out e)); }

        /// <summary>The largest response body (FhirResult.Limit past it).</summary>
        public FhirOptions SetMaxResponseBytes(ulong n) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_max_response_bytes(o, n, out e)); }

        /// <summary>The largest collected result (SearchAll, History, ...).</summary>
        public FhirOptions SetMaxResultBytes(ulong n) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_max_result_bytes(o, n, out e)); }

        /// <summary>The most pages one call follows.</summary>
        public FhirOptions SetMaxPages(ulong n) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_max_pages(o, n, out e)); }

        /// <summary>Transactions CreateAll keeps in flight (1..64; default 1); references still come back in input order.</summary>
        public FhirOptions SetCreateAllParallel(uint n) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_create_all_parallel(o, new UIntPtr(n), out e)); }

        /// <summary>The key id (kid) of the SMART Backend Services key.</summary>
        public FhirOptions SetSmartKeyId(string kid)
        {
            var k = Utf8.Z(kid, "SMART key id");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_smart_key_id(o, k, out e));
        }

        /// <summary>"RS384" or "ES384" (default: the key's).</summary>
        public FhirOptions SetSmartAlgorithm(string algorithm)
        {
            var a = Utf8.Z(algorithm, "SMART algorithm");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_smart_algorithm(o, a, out e));
        }

        /// <summary>The scope of the SMART token request, such as "system/*.rs".</summary>
        public FhirOptions SetSmartScope(string scope)
        {
            var s = Utf8.Z(scope, "SMART scope");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_smart_scope(o, s, out e));
        }

        /// <summary>The token endpoint (default: from [base]/.well-known/smart-configuration).</summary>
        public FhirOptions SetSmartTokenUrl(string url)
        {
            var u = Utf8.Z(url, "SMART token URL");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_smart_token_url(o, u, out e));
        }

        /// <summary>The jku header of the client assertions.</summary>
        public FhirOptions SetSmartJku(string url)
        {
            var u = Utf8.Z(url, "SMART jku");
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_smart_jku(o, u, out e));
        }
    }
}
