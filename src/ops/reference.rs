//! Resource references `Type/id` and `Type/id/_history/vid`, validated before use in a URL.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub resource_type: String,
    pub id: String,
    pub version: Option<String>,
}

pub fn valid_type(t: &str) -> bool {
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// FHIR ids: 1–64 of `A-Z a-z 0-9 - .`
pub fn valid_id(id: &str) -> bool {
    // Not only dots: `.` and `..` would be read as path segments and change the request's target.
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !id.bytes().all(|b| b == b'.')
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        let s = s.trim().trim_start_matches('/');
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::invalid(format!(
                "'{s}' is not a reference of the form Type/id or Type/id/_history/version"
            ))
        };
        let (t, id, version) = match parts.as_slice() {
            [t, id] => (*t, *id, None),
            [t, id, "_history", v] => (*t, *id, Some(*v)),
            _ => return Err(bad()),
        };
        if !valid_type(t) || !valid_id(id) || version.is_some_and(|v| !valid_id(v)) {
            return Err(bad());
        }
        Ok(Reference {
            resource_type: t.to_owned(),
            id: id.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// `Type/id` (without version).
    pub fn path(&self) -> String {
        format!("{}/{}", self.resource_type, self.id)
    }

    /// `Type/id` or `Type/id/_history/vid`.
    pub fn full_path(&self) -> String {
        match &self.version {
            Some(v) => format!("{}/{}/_history/{v}", self.resource_type, self.id),
            None => self.path(),
        }
    }
}

/// `Type/id` from a `Location` header or `response.location` such as
/// `http://host/fhir/Patient/12/_history/1`.
pub fn from_location(location: &str) -> Option<Reference> {
    let path = location.split(['?', '#']).next()?;
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let n = segs.len();
    if n >= 4 && segs[n - 2] == "_history" && valid_type(segs[n - 4]) && valid_id(segs[n - 3]) {
        return Some(Reference {
            resource_type: segs[n - 4].to_owned(),
            id: segs[n - 3].to_owned(),
            version: Some(segs[n - 1].to_owned()),
        });
    }
    if n >= 2 && valid_type(segs[n - 2]) && valid_id(segs[n - 1]) {
        return Some(Reference {
            resource_type: segs[n - 2].to_owned(),
            id: segs[n - 1].to_owned(),
            version: None,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_versioned() {
        let r = Reference::parse("Patient/abc-1.2").unwrap();
        assert_eq!(
            (r.resource_type.as_str(), r.id.as_str(), r.version),
            ("Patient", "abc-1.2", None)
        );
        let r = Reference::parse("Observation/9/_history/3").unwrap();
        assert_eq!(r.full_path(), "Observation/9/_history/3");
        assert_eq!(r.path(), "Observation/9");
    }

    #[test]
    fn refuses_what_would_break_the_url() {
        for bad in [
            "",
            "Patient",
            "patient/1",
            "Patient/",
            "Patient/a b",
            "Patient/1?x=1",
            "Patient/1/_history",
            "Patient/../x",
            "Patient/1/x/2",
            "Patient/.",
            "Patient/..",
            "Patient/1/_history/..",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_locations() {
        let r = from_location("http://h/fhir/Patient/12/_history/1").unwrap();
        assert_eq!(
            (r.path(), r.version.as_deref()),
            ("Patient/12".to_owned(), Some("1"))
        );
        assert_eq!(from_location("Patient/7").unwrap().path(), "Patient/7");
        assert!(from_location("http://h/fhir/").is_none());
    }
}
