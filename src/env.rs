//! `from_env`: the base URL and exactly one auth mode from environment variables, as in
//! fhir_kindling's `FhirServer.from_env`.
//!
//! | mode  | variables                                          |
//! |-------|----------------------------------------------------|
//! | URL   | `FHIR_API_URL` (fallback `FHIR_SERVER_URL`)         |
//! | basic | `FHIR_USER` + `FHIR_PW`                             |
//! | token | `FHIR_TOKEN`                                        |
//! | OIDC  | `CLIENT_ID` + `CLIENT_SECRET` + `OIDC_PROVIDER_URL` |
//! | SMART | `CLIENT_ID` + `SMART_PRIVATE_KEY` + `SMART_KEY_ID`, optional `SMART_SCOPE`, `SMART_TOKEN_URL` |
//!
//! An empty variable counts as unset. More than one mode, or an incomplete one, is an error that
//! names the variables at fault (never their values). No mode at all is an error unless the caller
//! asks for no auth, in which case credential variables are ignored.
//!
//! `CLIENT_ID` belongs to two modes: the other variables decide. With `CLIENT_SECRET` or
//! `OIDC_PROVIDER_URL` it is OpenID Connect, with any `SMART_*` variable SMART Backend Services,
//! with both kinds a conflict, alone an incomplete setting naming both ways to complete it.
//! `SMART_PRIVATE_KEY` is PEM text or the path of a PEM file. `SMART_SCOPE` and `SMART_TOKEN_URL`
//! replace the options' SMART scope and token URL when set.

use crate::auth::{Auth, OidcAuth};
use crate::config::Options;
use crate::error::{Error, Result};

/// Every variable `from_env` reads.
pub const VARIABLES: [&str; 12] = [
    "FHIR_API_URL",
    "FHIR_SERVER_URL",
    "FHIR_USER",
    "FHIR_PW",
    "FHIR_TOKEN",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "OIDC_PROVIDER_URL",
    "SMART_PRIVATE_KEY",
    "SMART_KEY_ID",
    "SMART_SCOPE",
    "SMART_TOKEN_URL",
];

/// A mode: its name, the variables it requires, and its optional ones.
const MODES: [(&str, &[&str], &[&str]); 4] = [
    ("basic auth", &["FHIR_USER", "FHIR_PW"], &[]),
    ("static token", &["FHIR_TOKEN"], &[]),
    (
        "OpenID Connect",
        &["CLIENT_ID", "CLIENT_SECRET", "OIDC_PROVIDER_URL"],
        &[],
    ),
    (
        "SMART Backend Services",
        &["CLIENT_ID", "SMART_PRIVATE_KEY", "SMART_KEY_ID"],
        &["SMART_SCOPE", "SMART_TOKEN_URL"],
    ),
];

/// The variable more than one mode uses: it alone does not choose a mode.
const SHARED: &str = "CLIENT_ID";

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

    // The modes whose own variables are set (CLIENT_ID alone chooses none).
    let chosen: Vec<_> = MODES
        .iter()
        .filter(|(_, required, optional)| {
            required
                .iter()
                .chain(optional.iter())
                .any(|n| *n != SHARED && var(n).is_some())
        })
        .collect();
    if chosen.len() > 1 {
        let described: Vec<String> = chosen
            .iter()
            .map(|(mode, names, _)| format!("{mode} ({})", names.join(", ")))
            .collect();
        return Err(Error::config(format!(
            "more than one auth mode in the environment: {}; set only one",
            described.join(" and ")
        )));
    }
    let missing = |names: &[&'static str]| -> Vec<&'static str> {
        names.iter().copied().filter(|n| var(n).is_none()).collect()
    };
    let Some(&&(mode, required, _)) = chosen.first() else {
        if var(SHARED).is_some() {
            return Err(Error::config(format!(
                "incomplete settings in the environment: {SHARED} set but {} missing (OpenID \
                 Connect) or {} missing (SMART Backend Services)",
                missing(MODES[2].1).join(", "),
                missing(MODES[3].1).join(", ")
            )));
        }
        return Err(Error::config(
            "no credentials in the environment: set FHIR_USER and FHIR_PW, or FHIR_TOKEN, or \
             CLIENT_ID, CLIENT_SECRET and OIDC_PROVIDER_URL, or CLIENT_ID, SMART_PRIVATE_KEY and \
             SMART_KEY_ID (or ask for no auth explicitly)",
        ));
    };
    let absent = missing(required);
    if !absent.is_empty() {
        let present: Vec<&str> = required
            .iter()
            .copied()
            .filter(|n| var(n).is_some())
            .collect();
        let present = if present.is_empty() {
            "optional variables".to_owned()
        } else {
            present.join(", ")
        };
        return Err(Error::config(format!(
            "incomplete {mode} settings in the environment: {present} set but {} missing",
            absent.join(", ")
        )));
    }
    let value = |n: &str| var(n).unwrap_or_default();
    let auth = match mode {
        "basic auth" => Auth::basic(&value("FHIR_USER"), &value("FHIR_PW"))
            .map_err(|e| config_error("FHIR_USER/FHIR_PW", e))?,
        "static token" => {
            Auth::token(&value("FHIR_TOKEN")).map_err(|e| config_error("FHIR_TOKEN", e))?
        }
        "OpenID Connect" => Auth::Oidc(Box::new(
            OidcAuth::new(
                &value("CLIENT_ID"),
                &value("CLIENT_SECRET"),
                &value("OIDC_PROVIDER_URL"),
                options.oidc_scope.clone(),
                options.oidc_auth_method,
            )
            .map_err(|e| config_error("CLIENT_ID/CLIENT_SECRET/OIDC_PROVIDER_URL", e))?,
        )),
        _ => smart(&base_url, &var, options)?,
    };
    Ok(EnvConfig { base_url, auth })
}

