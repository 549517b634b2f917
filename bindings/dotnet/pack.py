#!/usr/bin/env python3
"""Pack FhirKindling.nupkg without the .NET SDK: the nuspec, lib/netstandard2.0/FhirKindling.dll and
runtimes/linux-x64/native/libfhir_kindling.so, plus the OPC parts NuGet clients expect.

    pack.py VERSION DLL NATIVE_SO OUT.nupkg
"""
import os
import sys
import zipfile

version, dll, native, out = sys.argv[1:5]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "FhirKindling.nuspec"), encoding="utf-8") as f:
    nuspec = f.read().replace("@VERSION@", version)

content_types = """<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
</Types>
"""
rels = """<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/FhirKindling.nuspec" Id="R0" />
</Relationships>
"""
tmp = out + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", content_types)
    z.writestr("_rels/.rels", rels)
    z.writestr("FhirKindling.nuspec", nuspec)
    z.write(dll, "lib/netstandard2.0/FhirKindling.dll")
    z.write(os.path.realpath(native), "runtimes/linux-x64/native/libfhir_kindling.so")
os.replace(tmp, out)
print(f"packed {out}")
