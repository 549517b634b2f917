// Issue 11: cancellation (CancellationToken → a cancel token and a scoped handle per call),
// scoped handles, call records, log callbacks and request hooks.
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FhirKindling
{
    public enum FhirLogLevel { Off = 0, Error = 1, Warn = 2, Info = 3, Debug = 4, Trace = 5 }

    /// <summary>
    /// Receives one log record on the thread of the call it belongs to, during it. Records hold no
    /// secret. It runs inside the call: blocking calls of this library from it fail with
    /// FhirResult.Runtime (FhirCancel.Trigger is allowed).
    /// </summary>
    public delegate void FhirLogHandler(FhirLogLevel level, string target, string message);

    /// <summary>
    /// Called before each attempt of each request to the FHIR server, on the calling thread, to add
    /// headers. Throwing refuses the request: the call ends and rethrows that exception. It runs
    /// inside the call: blocking calls of this library from it fail with FhirResult.Runtime
    /// (FhirHeaders.Add and FhirCancel.Trigger are allowed).
    /// </summary>
    public delegate void FhirRequestHook(string method, string url, FhirHeaders headers);

    /// <summary>Where a request hook adds headers; valid during the hook call only.</summary>
    public sealed class FhirHeaders
    {
        IntPtr p;
        internal FhirHeaders(IntPtr p) { this.p = p; }
        internal void Invalidate() { p = IntPtr.Zero; }

        /// <summary>Adds a header (fhir_headers_add); the library's own headers are refused.</summary>
        public void Add(string name, string value)
        {
            if (p == IntPtr.Zero) throw new InvalidOperationException("headers used outside their request hook");
            var v = Utf8.Z(value, "header value");
            try
            {
                ErrorHandle err;
                FhirException.Check(Native.fhir_headers_add(p, Utf8.Z(name, "header name"), v, out err), err);
            }
            finally { Utf8.Wipe(v); }
        }
    }

    /// <summary>What one call did (fhir_call_info_t).</summary>
    public struct FhirCallInfo
    {
        public int Status;
        public int Attempts;
        public int Requests;
        public ulong BytesSent;
        public ulong BytesReceived;
        public TimeSpan Total;
        public TimeSpan FirstByte;
        public TimeSpan Connect;
        public int NewConnections;

        internal static FhirCallInfo From(CallInfoNative n)
        {
            Func<ulong, TimeSpan> us = v => TimeSpan.FromTicks((long)v * 10);
            return new FhirCallInfo
            {
                Status = n.status, Attempts = (int)n.attempts, Requests = (int)n.requests, BytesSent = n.bytes_sent,
                BytesReceived = n.bytes_received, Total = us(n.total_us), FirstByte = us(n.first_byte_us),
                Connect = us(n.connect_us), NewConnections = (int)n.new_connections,
            };
        }
    }

    /// <summary>
    /// A cancel token (fhir_cancel_t) for scoped handles: Trigger ends the calls it governs with
    /// FhirResult.Cancelled, from any thread. Per-call cancellation needs none of this: every call
    /// takes a CancellationToken.
    /// </summary>
    public sealed class FhirCancel : IDisposable
    {
        internal readonly CancelHandle Handle = Native.fhir_cancel_new();
        public void Trigger() { Native.fhir_cancel_trigger(Handle); }
        public bool IsTriggered { get { return Native.fhir_cancel_is_triggered(Handle); } }
        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>Per-thread state of the call in progress, to rethrow a log handler's or hook's exception after it.</summary>
    internal sealed class CallState
    {
        [ThreadStatic] static CallState current;
        CallState prev;
        internal ExceptionDispatchInfo Error;

        internal static CallState Enter()
        {
            var cs = new CallState { prev = current };
            current = cs;
            return cs;
        }

        internal void Leave() { current = prev; }

        internal static void Record(Exception ex)
        {
            var cs = current;
            if (cs != null && cs.Error == null) cs.Error = ExceptionDispatchInfo.Capture(ex);
        }
    }

    /// <summary>
    /// The log handler and hook of one FhirOptions, registered under ids passed as user_data (an id
    /// that is gone is ignored, never dereferenced). Unregistered when neither the options nor any
    /// server built with them is reachable any more.
    /// </summary>
    internal sealed class CallbackSet
    {
        static readonly Dictionary<long, object> Registry = new Dictionary<long, object>();
        static long nextId;
        readonly List<long> ids = new List<long>();

        internal IntPtr Register(object callback)
        {
            lock (Registry)
            {
                var id = ++nextId;
                Registry[id] = callback;
                ids.Add(id);
                return new IntPtr(id);
            }
        }

        internal static object Lookup(IntPtr id)
        {
            lock (Registry)
            {
                object o;
                return Registry.TryGetValue(id.ToInt64(), out o) ? o : null;
            }
        }

        ~CallbackSet()
        {
            lock (Registry) foreach (var id in ids) Registry.Remove(id);
        }

        internal static readonly LogCallback LogCb = OnLog;
        internal static readonly RequestHookCallback HookCb = OnHook;
        internal static FhirLogHandler GlobalLog;

        static void OnLog(int level, IntPtr target, UIntPtr targetLen, IntPtr message, UIntPtr messageLen, IntPtr userData)
        {
            try
            {
                var h = userData == IntPtr.Zero ? GlobalLog : Lookup(userData) as FhirLogHandler;
                if (h != null)
                    h((FhirLogLevel)level, Utf8.FromNative(target, (int)targetLen.ToUInt64()), Utf8.FromNative(message, (int)messageLen.ToUInt64()));
            }
            catch (Exception ex) { CallState.Record(ex); }
        }

        static int OnHook(IntPtr method, IntPtr url, IntPtr headers, IntPtr userData)
        {
            var h = new FhirHeaders(headers);
            try
            {
                var hook = Lookup(userData) as FhirRequestHook;
                if (hook == null) return 1;
                hook(Utf8.FromNative(method), Utf8.FromNative(url), h);
                return 0;
            }
            catch (Exception ex) { CallState.Record(ex); return 1; }
            finally { h.Invalidate(); }
        }
    }

    /// <summary>The process-wide log handler (fhir_set_log_callback).</summary>
    public static class FhirLog
    {
        static readonly object Lock = new object();

        /// <summary>Sets the log handler of every server without one of its own; null (or Off) turns it off.</summary>
        public static void SetCallback(FhirLogLevel maxLevel, FhirLogHandler handler)
        {
            lock (Lock)
            {
                bool on = handler != null && maxLevel != FhirLogLevel.Off;
                if (on) CallbackSet.GlobalLog = handler;
                ErrorHandle err;
                FhirException.Check(Native.fhir_set_log_callback((int)maxLevel, on ? CallbackSet.LogCb : null, IntPtr.Zero, out err), err);
                if (!on) CallbackSet.GlobalLog = null;
            }
        }
    }

    public sealed partial class FhirOptions
    {
        internal readonly CallbackSet Callbacks = new CallbackSet();

        /// <summary>A log handler of their own for the servers built with these options, for records up to maxLevel.</summary>
        public FhirOptions SetLogCallback(FhirLogLevel maxLevel, FhirLogHandler handler)
        {
            if (handler == null) throw new ArgumentNullException("handler");
            var id = Callbacks.Register(handler);
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_log_callback(o, (int)maxLevel, CallbackSet.LogCb, id, out e));
        }

        /// <summary>A request hook (fhir_options_set_request_hook).</summary>
        public FhirOptions SetRequestHook(FhirRequestHook hook)
        {
            if (hook == null) throw new ArgumentNullException("hook");
            var id = Callbacks.Register(hook);
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_request_hook(o, CallbackSet.HookCb, id, out e));
        }

        /// <summary>Searches whose URL is longer than urlLen bytes are posted (0: all; ulong.MaxValue: never; default 4096).</summary>
        public FhirOptions SetSearchPostThreshold(ulong urlLen)
        {
            var n = UIntPtr.Size == 4 && urlLen > uint.MaxValue ? new UIntPtr(uint.MaxValue) : new UIntPtr(urlLen);
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_search_post_threshold(o, n, out e));
        }

        /// <summary>How long an idle connection stays pooled (TimeSpan.Zero: until the server closes it; default 90 s).</summary>
        public FhirOptions SetPoolIdleTimeout(TimeSpan t) { return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_pool_idle_timeout_ms(o, Ms(t), out e)); }

        /// <summary>Idle connections kept per host (0: no reuse; default unlimited).</summary>
        public FhirOptions SetPoolMaxIdlePerHost(ulong n)
        {
            var v = UIntPtr.Size == 4 && n > uint.MaxValue ? new UIntPtr(uint.MaxValue) : new UIntPtr(n);
            return Set((OptionsHandle o, out ErrorHandle e) => Native.fhir_options_set_pool_max_idle_per_host(o, v, out e));
        }
    }

    public sealed partial class FhirServer
    {
        /// <summary>
        /// A scoped handle (fhir_server_scope): shares this server's connections, token cache and options;
        /// every call through it is governed by cancel (may be null) and a deadline timeout from now
        /// (TimeSpan.Zero: none). Dispose it independently of this server.
        /// </summary>
        public FhirServer Scope(FhirCancel cancel, TimeSpan timeout)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                ServerHandle scoped; ErrorHandle err;
                var rc = Native.fhir_server_scope(handle.DangerousGetHandle(), cancel != null ? cancel.Handle : CancelHandle.Null,
                    FhirOptions.Ms(timeout), out scoped, out err);
                var ex = FhirException.From(rc, err);
                if (ex != null) { scoped.Dispose(); throw ex; }
                scoped.Callbacks = handle.Callbacks;
                return new FhirServer(scoped);
            }
            finally { if (added) handle.DangerousRelease(); }
        }

        /// <summary>What the last call through this handle did (fhir_server_last_call); exact on a scoped handle used by one thread.</summary>
        public FhirCallInfo LastCall()
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                CallInfoNative info; ErrorHandle err;
                FhirException.Check(Native.fhir_server_last_call(handle.DangerousGetHandle(), out info, out err), err);
                return FhirCallInfo.From(info);
            }
            finally { if (added) handle.DangerousRelease(); }
        }

        /// <summary>
        /// Runs f on the native handle. A token that can be cancelled gets a cancel token and a scoped
        /// handle for this call; cancelling the token triggers it (the call ends promptly with
        /// FhirResult.Cancelled, which Invoke turns into OperationCanceledException). A log handler's or
        /// request hook's exception is rethrown after the call.
        /// </summary>
        static FhirException CallScoped(IntPtr server, CancellationToken ct, Call f)
        {
            var cs = CallState.Enter();
            FhirException result;
            try
            {
                if (!ct.CanBeCanceled)
                {
                    ErrorHandle err;
                    var rc = f(server, out err);
                    result = FhirException.From(rc, err);
                }
                else
                {
                    using (var cancel = Native.fhir_cancel_new())
                    {
                        ServerHandle scoped; ErrorHandle err;
                        var rc = Native.fhir_server_scope(server, cancel, 0, out scoped, out err);
                        result = FhirException.From(rc, err);
                        if (result == null)
                        {
                            scoped.Disposing = true;
                            using (scoped)
                            using (ct.Register(() => Native.fhir_cancel_trigger(cancel)))
                            {
                                rc = f(scoped.DangerousGetHandle(), out err);
                                result = FhirException.From(rc, err);
                            }
                        }
                        else scoped.Dispose();
                    }
                }
            }
            finally { cs.Leave(); }
            if (cs.Error != null) cs.Error.Throw();
            return result;
        }
    }
}
