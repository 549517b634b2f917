using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FhirKindling
{
    /// <summary>
    /// A connection to one FHIR server (a fhir_server_t): base URL, auth, options, a connection pool
    /// and a token cache. Thread-safe: many threads may call one FhirServer at once. Dispose frees
    /// it (waiting for calls in flight, which keep the native handle referenced); a forgotten one is
    /// freed by its SafeHandle's finalizer. Calls after Dispose throw ObjectDisposedException.
    ///
    /// JSON comes in as string, byte[] or ReadOnlyMemory&lt;byte&gt; (UTF-8, passed to the library
    /// without a copy) and comes back as string, or as byte[] from the ...Utf8 methods (one copy of
    /// the library's buffer, no decoding). Every call takes a CancellationToken; a failed call throws
    /// FhirException (code, HTTP status, the server's OperationOutcome).
    /// </summary>
    public sealed partial class FhirServer : IDisposable
    {
        readonly ServerHandle handle;

        FhirServer(ServerHandle handle) { this.handle = handle; }

        public void Dispose()
        {
            handle.Disposing = true;
            handle.Dispose();
        }

        delegate FhirResult Ctor(OptionsHandle o, out ServerHandle s, out ErrorHandle e);

        static FhirServer Construct(FhirOptions options, Ctor f)
        {
            ServerHandle s; ErrorHandle err;
            var rc = f(options != null ? options.Handle : OptionsHandle.Null, out s, out err);
            var ex = FhirException.From(rc, err);
            if (ex != null)
            {
                s.Dispose();
                throw ex;
            }
            if (options != null) s.Callbacks = options.Callbacks;
            return new FhirServer(s);
        }

        /// <summary>No authentication (fhir_server_new). No request is sent yet.</summary>
        public static FhirServer Connect(string baseUrl, FhirOptions options = null)
        {
            var u = Utf8.Z(baseUrl, "base URL");
            return Construct(options, (OptionsHandle o, out ServerHandle s, out ErrorHandle e) => Native.fhir_server_new(u, o, out s, out e));
        }

        /// <summary>HTTP basic auth (fhir_server_new_basic).</summary>
        public static FhirServer Basic(string baseUrl, string username, string password, FhirOptions options = null)
        {
            var u = Utf8.Z(baseUrl, "base URL"); var n = Utf8.Z(username, "username"); var p = Utf8.Z(password, "password");
            try { return Construct(options, (OptionsHandle o, out ServerHandle s, out ErrorHandle e) => Native.fhir_server_new_basic(u, n, p, o, out s, out e)); }
            finally { Utf8.Wipe(n); Utf8.Wipe(p); }
        }

        /// <summary>A static bearer token (fhir_server_new_token).</summary>
        public static FhirServer Token(string baseUrl, string token, FhirOptions options = null)
        {
            var u = Utf8.Z(baseUrl, "base URL"); var t = Utf8.Z(token, "token");
            try { return Construct(options, (OptionsHandle o, out ServerHandle s, out ErrorHandle e) => Native.fhir_server_new_token(u, t, o, out s, out e)); }
            finally { Utf8.Wipe(t); }
        }

        /// <summary>OpenID Connect client credentials (fhir_server_new_oidc).</summary>
        public static FhirServer Oidc(string baseUrl, string clientId, string clientSecret, string providerUrl, FhirOptions options = null)
        {
            var u = Utf8.Z(baseUrl, "base URL"); var c = Utf8.Z(clientId, "client id");
            var sec = Utf8.Z(clientSecret, "client secret"); var p = Utf8.Z(providerUrl, "provider URL");
            try { return Construct(options, (OptionsHandle o, out ServerHandle s, out ErrorHandle e) => Native.fhir_server_new_oidc(u, c, sec, p, o, out s, out e)); }
            finally { Utf8.Wipe(sec); }
        }

        /// <summary>SMART Backend Services (fhir_server_new_smart_backend); options must set the key id.</summary>
        public static FhirServer SmartBackend(string baseUrl, string clientId, string privateKey, FhirOptions options = null)
        {
            var u = Utf8.Z(baseUrl, "base URL"); var c = Utf8.Z(clientId, "client id"); var k = Utf8.Z(privateKey, "private key");
            try { return Construct(options, (OptionsHandle o, out ServerHandle s, out ErrorHandle e) => Native.fhir_server_new_smart_backend(u, c, k, o, out s, out e)); }
            finally { Utf8.Wipe(k); }
        }

        /// <summary>As the environment says (fhir_server_from_env): FHIR_API_URL and one auth mode, or none with noAuth.</summary>
        public static FhirServer FromEnv(bool noAuth = false, FhirOptions options = null)
        {
            return Construct(options, (OptionsHandle o, out ServerHandle s, out ErrorHandle e) => Native.fhir_server_from_env(noAuth, o, out s, out e));
        }

        /// <summary>The normalised base URL (no trailing slash).</summary>
        public string BaseUrl
        {
            get
            {
                bool added = false;
                try
                {
                    handle.DangerousAddRef(ref added);
                    return Utf8.FromNative(Native.fhir_server_base_url(handle.DangerousGetHandle()));
                }
                finally { if (added) handle.DangerousRelease(); }
            }
        }

        // ---- the call machinery ------------------------------------------------------------

        internal delegate FhirResult Call(IntPtr server, out ErrorHandle e);
        internal delegate FhirResult JsonCall(IntPtr server, out NativeString json, out UIntPtr len, out ErrorHandle e);

        /// <summary>
        /// Runs one native call: the token is checked first, the native handle is referenced for the
        /// call (so Dispose waits), the call runs under the token (CallScoped), and a failure throws.
        /// A failure caused by the token throws OperationCanceledException with the FhirException inside.
        /// </summary>
        void Invoke(CancellationToken ct, Call f) { Invoke(ct, ct, f); }

        /// <summary>Invoke with the call scoped by callToken (ct linked with the library's own cancel), ct being the caller's.</summary>
        void Invoke(CancellationToken ct, CancellationToken callToken, Call f)
        {
            ct.ThrowIfCancellationRequested();
            bool added = false;
            FhirException ex;
            try
            {
                handle.DangerousAddRef(ref added);
                ex = CallScoped(handle.DangerousGetHandle(), callToken, f);
            }
            finally { if (added) handle.DangerousRelease(); }
            if (ex == null) return;
            if (ct.IsCancellationRequested && (ex.Code == FhirResult.Cancelled || ex.Code == FhirResult.Timeout))
                throw new OperationCanceledException(ex.Message, ex, ct);
            throw ex;
        }

        byte[] InvokeJson(CancellationToken ct, JsonCall f)
        {
            NativeString json = null; UIntPtr len = UIntPtr.Zero;
            try
            {
                Invoke(ct, (IntPtr s, out ErrorHandle e) => f(s, out json, out len, out e));
                return json.ToArray(len);
            }
            finally { if (json != null) json.Dispose(); }
        }

        delegate FhirResult InCall(IntPtr server, IntPtr data, UIntPtr len, out NativeString json, out UIntPtr outLen, out ErrorHandle e);

        /// <summary>Pins the input for the call (no copy) and returns the JSON answer.</summary>
        unsafe byte[] InvokeIn(CancellationToken ct, ReadOnlyMemory<byte> input, InCall f)
        {
            using (var pin = input.Pin())
            {
                var p = (IntPtr)pin.Pointer;
                var n = (UIntPtr)input.Length;
                return InvokeJson(ct, (IntPtr s, out NativeString json, out UIntPtr len, out ErrorHandle e) => f(s, p, n, out json, out len, out e));
            }
        }

        static ReadOnlyMemory<byte> Mem(string json) { return json == null ? ReadOnlyMemory<byte>.Empty : new ReadOnlyMemory<byte>(Utf8.Encode(json)); }

        /// <summary>A C array of NUL-terminated UTF-8 strings, freed by Dispose.</summary>
        sealed class CStringArray : IDisposable
        {
            internal readonly IntPtr[] Ptrs;
            internal CStringArray(string[] values, string what)
            {
                if (values == null) throw new ArgumentNullException(what);
                Ptrs = new IntPtr[values.Length];
                try
                {
                    for (int i = 0; i < values.Length; i++)
                    {
                        var b = Utf8.Z(values[i], what);
                        if (b == null) throw new ArgumentNullException(what);
                        Ptrs[i] = Marshal.AllocHGlobal(b.Length);
                        Marshal.Copy(b, 0, Ptrs[i], b.Length);
                    }
                }
                catch { Dispose(); throw; }
            }
            public void Dispose()
            {
                for (int i = 0; i < Ptrs.Length; i++)
                    if (Ptrs[i] != IntPtr.Zero) { Marshal.FreeHGlobal(Ptrs[i]); Ptrs[i] = IntPtr.Zero; }
            }
        }

        // ---- server calls --------------------------------------------------------------------

        /// <summary>The CapabilityStatement (GET [base]/metadata).</summary>
        public string Capabilities(CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(CapabilitiesUtf8(ct)); }
        public byte[] CapabilitiesUtf8(CancellationToken ct = default(CancellationToken))
        {
            return InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_server_capabilities(s, out j, out n, out e));
        }

        /// <summary>The server summary (fhir_server_summary) as JSON.</summary>
        public string Summary(CancellationToken ct = default(CancellationToken))
        {
            return Utf8.Decode(InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_server_summary(s, out j, out n, out e)));
        }

        /// <summary>The scope granted with the current OIDC or SMART token (fetched first when none is cached).</summary>
        public string GrantedScope(CancellationToken ct = default(CancellationToken))
        {
            return Utf8.Decode(InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_server_granted_scope(s, out j, out n, out e)));
        }

        /// <summary>One request (fhir_server_request); returns the 2xx status and the body as it came.</summary>
        public int Request(string method, string path, ReadOnlyMemory<byte> body, out byte[] responseBody, CancellationToken ct = default(CancellationToken))
        {
            var m = Utf8.Z(method, "method"); var p = Utf8.Z(path, "path");
            ushort status = 0;
            responseBody = InvokeIn(ct, body, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) =>
                Native.fhir_server_request(s, m, p, d, dn, out status, out j, out n, out e));
            return status;
        }

        /// <summary>One request with a text body (null for none); returns the status and the body as text.</summary>
        public int Request(string method, string path, string body, out string responseBody, CancellationToken ct = default(CancellationToken))
        {
            byte[] raw;
            var status = Request(method, path, Mem(body), out raw, ct);
            responseBody = Utf8.Decode(raw);
            return status;
        }

        // ---- resources --------------------------------------------------------------------

        /// <summary>Reads "Type/id" or "Type/id/_history/vid" (NotFound, Gone).</summary>
        public string Read(string reference, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(ReadUtf8(reference, ct)); }
        public byte[] ReadUtf8(string reference, CancellationToken ct = default(CancellationToken))
        {
            var r = Utf8.Z(reference, "reference");
            return InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_resource_read(s, r, out j, out n, out e));
        }

        /// <summary>Reads several references in one batch: a JSON array in their order.</summary>
        public string ReadMany(string[] references, CancellationToken ct = default(CancellationToken))
        {
            using (var a = new CStringArray(references, "reference"))
                return Utf8.Decode(InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) =>
                    Native.fhir_resource_read_many(s, a.Ptrs.Length == 0 ? null : a.Ptrs, (UIntPtr)a.Ptrs.Length, out j, out n, out e)));
        }

        /// <summary>Creates a resource; with ifNoneExist (search parameters) a conditional create.</summary>
        public string Create(string json, string ifNoneExist = null, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(CreateUtf8(Mem(json), ifNoneExist, ct)); }
        public string Create(ReadOnlyMemory<byte> json, string ifNoneExist = null, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(CreateUtf8(json, ifNoneExist, ct)); }
        public byte[] CreateUtf8(ReadOnlyMemory<byte> json, string ifNoneExist = null, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.ZOpt(ifNoneExist, "condition");
            return InvokeIn(ct, json, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_resource_create(s, d, dn, c, out j, out n, out e));
        }

        /// <summary>Creates a JSON array of resources (or a collection Bundle) in transactions of batchSize (0: 500).</summary>
        public string CreateAll(string json, int batchSize = 0, CancellationToken ct = default(CancellationToken)) { return CreateAll(Mem(json), batchSize, ct); }
        public string CreateAll(ReadOnlyMemory<byte> json, int batchSize = 0, CancellationToken ct = default(CancellationToken))
        {
            if (batchSize < 0) throw new FhirException(FhirResult.InvalidArgument, "negative batch size", 0, null);
            return Utf8.Decode(InvokeIn(ct, json, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) =>
                Native.fhir_resource_create_all(s, d, dn, (UIntPtr)batchSize, out j, out n, out e)));
        }

        /// <summary>Updates a resource (it has an id); with ifMatch ("3" or W/"3") only that version (Conflict otherwise).</summary>
        public string Update(string json, string ifMatch = null, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(UpdateUtf8(Mem(json), ifMatch, ct)); }
        public string Update(ReadOnlyMemory<byte> json, string ifMatch = null, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(UpdateUtf8(json, ifMatch, ct)); }
        public byte[] UpdateUtf8(ReadOnlyMemory<byte> json, string ifMatch = null, CancellationToken ct = default(CancellationToken))
        {
            var m = Utf8.ZOpt(ifMatch, "If-Match version");
            return InvokeIn(ct, json, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_resource_update(s, d, dn, m, out j, out n, out e));
        }

        /// <summary>PUT [base]/Type?condition: updates the match or creates the resource.</summary>
        public string UpdateConditional(string json, string condition, CancellationToken ct = default(CancellationToken)) { return UpdateConditional(Mem(json), condition, ct); }
        public string UpdateConditional(ReadOnlyMemory<byte> json, string condition, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Z(condition, "condition");
            return Utf8.Decode(InvokeIn(ct, json, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) =>
                Native.fhir_resource_update_conditional(s, d, dn, c, out j, out n, out e)));
        }

        /// <summary>Deletes "Type/id".</summary>
        public void Delete(string reference, CancellationToken ct = default(CancellationToken))
        {
            var r = Utf8.Z(reference, "reference");
            Invoke(ct, (IntPtr s, out ErrorHandle e) => Native.fhir_resource_delete(s, r, out e));
        }

        /// <summary>Deletes several references in one batch: a JSON array of outcomes.</summary>
        public string DeleteMany(string[] references, CancellationToken ct = default(CancellationToken))
        {
            using (var a = new CStringArray(references, "reference"))
                return Utf8.Decode(InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) =>
                    Native.fhir_resource_delete_many(s, a.Ptrs.Length == 0 ? null : a.Ptrs, (UIntPtr)a.Ptrs.Length, out j, out n, out e)));
        }

        /// <summary>Conditional delete: DELETE [base]/Type?params.</summary>
        public void DeleteByQuery(string query, CancellationToken ct = default(CancellationToken))
        {
            var q = Utf8.Z(query, "query");
            Invoke(ct, (IntPtr s, out ErrorHandle e) => Native.fhir_resource_delete_by_query(s, q, out e));
        }

        /// <summary>POSTs a transaction or batch Bundle; returns the response Bundle.</summary>
        public string SendBundle(string json, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(SendBundleUtf8(Mem(json), ct)); }
        public byte[] SendBundleUtf8(ReadOnlyMemory<byte> json, CancellationToken ct = default(CancellationToken))
        {
            return InvokeIn(ct, json, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_bundle_send(s, d, dn, out j, out n, out e));
        }

        /// <summary>History of the server (target null), a type or a resource: one Bundle of at most limit entries (0: all).</summary>
        public string History(string target = null, ulong limit = 0, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(HistoryUtf8(target, limit, ct)); }
        public byte[] HistoryUtf8(string target = null, ulong limit = 0, CancellationToken ct = default(CancellationToken))
        {
            var t = Utf8.ZOpt(target, "target");
            return InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_history(s, t, limit, out j, out n, out e));
        }

        /// <summary>A FHIR operation ("$everything"...) at system (target null), type or instance level, "GET" or "POST".</summary>
        public string Operation(string target, string name, string method = "GET", string parameters = null, CancellationToken ct = default(CancellationToken))
        {
            return Utf8.Decode(OperationUtf8(target, name, method, Mem(parameters), ct));
        }
        public byte[] OperationUtf8(string target, string name, string method, ReadOnlyMemory<byte> parameters, CancellationToken ct = default(CancellationToken))
        {
            var t = Utf8.ZOpt(target, "target"); var nm = Utf8.Z(name, "operation name"); var m = Utf8.Z(method, "method");
            return InvokeIn(ct, parameters, (IntPtr s, IntPtr d, UIntPtr dn, out NativeString j, out UIntPtr n, out ErrorHandle e) =>
                Native.fhir_operation(s, t, nm, m, d, dn, out j, out n, out e));
        }

        // ---- searches ---------------------------------------------------------------------

        /// <summary>A search ("Type?params"; FhirQuery.Build makes one), every page collected in one Bundle.</summary>
        public string SearchAll(string query, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(SearchAllUtf8(query, ct)); }
        public byte[] SearchAllUtf8(string query, CancellationToken ct = default(CancellationToken))
        {
            var q = Utf8.Z(query, "query");
            return InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_search_all(s, q, out j, out n, out e));
        }

        /// <summary>SearchAll stopping after limit entries.</summary>
        public string SearchLimit(string query, ulong limit, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(SearchLimitUtf8(query, limit, ct)); }
        public byte[] SearchLimitUtf8(string query, ulong limit, CancellationToken ct = default(CancellationToken))
        {
            var q = Utf8.Z(query, "query");
            return InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_search_limit(s, q, limit, out j, out n, out e));
        }

        /// <summary>The first page (a Bundle) of a search.</summary>
        public string SearchFirst(string query, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(SearchFirstUtf8(query, ct)); }
        public byte[] SearchFirstUtf8(string query, CancellationToken ct = default(CancellationToken))
        {
            var q = Utf8.Z(query, "query");
            return InvokeJson(ct, (IntPtr s, out NativeString j, out UIntPtr n, out ErrorHandle e) => Native.fhir_search_first(s, q, out j, out n, out e));
        }

        /// <summary>The number of matches (_summary=count).</summary>
        public ulong SearchCount(string query, CancellationToken ct = default(CancellationToken))
        {
            var q = Utf8.Z(query, "query");
            ulong count = 0;
            Invoke(ct, (IntPtr s, out ErrorHandle e) => Native.fhir_search_count(s, q, out count, out e));
            return count;
        }

        sealed class SearchState
        {
            internal Func<byte[], bool> Page;
            internal Func<byte[], string, bool> Resource;
            internal ExceptionDispatchInfo Error;
        }

        // Static: the delegates the library calls must outlive every call; user_data is a GCHandle.
        static readonly PageCallback PageCb = OnPage;
        static readonly ResourceCallback ResourceCb = OnResource;

        static int OnPage(IntPtr json, UIntPtr len, IntPtr userData)
        {
            var st = (SearchState)GCHandle.FromIntPtr(userData).Target;
            if (st.Error != null) return 1;
            try
            {
                var bytes = new byte[checked((int)len.ToUInt64())];
                Marshal.Copy(json, bytes, 0, bytes.Length);
                return st.Page(bytes) ? 0 : 1;
            }
            catch (Exception ex) { st.Error = ExceptionDispatchInfo.Capture(ex); return 1; }
        }

        static int OnResource(IntPtr json, UIntPtr len, IntPtr mode, IntPtr userData)
        {
            var st = (SearchState)GCHandle.FromIntPtr(userData).Target;
            if (st.Error != null) return 1;
            try
            {
                var bytes = new byte[checked((int)len.ToUInt64())];
                Marshal.Copy(json, bytes, 0, bytes.Length);
                return st.Resource(bytes, Utf8.FromNative(mode)) ? 0 : 1;
            }
            catch (Exception ex) { st.Error = ExceptionDispatchInfo.Capture(ex); return 1; }
        }

        delegate FhirResult StreamCall(IntPtr server, byte[] query, IntPtr userData, out NativeString next, out ErrorHandle e);

        /// <summary>Runs a streaming search; an exception of the callback is rethrown (with its stack) after the native call returned.</summary>
        string Stream(string query, SearchState st, CancellationToken ct, StreamCall f)
        {
            var q = Utf8.Z(query, "query");
            var gch = GCHandle.Alloc(st);
            NativeString next = null;
            try
            {
                FhirException failure = null;
                try
                {
                    Invoke(ct, (IntPtr s, out ErrorHandle e) => f(s, q, GCHandle.ToIntPtr(gch), out next, out e));
                }
                catch (FhirException ex) { failure = ex; }
                if (st.Error != null) st.Error.Throw();
                if (failure != null) throw failure;
                return next == null ? null : next.ToUtf8String();
            }
            finally
            {
                gch.Free();
                if (next != null) next.Dispose();
            }
        }

        /// <summary>
        /// Streams a search page by page: onPage gets each page's Bundle (UTF-8) on the calling thread and
        /// returns true to go on. Returns the URL to resume from, or null when the search is exhausted.
        /// An exception thrown by onPage stops the search and is rethrown here.
        /// </summary>
        public string SearchPagesUtf8(string query, Func<byte[], bool> onPage, CancellationToken ct = default(CancellationToken))
        {
            if (onPage == null) throw new ArgumentNullException("onPage");
            return Stream(query, new SearchState { Page = onPage }, ct, (IntPtr s, byte[] q, IntPtr u, out NativeString n, out ErrorHandle e) =>
                Native.fhir_search_pages(s, q, PageCb, u, out n, out e));
        }

        public string SearchPages(string query, Func<string, bool> onPage, CancellationToken ct = default(CancellationToken))
        {
            if (onPage == null) throw new ArgumentNullException("onPage");
            return SearchPagesUtf8(query, b => onPage(Utf8.Decode(b)), ct);
        }

        /// <summary>Streams a search resource by resource: onResource gets each resource and its search mode ("match", "include", "outcome").</summary>
        public string SearchResourcesUtf8(string query, Func<byte[], string, bool> onResource, CancellationToken ct = default(CancellationToken))
        {
            if (onResource == null) throw new ArgumentNullException("onResource");
            return Stream(query, new SearchState { Resource = onResource }, ct, (IntPtr s, byte[] q, IntPtr u, out NativeString n, out ErrorHandle e) =>
                Native.fhir_search_resources(s, q, ResourceCb, u, out n, out e));
        }

        public string SearchResources(string query, Func<string, string, bool> onResource, CancellationToken ct = default(CancellationToken))
        {
            if (onResource == null) throw new ArgumentNullException("onResource");
            return SearchResourcesUtf8(query, (b, m) => onResource(Utf8.Decode(b), m), ct);
        }
    }
}
