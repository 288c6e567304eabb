//! *Message templates* and *runbooks*. Every message is rendered by handlebars from the
//! templates in `templates/notify/` (compiled into the binary), each replaceable by a file of
//! the same name in `notify.templates_dir`. Templates run in strict mode and are all rendered
//! against a sample notification at start-up, so a misspelt field fails at load, not at 3 a.m.
//! Runbooks are the Markdown files in `notify.runbooks_dir`; a message quotes the first steps
//! of an alert's runbook ("Check first").

use super::model::{AlertData, AlertExtra, AlertStatus, Map, Notification, ZERO_TIME};
use handlebars::{Handlebars, handlebars_helper};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

crate::error::message_error! {
    /// A notification template that does not load or render.
    pub(crate) TemplateError
}

/// How a template's output is escaped.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Escape {
    /// HTML (Telegram's HTML mode, email HTML part).
    Html,
    /// Slack mrkdwn: `&`, `<`, `>`.
    Slack,
    /// None (plain text, subjects, JSON bodies with the `json` helper).
    Text,
}

/// Built-in templates: name, escaping, text.
const BUILTIN: &[(&str, Escape, &str)] = &[
    ("slack.firing", Escape::Slack, include_str!("../../templates/notify/slack.firing.hbs")),
    ("slack.resolved", Escape::Slack, include_str!("../../templates/notify/slack.resolved.hbs")),
    ("telegram.firing", Escape::Html, include_str!("../../templates/notify/telegram.firing.hbs")),
    ("telegram.resolved", Escape::Html, include_str!("../../templates/notify/telegram.resolved.hbs")),
    ("email.subject", Escape::Text, include_str!("../../templates/notify/email.subject.hbs")),
    ("email.firing", Escape::Html, include_str!("../../templates/notify/email.firing.hbs")),
    ("email.resolved", Escape::Html, include_str!("../../templates/notify/email.resolved.hbs")),
    ("email.text", Escape::Text, include_str!("../../templates/notify/email.text.hbs")),
];

/// The names of every built-in template (files are `<name>.hbs`).
#[cfg(test)]
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _, _)| *n)
}

handlebars_helper!(json_helper: |v: Value| serde_json::to_string(&v).unwrap_or_default());
handlebars_helper!(upper: |s: str| s.to_uppercase());

fn registry(esc: Escape) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    h.register_helper("json", Box::new(json_helper));
    h.register_helper("upper", Box::new(upper));
    match esc {
        Escape::Html => h.register_escape_fn(handlebars::html_escape),
        Escape::Slack => h.register_escape_fn(|s| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")),
        Escape::Text => h.register_escape_fn(handlebars::no_escape),
    }
    h
}

/// The compiled templates.
pub struct Templates {
    regs: Vec<(Escape, Handlebars<'static>)>,
    which: HashMap<String, Escape>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({:?})", self.which.keys().collect::<Vec<_>>())
    }
}

impl Templates {
    /// Built-in templates, each replaced by `<dir>/<name>.hbs` when that exists, plus `extra`
    /// (name → file) for webhook bodies. Every template is compiled and rendered against a
    /// sample notification; errors name the file.
    pub(crate) fn load(dir: Option<&Path>, extra: &[(String, std::path::PathBuf)]) -> Result<Templates, TemplateError> {
        let mut t = Templates {
            regs: [Escape::Html, Escape::Slack, Escape::Text].into_iter().map(|e| (e, registry(e))).collect(),
            which: HashMap::new(),
        };
        for (name, esc, text) in BUILTIN {
            let file = dir.map(|d| d.join(format!("{name}.hbs"))).filter(|p| p.exists());
            let (src, origin) = match &file {
                Some(p) => {
                    (std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?, p.display().to_string())
                }
                None => (text.to_string(), format!("templates/notify/{name}.hbs (built in)")),
            };
            t.add(name, *esc, &src, &origin)?;
        }
        for (name, path) in extra {
            let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            t.add(name, Escape::Text, &src, &path.display().to_string())?;
        }
        Ok(t)
    }

    fn add(&mut self, name: &str, esc: Escape, src: &str, origin: &str) -> Result<(), TemplateError> {
        let reg = &mut self.regs.iter_mut().find(|(e, _)| *e == esc).expect("registry").1;
        reg.register_template_string(name, src).map_err(|e| format!("{origin}: {e}"))?;
        self.which.insert(name.to_string(), esc);
        for n in [sample("firing"), sample("resolved")] {
            let ctx = context(&n);
            reg.render(name, &ctx).map_err(|e| format!("{origin}: {e}"))?;
        }
        Ok(())
    }

