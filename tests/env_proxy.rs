//! A proxy taken from the environment (`HTTP_PROXY`) that cannot be reached is a proxy error,
//! named without its credentials, as a configured one is. Its own test binary: it changes the
//! process environment, which every client built meanwhile would read.

use fhir_kindling::{Auth, ErrorKind, FhirServer, Options};

mod common;

#[test]
fn an_unreachable_proxy_from_the_environment_is_a_proxy_error() {
    let port = common::closed_port();
    std::env::set_var(
        "HTTP_PROXY",
        format!("http://envuser:env-Pr0xy-pw@127.0.0.1:{port}"),
    );
    std::env::remove_var("http_proxy");
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    // The FHIR server itself is never reached: every request goes to the proxy.
    let s = FhirServer::new("http://fhir.invalid/fhir", Auth::None, &Options::default()).unwrap();
    let e = common::caps(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Proxy, "{}", e.message());
    assert!(e.message().contains("through proxy"), "{}", e.message());
    assert!(!e.message().contains("env-Pr0xy-pw"), "{}", e.message());

    // NO_PROXY exempts the host: then it is an ordinary connection failure.
    std::env::set_var("NO_PROXY", "127.0.0.1");
    let direct = format!("http://127.0.0.1:{}/fhir", common::closed_port());
    let s = FhirServer::new(&direct, Auth::None, &Options::default()).unwrap();
    assert_eq!(common::caps(&s).unwrap_err().kind(), ErrorKind::Connect);
}
