#!/usr/bin/env python3
"""Generate a static, paged FHIR `searchset` of synthetic Patients for the streaming benchmark.

Writes OUT/page-1.json ... OUT/page-K.json. Page k is a Bundle (type searchset) with `total`,
`link` self (and `next` for all but the last page, an absolute URL BASE/page-(k+1).json) and
`entry` items {fullUrl, resource, search.mode=match}. Page 1's self link is the search URL
BASE/Patient?_count=P, which the benchmark's nginx maps to page-1.json.

Each Patient is about 1 KB of compact JSON (names, identifiers, address, telecom, birthDate,
extension). The data are deterministic (fixed seed), so runs are comparable.

Usage: gen_pages.py --count 100000 --page-size 100 --base-url http://127.0.0.1:18999/fhir --out DIR
Only the standard library is used.
"""

import argparse
import json
import os
import random
import sys

GIVEN = ["Anna", "Ben", "Clara", "David", "Elif", "Farid", "Greta", "Hannes", "Ines", "Jonas",
         "Karla", "Lukas", "Mira", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Samir", "Tilda"]
FAMILY = ["Schmidt", "Müller", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Schulz",
          "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Krüger"]
STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schulstraße", "Ringstraße"]
CITIES = [("Tübingen", "72070", "BW"), ("Berlin", "10115", "BE"), ("München", "80331", "BY"),
          ("Hamburg", "20095", "HH"), ("Köln", "50667", "NW"), ("Leipzig", "04109", "SN")]


def patient(i: int, rng: random.Random) -> dict:
    given = rng.choice(GIVEN)
    middle = rng.choice(GIVEN)
    family = rng.choice(FAMILY)
    city, postal, state = rng.choice(CITIES)
    year = rng.randint(1930, 2020)
    birth = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    pid = f"bench-{i:07d}"
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"versionId": "1", "lastUpdated": "2024-05-01T12:00:00.000+00:00"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
             "valueAddress": {"city": rng.choice(CITIES)[0], "country": "DE"}},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-nationality",
             "extension": [{"url": "code", "valueCodeableConcept": {"coding": [
                 {"system": "urn:iso:std:iso:3166", "code": "DE", "display": "Germany"}]}}]},
        ],
        "identifier": [
            {"use": "usual",
             "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                  "code": "MR", "display": "Medical record number"}]},
             "system": "http://hospital.example.org/mrn", "value": f"MRN{i:09d}"},
            {"use": "official", "system": "http://fhir.de/sid/gkv/kvid-10",
             "value": f"{chr(65 + i % 26)}{rng.randint(100000000, 999999999)}"},
        ],
        "active": True,
        "name": [
            {"use": "official", "family": family, "given": [given, middle], "prefix": ["Dr."]},
        ],
        "telecom": [
            {"system": "phone", "value": f"+49 {rng.randint(30, 999)} {rng.randint(1000000, 9999999)}",
             "use": "home"},
            {"system": "email", "value": f"{given.lower()}.{pid}@example.org", "use": "work"},
        ],
        "gender": rng.choice(["male", "female", "other", "unknown"]),
        "birthDate": birth,
        "address": [{
            "use": "home", "type": "both",
            "line": [f"{rng.choice(STREETS)} {rng.randint(1, 200)}"],
            "city": city, "postalCode": postal, "state": state, "country": "DE",
            "period": {"start": f"{max(year, 1990)}-01-01"},
        }],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "de"}]}}],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, required=True, help="number of Patients")
    ap.add_argument("--page-size", type=int, default=100, help="entries per page")
    ap.add_argument("--base-url", required=True, help="FHIR base, e.g. http://127.0.0.1:18999/fhir")
    ap.add_argument("--out", required=True, help="output directory")
    args = ap.parse_args()
    if args.count < 1 or args.page_size < 1:
        ap.error("--count and --page-size must be positive")
    base = args.base_url.rstrip("/")
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(20240501)
    pages = (args.count + args.page_size - 1) // args.page_size
    total_bytes = 0
    res_bytes = 0
    for k in range(1, pages + 1):
        first = (k - 1) * args.page_size
        last = min(first + args.page_size, args.count)
        entries = []
        for i in range(first, last):
            res = patient(i, rng)
            res_bytes += len(json.dumps(res, separators=(",", ":"), ensure_ascii=False).encode())
            entries.append({"fullUrl": f"{base}/Patient/{res['id']}", "resource": res,
                            "search": {"mode": "match"}})
        self_url = f"{base}/Patient?_count={args.page_size}" if k == 1 else f"{base}/page-{k}.json"
        links = [{"relation": "self", "url": self_url}]
        if k < pages:
            links.append({"relation": "next", "url": f"{base}/page-{k + 1}.json"})
        bundle = {"resourceType": "Bundle", "id": f"bench-page-{k}", "type": "searchset",
                  "total": args.count, "link": links, "entry": entries}
        data = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode()
        total_bytes += len(data)
        tmp = os.path.join(args.out, f".page-{k}.json.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(args.out, f"page-{k}.json"))
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump({"count": args.count, "page_size": args.page_size, "pages": pages, "base_url": base,
                   "total_bytes": total_bytes, "avg_page_bytes": total_bytes // pages,
                   "avg_resource_bytes": res_bytes // args.count}, f)
    print(f"{args.out}: {args.count} Patients, {pages} pages, {total_bytes} bytes "
          f"(avg page {total_bytes // pages} B, avg resource {res_bytes // args.count} B)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
