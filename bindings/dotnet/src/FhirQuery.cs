using System;

namespace FhirKindling
{
    /// <summary>
    /// Builds a search query string (a fhir_query_t); names and values are percent-encoded by the
    /// library. Each method checks its arguments at once (FhirException) and returns this. Not
    /// thread-safe.
    /// </summary>
    public sealed class FhirQuery : IDisposable
    {
        readonly QueryHandle handle;

        public FhirQuery(string resourceType)
        {
            ErrorHandle err;
            var rc = Native.fhir_query_new(Utf8.Z(resourceType, "resource type"), out handle, out err);
            FhirException.Check(rc, err);
        }

        public void Dispose() { handle.Dispose(); }

        delegate FhirResult Op(QueryHandle q, out ErrorHandle e);

        FhirQuery Apply(Op f)
        {
            ErrorHandle err;
            FhirException.Check(f(handle, out err), err);
            return this;
        }

        /// <summary>A search parameter: op is null, a prefix ("ge", ...) or a modifier (":exact", ...).</summary>
        public FhirQuery Where(string field, string op, string value)
        {
            var f = Utf8.Z(field, "field"); var o = Utf8.ZOpt(op, "op"); var v = Utf8.Z(value, "value");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_where(q, f, o, v, out e));
        }

        public FhirQuery Param(string name, string value)
        {
            var n = Utf8.Z(name, "name"); var v = Utf8.Z(value, "value");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_param(q, n, v, out e));
        }

        public FhirQuery Include(string target, bool iterate = false)
        {
            var t = Utf8.Z(target, "include");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_include(q, t, iterate, out e));
        }

        public FhirQuery RevInclude(string target, bool iterate = false)
        {
            var t = Utf8.Z(target, "revinclude");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_revinclude(q, t, iterate, out e));
        }

        public FhirQuery Has(string chain, string value)
        {
            var c = Utf8.Z(chain, "chain"); var v = Utf8.Z(value, "value");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_has(q, c, v, out e));
        }

        public FhirQuery Sort(string fields)
        {
            var f = Utf8.Z(fields, "sort");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_sort(q, f, out e));
        }

        public FhirQuery Elements(string fields)
        {
            var f = Utf8.Z(fields, "elements");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_elements(q, f, out e));
        }

        /// <summary>_summary: "true", "false", "text", "data" or "count".</summary>
        public FhirQuery Summary(string mode)
        {
            var m = Utf8.Z(mode, "summary");
            return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_summary(q, m, out e));
        }

        public FhirQuery PageSize(uint n) { return Apply((QueryHandle q, out ErrorHandle e) => Native.fhir_query_page_size(q, n, out e)); }

        /// <summary>The query string ("Type?params") for the search methods.</summary>
        public string Build()
        {
            NativeString s; UIntPtr len; ErrorHandle err;
            var rc = Native.fhir_query_build(handle, out s, out len, out err);
            using (s)
            {
                FhirException.Check(rc, err);
                return Utf8.Decode(s.ToArray(len));
            }
        }

        public override string ToString() { return Build(); }
    }
}
