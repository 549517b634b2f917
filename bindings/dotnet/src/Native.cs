// The P/Invoke surface of include/fhir_kindling.h: internal, one declaration per C function.
// Strings go in as NUL-terminated UTF-8 byte arrays (Utf8.Z) and come back as pointers decoded
// explicitly as UTF-8: no reliance on the platform's default string marshalling.
using System;
using System.Runtime.InteropServices;

namespace FhirKindling
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int PageCallback(IntPtr pageJson, UIntPtr len, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int ResourceCallback(IntPtr resourceJson, UIntPtr len, IntPtr searchMode, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void LogCallback(int level, IntPtr target, UIntPtr targetLen, IntPtr message, UIntPtr messageLen, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int RequestHookCallback(IntPtr method, IntPtr url, IntPtr headers, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int BulkLineCallback(IntPtr line, UIntPtr len, IntPtr resourceType, int kind, UIntPtr fileIndex, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void BulkProgressCallback(IntPtr progress, ulong nextPollMs, IntPtr userData);

    /// <summary>fhir_bulk_summary_t (the bool as a byte: the struct stays blittable).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct BulkSummaryNative
    {
        internal ulong files;
        internal ulong resources;
        internal ulong errors;
        internal ulong deleted;
        internal ulong bytes;
        internal byte stopped;
    }

    /// <summary>fhir_call_info_t (natural alignment, as the C compiler lays it out).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CallInfoNative
    {
        internal ushort status;
        internal uint attempts;
        internal uint requests;
        internal ulong bytes_sent;
        internal ulong bytes_received;
        internal ulong total_us;
        internal ulong first_byte_us;
        internal ulong connect_us;
        internal uint new_connections;
    }

    internal static class Native
    {
        internal const string Lib = "fhir_kindling";

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr fhir_version();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_string_free(IntPtr s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr fhir_result_str(int code);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_error_code(ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr fhir_error_message(ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ushort fhir_error_http_status(ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr fhir_error_body(ErrorHandle e, out UIntPtr len);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_error_free(IntPtr e);

        // Options
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern OptionsHandle fhir_options_new();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_options_free(IntPtr o);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_add_header(OptionsHandle o, byte[] name, byte[] value, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_proxy(OptionsHandle o, byte[] scheme, byte[] url, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_timeout_ms(OptionsHandle o, ulong ms, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_connect_timeout_ms(OptionsHandle o, ulong ms, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_add_ca_file(OptionsHandle o, byte[] file, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_system_roots(OptionsHandle o, [MarshalAs(UnmanagedType.I1)] bool on, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_client_cert(OptionsHandle o, byte[] cert, byte[] key, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_insecure_skip_tls_verify(OptionsHandle o, [MarshalAs(UnmanagedType.I1)] bool skip, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_retry_status_codes(OptionsHandle o, ushort[] codes, UIntPtr count, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_retry_methods(OptionsHandle o, byte[] methods, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_retry_max_attempts(OptionsHandle o, uint n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_retry_backoff_factor(OptionsHandle o, double seconds, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_retry_jitter(OptionsHandle o, double ratio, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_retry_max_backoff_wait(OptionsHandle o, double seconds, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_user_agent(OptionsHandle o, byte[] ua, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_oidc_scope(OptionsHandle o, byte[] scope, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_oidc_auth_method(OptionsHandle o, byte[] method, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_allow_foreign_links(OptionsHandle o, [MarshalAs(UnmanagedType.I1)] bool allow, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_max_response_bytes(OptionsHandle o, ulong n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_max_result_bytes(OptionsHandle o, ulong n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_max_pages(OptionsHandle o, ulong n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_create_all_parallel(OptionsHandle o, UIntPtr n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_smart_key_id(OptionsHandle o, byte[] kid, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_smart_algorithm(OptionsHandle o, byte[] alg, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_smart_scope(OptionsHandle o, byte[] scope, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_smart_token_url(OptionsHandle o, byte[] url, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_smart_jku(OptionsHandle o, byte[] url, out ErrorHandle e);

        // Query builder
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_new(byte[] type, out QueryHandle q, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_query_free(IntPtr q);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_where(QueryHandle q, byte[] field, byte[] op, byte[] value, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_param(QueryHandle q, byte[] name, byte[] value, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_include(QueryHandle q, byte[] target, [MarshalAs(UnmanagedType.I1)] bool iterate, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_revinclude(QueryHandle q, byte[] target, [MarshalAs(UnmanagedType.I1)] bool iterate, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_has(QueryHandle q, byte[] chain, byte[] value, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_sort(QueryHandle q, byte[] fields, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_elements(QueryHandle q, byte[] fields, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_summary(QueryHandle q, byte[] mode, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_page_size(QueryHandle q, uint n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_query_build(QueryHandle q, out NativeString query, out UIntPtr len, out ErrorHandle e);

        // Constructors and the handle
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_new(byte[] url, OptionsHandle o, out ServerHandle s, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_new_basic(byte[] url, byte[] user, byte[] password, OptionsHandle o, out ServerHandle s, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_new_token(byte[] url, byte[] token, OptionsHandle o, out ServerHandle s, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_new_oidc(byte[] url, byte[] clientId, byte[] secret, byte[] provider, OptionsHandle o, out ServerHandle s, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_new_smart_backend(byte[] url, byte[] clientId, byte[] key, OptionsHandle o, out ServerHandle s, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_from_env([MarshalAs(UnmanagedType.I1)] bool noAuth, OptionsHandle o, out ServerHandle s, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_server_free(IntPtr s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr fhir_server_base_url(IntPtr s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_smart_public_jwks(byte[] key, byte[] kid, byte[] alg, out NativeString json, out UIntPtr len, out ErrorHandle e);

        // Calls on a handle (IntPtr: FhirServer keeps its SafeHandle referenced during each call)
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_granted_scope(IntPtr s, out NativeString scope, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_capabilities(IntPtr s, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_summary(IntPtr s, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_request(IntPtr s, byte[] method, byte[] path, IntPtr body, UIntPtr bodyLen, out ushort status, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_read(IntPtr s, byte[] reference, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_read_many(IntPtr s, IntPtr[] refs, UIntPtr count, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_create(IntPtr s, IntPtr json, UIntPtr jsonLen, byte[] ifNoneExist, out NativeString outJson, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_create_all(IntPtr s, IntPtr json, UIntPtr jsonLen, UIntPtr batchSize, out NativeString outJson, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_update(IntPtr s, IntPtr json, UIntPtr jsonLen, byte[] ifMatch, out NativeString outJson, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_update_conditional(IntPtr s, IntPtr json, UIntPtr jsonLen, byte[] condition, out NativeString outJson, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_delete(IntPtr s, byte[] reference, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_delete_many(IntPtr s, IntPtr[] refs, UIntPtr count, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_resource_delete_by_query(IntPtr s, byte[] query, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bundle_send(IntPtr s, IntPtr json, UIntPtr jsonLen, out NativeString outJson, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_history(IntPtr s, byte[] target, ulong limit, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_operation(IntPtr s, byte[] target, byte[] name, byte[] method, IntPtr parameters, UIntPtr parametersLen, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_search_all(IntPtr s, byte[] query, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_search_limit(IntPtr s, byte[] query, ulong limit, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_search_first(IntPtr s, byte[] query, out NativeString json, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_search_count(IntPtr s, byte[] query, out ulong count, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_search_pages(IntPtr s, byte[] query, PageCallback cb, IntPtr userData, out NativeString nextUrl, out ErrorHandle e);
        // Embedding (issue 11): cancel tokens, scoped handles, call records, logs, request hooks
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern CancelHandle fhir_cancel_new();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_cancel_trigger(CancelHandle c);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] [return: MarshalAs(UnmanagedType.I1)] internal static extern bool fhir_cancel_is_triggered(CancelHandle c);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_cancel_free(IntPtr c);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_scope(IntPtr s, CancelHandle c, ulong timeoutMs, out ServerHandle scoped, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_server_last_call(IntPtr s, out CallInfoNative info, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_set_log_callback(int maxLevel, LogCallback cb, IntPtr userData, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_log_callback(OptionsHandle o, int maxLevel, LogCallback cb, IntPtr userData, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_headers_add(IntPtr headers, byte[] name, byte[] value, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_request_hook(OptionsHandle o, RequestHookCallback hook, IntPtr userData, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_search_post_threshold(OptionsHandle o, UIntPtr urlLen, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_pool_idle_timeout_ms(OptionsHandle o, ulong ms, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_options_set_pool_max_idle_per_host(OptionsHandle o, UIntPtr n, out ErrorHandle e);

        // Bulk Data export (issue 10)
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern BulkHandle fhir_bulk_new();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void fhir_bulk_free(IntPtr b);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_level(BulkHandle b, int level, byte[] groupId, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_add_type(BulkHandle b, byte[] resourceType, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_since(BulkHandle b, byte[] instant, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_until(BulkHandle b, byte[] instant, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_add_type_filter(BulkHandle b, byte[] filter, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_output_format(BulkHandle b, byte[] format, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_lenient(BulkHandle b, [MarshalAs(UnmanagedType.I1)] bool lenient, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_poll_interval_ms(BulkHandle b, ulong minMs, ulong maxMs, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_timeout_ms(BulkHandle b, ulong ms, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_parallel(BulkHandle b, UIntPtr n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_max_line_bytes(BulkHandle b, UIntPtr n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_file_attempts(BulkHandle b, uint n, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_set_progress_callback(BulkHandle b, BulkProgressCallback cb, IntPtr userData, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_kickoff(IntPtr s, BulkHandle b, out NativeString statusUrl, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_poll(IntPtr s, BulkHandle b, byte[] statusUrl, [MarshalAs(UnmanagedType.I1)] out bool done, out NativeString manifest, out UIntPtr len, out ulong nextPollMs, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_wait(IntPtr s, BulkHandle b, byte[] statusUrl, out NativeString manifest, out UIntPtr len, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_download(IntPtr s, BulkHandle b, IntPtr manifest, UIntPtr manifestLen, BulkLineCallback cb, IntPtr userData, out BulkSummaryNative summary, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_download_to_dir(IntPtr s, BulkHandle b, IntPtr manifest, UIntPtr manifestLen, byte[] dir, out BulkSummaryNative summary, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_cancel(IntPtr s, byte[] statusUrl, [MarshalAs(UnmanagedType.I1)] out bool alreadyGone, out ErrorHandle e);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_bulk_export(IntPtr s, BulkHandle b, BulkLineCallback cb, IntPtr userData, out NativeString statusUrl, out BulkSummaryNative summary, out ErrorHandle e);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern FhirResult fhir_search_resources(IntPtr s, byte[] query, ResourceCallback cb, IntPtr userData, out NativeString nextUrl, out ErrorHandle e);
    }
}
