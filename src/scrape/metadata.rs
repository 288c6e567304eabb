//! *Metric metadata*: what a target says about its metric families in `# TYPE`, `# HELP` and
//! `# UNIT` lines, kept per target for `/api/v1/metadata` and `/api/v1/targets/metadata`
//! (Grafana's query editor shows it). A scrape compares each line with what is kept and copies
//! only what changed, so a steady target costs one map lookup per family and no allocation.
//! At most [`MAX_FAMILIES`] families per target are kept; a family whose lines a successful
//! scrape no longer has is forgotten (each scrape hashes the names it sees: 8 bytes a family).

use super::parse::{Entry, MetricType};
use std::collections::BTreeMap;

/// Families kept per target; the rest are not recorded.
pub(crate) const MAX_FAMILIES: usize = 10_000;

/// One metric family's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Meta {
    /// Prometheus' type name: `counter`, `gauge`, `histogram`, `summary`, `unknown`, …
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The HELP text, unescaped.
    pub(crate) help: String,
    /// The UNIT (OpenMetrics), else empty.
    pub(crate) unit: String,
}

/// A target's metadata by family name.
pub(crate) type MetaMap = BTreeMap<String, Meta>;

/// A change a scrape saw to one family, to apply once the scrape is done.
#[derive(Debug)]
pub(crate) struct Change {
    name: String,
    field: Field,
}

/// The field a [`Change`] sets.
#[derive(Debug)]
enum Field {
    Kind(&'static str),
    Help(String),
    Unit(String),
}

/// Prometheus' name for a type.
pub(crate) fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::StateSet => "stateset",
        MetricType::Info => "info",
        MetricType::Untyped => "unknown",
    }
}

/// The change `entry` makes to `kept`, if it is a metadata line that differs.
pub(crate) fn change(kept: &MetaMap, entry: &Entry<'_>) -> Option<Change> {
    let (name, known) = match entry {
        Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } => (*name, kept.get(*name)),
        _ => return None,
    };
    if known.is_none() && kept.len() >= MAX_FAMILIES {
        return None;
    }
    match *entry {
        Entry::Type { kind, .. } => {
            let k = type_name(kind);
            (known.map(|m| m.kind) != Some(k)).then(|| Change { name: name.into(), field: Field::Kind(k) })
        }
        Entry::Help { text, .. } => {
            // HELP escapes as label values do (`\\`, `\n`); borrowed when it has none.
            let help = super::parse::unescape(text);
            (known.map(|m| m.help.as_str()) != Some(&*help))
                .then(|| Change { name: name.into(), field: Field::Help(help.into_owned()) })
        }
        Entry::Unit { unit, .. } => (known.map(|m| m.unit.as_str()) != Some(unit))
            .then(|| Change { name: name.into(), field: Field::Unit(unit.into()) }),
        _ => None,
    }
}

/// The hash of the family a metadata line names (`None` for a sample).
pub(crate) fn family_hash(entry: &Entry<'_>) -> Option<u64> {
    match entry {
        Entry::Help { name, .. } | Entry::Type { name, .. } | Entry::Unit { name, .. } => {
            Some(xxhash_rust::xxh3::xxh3_64(name.as_bytes()))
        }
        _ => None,
    }
}

/// Forgets the families whose hash is not in `seen` (a scrape's, sorted here); true when any
/// went.
pub(crate) fn forget_unseen(kept: &mut MetaMap, seen: &mut Vec<u64>) -> bool {
    seen.sort_unstable();
    seen.dedup();
    if seen.len() == kept.len() {
        return false; // every kept family was seen (changes were applied first)
    }
    let before = kept.len();
    kept.retain(|name, _| seen.binary_search(&xxhash_rust::xxh3::xxh3_64(name.as_bytes())).is_ok());
    kept.len() != before
}

/// Applies a scrape's changes; true when any was made.
pub(crate) fn apply(kept: &mut MetaMap, changes: Vec<Change>) -> bool {
    let mut any = false;
    for Change { name, field } in changes {
        // New families beyond the cap are not kept, however many one scrape brings.
        if !kept.contains_key(&name) && kept.len() >= MAX_FAMILIES {
            continue;
        }
        any = true;
        let m = kept.entry(name).or_insert_with(|| Meta { kind: "unknown", ..Meta::default() });
        match field {
            Field::Kind(k) => m.kind = k,
            Field::Help(h) => m.help = h,
            Field::Unit(u) => m.unit = u,
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::parse::{Format, Parser};

    fn scrape(kept: &mut MetaMap, body: &str) -> bool {
        let (mut changes, mut seen) = (Vec::new(), Vec::new());
        for e in Parser::new(body, Format::Text) {
            let e = e.unwrap();
            changes.extend(change(kept, &e));
            seen.extend(family_hash(&e));
        }
        apply(kept, changes) | forget_unseen(kept, &mut seen)
    }

    #[test]
    fn keeps_type_help_and_unit_and_copies_only_changes() {
        let mut kept = MetaMap::new();
        let body = "# HELP http_requests_total Requests.\\nBy path \\\\ code.\n# TYPE http_requests_total counter\nhttp_requests_total 1\n# TYPE temp gauge\ntemp 3\n";
        assert!(scrape(&mut kept, body));
        assert_eq!(
            kept["http_requests_total"],
            Meta { kind: "counter", help: "Requests.\nBy path \\ code.".into(), unit: String::new() }
        );
        assert_eq!(kept["temp"].kind, "gauge");
        assert!(!scrape(&mut kept, body), "the same body changes nothing");
        assert!(scrape(&mut kept, &body.replace("Requests.", "All requests.")));
        assert!(kept["http_requests_total"].help.starts_with("All requests."));
        // A family the target stops exposing is forgotten.
        assert!(scrape(&mut kept, "# TYPE temp gauge\ntemp 3\n"));
        assert_eq!(kept.keys().collect::<Vec<_>>(), vec!["temp"]);
    }

    #[test]
    fn a_target_with_more_families_than_the_cap_keeps_the_cap() {
        let mut kept = MetaMap::new();
        let body: String = (0..MAX_FAMILIES + 50).map(|i| format!("# TYPE m{i} gauge\nm{i} 1\n")).collect();
        assert!(scrape(&mut kept, &body));
        assert_eq!(kept.len(), MAX_FAMILIES);
        assert!(!scrape(&mut kept, &body), "the same body again changes nothing");
    }
}
