//! `from_env`: the base URL and exactly one auth mode from environment variables, as in
//! fhir_kindling's `FhirServer.from_env`.
//!
//! | mode  | variables                                          |
//! |-------|----------------------------------------------------|
//! | URL   | `FHIR_API_URL` (fallback `FHIR_SERVER_URL`)         |
//! | basic | `FHIR_USER` + `FHIR_PW`                             |
//! | token | `FHIR_TOKEN`                                        |
//! | OIDC  | `CLIENT_ID` + `CLIENT_SECRET` + `OIDC_PROVIDER_URL` |
//!
//! An empty variable counts as unset. More than one mode, or an incomplete one, is an error that
//! names the variables at fault (never their values). No mode at all is an error unless the caller
//! asks for no auth, in which case credential variables are ignored.

use crate::auth::{Auth, OidcAuth};
use crate::config::Options;
use crate::error::{Error, Result};

/// Every variable `from_env` reads.
pub const VARIABLES: [&str; 8] = [
    "FHIR_API_URL",
    "FHIR_SERVER_URL",
    "FHIR_USER",
    "FHIR_PW",
    "FHIR_TOKEN",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "OIDC_PROVIDER_URL",
];

const MODES: [(&str, &[&str]); 3] = [
    ("basic auth", &["FHIR_USER", "FHIR_PW"]),
    ("static token", &["FHIR_TOKEN"]),
    (
        "OpenID Connect",
        &["CLIENT_ID", "CLIENT_SECRET", "OIDC_PROVIDER_URL"],
    ),
];

/// What the environment asks for: the base URL and the auth mode.
#[derive(Debug)]
pub struct EnvConfig {
    pub base_url: String,
    pub auth: Auth,
}

/// A bad value from the environment is a configuration error naming the variables.
fn config_error(variables: &str, e: Error) -> Error {
    Error::config(format!("{variables}: {}", e.message()))
}

