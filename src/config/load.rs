//! The *loader*: turns TOML text plus the process environment into a validated settings tree
//! (any [`Settings`] type; the program's is `settings::Config`).
//! Order: parse → `${VAR}` expansion → `<key>_file` secrets → `SIDEWATCH_*` overrides →
//! typed deserialization → semantic validation. Errors point at the file, key and line.

use super::{ConfigError, Settings};
use crate::config::ValueError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A configuration and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The validated settings.
    pub config: T,
    /// The file read, if any (`None`: built-in defaults and environment only).
    pub(crate) file: Option<PathBuf>,
    /// The folder relative paths in the configuration are resolved against.
    pub(crate) base_dir: PathBuf,
}

impl<T> Loaded<T> {
    /// Resolves a path from the configuration: absolute paths stay, relative ones are joined
    /// to the config file's folder (or the working directory when there is no file).
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        resolve_path(&self.base_dir, path)
    }
}

/// `path` as is when absolute, else relative to `base` (the configuration file's folder).
pub(crate) fn resolve_path(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

/// Loads the configuration: `path` if given (it must exist), else `sidewatch.toml` in the
/// working directory if present, else built-in defaults; then applies the process environment.
pub(crate) fn load<T: Settings>(path: Option<&Path>) -> Result<Loaded<T>, ConfigError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let default_file = Path::new("sidewatch.toml");
    let file = match path {
        Some(p) => Some(p.to_path_buf()),
        None if default_file.exists() => Some(default_file.to_path_buf()),
        None => None,
    };
    let text = match &file {
        Some(f) => {
            std::fs::read_to_string(f).map_err(|error| ConfigError::Io { file: f.display().to_string(), error })?
        }
        None => String::new(),
    };
    load_from_str(&text, file.as_deref(), &env)
}

/// Loads a configuration from `text` (the contents of `file`, or empty for defaults) with the
/// given environment. Fails with every problem found, each naming its key and source.
pub(crate) fn load_from_str<T: Settings>(
    text: &str,
    file: Option<&Path>,
    env: &[(String, String)],
) -> Result<Loaded<T>, ConfigError> {
    let label = file.map(|f| f.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    let base_dir = match file.and_then(Path::parent) {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let mut table: Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax { file: label.clone(), line, column, message: e.message().to_string() }
    })?;
    let mut ctx = Context { label, text, env_origin: HashMap::new(), errors: Vec::new() };
    let env_map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ctx.expand_table(&mut table, &mut Vec::new(), &env_map, &base_dir);
    ctx.apply_env_overrides::<T>(&mut table, env);
    if !ctx.errors.is_empty() {
        return Err(ConfigError::Invalid(ctx.errors));
    }
    // Every bad key is reported in one run: each one serde refuses (unknown, or of the wrong
    // type) is recorded and taken out, and the rest is read again, up to 100 of them.
    let mut errors = Vec::new();
    let config: T = loop {
        match serde_path_to_error::deserialize(Value::Table(table.clone())) {
            Ok(c) => break c,
            Err(e) => {
                let path: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
                let msg = e.inner().to_string();
                errors.push(ctx.describe_serde_error(&path, &msg));
                if errors.len() >= 100 || !remove_key(&mut table, &path, &msg) {
                    return Err(ConfigError::Invalid(errors));
                }
            }
        }
    };
    errors.extend(config.validate(&|path, msg| ctx.invalid(path, msg)));
    if !errors.is_empty() {
        return Err(ConfigError::Invalid(errors));
    }
    Ok(Loaded { config, file: file.map(Path::to_path_buf), base_dir })
}

/// Takes the key serde refused out of `table`: the unknown key named in `msg`, or the key at
/// `path`. Returns false when there is nothing to take out (the error is not about one key).
fn remove_key(table: &mut Table, path: &[String], msg: &str) -> bool {
    let unknown = msg.strip_prefix("unknown field `").and_then(|r| r.split('`').next());
    let (parent, key) = match (unknown, path.split_last()) {
        (Some(name), Some((last, parent))) if last == name => (parent, name.to_string()),
        (Some(name), _) => (path, name.to_string()),
        (None, Some((last, parent))) => (parent, last.clone()),
        (None, None) => return false,
    };
    fn descend<'a>(v: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
        match v {
            Value::Table(t) => t.get_mut(seg),
            // `[[targets]]` entries: the segment is an index.
            Value::Array(items) => {
                seg.trim_matches(|c| c == '[' || c == ']').parse::<usize>().ok().and_then(|i| items.get_mut(i))
            }
            _ => None,
        }
    }
    let mut root = Value::Table(std::mem::take(table));
    let removed = {
        let mut node = Some(&mut root);
        for seg in parent {
            node = node.and_then(|n| descend(n, seg));
        }
        match node {
            Some(Value::Table(t)) => t.remove(&key).is_some(),
            _ => false,
        }
    };
    if let Value::Table(t) = root {
        *table = t;
    }
    removed
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Context<'a> {
    label: String,
    text: &'a str,
    /// Dotted key path → the environment variable that set it.
    env_origin: HashMap<String, String>,
    errors: Vec<String>,
}

