// NUnit 2.6 tests of the .NET binding against the real services of tests/servers (source
// `tests/servers/services.sh env` first). A missing variable fails the test: a skipped test proves
// nothing in CI.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FhirKindling.Tests
{
    [TestFixture]
    public class FhirKindlingTests
    {
        static string Env(string name)
        {
            var v = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrEmpty(v)) Assert.Fail(name + " is not set: start the services and source `tests/servers/services.sh env`");
            return v;
        }

        static string Id(string json)
        {
            var m = Regex.Match(json, "\"id\"\\s*:\\s*\"([^\"]+)\"");
            Assert.IsTrue(m.Success, "no id in " + json);
            return m.Groups[1].Value;
        }

        static int Count(string json, string needle) { return Regex.Matches(json, Regex.Escape(needle)).Count; }

        static string Unique(string prefix) { return prefix + Process.GetCurrentProcess().Id + "x" + DateTime.UtcNow.Ticks; }

        static string PatientJson(string family) { return "{\"resourceType\":\"Patient\",\"active\":true,\"name\":[{\"family\":\"" + family + "\"}]}"; }

        FhirServer Hapi() { return FhirServer.Connect(Env("FHIR_HAPI_URL"), new FhirOptions().SetTimeout(TimeSpan.FromSeconds(30))); }

        [Test]
        public void CodesVersionAndArguments()
        {
            StringAssert.StartsWith("0.", FhirLibrary.Version);
            Assert.AreNotEqual(FhirLibrary.ResultString(FhirResult.NotFound), FhirLibrary.ResultString(FhirResult.Gone));
            var ex = Assert.Throws<FhirException>(() => FhirServer.Connect("not a url"));
            Assert.AreEqual(FhirResult.InvalidArgument, ex.Code);
            ex = Assert.Throws<FhirException>(() => FhirServer.Connect("http://h/fhir\0x"));
            Assert.AreEqual(FhirResult.InvalidArgument, ex.Code);
            using (var o = new FhirOptions())
            {
                ex = Assert.Throws<FhirException>(() => o.AddHeader("Authorization", "secret-value"));
                Assert.AreEqual(FhirResult.InvalidArgument, ex.Code);
                StringAssert.DoesNotContain("secret-value", ex.Message);
                ex = Assert.Throws<FhirException>(() => o.SetProxy("gopher", "http://127.0.0.1:1"));
                Assert.AreEqual(FhirResult.InvalidArgument, ex.Code);
                // Every setter with a valid value.
                o.AddHeader("X-Test-Id", "dotnet").SetProxy("http", "http://127.0.0.1:1").SetTimeout(TimeSpan.FromSeconds(5))
                 .SetConnectTimeout(TimeSpan.FromSeconds(1)).SetSystemRoots(true).SetInsecureSkipTlsVerify(false)
                 .SetRetryStatusCodes(503).SetRetryMethods("GET,PUT").SetRetryMaxAttempts(3).SetRetryBackoffFactor(0.1)
                 .SetRetryJitter(0.5).SetRetryMaxBackoffWait(TimeSpan.FromSeconds(2)).SetUserAgent("dotnet-test")
                 .SetOidcScope("openid").SetOidcAuthMethod("client_secret_post").SetAllowForeignLinks(false)
                 .SetMaxResponseBytes(1 << 20).SetMaxResultBytes(1 << 22).SetMaxPages(10)
                 .SetSearchPostThreshold(8192).SetPoolIdleTimeout(TimeSpan.FromSeconds(30)).SetPoolMaxIdlePerHost(4);
                using (var s = FhirServer.Connect("http://127.0.0.1:1/fhir/", o))
                    Assert.AreEqual("http://127.0.0.1:1/fhir", s.BaseUrl);
            }
            var closed = FhirServer.Connect("http://127.0.0.1:1/fhir");
            closed.Dispose();
            closed.Dispose();
            Assert.Throws<ObjectDisposedException>(() => closed.Read("Patient/1"));
        }

        [Test]
        public void FromEnv()
        {
            var saved = Environment.GetEnvironmentVariable("FHIR_API_URL");
            try
            {
                Environment.SetEnvironmentVariable("FHIR_API_URL", Env("FHIR_HAPI_URL"));
                using (var s = FhirServer.FromEnv(true, new FhirOptions().SetUserAgent("dotnet-from-env")))
                    StringAssert.Contains("CapabilityStatement", s.Capabilities());
                Environment.SetEnvironmentVariable("FHIR_API_URL", "");
                var saved2 = Environment.GetEnvironmentVariable("FHIR_SERVER_URL");
                Environment.SetEnvironmentVariable("FHIR_SERVER_URL", "");
                var ex = Assert.Throws<FhirException>(() => FhirServer.FromEnv(true));
                Assert.AreEqual(FhirResult.Config, ex.Code);
                Environment.SetEnvironmentVariable("FHIR_SERVER_URL", saved2);
            }
            finally { Environment.SetEnvironmentVariable("FHIR_API_URL", saved); }
        }

        [Test]
        public void CrudSearchAndOperations()
        {
            using (var s = Hapi())
            {
                var family = Unique("NetCrud");
                var created = s.Create(PatientJson(family));
                var id = Id(created);
                var reference = "Patient/" + id;
                Assert.AreEqual(id, Id(s.Create(Encoding.UTF8.GetBytes(PatientJson(family)), "family=" + family)), "conditional create");
                Assert.AreEqual(id, Id(s.Read(reference)));
                Assert.AreEqual(id, Id(Encoding.UTF8.GetString(s.ReadUtf8(reference))));
                var upd = "{\"resourceType\":\"Patient\",\"id\":\"" + id + "\",\"active\":false,\"name\":[{\"family\":\"" + family + "\"}]}";
                StringAssert.Contains("\"versionId\":\"2\"", s.Update(upd));
                var ex = Assert.Throws<FhirException>(() => s.Update(upd, "1"));
                Assert.AreEqual(FhirResult.Conflict, ex.Code);
                Assert.IsNotNull(Id(s.UpdateConditional(PatientJson(family + "-c"), "Patient?family=" + family + "-c")));
                string body;
                Assert.AreEqual(200, s.Request("GET", reference, (string)null, out body));
                Assert.AreEqual(id, Id(body));
                StringAssert.StartsWith("[", s.ReadMany(new[] { reference, reference }));

                string query;
                using (var q = new FhirQuery("Patient"))
                    query = q.Where("family", ":exact", family).Sort("_id").PageSize(1).Build();
                using (var q2 = new FhirQuery("Observation"))
                {
                    var q2s = q2.Where("date", "ge", "2020-01-01").Param("_lastUpdated", "gt2020").Include("Observation:patient")
                        .RevInclude("Provenance:target", true).Has("Observation:patient:code", "x|1").Elements("id,code").Build();
                    StringAssert.Contains("date=ge2020-01-01", q2s);
                    StringAssert.Contains("Bundle", s.SearchFirst(q2s));
                    Assert.AreEqual(FhirResult.InvalidArgument, Assert.Throws<FhirException>(() => q2.Summary("bogus")).Code);
                }
                s.Create(PatientJson(family));
                Assert.AreEqual(2UL, s.SearchCount(query));
                Assert.AreEqual(2, Count(s.SearchAll(query), "\"resourceType\":\"Patient\""));
                Assert.AreEqual(1, Count(s.SearchLimit(query, 1), "\"resourceType\":\"Patient\""));
                StringAssert.Contains("Bundle", Encoding.UTF8.GetString(s.SearchFirstUtf8(query)));
                int pages = 0;
                Assert.IsNull(s.SearchPages(query, p => { pages++; return true; }));
                Assert.AreEqual(2, pages);
                var modes = new List<string>();
                var next = s.SearchResources(query, (r, mode) => { modes.Add(mode); return false; });
                Assert.AreEqual(new[] { "match" }, modes.ToArray());
                Assert.IsNotNull(next, "a stopped search gives the URL to resume from");
                Assert.AreEqual(2, Count(s.History(reference), "\"resourceType\":\"Patient\""));
                StringAssert.Contains("Bundle", s.Operation(reference, "$everything"));
                Assert.IsNotEmpty(s.Summary());
                StringAssert.Contains("batch-response", s.SendBundle("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"request\":{\"method\":\"GET\",\"url\":\"" + reference + "\"}}]}"));
                var all = s.CreateAll("[" + PatientJson(family + "-all") + "," + PatientJson(family + "-all") + "]", 1);
                var refs = Regex.Matches(all, "Patient/[^\"]+").Cast<Match>().Select(m => m.Value).ToArray();
                Assert.AreEqual(2, refs.Length, all);
                StringAssert.StartsWith("[", s.DeleteMany(refs));
                s.DeleteByQuery("Patient?family=" + family + "-c");
                s.Delete(reference);
                Assert.AreEqual(FhirResult.Gone, Assert.Throws<FhirException>(() => s.Read(reference)).Code);
            }
        }

        [Test]
        public void ErrorCarriesOperationOutcome()
        {
            using (var s = Hapi())
            {
                var ex = Assert.Throws<FhirException>(() => s.Read("Patient/" + Unique("missing")));
                Assert.AreEqual(FhirResult.NotFound, ex.Code);
                Assert.AreEqual(404, ex.HttpStatus);
                StringAssert.Contains("\"issue\"", ex.OperationOutcome);
                ex = Assert.Throws<FhirException>(() => s.Create("{\"resourceType\":\"Patient\",\"gender\":\"not-a-gender\"}"));
                Assert.AreEqual(400, ex.HttpStatus);
                Assert.IsNotNull(ex.OperationOutcome);
            }
            using (var t = FhirServer.Token(Env("FHIR_NGINX_HTTPS") + "/token/fhir", "wrong-token", new FhirOptions().AddCaFile(Env("FHIR_TEST_CA"))))
            {
                var ex = Assert.Throws<FhirException>(() => t.Capabilities());
                Assert.AreEqual(FhirResult.Auth, ex.Code);
                Assert.AreEqual(401, ex.HttpStatus);
                Assert.IsNotNull(ex.OperationOutcome);
                StringAssert.DoesNotContain("wrong-token", ex.ToString());
            }
        }

        [Test]
        public void AuthModes()
        {
            var https = Env("FHIR_NGINX_HTTPS");
            Func<FhirOptions> tls = () => new FhirOptions().AddCaFile(Env("FHIR_TEST_CA"));
            using (var s = FhirServer.Basic(https + "/basic/fhir", Env("FHIR_BASIC_USER"), Env("FHIR_BASIC_PASSWORD"), tls()))
                s.Capabilities();
            using (var s = FhirServer.Token(https + "/token/fhir", Env("FHIR_STATIC_TOKEN"), tls()))
                s.SearchCount("Patient");
            using (var s = FhirServer.Oidc(https + "/oidc/fhir", Env("FHIR_OIDC_CLIENT_ID"), Env("FHIR_OIDC_CLIENT_SECRET"), Env("FHIR_OIDC_ISSUER"), tls()))
            {
                s.Capabilities();
                Assert.IsNotNull(s.GrantedScope());
            }
            using (var s = FhirServer.Connect(https + "/mtls/fhir", tls().SetClientCert(Env("FHIR_TEST_CLIENT_CERT"), Env("FHIR_TEST_CLIENT_KEY"))))
                s.Capabilities();
            var key = Env("FHIR_SMART_EC_KEY");
            using (var s = FhirServer.SmartBackend(Env("FHIR_NGINX_HTTP") + "/smart/fhir", Env("FHIR_SMART_ES384_CLIENT_ID"), key,
                new FhirOptions().SetSmartKeyId(Env("FHIR_SMART_EC_KID")).SetSmartAlgorithm("ES384").SetSmartScope("system/*.rs")))
            {
                s.SearchCount("Patient");
                StringAssert.Contains("system/", s.GrantedScope());
            }
            var jwks = FhirLibrary.SmartPublicJwks(key, "k1");
            StringAssert.Contains("\"kid\":\"k1\"", jwks);
            StringAssert.DoesNotContain("\"d\"", jwks);
            using (var s = FhirServer.Connect(Env("FHIR_NGINX_HTTP") + "/fhir", new FhirOptions().SetProxy("http", Env("FHIR_PROXY_URL"))))
                s.Capabilities();
        }

        [Test]
        public void ConcurrentCallsOnOneHandle()
        {
            using (var s = Hapi())
            {
                var id = Id(s.Create(PatientJson(Unique("NetConc"))));
                const int threads = 16, calls = 10;
                int ok = 0;
                var errors = new List<Exception>();
                var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
                {
                    try
                    {
                        for (int i = 0; i < calls; i++)
                        {
                            if ((t + i) % 2 == 0) Assert.AreEqual(id, Id(s.Read("Patient/" + id)));
                            else s.SearchResources("Patient?_count=5", (r, m) => false);
                            Interlocked.Increment(ref ok);
                        }
                    }
                    catch (Exception ex) { lock (errors) errors.Add(ex); }
                })).ToList();
                workers.ForEach(w => w.Start());
                workers.ForEach(w => w.Join());
                Assert.IsEmpty(errors, string.Join("\n", errors.Select(e => e.ToString()).ToArray()));
                Assert.AreEqual(threads * calls, ok);
                s.Delete("Patient/" + id);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void Forget(string url)
        {
            var s = FhirServer.Connect(url);
            s.Capabilities();
        }

        [Test]
        public void ReleasedByGc()
        {
            var url = Env("FHIR_HAPI_URL");
            int before = Volatile.Read(ref ServerHandle.Finalized);
            // Created on another thread, whose stack is gone: nothing conservative keeps them alive.
            var t = new Thread(() => { for (int i = 0; i < 20; i++) Forget(url); });
            t.Start();
            t.Join();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Volatile.Read(ref ServerHandle.Finalized) - before < 20 && DateTime.UtcNow < deadline)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            Assert.GreaterOrEqual(Volatile.Read(ref ServerHandle.Finalized) - before, 20, "servers released by their SafeHandle finalizer");
        }

        [Test]
        public void StreamingCallbackThrows()
        {
            using (var s = Hapi())
            {
                s.Create(PatientJson(Unique("NetThrow")));
                int calls = 0;
                var ex = Assert.Throws<InvalidOperationException>(() =>
                    s.SearchResources("Patient?_count=2", (r, m) => { calls++; throw new InvalidOperationException("boom 7"); }));
                Assert.AreEqual("boom 7", ex.Message);
                StringAssert.Contains("StreamingCallbackThrows", ex.StackTrace, "the original stack is kept");
                Assert.AreEqual(1, calls, "the search stopped at the exception");
                Assert.Throws<ArgumentException>(() => s.SearchPages("Patient?_count=2", p => { throw new ArgumentException("page"); }));
                // The handle is still usable, by many threads too.
                Parallel.For(0, 8, i => s.SearchCount("Patient"));
            }
        }

        [Test]
        public void CancelledBeforeTheCall()
        {
            using (var s = Hapi())
            using (var cts = new CancellationTokenSource())
            {
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => s.Capabilities(cts.Token));
            }
        }

        FhirServer Slow() { return FhirServer.Connect(Env("FHIR_SLOW_URL"), new FhirOptions().AddCaFile(Env("FHIR_TEST_CA"))); }

        // Cancelling a token ends a request in flight against the real nginx /slow location.
        [Test]
        public void Cancellation()
        {
            using (var s = Slow())
            {
                using (var cts = new CancellationTokenSource(300))
                {
                    var sw = Stopwatch.StartNew();
                    string body;
                    var ex = Assert.Throws<OperationCanceledException>(() => s.Request("GET", "cancel?delay=5", (string)null, out body, cts.Token));
                    Assert.Less(sw.ElapsedMilliseconds, 2000, "cancelled promptly");
                    Assert.AreEqual(cts.Token, ex.CancellationToken);
                    var inner = ex.InnerException as FhirException;
                    Assert.IsNotNull(inner);
                    Assert.AreEqual(FhirResult.Cancelled, inner.Code);
                }
                // Per-call scopes on one shared handle: cancelling some calls leaves the others alone.
                var outcomes = new string[8];
                Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
                {
                    using (var cts = new CancellationTokenSource())
                    {
                        if (i % 2 == 1) cts.CancelAfter(200);
                        string body;
                        try
                        {
                            s.Request("GET", i % 2 == 1 ? "mixed?delay=5" : "mixed?delay=1", (string)null, out body, cts.Token);
                            outcomes[i] = "ok";
                        }
                        catch (OperationCanceledException) { outcomes[i] = "cancelled"; }
                        catch (Exception ex) { outcomes[i] = ex.ToString(); }
                    }
                });
                for (int i = 0; i < 8; i++) Assert.AreEqual(i % 2 == 1 ? "cancelled" : "ok", outcomes[i], "call " + i);
                using (var tok = new FhirCancel())
                using (var scoped = s.Scope(tok, TimeSpan.Zero))
                {
                    var sw = Stopwatch.StartNew();
                    ThreadPool.QueueUserWorkItem(_ => { Thread.Sleep(200); tok.Trigger(); });
                    string body;
                    var ex = Assert.Throws<FhirException>(() => scoped.Request("GET", "token?delay=5", (string)null, out body));
                    Assert.AreEqual(FhirResult.Cancelled, ex.Code);
                    Assert.Less(sw.ElapsedMilliseconds, 2000);
                    Assert.IsTrue(tok.IsTriggered);
                }
                using (var timed = s.Scope(null, TimeSpan.FromMilliseconds(300)))
                {
                    string body;
                    Assert.AreEqual(FhirResult.Timeout, Assert.Throws<FhirException>(() => timed.Request("GET", "deadline?delay=5", (string)null, out body)).Code);
                }
                // A token that is never cancelled changes nothing.
                using (var cts = new CancellationTokenSource())
                {
                    string body;
                    Assert.AreEqual(200, s.Request("GET", "ok?delay=0", (string)null, out body, cts.Token));
                }
            }
        }

        [Test]
        public void LogHookAndCallInfo()
        {
            var id = Unique("net-hook");
            var records = new List<string>();
            var urls = new List<string>();
            string mode = "";
            FhirServer nested = null;
            FhirResult nestedCode = FhirResult.Ok;
            var opts = new FhirOptions().SetLogCallback(FhirLogLevel.Debug, (level, target, message) =>
            {
                lock (records) records.Add(target + ": " + message);
                if (mode == "log-throw") throw new InvalidTimeZoneException("log threw");
            }).SetRequestHook((method, url, headers) =>
            {
                urls.Add(method + " " + url);
                if (mode == "refuse") throw new UnauthorizedAccessException("refused by the hook");
                if (mode == "nested")
                {
                    // A blocking call from inside the call is refused, never a deadlock.
                    nestedCode = Assert.Throws<FhirException>(() => nested.Capabilities()).Code;
                    return;
                }
                Assert.AreEqual(FhirResult.InvalidArgument, Assert.Throws<FhirException>(() => headers.Add("Authorization", "x")).Code);
                headers.Add("X-Test-Id", id);
            });
            using (var s = FhirServer.Connect(Env("FHIR_NGINX_HTTP") + "/fhir", opts))
            {
                opts.Dispose(); // the server keeps what it needs
                GC.Collect();
                GC.WaitForPendingFinalizers();
                s.SearchCount("Patient");
                Assert.AreEqual(1, urls.Count);
                StringAssert.StartsWith("GET " + Env("FHIR_NGINX_HTTP"), urls[0]);
                // nginx writes its access log line after the answer: wait for it (up to 5 s).
                var needle = "test=\"" + id + "\"";
                for (int i = 0; i < 50 && !System.IO.File.ReadAllText(Env("FHIR_NGINX_ACCESS_LOG")).Contains(needle); i++)
                    System.Threading.Thread.Sleep(100);
                StringAssert.Contains(needle, System.IO.File.ReadAllText(Env("FHIR_NGINX_ACCESS_LOG")), "nginx logged the hook's header");
                lock (records) Assert.IsNotEmpty(records, "debug records");
                var info = s.LastCall();
                Assert.AreEqual(200, info.Status);
                Assert.GreaterOrEqual(info.Requests, 1);
                Assert.Greater(info.BytesReceived, 0UL);
                nested = s;
                mode = "nested";
                s.Capabilities();
                Assert.AreEqual(FhirResult.Runtime, nestedCode, "blocking call from a hook");
                mode = "refuse";
                Assert.Throws<UnauthorizedAccessException>(() => s.Capabilities());
                mode = "log-throw";
                Assert.Throws<InvalidTimeZoneException>(() => s.Capabilities());
                mode = "";
                s.Capabilities();
            }
            int global = 0;
            FhirLog.SetCallback(FhirLogLevel.Debug, (l, t, m) => Interlocked.Increment(ref global));
            using (var s = Hapi()) s.Capabilities();
            FhirLog.SetCallback(FhirLogLevel.Off, null);
            Assert.Greater(global, 0, "process-wide records");
            Assert.AreEqual(FhirResult.InvalidArgument, Assert.Throws<FhirException>(() => FhirLog.SetCallback((FhirLogLevel)9, (l, t, m) => { })).Code);
        }
    }
}
