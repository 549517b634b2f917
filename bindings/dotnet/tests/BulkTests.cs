// NUnit 2.6 tests of the Bulk Data $export binding against the real HAPI of tests/servers
// (BulkDataExportProvider, job reuse off). Each test exports only a small data set of its own
// (Patients with an identifier system unique to the run, chosen by _typeFilter, or a Group of some
// of them), so a job takes a few seconds; HAPI's Retry-After: 120 is clamped to at most 1 s.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using NUnit.Framework;

namespace FhirKindling.Tests
{
    [TestFixture]
    public class BulkTests
    {
        const int Patients = 6;

        sealed class DataSet
        {
            internal string System;
            internal HashSet<string> Ids = new HashSet<string>();
            internal string GroupId;
            internal HashSet<string> Members = new HashSet<string>();
        }

        static DataSet data;
        static readonly object DataLock = new object();

        static string Env(string name)
        {
            var v = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrEmpty(v)) Assert.Fail(name + " is not set: start the services and source `tests/servers/services.sh env`");
            return v;
        }

        static FhirServer Hapi() { return FhirServer.Connect(Env("FHIR_HAPI_URL"), new FhirOptions().SetTimeout(TimeSpan.FromSeconds(30))); }

        static string Id(string json)
        {
            var m = Regex.Match(json, "\"id\"\\s*:\\s*\"([^\"]+)\"");
            Assert.IsTrue(m.Success, "no id in " + json);
            return m.Groups[1].Value;
        }

        static DataSet Data()
        {
            lock (DataLock)
            {
                if (data != null) return data;
                var d = new DataSet { System = "urn:fhir-kindling:net-bulk:" + Process.GetCurrentProcess().Id + "x" + DateTime.UtcNow.Ticks };
                using (var s = Hapi())
                {
                    var patients = Enumerable.Range(0, Patients).Select(i =>
                        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"" + d.System + "\",\"value\":\"" + i + "\"}]," +
                        "\"name\":[{\"family\":\"NetBulk" + i + "\"}]}");
                    var created = s.CreateAll("[" + string.Join(",", patients) + "]");
                    var refs = Regex.Matches(created, "\"Patient/([^/\"]+)").Cast<Match>().Select(m => m.Groups[1].Value).ToList();
                    Assert.AreEqual(Patients, refs.Count, created);
                    var members = new List<string>();
                    for (int i = 0; i < refs.Count; i++)
                    {
                        d.Ids.Add(refs[i]);
                        if (i % 2 == 1)
                        {
                            d.Members.Add(refs[i]);
                            members.Add("{\"entity\":{\"reference\":\"Patient/" + refs[i] + "\"}}");
                        }
                    }
                    d.GroupId = Id(s.Create("{\"resourceType\":\"Group\",\"type\":\"person\",\"actual\":true,\"member\":[" + string.Join(",", members) + "]}"));
                }
                data = d;
                return d;
            }
        }

