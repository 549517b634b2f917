//! Single-resource operations: read (plain and versioned), create (plain and conditional),
//! update (plain, with version check, conditional), delete (by reference, by query), history,
//! and `$operations`.

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue, IF_MATCH};
use reqwest::Method;

use crate::error::{Error, Result};
use crate::ops::bundle::type_and_id;
use crate::ops::reference::{from_location, valid_id, valid_type, Reference};
use crate::server::{validate_json, FhirServer};
use crate::transport::{Request, Response};

const PREFER: HeaderName = HeaderName::from_static("prefer");
const IF_NONE_EXIST: HeaderName = HeaderName::from_static("if-none-exist");

fn return_representation() -> HeaderValue {
    HeaderValue::from_static("return=representation")
}

/// Whether a create/update answer carries the resource itself (not empty, not an OperationOutcome).
fn carries_resource(resp: &Response, resource_type: &str) -> bool {
    !resp.body.is_empty() && type_and_id(&resp.body).is_ok_and(|(t, _)| t == resource_type)
}

/// The search part of a conditional URL: `Patient?identifier=x` or `identifier=x` → `Patient?identifier=x`.
fn conditional_path(resource_type: &str, query: &str) -> Result<String> {
    let query = query.trim();
    let params = match query.split_once('?') {
        Some((t, p)) => {
            if !t.is_empty() && t != resource_type {
                return Err(Error::invalid(format!(
                    "the condition is for {t} but the resource is a {resource_type}"
                )));
            }
            p
        }
        None => query,
    };
    let pairs: Vec<&str> = params.split('&').filter(|p| !p.is_empty()).collect();
    let well_formed = !pairs.is_empty()
        && pairs
            .iter()
            .all(|p| p.split_once('=').is_some_and(|(name, _)| !name.is_empty()));
    if !well_formed
        || params
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(Error::invalid(
            "a condition needs search parameters name=value, percent-encoded (e.g. identifier=http://sys%7C123; '#' as %23)",
        ));
    }
    Ok(format!("{resource_type}?{params}"))
}

impl FhirServer {
    /// `GET Type/id` or `GET Type/id/_history/vid`.
    pub async fn read(&self, reference: &str) -> Result<Vec<u8>> {
        let r = Reference::parse(reference)?;
        let resp = self
            .send_ok(Request::new(Method::GET, self.resolve(&r.full_path())?))
            .await?;
        validate_json(&resp.body)?;
        Ok(resp.body)
    }

    /// The resource a create or update answered with, or else the one at `Location`.
    async fn representation(
        &self,
        resp: Response,
        resource_type: &str,
        fallback: Option<Reference>,
    ) -> Result<Vec<u8>> {
        if carries_resource(&resp, resource_type) {
            return Ok(resp.body);
        }
        let located = resp
            .header_str("location")
            .or_else(|| resp.header_str("content-location"))
            .and_then(from_location)
            .or(fallback)
            .ok_or_else(|| {
                Error::protocol("the server returned neither the resource nor a Location header")
            })?;
        match self.read(&located.full_path()).await {
            Ok(body) => Ok(body),
            // The write is committed: reporting a failure would make callers write it again.
            // Hand back what the server said about it instead.
            Err(_) => Ok(minimal_resource(&located).into_bytes()),
        }
    }

    /// POST a resource; the created resource (with id and version) comes back. With
    /// `if_none_exist` (search parameters, e.g. `identifier=sys%7C1`) the server creates it only
    /// when nothing matches, and answers with the existing one otherwise.
    pub async fn create(&self, resource: &[u8], if_none_exist: Option<&str>) -> Result<Vec<u8>> {
        let (rtype, _) = type_and_id(resource)?;
        let mut req = Request::new(Method::POST, self.resolve(&rtype)?)
            .body(Bytes::copy_from_slice(resource))
            .header(PREFER, return_representation());
        if let Some(cond) = if_none_exist {
            let path = conditional_path(&rtype, cond)?;
            let params = path.split_once('?').map(|(_, p)| p).unwrap_or("");
            req = req.header(
                IF_NONE_EXIST,
                HeaderValue::from_str(params)
                    .map_err(|_| Error::invalid("the condition is not a valid header value"))?,
            );
        }
        let resp = self.send_ok(req).await?;
        self.representation(resp, &rtype, None).await
    }

    /// PUT a resource by its id. `if_match` is a version id ("3") or an ETag (`W/"3"`): the
    /// update happens only if the current version matches (a `Conflict` error otherwise).
    pub async fn update(&self, resource: &[u8], if_match: Option<&str>) -> Result<Vec<u8>> {
        let (rtype, id) = type_and_id(resource)?;
        let id = id.filter(|i| valid_id(i)).ok_or_else(|| {
            Error::invalid(
                "the resource has no valid id: an update needs one (or use a conditional update)",
            )
        })?;
        let path = format!("{rtype}/{id}");
        let mut req = Request::new(Method::PUT, self.resolve(&path)?)
            .body(Bytes::copy_from_slice(resource))
            .header(PREFER, return_representation());
        if let Some(v) = if_match.map(str::trim).filter(|v| !v.is_empty()) {
            let etag = if v.starts_with("W/") || v.starts_with('"') {
                v.to_owned()
            } else {
                format!("W/\"{v}\"")
            };
            req = req.header(
                IF_MATCH,
                HeaderValue::from_str(&etag)
                    .map_err(|_| Error::invalid("if_match is not a valid header value"))?,
            );
        }
        let resp = self.send_ok(req).await?;
        self.representation(resp, &rtype, Reference::parse(&path).ok())
            .await
    }