/// Read the configuration through `get` (the process environment in production, a map in tests).
pub fn load(
    get: impl Fn(&str) -> Option<String>,
    no_auth: bool,
    options: &Options,
) -> Result<EnvConfig> {
    // Each variable is read once: the environment may change under us.
    let values: Vec<(&str, Option<String>)> = VARIABLES
        .iter()
        .map(|n| (*n, get(n).filter(|v| !v.trim().is_empty())))
        .collect();
    let var = |name: &str| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    };

    let base_url = var("FHIR_API_URL")
        .or_else(|| var("FHIR_SERVER_URL"))
        .ok_or_else(|| {
            Error::config(
                "no FHIR server URL in the environment: set FHIR_API_URL (or FHIR_SERVER_URL)",
            )
        })?;

    if no_auth {
        return Ok(EnvConfig {
            base_url,
            auth: Auth::None,
        });
    }

    let mut present_modes = Vec::new();
    for (mode, names) in MODES {
        let present: Vec<&str> = names.iter().copied().filter(|n| var(n).is_some()).collect();
        if present.is_empty() {
            continue;
        }
        if present.len() < names.len() {
            let missing: Vec<&str> = names.iter().copied().filter(|n| var(n).is_none()).collect();
            return Err(Error::config(format!(
                "incomplete {mode} settings in the environment: {} set but {} missing",
                present.join(", "),
                missing.join(", ")
            )));
        }
        present_modes.push((mode, names));
    }

    match present_modes.len() {
        0 => Err(Error::config(
            "no credentials in the environment: set FHIR_USER and FHIR_PW, or FHIR_TOKEN, or \
             CLIENT_ID, CLIENT_SECRET and OIDC_PROVIDER_URL (or ask for no auth explicitly)",
        )),
        1 => {
            let auth = match present_modes[0].0 {
                "basic auth" => Auth::basic(
                    &var("FHIR_USER").unwrap_or_default(),
                    &var("FHIR_PW").unwrap_or_default(),
                )
                .map_err(|e| config_error("FHIR_USER/FHIR_PW", e))?,
                "static token" => Auth::token(&var("FHIR_TOKEN").unwrap_or_default())
                    .map_err(|e| config_error("FHIR_TOKEN", e))?,
                _ => Auth::Oidc(Box::new(
                    OidcAuth::new(
                        &var("CLIENT_ID").unwrap_or_default(),
                        &var("CLIENT_SECRET").unwrap_or_default(),
                        &var("OIDC_PROVIDER_URL").unwrap_or_default(),
                        options.oidc_scope.clone(),
                        options.oidc_auth_method,
                    )
                    .map_err(|e| config_error("CLIENT_ID/CLIENT_SECRET/OIDC_PROVIDER_URL", e))?,
                )),
            };
            Ok(EnvConfig { base_url, auth })
        }
        _ => {
            let described: Vec<String> = present_modes
                .iter()
                .map(|(mode, names)| format!("{mode} ({})", names.join(", ")))
                .collect();
            Err(Error::config(format!(
                "more than one auth mode in the environment: {}; set only one",
                described.join(" and ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::collections::HashMap;

    fn run(vars: &[(&str, &str)], no_auth: bool) -> Result<EnvConfig> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(|k| map.get(k).cloned(), no_auth, &Options::default())
    }

    const URL: (&str, &str) = ("FHIR_API_URL", "http://fhir.local/fhir");

    #[test]
    fn each_mode_alone() {
        let c = run(&[URL, ("FHIR_USER", "u"), ("FHIR_PW", "p")], false).unwrap();
        assert!(matches!(c.auth, Auth::Basic { .. }));
        let c = run(&[URL, ("FHIR_TOKEN", "t")], false).unwrap();
        assert!(matches!(c.auth, Auth::Token(_)));
        let c = run(
            &[
                URL,
                ("CLIENT_ID", "c"),
                ("CLIENT_SECRET", "s"),
                ("OIDC_PROVIDER_URL", "http://idp/token"),
            ],
            false,
        )
        .unwrap();
        assert!(matches!(c.auth, Auth::Oidc(_)));
        assert_eq!(c.base_url, "http://fhir.local/fhir");
    }

    #[test]
    fn server_url_is_the_fallback_and_api_url_wins() {
        let c = run(
            &[("FHIR_SERVER_URL", "http://b"), ("FHIR_TOKEN", "t")],
            false,
        )
        .unwrap();
        assert_eq!(c.base_url, "http://b");
        let c = run(
            &[("FHIR_SERVER_URL", "http://b"), URL, ("FHIR_TOKEN", "t")],
            false,
        )
        .unwrap();
        assert_eq!(c.base_url, "http://fhir.local/fhir");
    }

    #[test]
    fn missing_url_is_an_error() {
        let e = run(&[("FHIR_TOKEN", "t")], false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message().contains("FHIR_API_URL"));
        assert!(run(&[("FHIR_API_URL", "  ")], true).is_err());
    }

    #[test]
    fn no_mode_is_an_error_unless_no_auth() {
        let e = run(&[URL], false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message().contains("FHIR_TOKEN"));
        assert!(matches!(run(&[URL], true).unwrap().auth, Auth::None));
        // no_auth ignores credentials: nothing is sent.
        assert!(matches!(
            run(&[URL, ("FHIR_TOKEN", "t")], true).unwrap().auth,
            Auth::None
        ));
    }

    #[test]
    fn conflicts_name_the_variables_and_never_the_values() {
        let e = run(
            &[
                URL,
                ("FHIR_USER", "u"),
                ("FHIR_PW", "secretpw"),
                ("FHIR_TOKEN", "secrettok"),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(
            e.message().contains("FHIR_USER, FHIR_PW") && e.message().contains("FHIR_TOKEN"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("secretpw") && !e.message().contains("secrettok"));

        let e = run(
            &[
                URL,
                ("FHIR_TOKEN", "t"),
                ("CLIENT_ID", "c"),
                ("CLIENT_SECRET", "s"),
                ("OIDC_PROVIDER_URL", "http://i"),
            ],
            false,
        )
        .unwrap_err();
        assert!(
            e.message().contains("FHIR_TOKEN") && e.message().contains("OIDC_PROVIDER_URL"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn incomplete_sets_name_what_is_missing() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("FHIR_USER", "u")], "FHIR_PW missing"),
            (&[("FHIR_PW", "p")], "FHIR_USER missing"),
            (
                &[("CLIENT_ID", "c")],
                "CLIENT_SECRET, OIDC_PROVIDER_URL missing",
            ),
            (
                &[("CLIENT_ID", "c"), ("CLIENT_SECRET", "s")],
                "OIDC_PROVIDER_URL missing",
            ),
            (
                &[("CLIENT_SECRET", "s"), ("OIDC_PROVIDER_URL", "http://i")],
                "CLIENT_ID missing",
            ),
        ];
        for (vars, expected) in cases {
            let mut all = vec![URL];
            all.extend_from_slice(vars);
            let e = run(&all, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Config);
            assert!(
                e.message().contains(expected),
                "{} does not contain {expected}",
                e.message()
            );
        }
    }

    #[test]
    fn a_bad_credential_from_the_environment_is_a_config_error_naming_the_variables() {
        for (vars, names) in [
            (
                vec![URL, ("FHIR_USER", "a:b"), ("FHIR_PW", "pw-Zz9")],
                "FHIR_USER/FHIR_PW",
            ),
            (vec![URL, ("FHIR_TOKEN", "tok\nZz9")], "FHIR_TOKEN"),
            (
                vec![
                    URL,
                    ("CLIENT_ID", "c"),
                    ("CLIENT_SECRET", "cs-Zz9"),
                    ("OIDC_PROVIDER_URL", "ftp://idp"),
                ],
                "CLIENT_ID/CLIENT_SECRET/OIDC_PROVIDER_URL",
            ),
        ] {
            let e = run(&vars, false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{}", e.message());
            assert!(e.message().starts_with(names), "{}", e.message());
            assert!(!e.message().contains("Zz9"), "{}", e.message());
        }
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let c = run(&[URL, ("FHIR_USER", ""), ("FHIR_TOKEN", "t")], false).unwrap();
        assert!(matches!(c.auth, Auth::Token(_)));
    }
}