        /// <summary>A Patient export of this run's data set, polled at most 1 s apart.</summary>
        static FhirBulk OurPatients(DataSet d)
        {
            return new FhirBulk().SetLevel(FhirBulkLevel.Patient).AddType("Patient")
                .AddTypeFilter("Patient?identifier=" + d.System + "|")
                .SetPollInterval(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1)).SetTimeout(TimeSpan.FromSeconds(60));
        }

        static void AssertSame(IEnumerable<string> want, IEnumerable<string> got, string what)
        {
            CollectionAssert.AreEquivalent(want.OrderBy(x => x).ToList(), got.OrderBy(x => x).ToList(), what);
        }

        // The step-by-step calls: kick-off, one poll, wait with progress, download with a handler
        // (bytes and text) and into a directory, stop from the handler, cancel (DELETE) once done.
        [Test]
        public void StepByStep()
        {
            var d = Data();
            var sw = Stopwatch.StartNew();
            var waits = new List<TimeSpan>();
            using (var s = Hapi())
            using (var b = OurPatients(d).SetProgressCallback((p, next) => waits.Add(next)))
            {
                var status = s.BulkKickoff(b);
                StringAssert.StartsWith(s.BaseUrl + "/", status);
                var st = s.BulkPoll(b, status);
                if (!st.Done)
                {
                    Assert.IsNull(st.ManifestUtf8);
                    Assert.That(st.NextPoll > TimeSpan.Zero && st.NextPoll <= TimeSpan.FromSeconds(1), "HAPI's Retry-After clamped: " + st.NextPoll);
                }
                var manifest = s.BulkWaitUtf8(b, status);
                var text = Encoding.UTF8.GetString(manifest);
                StringAssert.Contains("\"type\":\"Patient\"", text.Replace(" ", ""));
                foreach (var w in waits) Assert.That(w > TimeSpan.Zero && w <= TimeSpan.FromSeconds(1), "progress wait " + w);

                var ids = new List<string>();
                var sum = s.BulkDownloadUtf8(b, manifest, (f, line) =>
                {
                    Assert.AreEqual(FhirBulkFileKind.Output, f.Kind);
                    Assert.AreEqual("Patient", f.ResourceType);
                    ids.Add(Id(Encoding.UTF8.GetString(line.ToArray())));
                    return true;
                });
                AssertSame(d.Ids, ids, "downloaded Patients (each once)");
                Assert.AreEqual((ulong)Patients, sum.Resources);
                Assert.AreEqual(0UL, sum.Errors);
                Assert.IsFalse(sum.Stopped);
                Assert.Greater(sum.Files, 0UL);
                Assert.Greater(sum.Bytes, 0UL);

                var textIds = new List<string>();
                s.BulkDownload(b, text, (f, line) => { textIds.Add(Id(line)); return true; });
                AssertSame(d.Ids, textIds, "downloaded Patients as text");

                // Directory mode: the library's names, complete files, the manifest beside them.
                var dir = Path.Combine(Path.GetTempPath(), "net-bulk-" + Guid.NewGuid().ToString("N"));
                try
                {
                    var dsum = s.BulkDownloadToDirectory(b, manifest, dir);
                    Assert.AreEqual((ulong)Patients, dsum.Resources);
                    var fromFiles = Directory.GetFiles(dir, "output-*-Patient.ndjson").SelectMany(File.ReadAllLines)
                        .Where(l => l.Length > 0).Select(Id).ToList();
                    AssertSame(d.Ids, fromFiles, "Patients in " + dir);
                    Assert.IsTrue(File.Exists(Path.Combine(dir, "manifest.json")));
                    Assert.IsEmpty(Directory.GetFiles(dir, "*.part"));
                }
                finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

                // The handler stops the download; its exception is rethrown with its stack.
                int lines = 0;
                sum = s.BulkDownloadUtf8(b, manifest, (f, line) => { lines++; return false; });
                Assert.IsTrue(sum.Stopped);
                Assert.AreEqual(1, lines);
                Assert.AreEqual(1UL, sum.Resources);
                var ex = Assert.Throws<InvalidOperationException>(() => s.BulkDownload(b, text, (f, line) => { throw new InvalidOperationException("line boom"); }));
                Assert.AreEqual("line boom", ex.Message);
                StringAssert.Contains("StepByStep", ex.StackTrace, "the original stack is kept");

                // DELETE once done: the server may remove the files.
                s.BulkCancel(status);
            }
            Console.WriteLine("bulk step by step: {0} ms, {1} progress reports", sw.ElapsedMilliseconds, waits.Count);
        }

        // The one-call export, at group level with _type: exactly the members.
        [Test]
        public void ExportGroupInOneCall()
        {
            var d = Data();
            var sw = Stopwatch.StartNew();
            using (var s = Hapi())
            using (var b = new FhirBulk().SetLevel(FhirBulkLevel.Group, d.GroupId).AddType("Patient").SetParallel(2).SetFileAttempts(3)
                .SetMaxLineBytes(1 << 20).SetLenient(false).SetSince(null).SetOutputFormat(null)
                .SetPollInterval(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1)))
            {
                var ids = new List<string>();
                string status;
                var sum = s.BulkExport(b, (f, line) => { ids.Add(Id(line)); return true; }, out status);
                StringAssert.StartsWith(s.BaseUrl + "/", status);
                AssertSame(d.Members, ids, "group Patients");
                Assert.AreEqual((ulong)d.Members.Count, sum.Resources);
            }
            Console.WriteLine("bulk group export in one call: {0} ms", sw.ElapsedMilliseconds);
        }

        // Cancelling the token ends a wait between two polls promptly; the export is then cancelled on
        // the server (DELETE), after which a poll is a 404 with HAPI's OperationOutcome.
        [Test]
        public void CancelByTokenThenDelete()
        {
            var d = Data();
            using (var s = Hapi())
            using (var b = OurPatients(d).SetPollInterval(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)))
            {
                // The one-call export gives the status URL also when a later step fails, to resume or cancel.
                string status = null;
                using (var cts = new CancellationTokenSource(300))
                {
                    var sw = Stopwatch.StartNew();
                    var ex = Assert.Throws<OperationCanceledException>(() => s.BulkExport(b, (f, l) => true, out status, cts.Token));
                    Assert.Less(sw.ElapsedMilliseconds, 2000, "cancelled promptly");
                    Assert.AreEqual(cts.Token, ex.CancellationToken);
                    Assert.AreEqual(FhirResult.Cancelled, ((FhirException)ex.InnerException).Code);
                }
                StringAssert.StartsWith(s.BaseUrl + "/", status);
                using (var cts = new CancellationTokenSource(300))
                    Assert.Throws<OperationCanceledException>(() => s.BulkWait(b, status, cts.Token));
                Assert.AreEqual(FhirBulkCancelOutcome.Cancelled, s.BulkCancel(status));
                var fe = Assert.Throws<FhirException>(() => s.BulkPoll(b, status));
                Assert.AreEqual(FhirResult.NotFound, fe.Code);
                Assert.AreEqual(404, fe.HttpStatus);
                Assert.IsNotNull(fe.OperationOutcome);
                s.BulkCancel(status); // already gone counts as done
            }
        }

        // An unknown group is a FHIR error with the server's OperationOutcome; bad parameters are
        // refused at once, naming what is wrong.
        [Test]
        public void Errors()
        {
            using (var s = Hapi())
            {
                using (var b = new FhirBulk().SetLevel(FhirBulkLevel.Group, "no-such-group-" + Guid.NewGuid().ToString("N").Substring(0, 12)))
                {
                    var fe = Assert.Throws<FhirException>(() => s.BulkKickoff(b));
                    Assert.AreEqual(FhirResult.NotFound, fe.Code);
                    Assert.AreEqual(404, fe.HttpStatus);
                    StringAssert.Contains("is not known", fe.OperationOutcome);
                    string status = "unset";
                    fe = Assert.Throws<FhirException>(() => s.BulkExport(b, (f, l) => true, out status));
                    Assert.AreEqual(FhirResult.NotFound, fe.Code);
                    Assert.IsNull(status, "no status URL without a kick-off");
                }
                using (var b = new FhirBulk())
                {
                    Action<TestDelegate, string> invalid = (f, what) =>
                        Assert.AreEqual(FhirResult.InvalidArgument, Assert.Throws<FhirException>(f, what).Code, what);
                    invalid(() => b.AddType("Pat1ent"), "type");
                    invalid(() => b.SetLevel(FhirBulkLevel.Group, "bad id!"), "group id");
                    invalid(() => b.AddTypeFilter("no question mark"), "type filter");
                    invalid(() => b.SetPollInterval(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)), "interval");
                    invalid(() => b.SetParallel(-1), "parallel");
                    invalid(() => b.SetParallel(65), "parallel");
                    invalid(() => b.SetFileAttempts(0), "attempts");
                    invalid(() => b.SetMaxLineBytes(10), "line");
                    invalid(() => b.SetOutputFormat(new string('x', 200)), "format");
                    invalid(() => b.AddType("Pat\0ient"), "NUL");
                    b.SetUntil(DateTimeOffset.UtcNow).SetSince(new DateTimeOffset(2024, 1, 31, 12, 0, 0, TimeSpan.FromHours(2)));
                }
                Assert.AreEqual(FhirResult.Protocol, Assert.Throws<FhirException>(() => s.BulkDownload(null, "{\"not\":\"a manifest\"}", (f, l) => true)).Code);
                Assert.AreEqual(FhirResult.Json, Assert.Throws<FhirException>(() => s.BulkDownloadToDirectory(null, "not json", Path.GetTempPath())).Code);
                Assert.AreEqual(FhirResult.Protocol, Assert.Throws<FhirException>(() => s.BulkWait(null, "http://elsewhere.example/status")).Code);
                Assert.Throws<ArgumentNullException>(() => s.BulkDownloadUtf8(null, default(ReadOnlyMemory<byte>), null));
            }
        }

        // An exception of the progress handler ends the wait at once (the call's token is triggered)
        // and is rethrown by it.
        [Test]
        public void ProgressHandlerThrows()
        {
            var d = Data();
            using (var s = Hapi())
            using (var b = OurPatients(d).SetPollInterval(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5))
                .SetProgressCallback((p, next) => { throw new ApplicationException("progress boom"); }))
            {
                var status = s.BulkKickoff(b);
                try
                {
                    var sw = Stopwatch.StartNew();
                    var ex = Assert.Throws<ApplicationException>(() => s.BulkWait(b, status));
                    Assert.AreEqual("progress boom", ex.Message);
                    Assert.Less(sw.ElapsedMilliseconds, 2000, "the exception ended the wait");
                    b.SetProgressCallback(null).SetPollInterval(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));
                    StringAssert.Contains("\"output\"", s.BulkWait(b, status), "the same parameters without the handler");
                }
                finally { s.BulkCancel(status); }
            }
        }
    }
}
