#!/usr/bin/env python3
"""Python peers of bench/stream_bench.c on the same static pages (run by bench/run.sh).

  py_peers.py LIB BASE_URL
    LIB  kindling         fhir_kindling: FhirServer(api_address=BASE).query("Patient").all(count=100)
                          (follows every `next` link; entries stay JSON dicts)
         kindling-models  the same, then `.resources` (entries parsed into fhir.resources models,
                          what a caller typically reads next)
         fhirpy           fhirpy: SyncFHIRClient(BASE).resources("Patient").fetch_all()
                          (follows `next`; every entry becomes a fhirpy resource object)
         fhirclient       fhirclient (SMART on FHIR): Patient.where({'_count': '100'})
                          .perform_resources_iter(server) (follows `next`; every entry becomes a
                          fhirclient model object)
  py_peers.py kindling-upload BASE_URL FILE [BATCH]
                          fhir_kindling: FhirServer(api_address=BASE).add_all(resources,
                          batch_size=BATCH) of the JSON array in FILE (default BATCH 250)

Prints one line of key=value pairs like stream_bench: resources, wall_s (the search call only,
imports and client creation excluded), baseline_peak_kb (after imports, client creation and one
tiny GET of BASE/metadata) and peak_rss_kb (getrusage ru_maxrss of this process).
"""

import resource
import sys
import time


def peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    if len(sys.argv) >= 4 and sys.argv[1] == "kindling-upload":
        return upload(sys.argv[2].rstrip("/"), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 250)
    if len(sys.argv) != 3 or sys.argv[1] not in ("kindling", "kindling-models", "fhirpy", "fhirclient"):
        print(__doc__, file=sys.stderr)
        return 2
    lib, base = sys.argv[1], sys.argv[2].rstrip("/")
    import httpx  # a dependency of fhir_kindling; used only for the baseline request

    httpx.get(f"{base}/metadata").raise_for_status()
    if lib.startswith("kindling"):
        import fhir_kindling  # noqa: F401
        from fhir_kindling import FhirServer

        server = FhirServer(api_address=base)
        query = server.query("Patient")
        base_peak = peak_kb()
        t0 = time.monotonic()
        resp = query.all(count=100)
        if lib == "kindling-models":
            n = len(resp.resources)
        else:
            n = len(resp.response.get("entry", []))
        t1 = time.monotonic()
        version = _version("fhir-kindling")
    elif lib == "fhirclient":
        from fhirclient import client
        from fhirclient.models.patient import Patient

        smart = client.FHIRClient(settings={"app_id": "bench", "api_base": base + "/"})
        search = Patient.where(struct={"_count": "100"})
        base_peak = peak_kb()
        t0 = time.monotonic()
        n = sum(1 for _ in search.perform_resources_iter(smart.server))
        t1 = time.monotonic()
        version = _version("fhirclient")
    else:
        from fhirpy import SyncFHIRClient

        client = SyncFHIRClient(base)
        search = client.resources("Patient")
        base_peak = peak_kb()
        t0 = time.monotonic()
        n = len(search.fetch_all())
        t1 = time.monotonic()
        version = _version("fhirpy")
    print(f"mode={lib} resources={n} wall_s={t1 - t0:.4f} baseline_peak_kb={base_peak} "
          f"peak_rss_kb={peak_kb()} version={version} python={sys.version.split()[0]}")
    return 0


def upload(base: str, path: str, batch: int) -> int:
    import json

    from fhir_kindling import FhirServer

    resources = json.load(open(path))
    server = FhirServer(api_address=base)
    base_peak = peak_kb()
    t0 = time.monotonic()
    resp = server.add_all(resources, batch_size=batch, display=False)
    t1 = time.monotonic()
    n = len(resp.create_responses) if hasattr(resp, "create_responses") else len(resources)
    print(f"mode=kindling-upload resources={n} wall_s={t1 - t0:.4f} baseline_peak_kb={base_peak} "
          f"peak_rss_kb={peak_kb()} version={_version('fhir-kindling')} python={sys.version.split()[0]}")
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
