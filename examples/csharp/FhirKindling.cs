// C# (P/Invoke) bindings for the fhir_kindling C ABI (include/fhir_kindling.h, version 0.2),
// plus a thin managed wrapper.
//
// Library lookup: DllImport("fhir_kindling") makes Mono look for libfhir_kindling.so on the
// dynamic loader's path, so run with LD_LIBRARY_PATH=<prefix>/lib (examples/csharp/run.sh does).
// (With the .NET SDK, use NativeLibrary.SetDllImportResolver or put the .so next to the app.)
//
// Marshalling rules used throughout, all explicit so they do not depend on the runtime's defaults
// (LPStr is UTF-8 on Mono/Unix but the ANSI code page on .NET Framework/Windows):
// - strings go in as NUL-terminated UTF-8 byte[] (Utf8.Z); JSON bodies as UTF-8 byte[] + length;
// - strings and JSON coming out are copied from the C buffer with their length and decoded as
//   UTF-8, then the library's buffer is freed with fhir_string_free (never Marshal.PtrToStringAnsi);
// - size_t is UIntPtr, uint16_t is ushort, C `bool` is [MarshalAs(UnmanagedType.I1)] bool;
// - fhir_result is returned as int and cast to FhirResult (unknown future codes stay numeric);
// - handles are SafeHandles: the marshaller AddRefs them for the duration of every call, so
//   Dispose() during a call from another thread defers fhir_server_free until the call returns
//   (the header says only fhir_server_free must not race with other calls on a handle); FhirServer
//   also refuses calls started after Dispose() with ObjectDisposedException.
using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;

namespace FhirKindling
{
    /// <summary>Mirrors the C enum fhir_result. Values are ABI: only ever added, never renumbered.</summary>
    public enum FhirResult
    {
        Ok = 0,
        NullArgument = 1,
        InvalidArgument = 2,
        Config = 3,
        Connect = 4,
        Tls = 5,
        Timeout = 6,
        HttpStatus = 7,
        Auth = 8,
        Json = 9,
        NotFound = 10,
        Gone = 11,
        Conflict = 12,
        Proxy = 13,
        Protocol = 14,
        Paging = 15,
        Io = 16,
        Panic = 17,
        Runtime = 18,
    }

