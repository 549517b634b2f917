#!/usr/bin/env python3
"""Write a small synthetic FHIR data set: a Bundle of patients, each with conditions and
observations that reference it by urn:uuid (resolved by the server in one transaction).

    scripts/gen-demo-data.py [--patients 40] [--seed 7] > synthetic.json
"""
import argparse
import json
import random
import uuid

FAMILIES = ["Smith", "Müller", "García", "Nguyen", "Okafor", "Kowalski", "Rossi", "Tanaka", "Silva", "Jensen"]
GIVEN = ["Ada", "Ben", "Chloé", "Dario", "Eve", "Femi", "Greta", "Hiro", "Ines", "Jon"]
CONDITIONS = [("44054006", "Diabetes mellitus type 2"), ("38341003", "Hypertension"), ("195967001", "Asthma"),
              ("35489007", "Depressive disorder"), ("13645005", "COPD")]
OBS = [("8867-4", "Heart rate", "/min", 55, 110), ("29463-7", "Body weight", "kg", 45, 120),
       ("8310-5", "Body temperature", "Cel", 36, 39)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    entries = []
    for i in range(args.patients):
        pid = f"urn:uuid:{uuid.UUID(int=rnd.getrandbits(128), version=4)}"
        entries.append({"fullUrl": pid, "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:fhir-kindling-demo", "value": f"demo-{i:04d}"}],
            "name": [{"family": rnd.choice(FAMILIES), "given": [rnd.choice(GIVEN)]}],
            "gender": rnd.choice(["female", "male", "other"]),
            "birthDate": f"{rnd.randint(1935, 2015)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"}})
        for code, text in rnd.sample(CONDITIONS, 2):
            entries.append({"fullUrl": f"urn:uuid:{uuid.UUID(int=rnd.getrandbits(128), version=4)}", "resource": {
                "resourceType": "Condition", "subject": {"reference": pid},
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": text}], "text": text}}})
        for code, text, unit, lo, hi in OBS:
            entries.append({"fullUrl": f"urn:uuid:{uuid.UUID(int=rnd.getrandbits(128), version=4)}", "resource": {
                "resourceType": "Observation", "status": "final", "subject": {"reference": pid},
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": text}], "text": text},
                "effectiveDateTime": f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T09:30:00+01:00",
                "valueQuantity": {"value": round(rnd.uniform(lo, hi), 1), "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
    json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries}, __import__("sys").stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
