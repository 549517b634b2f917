//! A small search-query builder for callers who should not hand-encode URLs, and the
//! percent-encoding it uses: everything but unreserved characters and the FHIR separators
//! `,` (OR) `:` `/` `$` is escaped, so `+` in a timezone becomes `%2B` and `|` in a token `%7C`.

use crate::error::{Error, Result};
use crate::ops::reference::valid_type;

const VALUE_PREFIXES: [&str; 9] = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"];

/// Percent-encode a query component (name or value).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b',' | b':' | b'/' | b'$')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Clone, Debug, Default)]
pub struct Query {
    resource_type: String,
    params: Vec<(String, String)>,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "&=?#".contains(c))
    {
        return Err(Error::invalid(format!(
            "'{name}' is not a search parameter name"
        )));
    }
    Ok(())
}

impl Query {
    pub fn new(resource_type: &str) -> Result<Query> {
        let t = resource_type.trim();
        if !t.is_empty() && !valid_type(t) {
            return Err(Error::invalid(format!("'{t}' is not a resource type")));
        }
        Ok(Query {
            resource_type: t.to_owned(),
            params: Vec::new(),
        })
    }

    /// Any parameter, encoded.
    pub fn param(&mut self, name: &str, value: &str) -> Result<()> {
        check_name(name)?;
        self.params.push((encode(name), encode(value)));
        Ok(())
    }

