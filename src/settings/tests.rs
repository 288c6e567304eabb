//! Tests of the whole settings tree: the documented keys match the structs, and the loader
//! reports bad files and overrides with their key, section and line.

mod docs_tests {
    use crate::config::{ByteSize, Duration};
    use crate::scrape::{HealthCheckConfig, RelabelConfig, TargetConfig};
    use crate::settings::Config;
    use std::collections::BTreeMap;

    /// Every key of the settings tree as `section.key` → its default, in TOML syntax; keys
    /// inside lists of tables as `targets[].name` (no default).
    fn keys(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
        match v {
            // Free-form maps (label sets) are one key.
            toml::Value::Table(t)
                if prefix.ends_with("labels")
                    || prefix.ends_with("headers")
                    || prefix.ends_with("signals")
                    || prefix.ends_with("digest.sev") =>
            {
                out.insert(prefix.to_string(), if t.is_empty() { "{}".into() } else { String::new() });
            }
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    keys(&p, v, out);
                }
            }
            toml::Value::Array(items) if items.first().is_some_and(toml::Value::is_table) => {
                out.insert(prefix.to_string(), String::new());
                for item in items {
                    keys(&format!("{prefix}[]"), item, out);
                }
            }
            other => {
                let in_list = prefix.contains("[]");
                out.insert(prefix.to_string(), if in_list { String::new() } else { other.to_string() });
            }
        }
    }

    /// A config with every optional part present, so every key shows up when serialized.
    fn full() -> Config {
        let d = Duration::from_secs(1);
        Config {
            targets: vec![TargetConfig {
                name: "api".into(),
                metrics_url: Some("http://x/metrics".into()),
                interval: Some(d),
                timeout: Some(d),
                labels: [("a".to_string(), "b".to_string())].into(),
                body_size_limit: Some(ByteSize(1)),
                health: vec![HealthCheckConfig {
                    max_latency: Some(d),
                    body_contains: Some("ok".into()),
                    json_field: Some("f".into()),
                    json_equals: Some("v".into()),
                    authorization: Some(toml::from_str("credentials = \"c\"").unwrap()),
                    basic_auth: Some(toml::from_str("username = \"u\"\npassword = \"p\"").unwrap()),
                    tls_config: Some(Default::default()),
                    ..Default::default()
                }],
                metric_relabel: vec![RelabelConfig::default()],
                authorization: Some(toml::from_str("credentials = \"c\"").unwrap()),
                basic_auth: Some(toml::from_str("username = \"u\"\npassword = \"p\"").unwrap()),
                tls_config: Some(Default::default()),
                ..Default::default()
            }],
            notify: full_notify(),
            remote_write: vec![
                toml::from_str(
                    "url = \"http://x/push\"\nheaders = { X = \"v\" }\n[authorization]\ncredentials = \"c\"\n\
                     [basic_auth]\nusername = \"u\"\npassword = \"p\"\n[tls_config]\n[[write_relabel_configs]]\n",
                )
                .unwrap(),
            ],
            admin: crate::http::admin::config::AdminConfig {
                tokens: vec![crate::http::admin::config::TokenConfig {
                    name: "oncall".into(),
                    token: crate::config::Secret::new("t"),
                    role: crate::http::admin::config::Role::Read,
                }],
                signals: [("a".to_string(), "b".to_string())].into(),
                ..Default::default()
            },
            history: crate::reports::HistoryConfig {
                series: vec![crate::reports::HistorySeries::default()],
                ..Default::default()
            },
            events: crate::reports::EventsConfig { sources: vec![crate::reports::EventSource::default()] },
            kpi: crate::reports::KpiConfig {
                funnels: vec![crate::reports::FunnelConfig::default()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn full_notify() -> crate::notify::NotifyConfig {
        use crate::notify::*;
        let mut n = NotifyConfig::default();
        n.route.routes = vec![RouteConfig {
            group_by: Some(vec![]),
            group_wait: Some(Duration::from_secs(1)),
            group_interval: Some(Duration::from_secs(1)),
            repeat_interval: Some(Duration::from_secs(1)),
            ..Default::default()
        }];
        // Every registered channel with its optional fields set, so their keys show up.
        let mut text = String::from("name = \"r\"\n");
        for kind in crate::notify::registry::KINDS {
            let accepts = |field: &str| {
                toml::from_str::<ReceiverConfig>(&format!("name = \"r\"\n{} = [{{ {field} }}]\n", kind.name)).is_ok()
            };
            let fields: Vec<&str> =
                ["headers = { X = \"v\" }", "message_thread_id = 1"].into_iter().filter(|f| accepts(f)).collect();
            text.push_str(&format!("{} = [{{ {} }}]\n", kind.name, fields.join(", ")));
        }
        n.receivers = vec![toml::from_str(&text).unwrap()];
        n.inhibit_rules = vec![InhibitRuleConfig::default()];
        n.mute_time_intervals =
            vec![TimeIntervalConfig { times: vec![TimeRangeConfig::default()], ..Default::default() }];
        n
    }

    /// docs/CONFIG.md documents exactly the keys the structs have, with the right defaults.
    #[test]
    fn config_md_matches_the_structs() {
        let mut code = BTreeMap::new();
        keys("", &toml::Value::try_from(full()).unwrap(), &mut code);
        let mut defaults = BTreeMap::new();
        keys("", &toml::Value::try_from(Config::default()).unwrap(), &mut defaults);
        let md = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIG.md")).unwrap();
        let mut documented = BTreeMap::new();
        for line in md.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells[1].trim_matches('`').to_string();
            let default = cells[3].trim_matches('`').to_string();
            documented.insert(key, default);
        }
        let missing: Vec<_> = code.keys().filter(|k| !documented.contains_key(*k)).collect();
        let stale: Vec<_> = documented.keys().filter(|k| !code.contains_key(*k)).collect();
        assert!(missing.is_empty(), "keys missing from docs/CONFIG.md: {missing:?}");
        assert!(stale.is_empty(), "docs/CONFIG.md documents keys that do not exist: {stale:?}");
        for (k, v) in defaults.iter().filter(|(k, _)| *k != "targets") {
            assert_eq!(&documented[k], v, "default of {k} in docs/CONFIG.md");
        }
    }
}

mod load_tests {
    use crate::config::ConfigError;
    use crate::settings::{LoadedConfig, load_from_str};
    use std::path::Path;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load_from_str(text, Some(Path::new("sidewatch.toml")), &env)
    }

    #[test]
    fn unknown_key_names_file_section_and_suggestion() {
        let err = load("[server]\nlistn = \"1.2.3.4:1\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown key \"listn\" in [server] of sidewatch.toml; did you mean \"listen\"?"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    /// Every problem in one run: two unknown keys (one inside a `[[targets]]` entry), a bad
    /// type and a failed validation, each with its key and line.
    #[test]
    fn every_problem_is_reported_in_one_run() {
        let text = "[server]\nlistn = \"x\"\nmax_body_bytes = \"lots\"\n[query]\ntimeout = \"0s\"\n\
                    [[targets]]\nname = \"api\"\nmetrics_url = \"http://127.0.0.1:1/metrics\"\nintervall = \"5s\"\n";
        let Err(ConfigError::Invalid(problems)) = load(text, &[]) else { panic!("invalid") };
        assert_eq!(problems.len(), 4, "{problems:#?}");
        let err = problems.join("\n");
        assert!(err.contains("unknown key \"listn\"") && err.contains("line 2"), "{err}");
        assert!(err.contains("\"max_body_bytes\" in [server]") && err.contains("line 3"), "{err}");
        assert!(err.contains("unknown key \"intervall\""), "{err}");
        assert!(err.contains("\"timeout\" in [query]"), "{err}");
    }

    #[test]
    fn unknown_section_is_named() {
        let err = load("[servre]\nlisten = \"x\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown section [servre]") && err.contains("did you mean [server]?"), "{err}");
    }

    #[test]
    fn bad_type_names_key_and_line() {
        let err = load("[storage]\n\nmax_connections = \"many\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("\"max_connections\" in [storage] of sidewatch.toml (line 3)"), "{err}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = load("[server]\nlisten = \n", &[]).unwrap_err().to_string();
        assert!(err.starts_with("sidewatch.toml:2:"), "{err}");
    }

    #[test]
    fn vars_expand_and_missing_ones_are_named() {
        let c = load("[server]\nlisten = \"127.0.0.1:${PORT}\"\n", &[("PORT", "1234")]).unwrap();
        assert_eq!(c.config.server.listen, "127.0.0.1:1234");
        let err = load("[server]\nlisten = \"${NOPE_X}\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("NOPE_X is not set") && err.contains("\"listen\" in [server]"), "{err}");
        let c = load("[server]\nexternal_url = \"http://x/$${a}\"\n", &[]).unwrap();
        assert_eq!(c.config.server.external_url, "http://x/${a}");
    }

    #[test]
    fn the_external_url_defaults_to_an_address_links_can_reach() {
        let url = |text: &str| load(text, &[]).unwrap().config.external_url();
        assert_eq!(url("[server]\nlisten = \"127.0.0.1:9465\"\n"), "http://127.0.0.1:9465");
        assert_eq!(url("[server]\nexternal_url = \"https://sw.example/\"\n"), "https://sw.example");
        let wildcard = url("[server]\nlisten = \"0.0.0.0:9465\"\n");
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        if !host.trim().is_empty() {
            assert_eq!(wildcard, format!("http://{}:9465", host.trim()));
        }
    }

    #[test]
    fn env_overrides_are_typed_and_checked() {
        let c = load("", &[("SIDEWATCH_SERVER__LISTEN", "0.0.0.0:1"), ("SIDEWATCH_STORAGE__MAX_CONNECTIONS", "3")])
            .unwrap();
        assert_eq!(c.config.server.listen, "0.0.0.0:1");
        assert_eq!(c.config.storage.max_connections, 3);
        let err = load("", &[("SIDEWATCH_SERVER__LISTN", "x:1")]).unwrap_err().to_string();
        assert!(err.contains("SIDEWATCH_SERVER__LISTN") && err.contains("did you mean \"listen\""), "{err}");
        let err = load("", &[("SIDEWATCH_STORAGE__MAX_CONNECTIONS", "lots")]).unwrap_err().to_string();
        assert!(err.contains("SIDEWATCH_STORAGE__MAX_CONNECTIONS"), "{err}");
    }

    #[test]
    fn file_secrets_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("url"), "postgres://u:pw@h/db\n").unwrap();
        let text = "[storage]\nurl_file = \"url\"\n";
        let env: Vec<(String, String)> = vec![];
        let c = load_from_str(text, Some(&dir.path().join("c.toml")), &env).unwrap();
        assert_eq!(c.config.storage.url.expose(), "postgres://u:pw@h/db");
        assert_eq!(c.config.storage.url.to_string(), "postgres://u:***@h/db");
    }
}
