//! `from_env` with the real variables against the real services (one test in its own binary,
//! because it changes the process environment).

mod common;

use common::block_on;
use fhir_kindling::ErrorKind;
use fhir_kindling::{FhirServer, Options};

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: source target/services/services.env"))
}

use fhir_kindling::ENV_VARIABLES as ALL;

fn with_env(vars: &[(&str, String)], f: impl FnOnce()) {
    for k in ALL {
        std::env::remove_var(k);
    }
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    f();
    for k in ALL {
        std::env::remove_var(k);
    }
}

#[test]
#[ignore = "needs the real services: scripts/test-all.sh"]
fn from_env_each_mode_against_the_real_gateway() {
    let https = var("FHIR_NGINX_HTTPS");
    let mut o = Options::default();
    o.add_ca_file(&var("FHIR_TEST_CA")).unwrap();
    let ok = |no_auth: bool| {
        let s = FhirServer::from_env(no_auth, &o).unwrap();
        block_on(s.capabilities()).unwrap();
    };
    with_env(
        &[
            ("FHIR_API_URL", format!("{https}/basic/fhir")),
            ("FHIR_USER", var("FHIR_BASIC_USER")),
            ("FHIR_PW", var("FHIR_BASIC_PASSWORD")),
        ],
        || ok(false),
    );
    with_env(
        &[
            ("FHIR_SERVER_URL", format!("{https}/token/fhir")),
            ("FHIR_TOKEN", var("FHIR_STATIC_TOKEN")),
        ],
        || ok(false),
    );
    with_env(
        &[
            ("FHIR_API_URL", format!("{https}/oidc/fhir")),
            ("CLIENT_ID", var("FHIR_OIDC_CLIENT_ID")),
            ("CLIENT_SECRET", var("FHIR_OIDC_CLIENT_SECRET")),
            ("OIDC_PROVIDER_URL", var("FHIR_OIDC_ISSUER")),
        ],
        || ok(false),
    );
    with_env(&[("FHIR_API_URL", var("FHIR_HAPI_URL"))], || ok(true));
    with_env(&[("FHIR_API_URL", var("FHIR_HAPI_URL"))], || {
        assert_eq!(
            FhirServer::from_env(false, &o).unwrap_err().kind(),
            ErrorKind::Config
        );
    });
    with_env(
        &[
            ("FHIR_API_URL", var("FHIR_HAPI_URL")),
            ("FHIR_TOKEN", "t".into()),
            ("FHIR_USER", "u".into()),
        ],
        || {
            let e = FhirServer::from_env(false, &o).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.message().contains("FHIR_PW"), "{}", e.message());
        },
    );
}