    /// `field` with an optional value prefix (`gt`, `le`, ...) or modifier (`:exact`,
    /// `:missing`, ...): `where("birthdate", "gt", "2000")` → `birthdate=gt2000`,
    /// `where("name", ":exact", "Eve")` → `name:exact=Eve`.
    pub fn where_(&mut self, field: &str, op: Option<&str>, value: &str) -> Result<()> {
        check_name(field)?;
        match op.map(str::trim).filter(|o| !o.is_empty()) {
            None => self.params.push((encode(field), encode(value))),
            Some(m) if m.starts_with(':') => {
                let modifier = &m[1..];
                if modifier.is_empty()
                    || !modifier
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    return Err(Error::invalid(format!("'{m}' is not a search modifier")));
                }
                self.params
                    .push((format!("{}:{}", encode(field), modifier), encode(value)));
            }
            Some(p) if VALUE_PREFIXES.contains(&p) => self
                .params
                .push((encode(field), format!("{p}{}", encode(value)))),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "'{other}' is neither a value prefix ({}) nor a modifier starting with ':'",
                    VALUE_PREFIXES.join(", ")
                )))
            }
        }
        Ok(())
    }

    pub fn include(&mut self, target: &str, iterate: bool) -> Result<()> {
        self.param(
            if iterate {
                "_include:iterate"
            } else {
                "_include"
            },
            target,
        )
    }

    pub fn revinclude(&mut self, target: &str, iterate: bool) -> Result<()> {
        self.param(
            if iterate {
                "_revinclude:iterate"
            } else {
                "_revinclude"
            },
            target,
        )
    }

    /// `_has:Observation:patient:code=1234-5`: `chain` is `Observation:patient:code`.
    pub fn has(&mut self, chain: &str, value: &str) -> Result<()> {
        check_name(chain)?;
        self.params
            .push((format!("_has:{}", encode(chain)), encode(value)));
        Ok(())
    }

    pub fn sort(&mut self, fields: &str) -> Result<()> {
        self.param("_sort", fields)
    }

    pub fn elements(&mut self, fields: &str) -> Result<()> {
        self.param("_elements", fields)
    }

    pub fn summary(&mut self, mode: &str) -> Result<()> {
        if !["true", "false", "text", "data", "count"].contains(&mode) {
            return Err(Error::invalid(format!(
                "_summary '{mode}' is not true, false, text, data or count"
            )));
        }
        self.param("_summary", mode)
    }

    pub fn page_size(&mut self, n: u32) -> Result<()> {
        self.params.retain(|(k, _)| k != "_count");
        self.param("_count", &n.to_string())
    }

    /// `Type?name=value&...` (or `Type` with no parameters).
    pub fn build(&self) -> String {
        let mut s = self.resource_type.clone();
        for (i, (k, v)) in self.params.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

/// Replace (or add) parameter `name` in a query string of the form `path?a=b&c=d`.
pub fn set_param(query: &str, name: &str, value: &str) -> String {
    let (path, qs) = query.split_once('?').unwrap_or((query, ""));
    let mut parts: Vec<String> = qs
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    parts.push(format!("{name}={}", encode(value)));
    format!("{path}?{}", parts.join("&"))
}

/// Remove parameter `name` from a query string.
pub fn remove_param(query: &str, name: &str) -> String {
    let (path, qs) = match query.split_once('?') {
        Some(x) => x,
        None => return query.to_owned(),
    };
    let parts: Vec<&str> = qs
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .collect();
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

/// Whether the query string has parameter `name`.
pub fn has_param(query: &str, name: &str) -> bool {
    query
        .split_once('?')
        .is_some_and(|(_, qs)| qs.split('&').any(|p| p.split('=').next() == Some(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_plus_pipe_and_spaces_but_keeps_commas() {
        assert_eq!(
            encode("2020-01-01T00:00:00+01:00"),
            "2020-01-01T00:00:00%2B01:00"
        );
        assert_eq!(
            encode("http://loinc.org|8867-4"),
            "http://loinc.org%7C8867-4"
        );
        assert_eq!(encode("van der Berg"), "van%20der%20Berg");
        assert_eq!(encode("a,b"), "a,b");
        assert_eq!(encode("a&b=c#d"), "a%26b%3Dc%23d");
        assert_eq!(encode("Müller"), "M%C3%BCller");
    }

    #[test]
    fn builds_a_full_query() {
        let mut q = Query::new("Patient").unwrap();
        q.where_("birthdate", Some("gt"), "2000-01-01T00:00:00+01:00")
            .unwrap();
        q.where_("name", Some(":exact"), "Eve Smith").unwrap();
        q.where_("identifier", None, "urn:sys|123").unwrap();
        q.include("Patient:general-practitioner", false).unwrap();
        q.revinclude("Observation:subject", true).unwrap();
        q.has("Observation:patient:code", "http://loinc.org|8867-4")
            .unwrap();
        q.sort("-birthdate,name").unwrap();
        q.elements("id,name").unwrap();
        q.summary("data").unwrap();
        q.page_size(50).unwrap();
        assert_eq!(
            q.build(),
            "Patient?birthdate=gt2000-01-01T00:00:00%2B01:00&name:exact=Eve%20Smith&identifier=urn:sys%7C123\
             &_include=Patient:general-practitioner&_revinclude:iterate=Observation:subject\
             &_has:Observation:patient:code=http://loinc.org%7C8867-4&_sort=-birthdate,name&_elements=id,name\
             &_summary=data&_count=50"
        );
    }

    #[test]
    fn refuses_bad_parts() {
        assert!(Query::new("patient").is_err());
        let mut q = Query::new("Patient").unwrap();
        assert!(q.where_("birthdate", Some("after"), "2000").is_err());
        assert!(q.where_("name", Some(":ex act"), "x").is_err());
        assert!(q.where_("na&me", None, "x").is_err());
        assert!(q.summary("everything").is_err());
        assert_eq!(q.build(), "Patient");
    }

    #[test]
    fn edits_query_strings() {
        assert_eq!(
            set_param("Patient?_count=5&name=x", "_count", "10"),
            "Patient?name=x&_count=10"
        );
        assert_eq!(
            set_param("Patient", "_summary", "count"),
            "Patient?_summary=count"
        );
        assert_eq!(
            remove_param("Patient?_count=5&name=x", "_count"),
            "Patient?name=x"
        );
        assert_eq!(remove_param("Patient?_count=5", "_count"), "Patient");
        assert!(has_param("Patient?a=1&_count=2", "_count"));
        assert!(!has_param("Patient?_counts=2", "_count"));
    }
}
