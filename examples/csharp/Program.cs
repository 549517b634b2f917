// Checks the C# bindings against a live FHIR server (FHIR_API_URL). Prints "N passed, N failed"
// and exits non-zero on any failure. Uses plain string/regex checks: no JSON library needed.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using FhirKindling;

static class Program
{
    static int passed, failed;

    static void Check(string name, bool ok, string detail = null)
    {
        if (ok) { passed++; Console.WriteLine("ok   " + name); }
        else { failed++; Console.WriteLine("FAIL " + name + (detail != null ? ": " + detail : "")); }
    }

    // Runs one step; an unexpected exception counts as a failure instead of aborting the run.
    static void Step(string name, Action body)
    {
        try { body(); }
        catch (Exception e) { Check(name, false, "unexpected " + e.GetType().Name + ": " + e.Message); }
    }

    static string Field(string json, string field)
    {
        var m = Regex.Match(json, "\"" + Regex.Escape(field) + "\"\\s*:\\s*\"([^\"]*)\"");
        return m.Success ? m.Groups[1].Value : null;
    }

    static int Count(string s, string pattern) { return Regex.Matches(s, pattern).Count; }

    static string Patient(string family, string given, string system, string value)
    {
        return "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"" + system + "\",\"value\":\"" + value + "\"}]," +
               "\"name\":[{\"family\":\"" + family + "\",\"given\":[\"" + given + "\"]}],\"gender\":\"female\"}";
    }

    static int Main()
    {
        string url = Environment.GetEnvironmentVariable("FHIR_API_URL");
        if (string.IsNullOrEmpty(url))
        {
            Console.Error.WriteLine("set FHIR_API_URL, e.g. http://127.0.0.1:8080/fhir");
            return 2;
        }

        string version = FhirServer.LibraryVersion;
        string loaded = File.ReadAllLines("/proc/self/maps").Select(l => l.Split(' ').Last())
            .FirstOrDefault(p => p.Contains("libfhir_kindling"));
        var mono = Type.GetType("Mono.Runtime");
        string runtime = mono != null
            ? "Mono " + mono.GetMethod("GetDisplayName", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static).Invoke(null, null)
            : ".NET " + Environment.Version;
        Console.WriteLine("fhir_kindling " + version + " from " + (loaded ?? "?") + " on " + runtime);
        var vparts = version.Split('.');
        Check("library version matches the bindings (" + FhirServer.BindingMajor + "." + FhirServer.BindingMinor + ".x)",
            vparts.Length == 3 && vparts[0] == FhirServer.BindingMajor.ToString() && vparts[1] == FhirServer.BindingMinor.ToString(), version);

        // Bad input gives a FhirException with the library's code (no crash, nothing leaked).
        Step("invalid base URL", () =>
        {
            try { new FhirServer("not a url").Dispose(); Check("invalid base URL throws", false); }
            catch (FhirException e) { Check("invalid base URL throws InvalidArgument", e.Code == FhirResult.InvalidArgument, e.ToString()); }
        });

        string run = Guid.NewGuid().ToString("N");
        string system = "urn:fhir-kindling:csharp:" + run;
        var created = new List<string>();

        using (var options = new FhirOptions().TimeoutMs(30000).ConnectTimeoutMs(5000)
                   .UserAgent("fhir_kindling-csharp-example").InsecureSkipTlsVerify(false))
        using (var server = new FhirServer(url, options))
        {
            Check("base URL normalised", server.BaseUrl == url.TrimEnd('/'), server.BaseUrl);

            Step("from env", () =>
            {
                using (var env = FhirServer.FromEnv(true)) // bool marshalled as I1
                    Check("FromEnv(noAuth: true) uses FHIR_API_URL", env.BaseUrl == url.TrimEnd('/'), env.BaseUrl);
            });

            Step("capabilities", () =>
            {
                string caps = server.Capabilities();
                Check("capabilities is a CapabilityStatement", Field(caps, "resourceType") == "CapabilityStatement");
            });

            // Create with a non-ASCII name; read back; the name must survive both directions.
            const string family = "Müller", given = "Zoë Ångström";
            string reference = null;
            Step("create", () =>
            {
                string json = server.Create(Patient(family, given, system, "main"));
                string id = Field(json, "id");
                Check("create returns an id", !string.IsNullOrEmpty(id), json);
                reference = "Patient/" + id;
                created.Add(reference);
                Check("create returns the UTF-8 name", json.Contains(family) && json.Contains(given), json);
            });
            if (reference == null) return Finish();

            string readBack = null;
            Step("read", () =>
            {
                readBack = server.Read(reference);
                Check("read: family name round-trips", Field(readBack, "family") == family, Field(readBack, "family"));
                Check("read: given name round-trips", readBack.Contains("\"" + given + "\""), readBack);
                Check("read: same id", "Patient/" + Field(readBack, "id") == reference);
            });
            Step("search by non-ASCII name", () =>
            {
                ulong n = server.SearchCount("Patient?family:exact=" + Uri.EscapeDataString(family) +
                                             "&identifier=" + Uri.EscapeDataString(system + "|main"));
                Check("server indexed the name as UTF-8 (family:exact=M%C3%BCller)", n == 1, n.ToString());
            });

            // 8 threads share the one handle.
            Step("concurrent reads", () =>
            {
                const int threads = 8, reads = 25;
                int ok = 0, bad = 0;
                string firstError = null;
                var start = new ManualResetEventSlim(false);
                var ts = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
                {
                    start.Wait();
                    for (int i = 0; i < reads; i++)
                    {
                        try
                        {
                            string j = server.Read(reference);
                            if (Field(j, "family") == family) Interlocked.Increment(ref ok);
                            else Interlocked.Increment(ref bad);
                        }
                        catch (Exception e)
                        {
                            Interlocked.Increment(ref bad);
                            Interlocked.CompareExchange(ref firstError, e.Message, null);
                        }
                    }
                })).ToList();
                ts.ForEach(t => t.Start());
                var sw = System.Diagnostics.Stopwatch.StartNew();
                start.Set();
                ts.ForEach(t => t.Join());
                Check(threads + " threads x " + reads + " concurrent reads on one handle (" + sw.ElapsedMilliseconds + " ms)",
                    ok == threads * reads && bad == 0, ok + " ok, " + bad + " bad " + firstError);
            });