    /// PUT `Type?condition`: update the one resource matching the condition, or create it.
    pub async fn update_conditional(&self, resource: &[u8], condition: &str) -> Result<Vec<u8>> {
        let (rtype, _) = type_and_id(resource)?;
        let path = conditional_path(&rtype, condition)?;
        let req = Request::new(Method::PUT, self.resolve(&path)?)
            .body(Bytes::copy_from_slice(resource))
            .header(PREFER, return_representation());
        let resp = self.send_ok(req).await?;
        self.representation(resp, &rtype, None).await
    }

    /// DELETE `Type/id`. Returns the server's answer body (often an OperationOutcome, may be empty).
    pub async fn delete(&self, reference: &str) -> Result<Vec<u8>> {
        let r = Reference::parse(reference)?;
        if r.version.is_some() {
            return Err(Error::invalid("delete takes Type/id, not a version"));
        }
        Ok(self
            .send_ok(Request::new(Method::DELETE, self.resolve(&r.path())?))
            .await?
            .body)
    }

    /// Conditional delete: `DELETE Type?params`. Parameters are required (deleting a whole type
    /// by accident is refused).
    pub async fn delete_by_query(&self, query: &str) -> Result<Vec<u8>> {
        let (t, params) = query
            .trim()
            .split_once('?')
            .ok_or_else(|| Error::invalid("a delete by query needs the form Type?params"))?;
        if !valid_type(t) {
            return Err(Error::invalid(format!("'{t}' is not a resource type")));
        }
        let path = conditional_path(t, params)?;
        Ok(self
            .send_ok(Request::new(Method::DELETE, self.resolve(&path)?))
            .await?
            .body)
    }

    /// History of the server (`target` empty), a type (`Patient`) or a resource (`Patient/1`): one
    /// `history` Bundle of every page, or of at most `limit` entries when `limit` > 0.
    pub async fn history(&self, target: &str, limit: u64) -> Result<Vec<u8>> {
        let path = history_path(target)?;
        self.collect_pages(&path, (limit > 0).then_some(limit), "history")
            .await
    }

    /// Run `$name` on the system (`target` empty), a type or an instance. `name` may carry a
    /// query (`$everything?_count=50`). GET sends no body; POST sends `parameters` (a Parameters
    /// resource; an empty one if NULL). Returns the answer body.
    pub async fn operation(
        &self,
        target: &str,
        name: &str,
        method: &str,
        parameters: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let target = target.trim().trim_matches('/');
        if !target.is_empty() && !valid_type(target) {
            Reference::parse(target)?;
        }
        let name = name.trim().trim_start_matches('$');
        let (op, query) = name.split_once('?').unwrap_or((name, ""));
        if op.is_empty()
            || !op
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(Error::invalid(format!("'{op}' is not an operation name")));
        }
        let mut path = if target.is_empty() {
            format!("${op}")
        } else {
            format!("{target}/${op}")
        };
        if !query.is_empty() {
            path.push('?');
            path.push_str(query);
        }
        let method = crate::server::parse_method(method)?;
        let mut req = Request::new(method.clone(), self.resolve(&path)?);
        if method == Method::POST {
            let body = match parameters {
                Some(p) => {
                    validate_json(p)?;
                    Bytes::copy_from_slice(p)
                }
                None => Bytes::from_static(br#"{"resourceType":"Parameters"}"#),
            };
            req = req.body(body);
        } else if parameters.is_some() {
            return Err(Error::invalid(
                "parameters are sent only with POST; for GET put them in the query",
            ));
        }
        Ok(self.send_ok(req).await?.body)
    }
}

/// `{"resourceType":T,"id":id,"meta":{"versionId":v}}` for a written resource that could not be
/// read back (for example with a create-only scope).
fn minimal_resource(r: &Reference) -> String {
    let mut out = format!(
        "{{\"resourceType\":{},\"id\":{}",
        crate::ops::bundle::json_str(&r.resource_type),
        crate::ops::bundle::json_str(&r.id)
    );
    if let Some(v) = &r.version {
        out.push_str(&format!(
            ",\"meta\":{{\"versionId\":{}}}",
            crate::ops::bundle::json_str(v)
        ));
    }
    out.push('}');
    out
}

fn history_path(target: &str) -> Result<String> {
    let t = target.trim().trim_matches('/');
    if t.is_empty() {
        return Ok("_history".to_owned());
    }
    if valid_type(t) {
        return Ok(format!("{t}/_history"));
    }
    let r = Reference::parse(t)?;
    if r.version.is_some() {
        return Err(Error::invalid("history takes a server, a type or Type/id"));
    }
    Ok(format!("{}/_history", r.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_normalised_and_checked() {
        assert_eq!(
            conditional_path("Patient", "identifier=a%7Cb").unwrap(),
            "Patient?identifier=a%7Cb"
        );
        assert_eq!(
            conditional_path("Patient", "Patient?identifier=x").unwrap(),
            "Patient?identifier=x"
        );
        assert_eq!(
            conditional_path("Patient", "?identifier=x").unwrap(),
            "Patient?identifier=x"
        );
        assert!(conditional_path("Patient", "Observation?code=x").is_err());
        assert!(conditional_path("Patient", "").is_err());
        assert!(conditional_path("Patient", "name=a b").is_err());
        assert!(conditional_path("Patient", "identifier=abc#1&active=false").is_err());
        assert!(conditional_path("Patient", "&").is_err());
        assert!(conditional_path("Patient", "=x").is_err());
        assert!(conditional_path("Patient", "identifier").is_err());
    }

    #[test]
    fn history_targets() {
        assert_eq!(history_path("").unwrap(), "_history");
        assert_eq!(history_path("Patient").unwrap(), "Patient/_history");
        assert_eq!(history_path("Patient/1").unwrap(), "Patient/1/_history");
        assert!(history_path("Patient/1/_history/2").is_err());
        assert!(history_path("pat ient").is_err());
    }
}