impl Context<'_> {
    /// `"key" in [section] of FILE (line N)` or `"key" in [section] from ENV_VAR`.
    fn locate(&self, path: &[String]) -> String {
        let (key, parent) = match path.split_last() {
            Some((k, p)) => (k.as_str(), p),
            None => ("", &[][..]),
        };
        let section = if parent.is_empty() { "the top level".to_string() } else { format!("[{}]", parent.join(".")) };
        if let Some(var) = self.env_origin.get(&path.join(".")) {
            return format!("\"{key}\" in {section} from environment variable {var}");
        }
        match key_line(self.text, path) {
            Some(line) => format!("\"{key}\" in {section} of {} (line {line})", self.label),
            None => format!("\"{key}\" in {section} of {}", self.label),
        }
    }

    fn invalid(&self, path: &[&str], msg: &str) -> String {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        format!("invalid value for {}: {msg}", self.locate(&path))
    }

    fn describe_serde_error(&self, path: &[String], msg: &str) -> String {
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            let expected: Vec<&str> =
                rest.split('`').skip(1).collect::<Vec<_>>().chunks(2).filter_map(|c| c.get(1).copied()).collect();
            let hint = suggest(&name, &expected);
            // serde_path_to_error puts the unknown key itself at the end of the path.
            let path = match path.split_last() {
                Some((last, parent)) if *last == name => parent,
                _ => path,
            };
            let mut full = path.to_vec();
            full.push(name.clone());
            let from_env = self.env_origin.get(&full.join("."));
            let source = match from_env {
                Some(var) => format!("environment variable {var}"),
                None => self.label.clone(),
            };
            let line = if from_env.is_none() { key_line(self.text, &full) } else { None };
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            if path.is_empty() {
                let hint = hint.map(|h| format!("; did you mean [{h}]?")).unwrap_or_default();
                return format!(
                    "unknown section [{name}] in {source}{hint}{at}; known sections: {}",
                    expected.join(", ")
                );
            }
            let hint = hint.map(|h| format!("; did you mean \"{h}\"?")).unwrap_or_default();
            return format!("unknown key \"{name}\" in [{}] of {source}{hint}{at}", path.join("."));
        }
        if path.is_empty() {
            return format!("{}: {msg}", self.label);
        }
        format!("invalid value for {}: {msg}", self.locate(path))
    }

    /// Expands `${VAR}` in every string and replaces `<key>_file = "path"` by `<key>` holding
    /// the file's contents (trailing newline removed). In a `tls_config` the `*_file` keys are
    /// Prometheus' certificate paths, not secrets: they are made absolute against `base`.
    fn expand_table(&mut self, table: &mut Table, path: &mut Vec<String>, env: &HashMap<&str, &str>, base: &Path) {
        let tls = path.last().is_some_and(|k| k == "tls_config");
        let file_keys: Vec<String> =
            if tls { Vec::new() } else { table.keys().filter(|k| k.ends_with("_file")).cloned().collect() };
        for key in table.keys().cloned().collect::<Vec<_>>() {
            path.push(key.clone());
            if let Some(v) = table.get_mut(&key) {
                self.expand_value(v, path, env, base);
            }
            path.pop();
        }
        if tls {
            for (key, v) in table.iter_mut() {
                if let (true, Value::String(file)) = (key.ends_with("_file"), v)
                    && !file.is_empty()
                    && Path::new(file.as_str()).is_relative()
                {
                    *file = base.join(file.as_str()).display().to_string();
                }
            }
        }
        for key in file_keys {
            let target = key.trim_end_matches("_file").to_string();
            path.push(key.clone());
            let Some(Value::String(file)) = table.get(&key).cloned() else {
                self.errors.push(format!("invalid value for {}: expected a file path", self.locate(path)));
                path.pop();
                continue;
            };
            if table.contains_key(&target) {
                self.errors.push(format!("{} and \"{target}\" are both set; set only one", self.locate(path)));
            } else {
                let p = if Path::new(&file).is_absolute() { PathBuf::from(&file) } else { base.join(&file) };
                match std::fs::read_to_string(&p) {
                    Ok(s) => {
                        table.remove(&key);
                        table.insert(target, Value::String(s.trim_end_matches(['\n', '\r']).to_string()));
                    }
                    Err(e) => self.errors.push(format!(
                        "cannot read secret file {} named by {}: {e}",
                        p.display(),
                        self.locate(path)
                    )),
                }
            }
            path.pop();
        }
    }

    fn expand_value(&mut self, v: &mut Value, path: &mut Vec<String>, env: &HashMap<&str, &str>, base: &Path) {
        match v {
            Value::String(s) => match expand_vars(s, env) {
                Ok(new) => *s = new,
                Err(var) => self.errors.push(format!(
                    "environment variable {var} is not set (referenced as ${{{var}}} by {})",
                    self.locate(path)
                )),
            },
            Value::Table(t) => self.expand_table(t, path, env, base),
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(i.to_string());
                    self.expand_value(item, path, env, base);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// Applies `SIDEWATCH_<SECTION>__<KEY>=value`. The value is typed like the key's default
    /// (a number stays a number); unknown keys surface as unknown-key errors naming the variable.
    fn apply_env_overrides<T: Settings>(&mut self, table: &mut Table, env: &[(String, String)]) {
        let defaults = Value::try_from(T::default()).unwrap_or(Value::Table(Table::new()));
        let mut vars: Vec<&(String, String)> =
            env.iter().filter(|(k, _)| k.starts_with("SIDEWATCH_") && k.contains("__")).collect();
        vars.sort();
        for (var, raw) in vars {
            let segs: Vec<String> = var["SIDEWATCH_".len()..].split("__").map(str::to_ascii_lowercase).collect();
            if segs.iter().any(String::is_empty) {
                self.errors
                    .push(format!("environment variable {var}: empty key segment; use SIDEWATCH_<SECTION>__<KEY>"));
                continue;
            }
            let default = segs.iter().try_fold(&defaults, |v, s| v.get(s.as_str()));
            let value = typed_env_value(raw, default);
            self.env_origin.insert(segs.join("."), var.clone());
            if let Err(msg) = set_path(table, &segs, value) {
                self.errors.push(format!("environment variable {var}: {msg}"));
            }
        }
    }
}

/// Suggests the closest of `candidates` to `name`, if one is close enough to be a typo.
fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Replaces `${VAR}` with the variable's value; `$${` stands for a literal `${`.
/// Returns the name of the first unset variable as the error.
fn expand_vars(s: &str, env: &HashMap<&str, &str>) -> Result<String, ValueError> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                out.push_str(after);
                return Ok(out);
            };
            let name = &tail[..end];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(ValueError::from(name.to_string())),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn typed_env_value(raw: &str, default: Option<&Value>) -> Value {
    let literal = || format!("v = {raw}").parse::<Table>().ok().and_then(|mut t| t.remove("v"));
    // A value that does not parse as the key's type stays a string, so the type error names it.
    let typed = match default {
        Some(Value::String(_)) => None,
        Some(Value::Integer(_)) => raw.trim().parse().ok().map(Value::Integer),
        Some(Value::Float(_)) => raw.trim().parse().ok().map(Value::Float),
        Some(Value::Boolean(_)) => raw.trim().parse().ok().map(Value::Boolean),
        _ => literal(),
    };
    typed.unwrap_or_else(|| Value::String(raw.to_string()))
}

