// Issue 10: HL7 Bulk Data $export (fhir_bulk_*): the parameters (FhirBulk), the step-by-step
// calls (kick-off, poll, wait, download with a handler or into a directory, cancel) and the
// one-call export.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FhirKindling
{
    /// <summary>The level of an export (fhir_bulk_level).</summary>
    public enum FhirBulkLevel
    {
        /// <summary>[base]/$export: every resource (the default).</summary>
        System = 0,
        /// <summary>[base]/Patient/$export: every patient's compartment.</summary>
        Patient = 1,
        /// <summary>[base]/Group/[id]/$export: the members' compartments.</summary>
        Group = 2,
    }

    /// <summary>What a file of an export manifest holds (fhir_bulk_file_kind).</summary>
    public enum FhirBulkFileKind
    {
        /// <summary>An output[] file: exported resources.</summary>
        Output = 0,
        /// <summary>An error[] file: OperationOutcomes about what the server could not export.</summary>
        Error = 1,
        /// <summary>A deleted[] file: Bundles naming deleted resources (exports with _since).</summary>
        Deleted = 2,
    }

    /// <summary>The manifest file a line comes from.</summary>
    public struct FhirBulkFile
    {
        /// <summary>The manifest's type ("Patient"; "OperationOutcome" for an error file).</summary>
        public string ResourceType;
        public FhirBulkFileKind Kind;
        /// <summary>Index in the manifest: output[] first, then error[], then deleted[].</summary>
        public int Index;
    }

    /// <summary>Totals of a download (fhir_bulk_summary_t).</summary>
    public struct FhirBulkSummary
    {
        /// <summary>Files downloaded completely.</summary>
        public ulong Files;
        /// <summary>Lines of output[] files handed over.</summary>
        public ulong Resources;
        /// <summary>Lines of error[] files: the export is a partial success when not 0.</summary>
        public ulong Errors;
        /// <summary>Lines of deleted[] files.</summary>
        public ulong Deleted;
        /// <summary>Bytes of the lines handed over (line ends excluded).</summary>
        public ulong Bytes;
        /// <summary>Whether the line handler stopped the download.</summary>
        public bool Stopped;

        internal static FhirBulkSummary From(BulkSummaryNative n)
        {
            return new FhirBulkSummary
            {
                Files = n.files, Resources = n.resources, Errors = n.errors, Deleted = n.deleted, Bytes = n.bytes,
                Stopped = n.stopped != 0,
            };
        }
    }

    /// <summary>The answer of one poll (FhirServer.BulkPoll).</summary>
    public sealed class FhirBulkStatus
    {
        /// <summary>Whether the export is complete.</summary>
        public bool Done { get; internal set; }
        /// <summary>The completion manifest (UTF-8 JSON, as the server sent it) when Done, else null.</summary>
        public byte[] ManifestUtf8 { get; internal set; }
        /// <summary>The completion manifest as text when Done, else null.</summary>
        public string Manifest { get { return Utf8.Decode(ManifestUtf8); } }
        /// <summary>While running: how long to wait before polling again.</summary>
        public TimeSpan NextPoll { get; internal set; }
    }

    /// <summary>What FhirServer.BulkCancel found.</summary>
    public enum FhirBulkCancelOutcome
    {
        /// <summary>The server accepted the DELETE.</summary>
        Cancelled = 0,
        /// <summary>The server no longer knew the export (404/410: finished, cancelled or removed): done too.</summary>
        AlreadyGone = 1,
    }

    /// <summary>
    /// Receives one NDJSON line (one resource, without its line end) on the calling thread. The
    /// memory is the library's buffer for this call, valid until the handler returns and reused for
    /// the next line: copy it (line.ToArray()) to keep it. Return true to go on, false to stop the
    /// download (the call then returns with Stopped set). An exception stops the download and is
    /// rethrown by the call. The handler may call this library, also on the same server.
    /// </summary>
    public delegate bool FhirBulkLineHandler(FhirBulkFile file, ReadOnlyMemory<byte> line);

    /// <summary>
    /// Told, on the calling thread, after each poll that found the export still running: the
    /// server's X-Progress text (null when it sent none; or a note on a transient failure of the
    /// status URL) and the wait before the next poll. An exception ends the call at once and is
    /// rethrown by it.
    /// </summary>
    public delegate void FhirBulkProgressHandler(string progress, TimeSpan nextPoll);

    /// <summary>
    /// The parameters of a Bulk Data export and the bounds of its polling and downloads (a
    /// fhir_bulk_t). Defaults: system level, all types; polls 1 s to 60 s apart (HAPI's Retry-After:
    /// 120 is cut to the maximum), a 24 h polling deadline, 4 parallel downloads, lines up to 64 MiB,
    /// 5 attempts per file. Each setter checks its value at once (FhirException naming it) and
    /// returns this. Not thread-safe to change; calls only read it, so once set up one FhirBulk may
    /// serve many calls, also at once.
    /// </summary>
    public sealed class FhirBulk : IDisposable
    {
        internal readonly BulkHandle Handle;
        // The progress handler, registered under the id the library gets as user_data.
        readonly CallbackSet callbacks = new CallbackSet();

        /// <summary>The defaults, for calls given no FhirBulk (never changed).</summary>
        internal static readonly FhirBulk Defaults = new FhirBulk();

        public FhirBulk()
        {
            Handle = Native.fhir_bulk_new();
            if (Handle.IsInvalid) throw new OutOfMemoryException("fhir_bulk_new");
        }

        public void Dispose() { Handle.Dispose(); }

        delegate FhirResult Setter(BulkHandle b, out ErrorHandle e);

        FhirBulk Set(Setter f)
        {
            ErrorHandle err;
            FhirException.Check(f(Handle, out err), err);
            return this;
        }

        static void CheckRange(string what, long n, long max)
        {
            if (n < 0 || n > max) throw new FhirException(FhirResult.InvalidArgument, what + " " + n + " is out of range", 0, null);
        }

        /// <summary>The level; groupId is the group's id for FhirBulkLevel.Group (1 to 64 letters, digits, '-' or '.').</summary>
        public FhirBulk SetLevel(FhirBulkLevel level, string groupId = null)
        {
            var g = Utf8.ZOpt(groupId, "group id");
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_level(b, (int)level, g, out e));
        }

        /// <summary>Adds a resource type to _type (the export holds only the types added; all when none is).</summary>
        public FhirBulk AddType(string resourceType)
        {
            var t = Utf8.Z(resourceType, "resource type");
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_add_type(b, t, out e));
        }

        static byte[] Instant(DateTimeOffset? t, string what)
        {
            return t.HasValue ? Utf8.Z(t.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), what) : null;
        }

        /// <summary>_since: only resources changed after this instant (null clears it).</summary>
        public FhirBulk SetSince(DateTimeOffset? instant)
        {
            var v = Instant(instant, "_since");
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_since(b, v, out e));
        }

        /// <summary>_until: only resources changed before this instant (null clears it); servers may not support it (SetLenient).</summary>
        public FhirBulk SetUntil(DateTimeOffset? instant)
        {
            var v = Instant(instant, "_until");
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_until(b, v, out e));
        }

        /// <summary>Adds a _typeFilter, "Type?search-parameters" such as "Observation?status=final"; repeatable.</summary>
        public FhirBulk AddTypeFilter(string filter)
        {
            var f = Utf8.Z(filter, "_typeFilter");
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_add_type_filter(b, f, out e));
        }

        /// <summary>_outputFormat (null clears it: the server's default, NDJSON); downloads read NDJSON whatever the format.</summary>
        public FhirBulk SetOutputFormat(string format)
        {
            var f = Utf8.ZOpt(format, "_outputFormat");
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_output_format(b, f, out e));
        }

        /// <summary>Sends Prefer: handling=lenient with the kick-off (the server may ignore parameters it does not support).</summary>
        public FhirBulk SetLenient(bool lenient) { return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_lenient(b, lenient, out e)); }

        /// <summary>
        /// Bounds the wait between two polls (and before retrying the kick-off or a file): the server's
        /// Retry-After is clamped to [min, max]; without one the wait starts at min and doubles up to max
        /// (at most a day; defaults 1 s and 60 s).
        /// </summary>
        public FhirBulk SetPollInterval(TimeSpan min, TimeSpan max)
        {
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_poll_interval_ms(b, FhirOptions.Ms(min), FhirOptions.Ms(max), out e));
        }

        /// <summary>The total time waiting for an export may take, from the first poll (TimeSpan.Zero: none; default 24 h): past it FhirResult.Timeout.</summary>
        public FhirBulk SetTimeout(TimeSpan timeout) { return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_timeout_ms(b, FhirOptions.Ms(timeout), out e)); }

        /// <summary>Files downloaded at once, 1 to 64 (default 4); memory stays bounded by this times 256 KiB plus one line each.</summary>
        public FhirBulk SetParallel(int parallel)
        {
            CheckRange("parallel downloads", parallel, int.MaxValue);
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_parallel(b, (UIntPtr)(uint)parallel, out e));
        }

        /// <summary>The longest NDJSON line accepted, 1 KiB to 1 GiB (default 64 MiB); a longer one is FhirResult.Limit.</summary>
        public FhirBulk SetMaxLineBytes(long maxLineBytes)
        {
            CheckRange("maximum line length", maxLineBytes, UIntPtr.Size == 4 ? uint.MaxValue : long.MaxValue);
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_max_line_bytes(b, new UIntPtr((ulong)maxLineBytes), out e));
        }

        /// <summary>Attempts per file, 1 to 100, the first included (default 5); a retried file resumes after the lines already handed over.</summary>
        public FhirBulk SetFileAttempts(int attempts)
        {
            CheckRange("file attempts", attempts, int.MaxValue);
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_file_attempts(b, (uint)attempts, out e));
        }

        /// <summary>The handler told about progress while waiting (BulkPoll, BulkWait, BulkExport); null for none.</summary>
        public FhirBulk SetProgressCallback(FhirBulkProgressHandler handler)
        {
            if (handler == null)
                return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_progress_callback(b, null, IntPtr.Zero, out e));
            var id = callbacks.Register(handler);
            return Set((BulkHandle b, out ErrorHandle e) => Native.fhir_bulk_set_progress_callback(b, BulkCall.ProgressCb, id, out e));
        }
    }

    /// <summary>The state of one bulk call: the line handler (its GCHandle is the user_data), the
    /// reused line buffer, and the cancel that a progress handler's exception triggers.</summary>
    internal sealed class BulkCall
    {
        [ThreadStatic] static BulkCall current;
        BulkCall prev;
        internal FhirBulkLineHandler Line;
        internal CancellationTokenSource Stop;
        internal ExceptionDispatchInfo Error;
        byte[] buffer = new byte[4096];
        readonly Dictionary<int, string> types = new Dictionary<int, string>();

        internal void Enter() { prev = current; current = this; }
        internal void Leave() { current = prev; }

        // Static: the delegates the library calls must outlive every call.
        internal static readonly BulkLineCallback LineCb = OnLine;
        internal static readonly BulkProgressCallback ProgressCb = OnProgress;

        static int OnLine(IntPtr line, UIntPtr len, IntPtr resourceType, int kind, UIntPtr fileIndex, IntPtr userData)
        {
            var st = (BulkCall)GCHandle.FromIntPtr(userData).Target;
            if (st.Error != null || st.Line == null) return 1;
            try
            {
                int n = checked((int)len.ToUInt64());
                if (st.buffer.Length < n) st.buffer = new byte[Math.Max(n, st.buffer.Length * 2)];
                Marshal.Copy(line, st.buffer, 0, n);
                int index = checked((int)fileIndex.ToUInt64());
                string type;
                if (!st.types.TryGetValue(index, out type))
                {
                    type = Utf8.FromNative(resourceType);
                    st.types[index] = type;
                }
                var file = new FhirBulkFile { ResourceType = type, Kind = (FhirBulkFileKind)kind, Index = index };
                return st.Line(file, new ReadOnlyMemory<byte>(st.buffer, 0, n)) ? 0 : 1;
            }
            catch (Exception ex) { st.Error = ExceptionDispatchInfo.Capture(ex); return 1; }
        }

        static void OnProgress(IntPtr progress, ulong nextPollMs, IntPtr userData)
        {
            try
            {
                var h = CallbackSet.Lookup(userData) as FhirBulkProgressHandler;
                if (h != null) h(Utf8.FromNative(progress), TimeSpan.FromMilliseconds(nextPollMs));
            }
            catch (Exception ex)
            {
                // Rethrown by the call (CallScoped); the wait cannot be stopped from here otherwise.
                CallState.Record(ex);
                var c = current;
                if (c != null && c.Stop != null) c.Stop.Cancel();
            }
        }
    }

    public sealed partial class FhirServer
    {
        delegate FhirResult BulkNative(IntPtr server, BulkHandle bulk, IntPtr userData, out ErrorHandle e);

        /// <summary>
        /// Runs one bulk call: a GCHandle for the line handler, a cancel of its own when a progress
        /// handler is set (its exception ends the call), and the handler's exception rethrown after the
        /// native call returned.
        /// </summary>
        void InvokeBulk(FhirBulk bulk, FhirBulkLineHandler onLine, CancellationToken ct, BulkNative f)
        {
            var b = bulk ?? FhirBulk.Defaults;
            var st = new BulkCall { Line = onLine };
            var gch = GCHandle.Alloc(st);
            CancellationTokenSource stop = null;
            try
            {
                ct.ThrowIfCancellationRequested();
                stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                st.Stop = stop;
                FhirException failure = null;
                st.Enter();
                try
                {
                    Invoke(ct, stop.Token, (IntPtr s, out ErrorHandle e) => f(s, b.Handle, GCHandle.ToIntPtr(gch), out e));
                }
                catch (FhirException ex) { failure = ex; }
                finally { st.Leave(); }
                if (st.Error != null) st.Error.Throw();
                if (failure != null) throw failure;
            }
            finally
            {
                gch.Free();
                if (stop != null) stop.Dispose();
                GC.KeepAlive(b);
            }
        }

        /// <summary>
        /// Kicks off an export (fhir_bulk_kickoff: GET the level's $export URL with Prefer: respond-async;
        /// 429, 503 and transient OperationOutcomes retried) and returns the absolute status URL. Keep it to
        /// poll, wait, download or cancel later, also from another process. A refused export throws
        /// FhirException with the server's OperationOutcome. bulk null: the defaults.
        /// </summary>
        public string BulkKickoff(FhirBulk bulk, CancellationToken ct = default(CancellationToken))
        {
            NativeString url = null;
            try
            {
                InvokeBulk(bulk, null, ct, (IntPtr s, BulkHandle b, IntPtr u, out ErrorHandle e) => Native.fhir_bulk_kickoff(s, b, out url, out e));
                return url.ToUtf8String();
            }
            finally { if (url != null) url.Dispose(); }
        }

        /// <summary>
        /// Polls the status URL once (fhir_bulk_poll). While the export runs (or the status URL failed
        /// transiently) the progress handler is told and Done is false; once complete the manifest is
        /// there. A failed export throws FhirException with the server's OperationOutcome.
        /// </summary>
        public FhirBulkStatus BulkPoll(FhirBulk bulk, string statusUrl, CancellationToken ct = default(CancellationToken))
        {
            var u = Utf8.Z(statusUrl, "status URL");
            NativeString manifest = null; UIntPtr len = UIntPtr.Zero; bool done = false; ulong next = 0;
            try
            {
                InvokeBulk(bulk, null, ct, (IntPtr s, BulkHandle b, IntPtr ud, out ErrorHandle e) =>
                    Native.fhir_bulk_poll(s, b, u, out done, out manifest, out len, out next, out e));
                return new FhirBulkStatus { Done = done, ManifestUtf8 = manifest.ToArray(len), NextPoll = TimeSpan.FromMilliseconds(next) };
            }
            finally { if (manifest != null) manifest.Dispose(); }
        }

        /// <summary>
        /// Polls the status URL until the export completes (fhir_bulk_wait) and returns the manifest. Waits
        /// follow Retry-After clamped to SetPollInterval's bounds; transient failures are retried. Also
        /// resumes an export kicked off earlier, by another process too. Past SetTimeout: FhirResult.Timeout;
        /// cancelling ct ends it, also between polls (OperationCanceledException).
        /// </summary>
        public string BulkWait(FhirBulk bulk, string statusUrl, CancellationToken ct = default(CancellationToken)) { return Utf8.Decode(BulkWaitUtf8(bulk, statusUrl, ct)); }
        public byte[] BulkWaitUtf8(FhirBulk bulk, string statusUrl, CancellationToken ct = default(CancellationToken))
        {
            var u = Utf8.Z(statusUrl, "status URL");
            NativeString manifest = null; UIntPtr len = UIntPtr.Zero;
            try
            {
                InvokeBulk(bulk, null, ct, (IntPtr s, BulkHandle b, IntPtr ud, out ErrorHandle e) => Native.fhir_bulk_wait(s, b, u, out manifest, out len, out e));
                return manifest.ToArray(len);
            }
            finally { if (manifest != null) manifest.Dispose(); }
        }

        static FhirBulkLineHandler TextLines(Func<FhirBulkFile, string, bool> onLine)
        {
            if (onLine == null) throw new ArgumentNullException("onLine");
            return (f, line) =>
            {
                ArraySegment<byte> seg;
                MemoryMarshal.TryGetArray(line, out seg); // always an array: BulkCall's buffer
                return onLine(f, Utf8.Decode(seg.Array, seg.Offset, seg.Count));
            };
        }

        /// <summary>
        /// Downloads every file of a completion manifest (fhir_bulk_download), handing each NDJSON line to
        /// onLine (see FhirBulkLineHandler). Up to SetParallel files are fetched at once, each streamed:
        /// memory stays bounded whatever the export size. The token goes only to the FHIR server's origin,
        /// and only when the manifest says requiresAccessToken. error[] files come through onLine too
        /// (FhirBulkFileKind.Error) and are counted in Errors: the call still succeeds.
        /// </summary>
        public unsafe FhirBulkSummary BulkDownloadUtf8(FhirBulk bulk, ReadOnlyMemory<byte> manifest, FhirBulkLineHandler onLine, CancellationToken ct = default(CancellationToken))
        {
            if (onLine == null) throw new ArgumentNullException("onLine");
            var sum = new BulkSummaryNative();
            using (var pin = manifest.Pin())
            {
                var p = (IntPtr)pin.Pointer;
                var n = (UIntPtr)manifest.Length;
                InvokeBulk(bulk, onLine, ct, (IntPtr s, BulkHandle b, IntPtr ud, out ErrorHandle e) =>
                    Native.fhir_bulk_download(s, b, p, n, BulkCall.LineCb, ud, out sum, out e));
            }
            return FhirBulkSummary.From(sum);
        }

        /// <summary>BulkDownloadUtf8 with the manifest and each line as text.</summary>
        public FhirBulkSummary BulkDownload(FhirBulk bulk, string manifest, Func<FhirBulkFile, string, bool> onLine, CancellationToken ct = default(CancellationToken))
        {
            return BulkDownloadUtf8(bulk, Mem(manifest), TextLines(onLine), ct);
        }

        /// <summary>
        /// Downloads every file of a completion manifest into a directory (created if missing;
        /// fhir_bulk_download_to_dir): output-00001-Patient.ndjson, error-00003-OperationOutcome.ndjson, ...
        /// (names made by the library, never by the server), each written as *.part and renamed when
        /// complete, plus manifest.json. A file that cannot be written is FhirResult.Io.
        /// </summary>
        public unsafe FhirBulkSummary BulkDownloadToDirectory(FhirBulk bulk, ReadOnlyMemory<byte> manifest, string directory, CancellationToken ct = default(CancellationToken))
        {
            var d = Utf8.Z(directory, "directory");
            var sum = new BulkSummaryNative();
            using (var pin = manifest.Pin())
            {
                var p = (IntPtr)pin.Pointer;
                var n = (UIntPtr)manifest.Length;
                InvokeBulk(bulk, null, ct, (IntPtr s, BulkHandle b, IntPtr ud, out ErrorHandle e) =>
                    Native.fhir_bulk_download_to_dir(s, b, p, n, d, out sum, out e));
            }
            return FhirBulkSummary.From(sum);
        }

        public FhirBulkSummary BulkDownloadToDirectory(FhirBulk bulk, string manifest, string directory, CancellationToken ct = default(CancellationToken))
        {
            return BulkDownloadToDirectory(bulk, Mem(manifest), directory, ct);
        }

        /// <summary>
        /// Cancels an export (fhir_bulk_cancel: DELETE its status URL), or tells the server a completed
        /// export's files may be removed. A server that no longer knows the export (404/410) counts as done.
        /// </summary>
        public FhirBulkCancelOutcome BulkCancel(string statusUrl, CancellationToken ct = default(CancellationToken))
        {
            var u = Utf8.Z(statusUrl, "status URL");
            bool gone = false;
            Invoke(ct, (IntPtr s, out ErrorHandle e) => Native.fhir_bulk_cancel(s, u, out gone, out e));
            return gone ? FhirBulkCancelOutcome.AlreadyGone : FhirBulkCancelOutcome.Cancelled;
        }

        /// <summary>
        /// A whole export in one call (fhir_bulk_export): BulkKickoff, BulkWait, then BulkDownloadUtf8 with
        /// onLine. statusUrl is written as soon as the kick-off succeeded, also when a later step throws (to
        /// resume with BulkWait, or to cancel); null when the kick-off failed.
        /// </summary>
        public FhirBulkSummary BulkExportUtf8(FhirBulk bulk, FhirBulkLineHandler onLine, out string statusUrl, CancellationToken ct = default(CancellationToken))
        {
            if (onLine == null) throw new ArgumentNullException("onLine");
            statusUrl = null;
            NativeString url = null;
            var sum = new BulkSummaryNative();
            try
            {
                InvokeBulk(bulk, onLine, ct, (IntPtr s, BulkHandle b, IntPtr ud, out ErrorHandle e) =>
                    Native.fhir_bulk_export(s, b, BulkCall.LineCb, ud, out url, out sum, out e));
            }
            finally
            {
                if (url != null)
                {
                    statusUrl = url.ToUtf8String();
                    url.Dispose();
                }
            }
            return FhirBulkSummary.From(sum);
        }

        /// <summary>BulkExportUtf8 with each line as text.</summary>
        public FhirBulkSummary BulkExport(FhirBulk bulk, Func<FhirBulkFile, string, bool> onLine, out string statusUrl, CancellationToken ct = default(CancellationToken))
        {
            return BulkExportUtf8(bulk, TextLines(onLine), out statusUrl, ct);
        }
    }
}
