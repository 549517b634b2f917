using System;
using System.Text;

namespace FhirKindling
{
    /// <summary>Result codes of the C library (enum fhir_result). Codes are only ever added.</summary>
    public enum FhirResult
    {
        Ok = 0, NullArgument = 1, InvalidArgument = 2, Config = 3, Connect = 4, Tls = 5, Timeout = 6,
        HttpStatus = 7, Auth = 8, Json = 9, NotFound = 10, Gone = 11, Conflict = 12, Proxy = 13,
        Protocol = 14, Paging = 15, Io = 16, Panic = 17, Runtime = 18, Limit = 19,
        /// <summary>The call's cancellation was requested, or a request hook refused the request.</summary>
        Cancelled = 20,
    }

    /// <summary>
    /// A failed library call: the result code, the library's message, the HTTP status the server
    /// answered with (0 when the failure was not an HTTP answer) and the server's response body as it
    /// came (often an OperationOutcome).
    /// </summary>
    [Serializable]
    public class FhirException : Exception
    {
        public FhirResult Code { get; private set; }
        public int HttpStatus { get; private set; }
        readonly byte[] body;

        public FhirException(FhirResult code, string message, int httpStatus, byte[] body)
            : this(code, message, httpStatus, body, null) { }

        public FhirException(FhirResult code, string message, int httpStatus, byte[] body, Exception inner)
            : base(message ?? FhirLibrary.ResultString(code), inner)
        {
            Code = code;
            HttpStatus = httpStatus;
            this.body = body;
        }

        /// <summary>The server's body as UTF-8 bytes (a copy), or null.</summary>
        public byte[] Body { get { return body == null ? null : (byte[])body.Clone(); } }

        /// <summary>The server's body as text, or null.</summary>
        public string BodyText { get { return body == null ? null : Encoding.UTF8.GetString(body); } }

        /// <summary>The body when it is a FHIR OperationOutcome resource, else null.</summary>
        public string OperationOutcome
        {
            get
            {
                var text = BodyText;
                if (text == null) return null;
                // A resource whose resourceType is OperationOutcome (the key may be anywhere).
                int i = text.IndexOf("\"resourceType\"", StringComparison.Ordinal);
                if (i < 0) return null;
                int colon = text.IndexOf(':', i + 14);
                if (colon < 0) return null;
                var rest = text.Substring(colon + 1).TrimStart();
                return rest.StartsWith("\"OperationOutcome\"", StringComparison.Ordinal) ? text : null;
            }
        }

        public override string ToString()
        {
            return string.Format("FhirException: {0} (code {1} {2}{3})", Message, (int)Code, Code,
                HttpStatus != 0 ? ", HTTP " + HttpStatus : "");
        }

        /// <summary>Turns a failed call's code and error object into an exception (null on success).</summary>
        internal static FhirException From(FhirResult rc, ErrorHandle err)
        {
            using (err)
            {
                if (rc == FhirResult.Ok) return null;
                if (err == null || err.IsInvalid) return new FhirException(rc, FhirLibrary.ResultString(rc), 0, null);
                UIntPtr n;
                var p = Native.fhir_error_body(err, out n);
                byte[] body = null;
                if (p != IntPtr.Zero)
                {
                    body = new byte[checked((int)n.ToUInt64())];
                    System.Runtime.InteropServices.Marshal.Copy(p, body, 0, body.Length);
                }
                return new FhirException(Native.fhir_error_code(err), Utf8.FromNative(Native.fhir_error_message(err)),
                    Native.fhir_error_http_status(err), body);
            }
        }

        internal static void Check(FhirResult rc, ErrorHandle err)
        {
            var e = From(rc, err);
            if (e != null) throw e;
        }
    }

    /// <summary>Library-wide functions.</summary>
    public static class FhirLibrary
    {
        /// <summary>The version of the loaded native library, such as "0.2.0".</summary>
        public static string Version { get { return Utf8.FromNative(Native.fhir_version()); } }

        /// <summary>The library's English description of a result code.</summary>
        public static string ResultString(FhirResult code) { return Utf8.FromNative(Native.fhir_result_str((int)code)); }

        /// <summary>
        /// The public JWK Set of a private key (PEM text or a PEM file) under kid, to register with an
        /// EHR for SMART Backend Services; algorithm null for the key's own.
        /// </summary>
        public static string SmartPublicJwks(string privateKey, string kid, string algorithm = null)
        {
            var key = Utf8.Z(privateKey, "private key");
            try
            {
                NativeString json; UIntPtr len; ErrorHandle err;
                var rc = Native.fhir_smart_public_jwks(key, Utf8.Z(kid, "kid"), Utf8.ZOpt(algorithm, "algorithm"), out json, out len, out err);
                using (json)
                {
                    FhirException.Check(rc, err);
                    return Utf8.Decode(json.ToArray(len));
                }
            }
            finally { Utf8.Wipe(key); }
        }
    }
}
