using System;
using System.Threading;

namespace FhirKindling
{
    public sealed partial class FhirServer
    {
        /// <summary>
        /// Runs f on the native handle. Until the library has cancellation (issue 11) the token is only
        /// checked before the call (by Invoke).
        /// </summary>
        static FhirException CallScoped(IntPtr server, CancellationToken ct, Call f)
        {
            ErrorHandle err;
            var rc = f(server, out err);
            return FhirException.From(rc, err);
        }
    }
}