    /// Renders template `name` for `n`.
    pub(crate) fn render(&self, name: &str, n: &Notification) -> Result<String, TemplateError> {
        let esc = self.which.get(name).ok_or_else(|| format!("no template {name:?}"))?;
        let reg = &self.regs.iter().find(|(e, _)| e == esc).expect("registry").1;
        reg.render(name, &context(n)).map_err(|e| TemplateError(format!("template {name}: {e}")))
    }
}

/// What templates see: the notification's fields (camelCase, as in the webhook payload), plus
/// `flapping`, `summaryOfStorm`, `firing`/`resolved` (the alerts split by status) and per
/// alert `sidewatch.summary` (the `summary` annotation, else `description`, else the name).
pub(crate) fn context(n: &Notification) -> Value {
    let mut v = serde_json::to_value(n).unwrap_or_default();
    let kind = n.sidewatch_kind.clone().unwrap_or_default();
    let obj = v.as_object_mut().expect("object");
    obj.insert("flapping".into(), json!(kind == "flapping"));
    obj.insert("summaryOfStorm".into(), json!(kind == "summary"));
    obj.remove("sidewatchKind");
    let alerts = obj.get_mut("alerts").and_then(|a| a.as_array_mut()).expect("alerts");
    for (a, src) in alerts.iter_mut().zip(&n.alerts) {
        let summary = src
            .annotations
            .get("summary")
            .or_else(|| src.annotations.get("description"))
            .or_else(|| src.labels.get("alertname"))
            .cloned()
            .unwrap_or_default();
        let extra =
            a.as_object_mut().expect("alert").entry("sidewatch").or_insert_with(|| json!(AlertExtra::default()));
        extra.as_object_mut().map(|o| o.insert("summary".into(), json!(summary)));
    }
    let split = |st: &str| -> Value { Value::Array(alerts.iter().filter(|a| a["status"] == st).cloned().collect()) };
    let (f, r) = (split("firing"), split("resolved"));
    obj.insert("firing".into(), f);
    obj.insert("resolved".into(), r);
    v
}

/// A notification with every field filled, for checking templates and for `notify test`.
pub fn sample(status: &str) -> Notification {
    let labels: Map = [("alertname", "SidewatchTest"), ("severity", "warning"), ("instance", "localhost:9465")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let annotations: Map = [
        ("summary", "Test notification from sidewatch"),
        ("description", "Sent by `sidewatch notify test`; nothing is wrong."),
        ("runbook_url", "docs/runbooks/SidewatchTest.md"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let now = chrono::Utc::now().timestamp_millis();
    let alert = AlertData {
        status: if status == "firing" { AlertStatus::Firing } else { AlertStatus::Resolved },
        labels: labels.clone(),
        annotations,
        starts_at: super::model::rfc3339(now - 60_000),
        ends_at: if status == "firing" { ZERO_TIME.into() } else { super::model::rfc3339(now) },
        generator_url: "http://127.0.0.1:9465/graph?g0.expr=vector%281%29".into(),
        fingerprint: format!("{:016x}", super::model::fingerprint(&labels)),
        sidewatch: Some(AlertExtra {
            value: "1".into(),
            flaps: 0,
            runbook_url: "docs/runbooks/SidewatchTest.md".into(),
            runbook_steps: vec!["Nothing to do: this is a test.".into()],
        }),
    };
    let group: Map = [("alertname".to_string(), "SidewatchTest".to_string())].into();
    Notification::build("test", "{}:{alertname=\"SidewatchTest\"}", &group, "http://127.0.0.1:9465", vec![alert], 0)
}

/// The *runbooks*: each one's text and first investigation steps, by name (the file stem,
/// usually the alert name). The built-in runbooks come with the binary; a file of the same
/// name in `notify.runbooks_dir` replaces one, and other files there add to them.
#[derive(Clone, Debug, Default)]
pub struct Runbooks {
    texts: HashMap<String, String>,
    steps: HashMap<String, Vec<String>>,
}

impl Runbooks {
    /// The built-in runbooks, then every `*.md` in `dir` (a missing folder adds none).
    pub(crate) fn load(dir: &Path) -> Runbooks {
        let mut texts: HashMap<String, String> = crate::rules::packs::RUNBOOKS
            .iter()
            .map(|(name, text)| (name.trim_end_matches(".md").to_string(), text.to_string()))
            .collect();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "md")
                    && let (Some(stem), Ok(text)) = (p.file_stem(), std::fs::read_to_string(&p))
                {
                    texts.insert(stem.to_string_lossy().into_owned(), text);
                }
            }
        }
        let steps = texts.iter().map(|(k, t)| (k.clone(), first_steps(t))).collect();
        Runbooks { texts, steps }
    }

    /// The name a runbook link points at: its last path segment without `.md`.
    fn stem(runbook_url: &str) -> &str {
        let last = runbook_url.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
        last.trim_end_matches(".md")
    }

    /// Steps for an alert, by its `runbook_url`'s file name, else by its name, with `$label`
    /// placeholders filled from the alert's labels (`$job` → `api`).
    pub(crate) fn steps(&self, alertname: &str, runbook_url: &str, labels: &BTreeMap<String, String>) -> Vec<String> {
        let steps = self.steps.get(Self::stem(runbook_url)).or_else(|| self.steps.get(alertname));
        steps.map(|s| s.iter().map(|step| fill_labels(step, labels)).collect()).unwrap_or_default()
    }

    /// A runbook's Markdown by name (with or without `.md`).
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.texts.get(name.trim_end_matches(".md")).map(String::as_str)
    }

    /// Every runbook's name, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.texts.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// Replaces `$name` (a label name after `$`) by the label's value where the alert has it.
