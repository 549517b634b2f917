//! Bulk Data `$export` against the real HAPI FHIR JPA server (its `BulkDataExportProvider`, with
//! job reuse off and 500 resources per file) and through the nginx gateway with a real OpenID
//! Connect provider: system, patient and group exports of a known data set come back complete and
//! exact; `_type`, `_since` and `_typeFilter` are honoured; HAPI's `Retry-After: 120` is clamped;
//! cancel; resume from a saved status URL in a new process; the token goes only to the FHIR
//! origin (the files server of `/oidcfiles/fhir` refuses any Authorization) and a short-lived
//! token is refreshed between files.
//!
//! `#[ignore]`d: `scripts/test-all.sh` runs them with the services up. The data set (2,000
//! Patients with 3 Observations each, client-assigned ids unique to the run, tagged with the
//! run) is loaded once per test binary by transactions; its load time is printed. One export runs at a time: HAPI's batch
//! jobs share a few workers, and parallel exports only made each of them slower.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{block_on, lines_containing, provider_lock, tokens_issued, var};
use fhir_kindling::{
    Auth, BulkOptions, CancelOutcome, ExportLevel, ExportRequest, FhirServer, FileKind, Manifest,
    Options, PollStatus,
};
use serde_json::{json, Value};

const PATIENTS: usize = 2000;
const OBS_PER_PATIENT: usize = 3;
const GROUP_SIZE: usize = 1000;
const TAG_SYSTEM: &str = "urn:fhir-kindling:bulk-test";

struct DataSet {
    /// Unique to this run: the ids' prefix and the tag code.
    run: String,
    patients: HashSet<String>,
    observations: HashSet<String>,
    /// Observations with code "a" (one per patient).
    observations_a: HashSet<String>,
    group_id: String,
    group_patients: HashSet<String>,
    group_observations: HashSet<String>,
}

/// One export at a time (see the file overview); taken after `provider_lock` where both are.
fn one_export() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

fn hapi() -> FhirServer {
    FhirServer::new(&var("FHIR_HAPI_URL"), Auth::None, &Options::default()).unwrap()
}

fn tls() -> Options {
    let mut o = Options::default();
    o.add_ca_file(&var("FHIR_TEST_CA")).unwrap();
    o
}

fn fast() -> BulkOptions {
    let mut o = BulkOptions::default();
    o.set_poll_interval(Duration::from_millis(200), Duration::from_secs(1))
        .unwrap();
    o.deadline = Some(Duration::from_secs(600));
    o
}

fn transaction(s: &FhirServer, entries: Vec<Value>) {
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    block_on(s.send_bundle(&serde_json::to_vec(&bundle).unwrap())).unwrap();
}

fn put(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    json!({"resource": resource, "request": {"method": "PUT", "url": url}})
}

fn data() -> &'static DataSet {
    static DATA: OnceLock<DataSet> = OnceLock::new();
    DATA.get_or_init(|| {
        let s = hapi();
        let run = format!(
            "bk{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        let tag = json!([{"system": TAG_SYSTEM, "code": run}]);
        let started = Instant::now();
        let mut d = DataSet {
            run: run.clone(),
            patients: HashSet::new(),
            observations: HashSet::new(),
            observations_a: HashSet::new(),
            group_id: format!("{run}-g"),
            group_patients: HashSet::new(),
            group_observations: HashSet::new(),
        };
        let mut entries = Vec::new();
        for i in 0..PATIENTS {
            let pid = format!("{run}-p{i}");
            entries.push(put(json!({"resourceType": "Patient", "id": pid, "meta": {"tag": tag},
                "name": [{"family": format!("Bulk{i}")}], "active": i % 2 == 0})));
            d.patients.insert(pid.clone());
            if i < GROUP_SIZE {
                d.group_patients.insert(pid.clone());
            }
            for (k, code) in ["a", "b", "c"].iter().enumerate().take(OBS_PER_PATIENT) {
                let oid = format!("{run}-o{i}-{k}");
                entries.push(put(json!({"resourceType": "Observation", "id": oid,
                    "meta": {"tag": tag}, "status": "final",
                    "code": {"coding": [{"system": "urn:bulk-code", "code": code}]},
                    "subject": {"reference": format!("Patient/{pid}")},
                    "valueQuantity": {"value": i, "unit": "1"}})));
                d.observations.insert(oid.clone());
                if *code == "a" {
                    d.observations_a.insert(oid.clone());
                }
                if i < GROUP_SIZE {
                    d.group_observations.insert(oid);
                }
            }
            if entries.len() >= 500 {
                transaction(&s, std::mem::take(&mut entries));
            }
        }
        if !entries.is_empty() {
            transaction(&s, entries);
        }
        let members: Vec<Value> = (0..GROUP_SIZE)
            .map(|i| json!({"entity": {"reference": format!("Patient/{run}-p{i}")}}))
            .collect();
        transaction(
            &s,
            vec![put(json!({"resourceType": "Group", "id": d.group_id, "type": "person",
                "actual": true, "meta": {"tag": tag}, "member": members}))],
        );
        eprintln!(
            "bulk data set: {} Patients + {} Observations + 1 Group loaded by transactions in {:.1} s",
            PATIENTS,
            PATIENTS * OBS_PER_PATIENT,
            started.elapsed().as_secs_f64()
        );
        d
    })
}