    /// <summary>Owns a fhir_server_t*; ReleaseHandle calls fhir_server_free exactly once.</summary>
    public sealed class ServerHandle : SafeHandle
    {
        private ServerHandle() : base(IntPtr.Zero, true) { }
        internal ServerHandle(IntPtr p) : base(IntPtr.Zero, true) { SetHandle(p); }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.fhir_server_free(handle);
            return true;
        }
    }

    /// <summary>Owns a fhir_options_t*; ReleaseHandle calls fhir_options_free exactly once.</summary>
    public sealed class OptionsHandle : SafeHandle
    {
        private OptionsHandle() : base(IntPtr.Zero, true) { } // used by the marshaller (return value)
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.fhir_options_free(handle);
            return true;
        }
    }

    /// <summary>cdecl fhir_resource_callback: (resource_json, len, search_mode, user_data) -> 0 go on / non-zero stop.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int ResourceCallback(IntPtr resourceJson, UIntPtr len, IntPtr searchMode, IntPtr userData);

    /// <summary>Raw P/Invoke declarations (a subset of the header). Strings are NUL-terminated UTF-8 byte[].</summary>
    public static class Native
    {
        public const string Lib = "fhir_kindling";

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern void fhir_string_free(IntPtr json);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr fhir_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr fhir_result_str(int code);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_error_code(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr fhir_error_message(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern ushort fhir_error_http_status(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr fhir_error_body(IntPtr error, out UIntPtr lenOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern void fhir_error_free(IntPtr error);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern OptionsHandle fhir_options_new();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern void fhir_options_free(IntPtr options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_timeout_ms(OptionsHandle options, ulong timeoutMs, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_connect_timeout_ms(OptionsHandle options, ulong timeoutMs, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_add_header(OptionsHandle options, byte[] name, byte[] value, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_user_agent(OptionsHandle options, byte[] userAgent, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_insecure_skip_tls_verify(
            OptionsHandle options, [MarshalAs(UnmanagedType.I1)] bool skip, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_allow_foreign_links(
            OptionsHandle options, [MarshalAs(UnmanagedType.I1)] bool allow, out IntPtr errorOut);

        // `options` may be NULL: declared as IntPtr here; the wrapper passes DangerousGetHandle()
        // under a DangerousAddRef/Release pair.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_server_new(byte[] baseUrl, IntPtr options, out IntPtr serverOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_server_from_env(
            [MarshalAs(UnmanagedType.I1)] bool noAuth, IntPtr options, out IntPtr serverOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern void fhir_server_free(IntPtr server);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_add_ca_file(OptionsHandle options, byte[] path, out IntPtr errorOut);

        // SMART Backend Services.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_server_new_smart_backend(byte[] baseUrl, byte[] clientId, byte[] privateKey, IntPtr options,
            out IntPtr serverOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_server_granted_scope(ServerHandle server, out IntPtr scopeOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_smart_public_jwks(byte[] privateKey, byte[] kid, byte[] algorithm,
            out IntPtr jsonOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_smart_key_id(OptionsHandle options, byte[] kid, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_smart_algorithm(OptionsHandle options, byte[] algorithm, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_smart_scope(OptionsHandle options, byte[] scope, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_smart_token_url(OptionsHandle options, byte[] url, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_options_set_smart_jku(OptionsHandle options, byte[] url, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr fhir_server_base_url(ServerHandle server);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_server_capabilities(ServerHandle server, out IntPtr jsonOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_resource_read(ServerHandle server, byte[] reference, out IntPtr jsonOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_resource_create(ServerHandle server, byte[] json, UIntPtr jsonLen, byte[] ifNoneExist,
            out IntPtr jsonOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_resource_update(ServerHandle server, byte[] json, UIntPtr jsonLen, byte[] ifMatch,
            out IntPtr jsonOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_resource_delete(ServerHandle server, byte[] reference, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_search_all(ServerHandle server, byte[] query, out IntPtr jsonOut, out UIntPtr lenOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_search_count(ServerHandle server, byte[] query, out ulong countOut, out IntPtr errorOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        public static extern int fhir_search_resources(ServerHandle server, byte[] query, ResourceCallback callback, IntPtr userData,
            out IntPtr nextUrlOut, out IntPtr errorOut);
    }

    /// <summary>UTF-8 conversions between managed strings and C buffers.</summary>
    public static class Utf8
    {
        // Throws on lone surrogates instead of silently sending U+FFFD.
        private static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);

        /// <summary>NUL-terminated UTF-8 bytes, or null for null. Embedded NULs are refused (C would truncate).</summary>
        public static byte[] Z(string s, string paramName)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("string contains a NUL character", paramName);
            int n = Strict.GetByteCount(s);
            var b = new byte[n + 1]; // last byte stays 0
            Strict.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>UTF-8 bytes without a terminator (for the `json, json_len` parameters).</summary>
        public static byte[] Bytes(string s) { return Strict.GetBytes(s); }

        /// <summary>Decode `len` bytes at `p` (NULL gives null).</summary>
        public static string FromPtr(IntPtr p, UIntPtr len)
        {
            if (p == IntPtr.Zero) return null;
            ulong n = len.ToUInt64();
            if (n > int.MaxValue) throw new OverflowException("buffer of " + n + " bytes is too large for a managed string");
            var b = new byte[(int)n];
            Marshal.Copy(p, b, 0, (int)n);
            return Encoding.UTF8.GetString(b);
        }

        /// <summary>Decode a NUL-terminated UTF-8 string at `p` (NULL gives null).</summary>
        public static string FromPtrZ(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return FromPtr(p, (UIntPtr)(uint)n);
        }

        /// <summary>Copy a library-owned buffer into a string, then fhir_string_free it.</summary>
        public static string TakeBuffer(IntPtr p, UIntPtr len)
        {
            try { return FromPtr(p, len); }
            finally { Native.fhir_string_free(p); }
        }

        /// <summary>Same, for a NUL-terminated buffer whose length is not returned (next_url_out).</summary>
        public static string TakeBufferZ(IntPtr p)
        {
            try { return FromPtrZ(p); }
            finally { Native.fhir_string_free(p); }
        }
    }

    /// <summary>A failed call: the fhir_result code, the HTTP status (0 if none) and the server's body (often an OperationOutcome).</summary>
    public class FhirException : Exception
    {
        public FhirResult Code { get; private set; }
        public int HttpStatus { get; private set; }
        /// <summary>The response body, or null when the server sent none.</summary>
        public string Body { get; private set; }

        public FhirException(FhirResult code, string message, int httpStatus, string body)
            : base(message)
        {
            Code = code;
            HttpStatus = httpStatus;
            Body = body;
        }

        public override string ToString()
        {
            return "FhirException(" + Code + ", HTTP " + HttpStatus + "): " + Message;
        }

        /// <summary>Throw for a non-zero result; reads everything out of `error` and frees it (also when code is 0).</summary>
        internal static void Check(int rc, IntPtr error)
        {
            if (rc == 0)
            {
                Native.fhir_error_free(error); // never set on success; harmless (NULL is ignored)
                return;
            }
            throw Take(rc, error);
        }

        /// <summary>Build the exception for result `rc` from `error` (may be NULL) and free `error`.
        /// For callers of Native.* directly.</summary>
        public static FhirException Take(int rc, IntPtr error)
        {
            try
            {
                if (error == IntPtr.Zero)
                    return new FhirException((FhirResult)rc, Utf8.FromPtrZ(Native.fhir_result_str(rc)), 0, null);
                int code = Native.fhir_error_code(error);
                string message = Utf8.FromPtrZ(Native.fhir_error_message(error));
                int status = Native.fhir_error_http_status(error);
                UIntPtr len;
                IntPtr body = Native.fhir_error_body(error, out len); // borrowed: copy before freeing
                return new FhirException((FhirResult)code, message, status, Utf8.FromPtr(body, len));
            }
            finally
            {
                Native.fhir_error_free(error);
            }
        }
    }

    /// <summary>Connection options (copied by the FhirServer constructor). Not thread-safe, like fhir_options_t.</summary>
    public sealed class FhirOptions : IDisposable
    {
        internal readonly OptionsHandle Handle;

        public FhirOptions() { Handle = Native.fhir_options_new(); }

        public FhirOptions TimeoutMs(ulong ms)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_timeout_ms(Handle, ms, out err), err);
            return this;
        }

        public FhirOptions ConnectTimeoutMs(ulong ms)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_connect_timeout_ms(Handle, ms, out err), err);
            return this;
        }

        public FhirOptions AddHeader(string name, string value)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_add_header(Handle, Utf8.Z(name, "name"), Utf8.Z(value, "value"), out err), err);
            return this;
        }

        public FhirOptions UserAgent(string userAgent)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_user_agent(Handle, Utf8.Z(userAgent, "userAgent"), out err), err);
            return this;
        }

        /// <summary>DANGEROUS: accept any server certificate. Only for tests.</summary>
        public FhirOptions InsecureSkipTlsVerify(bool skip)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_insecure_skip_tls_verify(Handle, skip, out err), err);
            return this;
        }

        public FhirOptions AllowForeignLinks(bool allow)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_allow_foreign_links(Handle, allow, out err), err);
            return this;
        }

        /// <summary>Trust the PEM certificates of a file in addition to the system roots.</summary>
        public FhirOptions AddCaFile(string path)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_add_ca_file(Handle, Utf8.Z(path, "path"), out err), err);
            return this;
        }

        /// <summary>SMART Backend Services: the key id (kid), required by FhirServer.SmartBackend.</summary>
        public FhirOptions SmartKeyId(string kid)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_smart_key_id(Handle, Utf8.Z(kid, "kid"), out err), err);
            return this;
        }

        /// <summary>SMART Backend Services: "RS384" or "ES384" (default: the key's algorithm).</summary>
        public FhirOptions SmartAlgorithm(string algorithm)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_smart_algorithm(Handle, Utf8.Z(algorithm, "algorithm"), out err), err);
            return this;
        }

        /// <summary>SMART Backend Services: the token request's scope, verbatim (e.g. "system/*.rs").</summary>
        public FhirOptions SmartScope(string scope)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_smart_scope(Handle, Utf8.Z(scope, "scope"), out err), err);
            return this;
        }

        /// <summary>SMART Backend Services: the token endpoint (default: from [base]/.well-known/smart-configuration).</summary>
        public FhirOptions SmartTokenUrl(string url)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_smart_token_url(Handle, Utf8.Z(url, "url"), out err), err);
            return this;
        }

        /// <summary>SMART Backend Services: the jku header of the client assertions.</summary>
        public FhirOptions SmartJku(string url)
        {
            IntPtr err;
            FhirException.Check(Native.fhir_options_set_smart_jku(Handle, Utf8.Z(url, "url"), out err), err);
            return this;
        }

        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>
    /// One FHIR server connection. Thread-safe: share one instance between threads (the library
    /// shares its connection pool). Dispose() frees the native handle once no call is in flight.
    /// </summary>
    public sealed class FhirServer : IDisposable
    {
        /// <summary>The header version these bindings were written against.</summary>
        public const int BindingMajor = 0, BindingMinor = 2;

        private readonly ServerHandle rawHandle;
        private volatile bool disposed;

        /// <summary>The raw handle, for calling Native.* directly.</summary>
        public ServerHandle Handle { get { return rawHandle; } }

        // SafeHandle alone keeps accepting new calls after Dispose() for as long as other calls
        // are still in flight (the handle only closes when its ref count drains to zero), so a
        // busy multi-threaded server could stay open indefinitely. This flag makes every call
        // started after Dispose() fail at once; calls already running finish normally and the
        // last of them frees the native handle.
        private ServerHandle Live
        {
            get
            {
                if (disposed) throw new ObjectDisposedException("FhirServer");
                return rawHandle;
            }
        }

        /// <summary>The library version string, e.g. "0.2.0".</summary>
        public static string LibraryVersion { get { return Utf8.FromPtrZ(Native.fhir_version()); } }

        /// <summary>Connect without authentication. No request is sent yet.</summary>
        public FhirServer(string baseUrl, FhirOptions options = null)
        {
            if (baseUrl == null) throw new ArgumentNullException("baseUrl");
            byte[] url = Utf8.Z(baseUrl, "baseUrl");
            rawHandle = Connect((IntPtr opt, out IntPtr srv, out IntPtr err) => Native.fhir_server_new(url, opt, out srv, out err), options);
        }

        private FhirServer(ServerHandle h) { rawHandle = h; }

        /// <summary>Connect as configured by FHIR_API_URL and the credential variables (see fhir_server_from_env).</summary>
        public static FhirServer FromEnv(bool noAuth, FhirOptions options = null)
        {
            return new FhirServer(Connect((IntPtr opt, out IntPtr srv, out IntPtr err) => Native.fhir_server_from_env(noAuth, opt, out srv, out err), options));
        }

        /// <summary>
        /// Connect with SMART Backend Services: a JWT signed by privateKey (PEM text or a PEM file's
        /// path; RSA 2048-4096 or P-384), RS384 or ES384. The options must set SmartKeyId. The key is
        /// checked now; the token is fetched at the first request and shared by all threads.
        /// </summary>
        public static FhirServer SmartBackend(string baseUrl, string clientId, string privateKey, FhirOptions options)
        {
            byte[] url = Utf8.Z(baseUrl, "baseUrl"), id = Utf8.Z(clientId, "clientId"), key = Utf8.Z(privateKey, "privateKey");
            try
            {
                return new FhirServer(Connect((IntPtr opt, out IntPtr srv, out IntPtr err) =>
                    Native.fhir_server_new_smart_backend(url, id, key, opt, out srv, out err), options));
            }
            finally
            {
                Array.Clear(key, 0, key.Length); // the managed copy of the key
            }
        }

        /// <summary>The scope granted with the current token (SMART or OIDC; fetches one when none is cached).</summary>
        public string GrantedScope()
        {
            IntPtr scope, err;
            UIntPtr len;
            FhirException.Check(Native.fhir_server_granted_scope(Live, out scope, out len, out err), err);
            return Utf8.TakeBuffer(scope, len);
        }

        /// <summary>The public JWK Set of a private key (PEM text or file) under kid; algorithm null: the key's.</summary>
        public static string SmartPublicJwks(string privateKey, string kid, string algorithm = null)
        {
            IntPtr json, err;
            UIntPtr len;
            byte[] alg = algorithm == null ? null : Utf8.Z(algorithm, "algorithm");
            FhirException.Check(Native.fhir_smart_public_jwks(Utf8.Z(privateKey, "privateKey"), Utf8.Z(kid, "kid"), alg,
                out json, out len, out err), err);
            return Utf8.TakeBuffer(json, len);
        }

        private delegate int ConnectCall(IntPtr options, out IntPtr server, out IntPtr error);

        private static ServerHandle Connect(ConnectCall call, FhirOptions options)
        {
            bool added = false;
            try
            {
                IntPtr opt = IntPtr.Zero;
                if (options != null)
                {
                    options.Handle.DangerousAddRef(ref added); // keeps the options alive during the call
                    opt = options.Handle.DangerousGetHandle();
                }
                IntPtr srv, err;
                int rc = call(opt, out srv, out err);
                FhirException.Check(rc, err);
                return new ServerHandle(srv);
            }
            finally
            {
                if (added) options.Handle.DangerousRelease();
            }
        }

        /// <summary>The normalised base URL (no trailing slash).</summary>
        public string BaseUrl { get { return Utf8.FromPtrZ(Native.fhir_server_base_url(Live)); } }

        /// <summary>GET [base]/metadata: the CapabilityStatement JSON.</summary>
        public string Capabilities()
        {
            IntPtr json, err;
            UIntPtr len;
            FhirException.Check(Native.fhir_server_capabilities(Live, out json, out len, out err), err);
            return Utf8.TakeBuffer(json, len);
        }

        /// <summary>POST a resource; returns it as created (with id and meta.versionId). ifNoneExist makes it conditional.</summary>
        public string Create(string json, string ifNoneExist = null)
        {
            if (json == null) throw new ArgumentNullException("json");
            byte[] body = Utf8.Bytes(json);
            IntPtr outJson, err;
            UIntPtr len;
            FhirException.Check(Native.fhir_resource_create(Live, body, (UIntPtr)(uint)body.Length,
                Utf8.Z(ifNoneExist, "ifNoneExist"), out outJson, out len, out err), err);
            return Utf8.TakeBuffer(outJson, len);
        }

        /// <summary>PUT a resource that has an id; ifMatch ("3" or W/"3") guards against lost updates.</summary>
        public string Update(string json, string ifMatch = null)
        {
            if (json == null) throw new ArgumentNullException("json");
            byte[] body = Utf8.Bytes(json);
            IntPtr outJson, err;
            UIntPtr len;
            FhirException.Check(Native.fhir_resource_update(Live, body, (UIntPtr)(uint)body.Length,
                Utf8.Z(ifMatch, "ifMatch"), out outJson, out len, out err), err);
            return Utf8.TakeBuffer(outJson, len);
        }

        /// <summary>Read "Type/id" (or "Type/id/_history/vid"). Missing: FhirResult.NotFound; deleted: FhirResult.Gone.</summary>
        public string Read(string reference)
        {
            if (reference == null) throw new ArgumentNullException("reference");
            IntPtr json, err;
            UIntPtr len;
            FhirException.Check(Native.fhir_resource_read(Live, Utf8.Z(reference, "reference"), out json, out len, out err), err);
            return Utf8.TakeBuffer(json, len);
        }

        /// <summary>DELETE "Type/id".</summary>
        public void Delete(string reference)
        {
            if (reference == null) throw new ArgumentNullException("reference");
            IntPtr err;
            FhirException.Check(Native.fhir_resource_delete(Live, Utf8.Z(reference, "reference"), out err), err);
        }

        /// <summary>The number of matches of "Type?params" (percent-encoded).</summary>
        public ulong SearchCount(string query)
        {
            if (query == null) throw new ArgumentNullException("query");
            ulong count;
            IntPtr err;
            FhirException.Check(Native.fhir_search_count(Live, Utf8.Z(query, "query"), out count, out err), err);
            return count;
        }

        /// <summary>Every page of a search merged into one searchset Bundle (JSON).</summary>
        public string SearchAll(string query)
        {
            if (query == null) throw new ArgumentNullException("query");
            IntPtr json, err;
            UIntPtr len;
            FhirException.Check(Native.fhir_search_all(Live, Utf8.Z(query, "query"), out json, out len, out err), err);
            return Utf8.TakeBuffer(json, len);
        }

        // One static delegate for every call: the function pointer handed to C stays valid for the
        // life of the process. Per-call state travels through user_data as a GCHandle.
        private static readonly ResourceCallback ResourceTrampoline = OnResource;

        private sealed class SearchState
        {
            public Func<string, string, bool> OnResource;
            public ExceptionDispatchInfo Error;
        }

        // Runs on the calling thread, inside fhir_search_resources. Must not let an exception
        // unwind into the Rust frames: it is caught, stored, and rethrown after the call.
        private static int OnResource(IntPtr resourceJson, UIntPtr len, IntPtr searchMode, IntPtr userData)
        {
            var state = (SearchState)GCHandle.FromIntPtr(userData).Target;
            try
            {
                return state.OnResource(Utf8.FromPtr(resourceJson, len), Utf8.FromPtrZ(searchMode)) ? 0 : 1;
            }
            catch (Exception e)
            {
                state.Error = ExceptionDispatchInfo.Capture(e);
                return 1; // stop
            }
        }

        /// <summary>
        /// Stream a search resource by resource, one page in memory at a time. onResource gets the
        /// resource JSON and its search mode ("match", "include", "outcome") and returns true to go
        /// on, false to stop. It runs on the calling thread and may call this server again.
        /// Returns the URL of the page after the last one handed over (pass it as `query` to
        /// resume), or null when the search is exhausted. An exception thrown by onResource stops
        /// the search and is rethrown here.
        /// </summary>
        public string SearchResources(string query, Func<string, string, bool> onResource)
        {
            if (query == null) throw new ArgumentNullException("query");
            if (onResource == null) throw new ArgumentNullException("onResource");
            var state = new SearchState { OnResource = onResource };
            GCHandle gch = GCHandle.Alloc(state);
            try
            {
                IntPtr next, err;
                int rc = Native.fhir_search_resources(Live, Utf8.Z(query, "query"), ResourceTrampoline,
                    GCHandle.ToIntPtr(gch), out next, out err);
                string nextUrl = rc == 0 ? Utf8.TakeBufferZ(next) : null;
                if (state.Error != null)
                {
                    Native.fhir_error_free(err);
                    state.Error.Throw();
                }
                FhirException.Check(rc, err);
                return nextUrl;
            }
            finally
            {
                gch.Free();
                GC.KeepAlive(ResourceTrampoline);
            }
        }

        /// <summary>Frees the native handle once no call is in flight; calls started afterwards throw ObjectDisposedException.</summary>
        public void Dispose()
        {
            disposed = true;
            rawHandle.Dispose();
        }
    }
}
