using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("FhirKindling")]
[assembly: AssemblyDescription(".NET binding of fhir_kindling, a native FHIR REST client")]
[assembly: AssemblyVersion("0.2.0.0")]
[assembly: AssemblyInformationalVersion("0.2.0")]
[assembly: InternalsVisibleTo("FhirKindling.Tests")]