pub(crate) fn fill_labels(text: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        match labels.get(&after[..len]) {
            Some(v) if len > 0 => out.push_str(v),
            _ => {
                out.push('$');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// An absolute runbook link: a URL with a scheme stays; a path (`docs/runbooks/X.md`) or a
/// bare name becomes `base` + its name (`base` is `notify.runbook_base_url`, else
/// `<external_url>/runbooks/`). Empty stays empty.
pub(crate) fn runbook_link(url: &str, base: &str) -> String {
    if url.is_empty() || url.contains("://") {
        return url.to_string();
    }
    format!("{base}{}", Runbooks::stem(url))
}

/// The list items (up to 3) under the first heading that starts with "Check", "Investigat"
/// or "First".
pub(crate) fn first_steps(md: &str) -> Vec<String> {
    section_items(md, &["check", "investigat", "first"], 3)
}

/// The list items (numbered or bulleted, at most `limit`) under the first Markdown heading
/// whose text starts (case-insensitively) with one of `prefixes`.
pub(crate) fn section_items(md: &str, prefixes: &[&str], limit: usize) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            if inside {
                break;
            }
            let h = t.trim_start_matches('#').trim().to_lowercase();
            inside = prefixes.iter().any(|p| h.starts_with(p));
            continue;
        }
        if !inside {
            continue;
        }
        let item = t
            .strip_prefix("- ")
            .or_else(|| t.strip_prefix("* "))
            .or_else(|| t.split_once(". ").filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit())).map(|(_, r)| r));
        if let Some(i) = item {
            out.push(i.to_string());
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_render_both_statuses() {
        let t = Templates::load(None, &[]).unwrap();
        for name in names() {
            for st in ["firing", "resolved"] {
                let out = t.render(name, &sample(st)).unwrap();
                assert!(!out.trim().is_empty(), "{name} {st}");
            }
        }
        let tg = t.render("telegram.firing", &sample("firing")).unwrap();
        assert!(tg.contains("SidewatchTest") && tg.contains("<b>"), "{tg}");
    }

    #[test]
    fn strict_mode_rejects_misspelt_fields_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("slack.firing.hbs"), "{{#each alerts}}{{lables.alertname}}{{/each}}").unwrap();
        let e = Templates::load(Some(dir.path()), &[]).unwrap_err();
        assert!(e.0.contains("slack.firing.hbs"), "{e}");
    }

    #[test]
    fn runbook_steps_come_from_check_first() {
        let md = "# X\n\n**What.** y\n\n## Check first\n\n1. One `a`.\n2. Two.\n\n## Mitigate\n\n- no\n";
        assert_eq!(first_steps(md), ["One `a`.", "Two."]);
    }
}
