//! Wire details of the FHIR operations, pinned with httpmock: request lines, headers, bodies,
//! paging links of each form, the loop and origin guards, batch splitting, error mapping.
//! `crud`: read, create, update, delete; `search`: paging, limits, counts, streaming;
//! `batch`: create_all, read_many / delete_many, bundles, history, operations, summary.

mod batch;
mod crud;
mod search;

use fhir_kindling::Auth;
use fhir_kindling::{FhirServer, Options};
use httpmock::prelude::*;
use serde_json::{json, Value};

fn server(mock: &MockServer) -> FhirServer {
    FhirServer::new(&mock.url("/fhir"), Auth::None, &Options::default()).unwrap()
}

fn page(ids: &[&str], next: Option<&str>) -> String {
    let entries: Vec<Value> = ids
        .iter()
        .map(|id| json!({"fullUrl": format!("http://x/fhir/Patient/{id}"), "resource": {"resourceType": "Patient", "id": id}, "search": {"mode": "match"}}))
        .collect();
    let mut links = vec![json!({"relation": "self", "url": "s"})];
    if let Some(n) = next {
        links.push(json!({"relation": "next", "url": n}));
    }
    json!({"resourceType": "Bundle", "type": "searchset", "total": 5, "link": links, "entry": entries}).to_string()
}

fn ids(bundle: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(bundle).unwrap();
    v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}
