//! *Silences* and *inhibition*, the two ways an alert is muted. A silence is a set of
//! matchers with a start and an end, created by a person with a comment and kept in the
//! database; an inhibition rule mutes target alerts while a firing source alert with the same
//! `equal` labels exists (a firing critical mutes the same alert's warning on the same
//! instance). A muted alert is not sent but recorded as `suppressed`, with the reason.

use super::matcher::{self, Matcher};
use super::model::{ActiveAlert, Map};
use crate::notify::InhibitRuleConfig;
use crate::notify::matcher::MatcherError;
use crate::storage::StoredSilence;

/// A silence.
#[derive(Clone, Debug)]
pub(crate) struct Silence {
    /// Id.
    pub(crate) id: String,
    /// Matchers; all must match.
    pub(crate) matchers: Vec<Matcher>,
    /// From (ms).
    pub(crate) starts_at: i64,
    /// Until (ms).
    pub(crate) ends_at: i64,
    /// Who.
    pub(crate) created_by: String,
    /// Why.
    pub(crate) comment: String,
}

impl Silence {
    /// From its stored row.
    pub(crate) fn from_stored(s: &StoredSilence) -> Result<Silence, MatcherError> {
        let list: Vec<String> =
            serde_json::from_str(&s.matchers).map_err(|e| format!("silence {}: bad matchers: {e}", s.id))?;
        Ok(Silence {
            id: s.id.clone(),
            matchers: matcher::parse_all(&list)?,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
        })
    }

    /// Whether it is in force at `now` and matches `labels`.
    pub(crate) fn mutes(&self, labels: &Map, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at && matcher::all_match(&self.matchers, labels)
    }
}

/// A compiled inhibition rule.
#[derive(Clone, Debug)]
pub(crate) struct InhibitRule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

impl InhibitRule {
    /// Compiles one rule.
    pub(crate) fn compile(c: &InhibitRuleConfig) -> Result<InhibitRule, MatcherError> {
        Ok(InhibitRule {
            source: matcher::parse_all(&c.source_matchers)?,
            target: matcher::parse_all(&c.target_matchers)?,
            equal: c.equal.clone(),
        })
    }
}

/// Why an alert is muted, if it is: by a silence, by an inhibiting alert.
pub(crate) fn reason<'a>(
    a: &ActiveAlert,
    fp: u64,
    silences: &[Silence],
    rules: &[InhibitRule],
    firing: impl Iterator<Item = (u64, &'a ActiveAlert)> + Clone,
    now: i64,
) -> Option<String> {
    if let Some(s) = silences.iter().find(|s| s.mutes(&a.labels, now)) {
        return Some(format!("silenced by {} ({}: {})", s.id, s.created_by, s.comment));
    }
    for r in rules {
        if !matcher::all_match(&r.target, &a.labels) {
            continue;
        }
        let source = firing.clone().find(|(sfp, s)| {
            *sfp != fp
                && matcher::all_match(&r.source, &s.labels)
                && r.equal.iter().all(|l| s.labels.get(l) == a.labels.get(l))
        });
        if let Some((_, s)) = source {
            let name = s.labels.get("alertname").map(String::as_str).unwrap_or("");
            return Some(format!("inhibited by {name} {:?}", s.labels));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)]) -> ActiveAlert {
        ActiveAlert {
            labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: Map::new(),
            starts_at: 0,
            ends_at: None,
            value: 1.0,
            flaps: 0,
            generator_url: String::new(),
        }
    }

    #[test]
    fn critical_inhibits_warning_on_same_instance_only() {
        let rule = InhibitRule::compile(&InhibitRuleConfig {
            source_matchers: vec![r#"severity="critical""#.into()],
            target_matchers: vec![r#"severity="warning""#.into()],
            equal: vec!["alertname".into(), "instance".into()],
        })
        .unwrap();
        let crit = alert(&[("alertname", "Lat"), ("instance", "a"), ("severity", "critical")]);
        let warn_a = alert(&[("alertname", "Lat"), ("instance", "a"), ("severity", "warning")]);
        let warn_b = alert(&[("alertname", "Lat"), ("instance", "b"), ("severity", "warning")]);
        let firing = [(1u64, &crit)];
        let r = reason(&warn_a, 2, &[], std::slice::from_ref(&rule), firing.iter().copied(), 0);
        assert!(r.unwrap().starts_with("inhibited by Lat"));
        assert!(reason(&warn_b, 3, &[], std::slice::from_ref(&rule), firing.iter().copied(), 0).is_none());
        assert!(reason(&crit, 1, &[], &[rule], firing.iter().copied(), 0).is_none());
    }

    #[test]
    fn silences_hold_between_start_and_end() {
        let s = Silence {
            id: "s1".into(),
            matchers: matcher::parse_all(&["instance=\"a\"".into()]).unwrap(),
            starts_at: 10,
            ends_at: 20,
            created_by: "ann".into(),
            comment: "deploy".into(),
        };
        let a = alert(&[("instance", "a")]);
        assert!(s.mutes(&a.labels, 10) && !s.mutes(&a.labels, 20) && !s.mutes(&a.labels, 9));
        let r = reason(&a, 1, &[s], &[], std::iter::empty(), 15).unwrap();
        assert_eq!(r, "silenced by s1 (ann: deploy)");
    }
}