            // Six more patients for paging: _count=2 gives three pages of two.
            Step("create for paging", () =>
            {
                for (int i = 1; i <= 6; i++)
                    created.Add("Patient/" + Field(server.Create(Patient("Pagé" + i, "Ünïcode", system, "page")), "id"));
                Check("created 6 paging patients", created.Count == 7);
            });
            string pageQuery = "Patient?identifier=" + Uri.EscapeDataString(system + "|page") + "&_count=2&_sort=_id";
            Step("search count", () =>
            {
                ulong n = server.SearchCount(pageQuery);
                Check("SearchCount == 6", n == 6, n.ToString());
            });
            Step("search all", () =>
            {
                string bundle = server.SearchAll(pageQuery);
                int entries = Count(bundle, "\"resourceType\"\\s*:\\s*\"Patient\"");
                Check("SearchAll follows every page (6 Patients in one Bundle)", entries == 6, entries.ToString());
                Check("SearchAll total is 6", Regex.IsMatch(bundle, "\"total\"\\s*:\\s*6\\b"));
            });

            Step("stream with early stop", () =>
            {
                var seen = new List<string>();
                var modes = new HashSet<string>();
                string next = server.SearchResources(pageQuery, (json, mode) =>
                {
                    seen.Add(Field(json, "id"));
                    modes.Add(mode);
                    GC.Collect(); // the delegate and the GCHandle must survive a collection mid-call
                    GC.WaitForPendingFinalizers();
                    if (seen.Count == 1) // re-entrant call on the same handle from the callback
                        Check("callback may call the library (Read on the same handle)", Field(server.Read("Patient/" + Field(json, "id")), "id") == Field(json, "id"));
                    return seen.Count < 3; // stop after the first resource of page 2
                });
                Check("SearchResources stopped after 3 resources", seen.Count == 3, seen.Count.ToString());
                Check("search mode is \"match\"", modes.SetEquals(new[] { "match" }), string.Join(",", modes));
                Check("a next URL is returned when stopped early", !string.IsNullOrEmpty(next), next);
                if (string.IsNullOrEmpty(next)) return;

                int rest = 0;
                string after = server.SearchResources(next, (json, mode) => { rest++; return true; });
                Check("resuming from the next URL gives page 3 (2 resources)", rest == 2, rest.ToString());
                Check("exhausted search returns a null next URL", after == null, after);
            });

            Step("callback exception", () =>
            {
                try
                {
                    server.SearchResources(pageQuery, (json, mode) => { throw new InvalidOperationException("boom"); });
                    Check("exception in callback is rethrown", false);
                }
                catch (InvalidOperationException e) { Check("exception in callback stops the search and is rethrown", e.Message == "boom"); }
            });

            Step("not found", () =>
            {
                try
                {
                    server.Read("Patient/does-not-exist-" + run);
                    Check("missing id throws", false);
                }
                catch (FhirException e)
                {
                    Check("missing id: Code NotFound", e.Code == FhirResult.NotFound, e.ToString());
                    Check("missing id: HTTP 404", e.HttpStatus == 404, e.HttpStatus.ToString());
                    Check("missing id: body is an OperationOutcome",
                        e.Body != null && Field(e.Body, "resourceType") == "OperationOutcome", e.Body);
                    Check("missing id: message set", !string.IsNullOrEmpty(e.Message));
                }
            });

            Step("null argument at the C level", () =>
            {
                IntPtr json, err;
                UIntPtr len;
                int rc = Native.fhir_resource_read(server.Handle, null, out json, out len, out err);
                var e = FhirException.Take(rc, err);
                Check("NULL reference gives FHIR_ERR_NULL_ARGUMENT", rc == (int)FhirResult.NullArgument && e.Code == FhirResult.NullArgument, rc.ToString());
            });