fn set_path(table: &mut Table, segs: &[String], value: Value) -> Result<(), ValueError> {
    let (last, parents) = segs.split_last().ok_or("no key")?;
    let mut cur = table;
    for seg in parents {
        let entry = cur.entry(seg.clone()).or_insert_with(|| Value::Table(Table::new()));
        cur = match entry {
            Value::Table(t) => t,
            Value::Array(items) => {
                return Err(ValueError::from(format!(
                    "[{seg}] is a list ({} entries); it cannot be set from the environment",
                    items.len()
                )));
            }
            _ => return Err(ValueError::from(format!("\"{seg}\" is a value, not a section"))),
        };
    }
    cur.insert(last.clone(), value);
    Ok(())
}

/// The 1-based line of the key at `path` in `text`, found through toml_edit's spans.
/// Numeric segments index arrays (`targets.0.name`).
fn key_line(text: &str, path: &[String]) -> Option<usize> {
    use toml_edit::{ImDocument, Item, TableLike, Value as TValue};
    enum Node<'a> {
        Item(&'a Item),
        Table(&'a toml_edit::Table),
        Value(&'a TValue),
    }
    let doc = ImDocument::parse(text).ok()?;
    let mut node = Node::Item(doc.as_item());
    let mut span = None;
    for seg in path {
        let index = seg.parse::<usize>().ok();
        node = match (node, index) {
            (Node::Item(item), Some(i)) => match item.as_array_of_tables() {
                Some(aot) => Node::Table(aot.get(i)?),
                None => Node::Value(item.as_array()?.get(i)?),
            },
            (Node::Value(v), Some(i)) => Node::Value(v.as_array()?.get(i)?),
            (Node::Table(_), Some(_)) => return None,
            (Node::Item(item), None) => {
                let (key, next) = item.as_table_like()?.get_key_value(seg)?;
                span = key.span().or(span);
                Node::Item(next)
            }
            (Node::Table(t), None) => {
                let (key, next) = t.get_key_value(seg)?;
                span = key.span().or(span);
                Node::Item(next)
            }
            (Node::Value(v), None) => {
                let (key, next) = (v.as_inline_table()? as &dyn TableLike).get_key_value(seg)?;
                span = key.span().or(span);
                Node::Item(next)
            }
        };
        match &node {
            Node::Table(t) => span = t.span().or(span),
            Node::Value(v) => span = v.span().or(span),
            Node::Item(_) => {}
        }
    }
    span.map(|s| line_col(text, s.start).0)
}
