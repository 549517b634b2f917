// A small program using the FhirKindling .NET library (bindings/dotnet):
//
//   FHIR_API_URL=http://127.0.0.1:8080/fhir examples/csharp/run.sh
//
// It connects as the environment says, creates a Patient, reads it back, streams a search under a
// cancellation token with a deadline, and deletes what it created.
using System;
using System.Text.RegularExpressions;
using System.Threading;
using FhirKindling;

static class Program
{
    static int Main()
    {
        // No credential variable set: connect without auth (FromEnv refuses a missing auth mode
        // unless asked for none).
        bool noAuth = Environment.GetEnvironmentVariable("FHIR_USER") == null
            && Environment.GetEnvironmentVariable("FHIR_TOKEN") == null
            && Environment.GetEnvironmentVariable("CLIENT_ID") == null;
        using (var options = new FhirOptions().SetUserAgent("fhirkindling-csharp-example"))
        using (var server = FhirServer.FromEnv(noAuth, options))
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var ct = cts.Token;
            Console.WriteLine("fhir_kindling {0}, server {1}", FhirLibrary.Version, server.BaseUrl);

            var family = "CsExample" + DateTime.UtcNow.Ticks;
            var created = server.Create("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"" + family + "\",\"given\":[\"Ada\"]}]}", null, ct);
            var reference = "Patient/" + Regex.Match(created, "\"id\"\\s*:\\s*\"([^\"]+)\"").Groups[1].Value;
            Console.WriteLine("created " + reference);
            server.Read(reference, ct);

            string query;
            using (var q = new FhirQuery("Patient"))
                query = q.Where("family", ":exact", family).PageSize(10).Build();
            int matches = 0;
            server.SearchResources(query, (json, mode) => { matches++; return true; }, ct);
            Console.WriteLine("search {0}: {1} match", query, matches);
            if (matches != 1) return 1;

            server.Delete(reference, ct);
            try
            {
                server.Read(reference, ct);
                Console.Error.WriteLine("read after delete succeeded");
                return 1;
            }
            catch (FhirException e) when (e.Code == FhirResult.Gone)
            {
                Console.WriteLine("deleted " + reference);
            }
        }
        return 0;
    }
}
