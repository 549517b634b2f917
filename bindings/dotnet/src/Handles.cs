// One SafeHandle per native type: the runtime frees each exactly once (on Dispose, or by the
// finalizer when a handle is forgotten), never while a P/Invoke call is using it.
using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace FhirKindling
{
    internal abstract class NativeHandle : SafeHandle
    {
        protected NativeHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
    }

    /// <summary>A fhir_server_t (fhir_server_free).</summary>
    internal sealed class ServerHandle : NativeHandle
    {
        // Handles released by the finalizer thread rather than by Dispose (read by the tests).
        internal static int Finalized;
        internal bool Disposing;
        // The Go-style callbacks (log, hook) of the options this handle was built with: kept
        // registered as long as the handle lives.
        internal CallbackSet Callbacks;

        protected override bool ReleaseHandle()
        {
            if (!Disposing) Interlocked.Increment(ref Finalized);
            Native.fhir_server_free(handle);
            return true;
        }
    }

    /// <summary>A fhir_options_t (fhir_options_free).</summary>
    internal sealed class OptionsHandle : NativeHandle
    {
        /// <summary>NULL: the library's default options.</summary>
        internal static readonly OptionsHandle Null = new OptionsHandle();
        protected override bool ReleaseHandle() { Native.fhir_options_free(handle); return true; }
    }

    /// <summary>A fhir_query_t (fhir_query_free).</summary>
    internal sealed class QueryHandle : NativeHandle
    {
        protected override bool ReleaseHandle() { Native.fhir_query_free(handle); return true; }
    }

    /// <summary>A fhir_cancel_t (fhir_cancel_free).</summary>
    internal sealed class CancelHandle : NativeHandle
    {
        internal static readonly CancelHandle Null = new CancelHandle();
        protected override bool ReleaseHandle() { Native.fhir_cancel_free(handle); return true; }
    }

    /// <summary>A fhir_bulk_t (fhir_bulk_free).</summary>
    internal sealed class BulkHandle : NativeHandle
    {
        protected override bool ReleaseHandle() { Native.fhir_bulk_free(handle); return true; }
    }

    /// <summary>A fhir_error_t (fhir_error_free).</summary>
    internal sealed class ErrorHandle : NativeHandle
    {
        protected override bool ReleaseHandle() { Native.fhir_error_free(handle); return true; }
    }

    /// <summary>A buffer the library returned (fhir_string_free).</summary>
    internal sealed class NativeString : NativeHandle
    {
        protected override bool ReleaseHandle() { Native.fhir_string_free(handle); return true; }

        /// <summary>A copy of the buffer's len bytes; null when there is no buffer.</summary>
        internal byte[] ToArray(UIntPtr len)
        {
            if (IsInvalid) return null;
            ulong n = len.ToUInt64();
            if (n > int.MaxValue) throw new FhirException(FhirResult.Limit, "a buffer of 2 GiB or more does not fit a .NET array", 0, null);
            var bytes = new byte[(int)n];
            Marshal.Copy(handle, bytes, 0, (int)n);
            return bytes;
        }

        /// <summary>The NUL-terminated buffer decoded as UTF-8; null when there is no buffer.</summary>
        internal string ToUtf8String() { return IsInvalid ? null : Utf8.FromNative(handle); }
    }

    /// <summary>Explicit UTF-8 conversions.</summary>
    internal static class Utf8
    {
        static readonly System.Text.UTF8Encoding Strict = new System.Text.UTF8Encoding(false, true);

        /// <summary>s as NUL-terminated UTF-8; null stays null (a C NULL). A NUL inside is refused.</summary>
        internal static byte[] Z(string s, string what)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new FhirException(FhirResult.InvalidArgument, what + " contains a NUL character", 0, null);
            var n = Strict.GetByteCount(s);
            var b = new byte[n + 1];
            Strict.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>Z, with "" meaning NULL.</summary>
        internal static byte[] ZOpt(string s, string what) { return string.IsNullOrEmpty(s) ? null : Z(s, what); }

        /// <summary>Overwrites a secret's bytes once the library has copied them.</summary>
        internal static void Wipe(byte[] b) { if (b != null) Array.Clear(b, 0, b.Length); }

        internal static string Decode(byte[] b) { return b == null ? null : Strict.GetString(b); }

        internal static string Decode(byte[] b, int offset, int count) { return Strict.GetString(b, offset, count); }

        internal static byte[] Encode(string s) { return Strict.GetBytes(s); }

        internal static unsafe string FromNative(IntPtr p, int len)
        {
            return p == IntPtr.Zero ? null : Strict.GetString((byte*)p, len);
        }

        internal static unsafe string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            var b = (byte*)p;
            int n = 0;
            while (b[n] != 0) n++;
            return Strict.GetString(b, n);
        }
    }
}