/// Ids per resource type of everything an export handed over; panics on an id seen twice.
struct Collected {
    ids: HashMap<String, HashSet<String>>,
    errors: u64,
    files: usize,
}

fn export(s: &FhirServer, req: &ExportRequest, o: &BulkOptions) -> (Collected, Manifest) {
    let status = block_on(s.bulk_kickoff(req, o)).unwrap();
    let manifest = block_on(s.bulk_wait(status.as_str(), o, |_| {})).unwrap();
    (download(s, &manifest, o), manifest)
}

fn download(s: &FhirServer, manifest: &Manifest, o: &BulkOptions) -> Collected {
    let mut c = Collected {
        ids: HashMap::new(),
        errors: 0,
        files: manifest.files.len(),
    };
    let summary = block_on(s.bulk_download_each(manifest, o, |f, line| {
        let v: Value = serde_json::from_slice(line).unwrap();
        if f.kind == FileKind::Error {
            c.errors += 1;
            return true;
        }
        let t = v["resourceType"].as_str().unwrap().to_owned();
        assert_eq!(t, f.resource_type);
        let id = v["id"].as_str().unwrap().to_owned();
        assert!(
            c.ids.entry(t.clone()).or_default().insert(id.clone()),
            "{t}/{id} handed over twice"
        );
        true
    }))
    .unwrap();
    assert_eq!(summary.files as usize, manifest.files.len());
    c
}

