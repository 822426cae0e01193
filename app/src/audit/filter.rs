//! The viewer's filters as they live in the URL, so a view can be shared. Raw text here;
//! the server parses it into typed conditions (`query::Filter`) and refuses what it can't
//! read with a message per field.
use crate::ui::urlencode;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterParams {
    /// Part of the actor's email (or `api-key:…`, `system@atrium`).
    pub actor: String,
    /// An action from the catalogue, or a group such as `api_key.*`.
    pub action: String,
    pub resource: String,
    pub resource_id: String,
    pub severity: String,
    /// Days, `YYYY-MM-DD`, inclusive, in UTC.
    pub from: String,
    pub to: String,
    /// A company's slug; only across companies.
    pub company: String,
}

impl FilterParams {
    pub const KEYS: [&'static str; 8] =
        ["actor", "action", "resource", "resource_id", "severity", "from", "to", "company"];

    pub fn get(&self, key: &str) -> &str {
        match key {
            "actor" => &self.actor,
            "action" => &self.action,
            "resource" => &self.resource,
            "resource_id" => &self.resource_id,
            "severity" => &self.severity,
            "from" => &self.from,
            "to" => &self.to,
            "company" => &self.company,
            _ => "",
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "actor" => &mut self.actor,
            "action" => &mut self.action,
            "resource" => &mut self.resource,
            "resource_id" => &mut self.resource_id,
            "severity" => &mut self.severity,
            "from" => &mut self.from,
            "to" => &mut self.to,
            "company" => &mut self.company,
            _ => return None,
        })
    }

    /// From any `(key, value)` pairs, such as a URL's query; unknown keys are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut p = FilterParams::default();
        for (k, v) in pairs {
            if let Some(slot) = p.slot(k) {
                *slot = v.trim().to_string();
            }
        }
        p
    }

    pub fn is_empty(&self) -> bool {
        Self::KEYS.iter().all(|k| self.get(k).is_empty())
    }

    /// `actor=…&action=…`, the non-empty filters only, ready to follow a `?`.
    pub fn to_query(&self) -> String {
        Self::KEYS
            .iter()
            .filter(|k| !self.get(k).is_empty())
            .map(|k| format!("{k}={}", urlencode(self.get(k))))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The filters plus more pairs (a cursor, an open row), as a `?…` suffix or "".
    pub fn href(&self, base: &str, extra: &[(&str, &str)]) -> String {
        let mut parts = vec![self.to_query()];
        parts.extend(extra.iter().map(|(k, v)| format!("{k}={}", urlencode(v))));
        let q = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("&");
        if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_query_string() {
        let p = FilterParams::from_pairs([("actor", " ann@x.io "), ("action", "api_key.*"), ("page", "2")]);
        assert_eq!(p.actor, "ann@x.io");
        assert_eq!(p.to_query(), "actor=ann%40x.io&action=api_key.%2A");
        assert_eq!(p.href("/t/a/audit", &[("entry", "7")]), "/t/a/audit?actor=ann%40x.io&action=api_key.%2A&entry=7");
        assert_eq!(FilterParams::default().href("/x", &[]), "/x");
    }
}