/// The SMART mode: the options' SMART settings, with the variables' scope and token URL.
fn smart(base_url: &str, var: &dyn Fn(&str) -> Option<String>, options: &Options) -> Result<Auth> {
    let base = crate::server::parse_base_url(base_url)
        .map_err(|e| config_error("FHIR_API_URL / FHIR_SERVER_URL", e))?;
    let mut settings = options.smart.clone();
    settings
        .set_key_id(&var("SMART_KEY_ID").unwrap_or_default())
        .map_err(|e| config_error("SMART_KEY_ID", e))?;
    if let Some(scope) = var("SMART_SCOPE") {
        settings
            .set_scope(&scope)
            .map_err(|e| config_error("SMART_SCOPE", e))?;
    }
    if let Some(url) = var("SMART_TOKEN_URL") {
        settings
            .set_token_url(&url)
            .map_err(|e| config_error("SMART_TOKEN_URL", e))?;
    }
    crate::smart::smart_auth(
        &base,
        &var("CLIENT_ID").unwrap_or_default(),
        &var("SMART_PRIVATE_KEY").unwrap_or_default(),
        &settings,
    )
    .map_err(|e| config_error("CLIENT_ID/SMART_PRIVATE_KEY", e))
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
            (
                &[("SMART_PRIVATE_KEY", KEY)],
                "SMART Backend Services settings in the environment: SMART_PRIVATE_KEY set but \
                 CLIENT_ID, SMART_KEY_ID missing",
            ),
            (
                &[("CLIENT_ID", "c"), ("SMART_PRIVATE_KEY", KEY)],
                "SMART_KEY_ID missing",
            ),
            (
                &[("CLIENT_ID", "c"), ("SMART_KEY_ID", "k")],
                "SMART_PRIVATE_KEY missing",
            ),
            (
                &[("SMART_SCOPE", "system/*.rs")],
                "CLIENT_ID, SMART_PRIVATE_KEY, SMART_KEY_ID missing",
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
            assert!(!e.message().contains(KEY), "{}", e.message());
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

    const KEY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/data/smart-p384.sec1.pem"
    );

    #[test]
    fn smart_mode_with_a_key_file_or_pem_text() {
        let pem = std::fs::read_to_string(KEY).unwrap();
        for key in [KEY, pem.as_str()] {
            let c = run(
                &[
                    URL,
                    ("CLIENT_ID", "c"),
                    ("SMART_PRIVATE_KEY", key),
                    ("SMART_KEY_ID", "k1"),
                    ("SMART_SCOPE", "system/*.rs"),
                    ("SMART_TOKEN_URL", "https://ehr.example/token"),
                ],
                false,
            )
            .unwrap();
            assert!(matches!(c.auth, Auth::Smart(_)));
            let dbg = format!("{:?}", c.auth);
            assert!(dbg.contains("ES384") && !dbg.contains("BEGIN"), "{dbg}");
        }
    }

    #[test]
    fn client_id_alone_names_both_ways_to_complete_it() {
        let e = run(&[URL, ("CLIENT_ID", "c")], false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        let m = e.message();
        assert!(
            m.contains("CLIENT_SECRET, OIDC_PROVIDER_URL missing")
                && m.contains("SMART_PRIVATE_KEY, SMART_KEY_ID missing"),
            "{m}"
        );
    }

    #[test]
    fn smart_and_another_mode_conflict() {
        let smart = [
            ("CLIENT_ID", "c"),
            ("SMART_PRIVATE_KEY", KEY),
            ("SMART_KEY_ID", "k"),
        ];
        let others: &[&[(&str, &str)]] = &[
            &[("CLIENT_SECRET", "topsecret")],
            &[
                ("CLIENT_SECRET", "topsecret"),
                ("OIDC_PROVIDER_URL", "http://i"),
            ],
            &[("FHIR_TOKEN", "topsecret")],
        ];
        for other in others {
            let mut all = vec![URL];
            all.extend_from_slice(&smart);
            all.extend_from_slice(other);
            let e = run(&all, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Config);
            let m = e.message();
            assert!(m.contains("more than one auth mode"), "{m}");
            assert!(m.contains("SMART Backend Services"), "{m}");
            assert!(!m.contains("topsecret") && !m.contains(KEY), "{m}");
        }
        // A SMART option beside a complete OIDC setting is a conflict too, not ignored.
        let e = run(
            &[
                URL,
                ("CLIENT_ID", "c"),
                ("CLIENT_SECRET", "s"),
                ("OIDC_PROVIDER_URL", "http://i"),
                ("SMART_SCOPE", "system/*.rs"),
            ],
            false,
        )
        .unwrap_err();
        assert!(
            e.message().contains("more than one auth mode"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn smart_bad_values_are_config_errors_without_values() {
        let base = [URL, ("CLIENT_ID", "c"), ("SMART_KEY_ID", "k")];
        let cases: &[(&str, &str, &str)] = &[
            (
                "SMART_PRIVATE_KEY",
                "/no/such/dir/key.pem",
                "SMART_PRIVATE_KEY",
            ),
            ("SMART_TOKEN_URL", "ftp://x/token", "SMART_TOKEN_URL"),
        ];
        for (name, value, expected) in cases {
            let mut all = base.to_vec();
            if *name != "SMART_PRIVATE_KEY" {
                all.push(("SMART_PRIVATE_KEY", KEY));
            }
            all.push((name, value));
            let e = run(&all, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Config, "{}", e.message());
            assert!(e.message().contains(expected), "{}", e.message());
            assert!(!e.message().contains(value), "{}", e.message());
        }
    }
}