/// The ids of `t` that belong to the data set of this run (`{run}-p…`, `{run}-o…`).
fn ours(c: &Collected, t: &str, run: &str) -> HashSet<String> {
    let prefix = format!("{run}-{}", if t == "Patient" { "p" } else { "o" });
    c.ids
        .get(t)
        .map(|s| {
            s.iter()
                .filter(|id| id.starts_with(&prefix))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Two id sets are equal; on failure say how they differ, briefly.
#[track_caller]
fn assert_same(got: &HashSet<String>, want: &HashSet<String>, what: &str) {
    if got != want {
        let missing: Vec<_> = want.difference(got).take(5).collect();
        let extra: Vec<_> = got.difference(want).take(5).collect();
        panic!(
            "{what}: got {} ids, want {}; missing e.g. {missing:?}; unexpected e.g. {extra:?}",
            got.len(),
            want.len()
        );
    }
}

fn of(c: &Collected, t: &str) -> HashSet<String> {
    c.ids.get(t).cloned().unwrap_or_default()
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn system_export_is_complete_and_exact_and_retry_after_120_is_clamped() {
    let _one_export = one_export();
    let d = data();
    let s = hapi();
    let req = ExportRequest {
        types: vec!["Patient".into(), "Observation".into()],
        ..Default::default()
    };
    let o = fast();
    let started = Instant::now();
    let status = block_on(s.bulk_kickoff(&req, &o)).unwrap();
    // HAPI says 120 s; one poll shows it, the wait below never takes that long.
    match block_on(s.bulk_poll(status.as_str(), &o)).unwrap() {
        PollStatus::InProgress { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(120)))
        }
        PollStatus::Complete(_) => {}
    }
    let mut polls = 0;
    let manifest = block_on(s.bulk_wait(status.as_str(), &o, |_| polls += 1)).unwrap();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(60), "waited {waited:?}");
    assert!(manifest.requires_access_token);
    let c = download(&s, &manifest, &o);
    eprintln!(
        "system export: {} files, {} polls, complete after {:.1} s, downloaded after {:.1} s",
        c.files,
        polls,
        waited.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(c.files >= (PATIENTS * (1 + OBS_PER_PATIENT)) / 500);
    assert_same(&ours(&c, "Patient", &d.run), &d.patients, "system Patients");
    assert_same(
        &ours(&c, "Observation", &d.run),
        &d.observations,
        "system Observations",
    );
    assert!(c.ids.keys().all(|t| t == "Patient" || t == "Observation"));
    assert_eq!(c.errors, 0);
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn patient_export_honours_type_filter() {
    let _one_export = one_export();
    let d = data();
    let s = hapi();
    let req = ExportRequest {
        level: ExportLevel::Patient,
        types: vec!["Patient".into(), "Observation".into()],
        type_filters: vec![
            format!("Patient?_tag={TAG_SYSTEM}|{}&family=Bulk19", d.run),
            format!(
                "Observation?_tag={TAG_SYSTEM}|{}&code=urn:bulk-code|a&value-quantity=ge{}",
                d.run,
                PATIENTS - 100
            ),
        ],
        ..Default::default()
    };
    let (c, _) = export(&s, &req, &fast());
    // family=Bulk19 matches Bulk19, Bulk190..199 (and Bulk1900..1999 with 2,000 patients).
    let bulk19: HashSet<String> = d
        .patients
        .iter()
        .filter(|id| id.rsplit_once("-p").unwrap().1.starts_with("19"))
        .cloned()
        .collect();
    assert!(bulk19.len() >= 11);
    assert_same(&of(&c, "Patient"), &bulk19, "Patients of the filter");
    // HAPI caps each _typeFilter search at 1000 matches (the launcher's fetch size maximum):
    // the filters select fewer. Code a and a value of at least PATIENTS - 100: the last 100.
    let a1900: HashSet<String> = (PATIENTS - 100..PATIENTS)
        .map(|i| format!("{}-o{i}-0", d.run))
        .collect();
    assert_eq!(a1900.len(), 100);
    assert_same(&of(&c, "Observation"), &a1900, "Observations of the filter");
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn group_export_is_exactly_the_members_compartments_and_honours_type() {
    let _one_export = one_export();
    let d = data();
    let s = hapi();
    let mut req = ExportRequest::default();
    req.set_group(&d.group_id).unwrap();
    req.add_type("Patient").unwrap();
    req.add_type("Observation").unwrap();
    let (c, _) = export(&s, &req, &fast());
    assert_same(&of(&c, "Patient"), &d.group_patients, "group Patients");
    assert_same(
        &of(&c, "Observation"),
        &d.group_observations,
        "group Observations",
    );
    // _type=Patient alone: no Observation at all.
    let mut only = ExportRequest::default();
    only.set_group(&d.group_id).unwrap();
    only.add_type("Patient").unwrap();
    let (c, _) = export(&s, &only, &fast());
    assert_eq!(c.ids.keys().collect::<Vec<_>>(), ["Patient"]);
    assert_same(&of(&c, "Patient"), &d.group_patients, "group Patients");
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn since_exports_only_what_changed_after() {
    let _one_export = one_export();
    let d = data();
    let s = hapi();
    std::thread::sleep(Duration::from_millis(1500));
    let since = httpdate_to_instant(std::time::SystemTime::now());
    std::thread::sleep(Duration::from_millis(1500));
    let tag = format!("{}-since", d.run);
    let mut fresh = HashSet::new();
    let entries = (0..5)
        .map(|i| {
            let id = format!("{tag}-{i}");
            fresh.insert(id.clone());
            put(json!({"resourceType": "Patient", "id": id,
                "meta": {"tag": [{"system": TAG_SYSTEM, "code": tag}]}}))
        })
        .collect();
    transaction(&s, entries);
    let mut req = ExportRequest::default();
    req.add_type("Patient").unwrap();
    req.set_since(Some(&since)).unwrap();
    let (c, _) = export(&s, &req, &fast());
    let got = &of(&c, "Patient");
    assert!(fresh.is_subset(got), "{fresh:?} not all exported");
    // None of the data set (loaded before `since`).
    assert!(got.is_disjoint(&d.patients));
}

/// `2024-01-31T12:00:00Z` for a time (UTC, whole seconds).
fn httpdate_to_instant(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn cancel_while_running_then_poll_says_gone() {
    let _one_export = one_export();
    data();
    let s = hapi();
    let status = block_on(s.bulk_kickoff(&ExportRequest::default(), &fast())).unwrap();
    assert_eq!(
        block_on(s.bulk_cancel(status.as_str())).unwrap(),
        CancelOutcome::Cancelled
    );
    // HAPI answers a poll of a cancelled job with 404 and an OperationOutcome: the export is gone.
    let e = block_on(s.bulk_poll(status.as_str(), &fast())).unwrap_err();
    assert_eq!(e.status(), Some(404), "{}", e.message());
    // Deleting again: already gone counts as done.
    let again = block_on(s.bulk_cancel(status.as_str())).unwrap();
    assert!(matches!(
        again,
        CancelOutcome::AlreadyGone | CancelOutcome::Cancelled
    ));
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn resume_from_a_saved_status_url_in_a_new_process() {
    // The same test, run again by itself in a child process with the saved status URL: the
    // new process polls and downloads, printing the ids.
    if let Ok(status) = std::env::var("BULK_STATUS_URL") {
        let s = hapi();
        let manifest = block_on(s.bulk_wait(&status, &fast(), |_| {})).unwrap();
        block_on(s.bulk_download_each(&manifest, &fast(), |_, line| {
            let v: Value = serde_json::from_slice(line).unwrap();
            println!("ID {}", v["id"].as_str().unwrap());
            true
        }))
        .unwrap();
        return;
    }
    let _one_export = one_export();
    let d = data();
    let s = hapi();
    let mut req = ExportRequest::default();
    req.set_group(&d.group_id).unwrap();
    req.add_type("Patient").unwrap();
    let status = block_on(s.bulk_kickoff(&req, &fast())).unwrap();
    // This process "exits"; a new one resumes from the saved status URL.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "resume_from_a_saved_status_url_in_a_new_process",
            "--nocapture",
        ])
        .env("BULK_STATUS_URL", status.as_str())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: HashSet<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ID "))
        .map(str::to_owned)
        .collect();
    assert_same(&ids, &d.group_patients, "resumed group Patients");
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn through_the_gateway_a_short_lived_token_is_refreshed_between_files() {
    let d = data();
    let _one_at_a_time = provider_lock();
    let _one_export = one_export();
    let client = var("FHIR_OIDC_CLIENT_ID");
    let ttl: u64 = var("FHIR_OIDC_TOKEN_TTL").parse().unwrap();
    let s = FhirServer::new_oidc(
        &format!("{}/oidc/fhir", var("FHIR_NGINX_HTTPS")),
        &client,
        &var("FHIR_OIDC_CLIENT_SECRET"),
        &var("FHIR_OIDC_ISSUER"),
        &tls(),
    )
    .unwrap();
    let mut o = fast();
    o.set_parallel(1).unwrap();
    let mut req = ExportRequest::default();
    req.set_group(&d.group_id).unwrap();
    req.add_type("Patient").unwrap();
    req.add_type("Observation").unwrap();
    let status = block_on(s.bulk_kickoff(&req, &o)).unwrap();
    let manifest = block_on(s.bulk_wait(status.as_str(), &o, |_| {})).unwrap();
    assert!(manifest.requires_access_token);
    let origin = var("FHIR_NGINX_HTTPS");
    assert!(manifest
        .files
        .iter()
        .all(|f| f.url.as_str().starts_with(&origin)));
    let before = tokens_issued(&client);
    // Dwell on the first lines of the first files so that the download outlives the token
    // (the gateway refuses an expired token: every file request must carry a live one).
    let dwell = Duration::from_millis(ttl * 1000 * 6 / 10);
    let mut seen = HashSet::new();
    let mut n = 0;
    let started = Instant::now();
    let summary = block_on(s.bulk_download_each(&manifest, &o, |f, _| {
        n += 1;
        if seen.insert(f.url.clone()) && seen.len() <= 2 {
            std::thread::sleep(dwell);
        }
        true
    }))
    .unwrap();
    assert!(started.elapsed() > Duration::from_secs(ttl));
    assert_eq!(
        summary.resources as usize,
        d.group_patients.len() + d.group_observations.len()
    );
    assert!(
        tokens_issued(&client) > before,
        "no token was fetched while the download outlived the first"
    );
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn through_the_gateway_files_on_another_origin_never_get_the_token() {
    let d = data();
    let _one_at_a_time = provider_lock();
    let _one_export = one_export();
    let s = FhirServer::new_oidc(
        &format!("{}/oidcfiles/fhir", var("FHIR_NGINX_HTTPS")),
        &var("FHIR_OIDC_CLIENT_ID"),
        &var("FHIR_OIDC_CLIENT_SECRET"),
        &var("FHIR_OIDC_ISSUER"),
        &tls(),
    )
    .unwrap();
    let files_origin = var("FHIR_NGINX_FILES");
    let port = files_origin.rsplit(':').next().unwrap().to_owned();
    let log = var("FHIR_NGINX_ACCESS_LOG");
    let before_none = lines_containing(&log, &format!("auth=none scheme=http port={port} "));
    let before_any = lines_containing(&log, &format!("port={port} "));
    let mut req = ExportRequest::default();
    req.set_group(&d.group_id).unwrap();
    req.add_type("Patient").unwrap();
    let (c, manifest) = export(&s, &req, &fast());
    assert!(manifest.requires_access_token);
    assert!(manifest.files.iter().all(|f| f
        .url
        .as_str()
        .starts_with(&format!("{files_origin}/files/fhir/Binary/"))));
    assert_same(&of(&c, "Patient"), &d.group_patients, "group Patients");
    // nginx logs a request once it is answered.
    std::thread::sleep(Duration::from_millis(300));
    let none = lines_containing(&log, &format!("auth=none scheme=http port={port} ")) - before_none;
    let any = lines_containing(&log, &format!("port={port} ")) - before_any;
    assert_eq!(none, manifest.files.len());
    assert_eq!(
        any, none,
        "a request to the files origin carried Authorization"
    );
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn through_the_gateway_with_smart_backend_services() {
    let d = data();
    let _one_at_a_time = provider_lock();
    let _one_export = one_export();
    let mut o = Options::default();
    o.set_smart_key_id(&var("FHIR_SMART_RSA_KID")).unwrap();
    o.set_smart_scope("system/*.rs").unwrap();
    // Plain HTTP, like the token endpoint its smart-configuration names.
    let base = format!("{}/smart/fhir", var("FHIR_NGINX_HTTP"));
    let s = FhirServer::new_smart_backend(
        &base,
        &var("FHIR_SMART_RS384_CLIENT_ID"),
        &var("FHIR_SMART_RSA_KEY"),
        &o,
    )
    .unwrap();
    let mut req = ExportRequest::default();
    req.set_group(&d.group_id).unwrap();
    req.add_type("Patient").unwrap();
    let (c, manifest) = export(&s, &req, &fast());
    assert!(manifest.requires_access_token);
    assert!(manifest
        .files
        .iter()
        .all(|f| f.url.as_str().starts_with(&format!("{base}/Binary/"))));
    assert_same(
        &of(&c, "Patient"),
        &d.group_patients,
        "group Patients via SMART",
    );
}
