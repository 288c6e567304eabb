//! Every registered channel reports every secret its config holds: a value that the config
//! hides when serialized (a `Secret`, a `SecretUrl`'s password) must be in its `secrets()`,
//! so CLI output, error text and logs redact it. The test knows no channel by name.

use super::{KINDS, ReceiverConfig, secrets};
use crate::notify::channel::redact;
use toml::Value;

/// A value that parses as a URL with a password, so `SecretUrl` fields hide part of it.
fn marker(n: usize) -> String {
    format!("https://user{n}:pw-secret-{n}@host{n}.invalid/token-secret-{n}")
}

/// Paths (keys from the entry's table) of every string leaf, and of every empty table (a
/// free-form map, where one key is added).
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::String(_) => out.push(path.clone()),
        Value::Table(t) if t.is_empty() => {
            path.push("X-Probe".into());
            out.push(path.clone());
            path.pop();
        }
        Value::Table(t) => {
            for (k, v) in t {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn set(v: &mut Value, path: &[String], to: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = v;
    for p in parents {
        cur = cur.get_mut(p.as_str()).expect("path exists");
    }
    cur.as_table_mut().expect("table").insert(last.clone(), to);
}

fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, p| v.get(p.as_str()))
}

#[test]
fn every_registered_channel_reports_every_secret_it_holds() {
    assert!(KINDS.len() >= 5, "the five channels are registered");
    for kind in KINDS {
        let text = format!("name = \"r\"\n{} = [{{}}]\n", kind.name);
        let receiver: ReceiverConfig = toml::from_str(&text).expect("a default entry deserializes");
        let entry = Value::try_from(&receiver).unwrap()[kind.name][0].clone();
        let mut paths = Vec::new();
        leaves(&entry, &mut Vec::new(), &mut paths);
        let mut hidden = 0;
        for (n, path) in paths.iter().enumerate() {
            let value = marker(n);
            let mut probe = entry.clone();
            set(&mut probe, path, Value::String(value.clone()));
            let mut whole = Value::try_from(&receiver).unwrap();
            whole[kind.name] = Value::Array(vec![probe]);
            // Fields that are not free text (enums, addresses) refuse the marker: skip them.
            let Ok(r) = whole.try_into::<ReceiverConfig>() else { continue };
            let shown = Value::try_from(&r).unwrap()[kind.name][0].clone();
            if get(&shown, path).and_then(Value::as_str) == Some(value.as_str()) {
                continue; // printed as is: not a secret
            }
            hidden += 1;
            let redacted =
                redact(&value, &secrets(std::slice::from_ref(&r)).iter().map(String::as_str).collect::<Vec<_>>());
            let secret_part = if get(&shown, path).and_then(Value::as_str).is_some_and(|s| s.contains("token-secret")) {
                format!("pw-secret-{n}")
            } else {
                format!("secret-{n}")
            };
            assert!(
                !redacted.contains(&secret_part),
                "{}.{}: the config hides it, but secrets() does not report it (redacted: {redacted})",
                kind.name,
                path.join(".")
            );
        }
        assert!(hidden > 0, "{}: no secret field found; a channel's credentials must be typed as secrets", kind.name);
    }
}