            Step("delete", () =>
            {
                foreach (var r in created) server.Delete(r);
                Check("deleted " + created.Count + " patients", true);
                try { server.Read(reference); Check("read after delete throws", false); }
                catch (FhirException e)
                {
                    Check("read after delete: Gone (410) or NotFound (404)",
                        (e.Code == FhirResult.Gone && e.HttpStatus == 410) || (e.Code == FhirResult.NotFound && e.HttpStatus == 404),
                        e.ToString());
                }
                ulong left = server.SearchCount("Patient?identifier=" + Uri.EscapeDataString(system + "|"));
                Check("no test patients left", left == 0, left.ToString());
            });

            // Dispose while other threads are mid-call: calls in flight finish (SafeHandle ref-counting
            // defers fhir_server_free until they return), calls started later get ObjectDisposedException.
            Step("dispose during calls", () =>
            {
                var racer = new FhirServer(url);
                int ok = 0, disposed = 0, other = 0;
                string firstOther = null;
                var ts = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
                {
                    var until = DateTime.UtcNow.AddSeconds(20); // loop until Dispose (bounded)
                    while (DateTime.UtcNow < until)
                    {
                        try { racer.Capabilities(); Interlocked.Increment(ref ok); }
                        catch (ObjectDisposedException) { Interlocked.Increment(ref disposed); break; }
                        catch (Exception e) { Interlocked.Increment(ref other); Interlocked.CompareExchange(ref firstOther, e.ToString(), null); break; }
                    }
                })).ToList();
                ts.ForEach(t => t.Start());
                Thread.Sleep(300);
                var sw = System.Diagnostics.Stopwatch.StartNew();
                racer.Dispose();
                ts.ForEach(t => t.Join());
                Check("Dispose racing 4 busy threads: each stops with ObjectDisposedException (" + ok + " calls before, drained in " +
                      sw.ElapsedMilliseconds + " ms)", disposed == 4 && other == 0 && ok > 0, ok + " ok, " + disposed + " disposed, " + other + " other " + firstOther);
                Check("native handle freed once the calls drained", racer.Handle.IsClosed);
            });

            server.Dispose();
            try { server.Read(reference); Check("use after Dispose throws ObjectDisposedException", false); }
            catch (ObjectDisposedException) { Check("use after Dispose throws ObjectDisposedException", true); }
        }
        SmartBackend();
        return Finish();
    }

    /// <summary>SMART Backend Services against the test provider behind nginx (services.env).</summary>
    static void SmartBackend()
    {
        // Plain HTTP, like the provider's token endpoint (from https an http one is refused).
        string http = Environment.GetEnvironmentVariable("FHIR_NGINX_HTTP");
        string key = Environment.GetEnvironmentVariable("FHIR_SMART_RSA_PKCS1_KEY");
        if (string.IsNullOrEmpty(http) || string.IsNullOrEmpty(key))
        {
            Console.WriteLine("SKIP SMART Backend Services: source the services' services.env");
            return;
        }
        string url = http + "/smart/fhir";
        try { FhirServer.SmartBackend(url, "c", key, null).Dispose(); Check("SMART without a key id throws", false); }
        catch (FhirException e) { Check("SMART without a key id throws InvalidArgument", e.Code == FhirResult.InvalidArgument, e.ToString()); }
        using (var o = new FhirOptions().AddCaFile(Environment.GetEnvironmentVariable("FHIR_TEST_CA"))
                   .SmartKeyId(Environment.GetEnvironmentVariable("FHIR_SMART_RSA_KID")).SmartAlgorithm("RS384").SmartScope("system/*.rs"))
        using (var s = FhirServer.SmartBackend(url, Environment.GetEnvironmentVariable("FHIR_SMART_RS384_CLIENT_ID"), key, o))
        {
            Check("SMART RS384 (PKCS#1 key): capabilities through the gateway", Field(s.Capabilities(), "resourceType") == "CapabilityStatement");
            Check("SMART granted scope", s.GrantedScope() == "system/*.rs");
        }
        using (var o = new FhirOptions().AddCaFile(Environment.GetEnvironmentVariable("FHIR_TEST_CA")).SmartKeyId("rsa-2048"))
        using (var s = FhirServer.SmartBackend(url, Environment.GetEnvironmentVariable("FHIR_SMART_RS384_CLIENT_ID"),
                   Environment.GetEnvironmentVariable("FHIR_SMART_OTHER_KEY"), o))
        {
            try { s.Capabilities(); Check("SMART with an unregistered key throws", false); }
            catch (FhirException e) { Check("SMART with an unregistered key throws Auth", e.Code == FhirResult.Auth && e.Message.Contains("invalid_client"), e.ToString()); }
        }
        string jwks = FhirServer.SmartPublicJwks(key, "rsa-2048");
        Check("SMART public JWKS", jwks.Contains("\"kty\":\"RSA\"") && jwks.Contains("\"alg\":\"RS384\"") && !jwks.Contains("\"d\""), jwks);
    }

    static int Finish()
    {
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
