//! Parameter summaries: what an audit record says about a request's parameters. Secrets are
//! redacted (by key name, at any depth, and by value for relais token secrets), long strings and
//! lists are cut, and the whole summary is capped at [`Params::MAX_BYTES`] of JSON.
//!
//! [`Params::summarise`] is the only public constructor, so a record cannot carry unredacted
//! parameters.

use serde_json::{Map, Value};

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

/// Key fragments that mark a secret (compared on the lower-cased key without `_`, `-` and `.`).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "cookie",
    "sessionid",
    "signature",
];

const MAX_STRING: usize = 200;
const MAX_ITEMS: usize = 20;
const MAX_KEYS: usize = 50;
const MAX_DEPTH: usize = 6;

/// A redacted parameter summary, kept as the JSON text that is stored and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params(String);

impl Params {
    /// Largest summary, in bytes of JSON; a larger one is replaced by its size and top-level keys.
    pub const MAX_BYTES: usize = 4096;

    /// No parameters: `{}`.
    pub fn empty() -> Self {
        Params("{}".into())
    }

    /// Redacts secrets in `value`, cuts what is long, and caps the result.
    pub fn summarise(mut value: Value) -> Self {
        redact(&mut value);
        let mut value = shorten(value, 0);
        let mut text = value.to_string();
        if text.len() > Self::MAX_BYTES {
            let keys: Vec<Value> = match &value {
                Value::Object(map) => map
                    .keys()
                    .take(MAX_KEYS)
                    .map(|k| Value::from(cut(k, 64)))
                    .collect(),
                _ => Vec::new(),
            };
            value = serde_json::json!({ "truncated": true, "bytes": text.len(), "keys": keys });
            text = value.to_string();
        }
        Params(text)
    }

    /// The JSON text, as stored and hashed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The summary as a JSON value (`Null` if the stored text is not JSON, which only a tampered
    /// row would have).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// A summary read back from storage, kept byte for byte (its hash covers these bytes).
    pub(crate) fn stored(text: String) -> Self {
        Params(text)
    }
}

/// Whether a key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// Whether a string value is a secret by its shape: a relais token or a bearer credential.
fn is_secret_value(s: &str) -> bool {
    (s.starts_with("relais_") && s.len() >= 40)
        || s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
        || s.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("basic "))
}

/// Replaces, at any depth, the value of every secret key and every secret-looking string.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::from(REDACTED);
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(s) if is_secret_value(s) => *value = Value::from(REDACTED),
        _ => {}
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn shorten(value: Value, depth: usize) -> Value {
    match value {
        Value::String(s) => Value::from(cut(&s, MAX_STRING)),
        Value::Array(items) if depth >= MAX_DEPTH => {
            Value::from(format!("[{} items]", items.len()))
        }
        Value::Object(map) if depth >= MAX_DEPTH => Value::from(format!("{{{} keys}}", map.len())),
        Value::Array(items) => {
            let n = items.len();
            let mut out: Vec<Value> = items
                .into_iter()
                .take(MAX_ITEMS)
                .map(|v| shorten(v, depth + 1))
                .collect();
            if n > MAX_ITEMS {
                out.push(Value::from(format!("… {} more", n - MAX_ITEMS)));
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let n = map.len();
            let mut out = Map::new();
            for (k, v) in map.into_iter().take(MAX_KEYS) {
                out.insert(cut(&k, 64), shorten(v, depth + 1));
            }
            if n > MAX_KEYS {
                out.insert(
                    "…".into(),
                    Value::from(format!("{} more keys", n - MAX_KEYS)),
                );
            }
            Value::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let p = Params::summarise(json!({
            "name": "ci",
            "password": "hunter2",
            "nested": {"API-Key": "k1", "list": [{"client_secret": "s"}, {"Authorization": "x"}]},
            "accessToken": "t",
            "note": "relais_0123456789abcdef0123456789abcdef0123456789",
            "header": "Bearer abc",
            "empty_token": null,
        }));
        let v = p.to_value();
        assert_eq!(v["name"], "ci");
        assert_eq!(v["password"], REDACTED);
        assert_eq!(v["nested"]["API-Key"], REDACTED);
        assert_eq!(v["nested"]["list"][0]["client_secret"], REDACTED);
        assert_eq!(v["nested"]["list"][1]["Authorization"], REDACTED);
        assert_eq!(v["accessToken"], REDACTED);
        assert_eq!(v["note"], REDACTED);
        assert_eq!(v["header"], REDACTED);
        assert!(
            v["empty_token"].is_null(),
            "an absent secret stays visibly absent"
        );
        for secret in ["hunter2", "k1", "\"s\"", "abc", "0123456789abcdef"] {
            assert!(
                !p.as_str().contains(secret),
                "{secret} leaked: {}",
                p.as_str()
            );
        }
        assert!(
            is_secret_key("X-Api-Key") && !is_secret_key("unique_key") && !is_secret_key("author")
        );
    }

    #[test]
    fn long_values_are_cut_and_the_summary_is_capped() {
        let p =
            Params::summarise(json!({"s": "x".repeat(1000), "list": (0..100).collect::<Vec<_>>()}));
        let v = p.to_value();
        assert!(v["s"].as_str().unwrap().ends_with("(1000 bytes)"));
        assert_eq!(v["list"].as_array().unwrap().len(), MAX_ITEMS + 1);
        let wide: Map<String, Value> = (0..40)
            .map(|i| (format!("field{i}"), Value::from("y".repeat(190))))
            .collect();
        let p = Params::summarise(Value::Object(wide));
        assert!(p.as_str().len() <= Params::MAX_BYTES);
        let v = p.to_value();
        assert_eq!(v["truncated"], true);
        assert!(v["bytes"].as_u64().unwrap() > Params::MAX_BYTES as u64);
        assert_eq!(v["keys"].as_array().unwrap().len(), 40);
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": [1, 2]}}}}}}});
        assert_eq!(
            Params::summarise(deep).to_value()["a"]["b"]["c"]["d"]["e"]["f"],
            "{1 keys}"
        );
    }
}
