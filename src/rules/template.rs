//! *Templates* in alert labels and annotations: the subset of Go's text/template that rule
//! authors write — `{{ $labels.x }}` / `{{ .Labels.x }}`, `{{ $value }}` / `{{ .Value }}`,
//! `{{ $externalLabels.x }}`, `{{ $externalURL }}`, pipelines through `humanize`,
//! `humanize1024`, `humanizePercentage`, `humanizeDuration`, `humanizeTimestamp`, `printf`,
//! `toUpper`, `toLower`, `title`, `reReplaceAll`, `index`, and `{{ if }}…{{ else }}…{{ end }}`
//! with `eq ne lt le gt ge and or not`. `{{-`/`-}}` trim spaces. Numbers print as Go does.

mod format;

pub(crate) use format::{go_e, go_float};
use std::collections::BTreeMap;

crate::error::message_error! {
    /// A rule annotation or label template that does not parse or expand.
    pub(crate) ExpandError
}

/// What a template can read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Data<'a> {
    /// The alert's labels (`$labels`).
    pub(crate) labels: BTreeMap<&'a str, &'a str>,
    /// The sample value (`$value`).
    pub(crate) value: f64,
    /// `$externalLabels`.
    pub(crate) external_labels: BTreeMap<&'a str, &'a str>,
    /// `$externalURL`.
    pub(crate) external_url: &'a str,
}

#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Labels(Option<String>),
    ExternalLabels(Option<String>),
    Value,
    ExternalUrl,
    Str(String),
    Num(f64),
    Bool(bool),
    Sub(Box<Pipeline>),
}

#[derive(Clone, Debug, PartialEq)]
struct Command {
    func: Option<String>,
    args: Vec<Arg>,
}

type Pipeline = Vec<Command>;

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template(Vec<Node>);

#[derive(Clone, Debug)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Map(BTreeMap<String, String>),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(n) => go_float(*n),
            Val::Bool(b) => b.to_string(),
            Val::Map(m) => {
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", inner.join(" "))
            }
        }
    }

    fn num(&self) -> Result<f64, ExpandError> {
        match self {
            Val::Num(n) => Ok(*n),
            Val::Str(s) => s.trim().parse().map_err(|_| ExpandError(format!("cannot use {s:?} as a number"))),
            Val::Bool(_) | Val::Map(_) => Err("expected a number".into()),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Num(n) => *n != 0.0,
            Val::Bool(b) => *b,
            Val::Map(m) => !m.is_empty(),
        }
    }
}

const FUNCS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
    "humanizeTimestamp",
    "printf",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "index",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
];

fn tokens(s: &str) -> Result<Vec<String>, ExpandError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            let q = c;
            chars.next();
            let mut t = String::from(q);
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' && q == '"' {
                    match chars.next() {
                        Some('n') => t.push('\n'),
                        Some('t') => t.push('\t'),
                        Some(o) => t.push(o),
                        None => break,
                    }
                    continue;
                }
                if c == q {
                    closed = true;
                    break;
                }
                t.push(c);
            }
            if !closed {
                return Err("unterminated quoted string".into());
            }
            out.push(t);
        } else if c == '|' || c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' || c == '(' || c == ')' {
                    break;
                }
                t.push(c);
                chars.next();
            }
            out.push(t);
        }
    }
    Ok(out)
}

fn parse_arg(tok: &str) -> Result<Arg, ExpandError> {
    if let Some(s) = tok.strip_prefix('"').or_else(|| tok.strip_prefix('`')) {
        return Ok(Arg::Str(s.to_string()));
    }
    let field = |prefix: &str| tok.strip_prefix(prefix).map(|r| r.strip_prefix('.').map(str::to_string));
    if let Some(f) = field("$labels").or_else(|| field(".Labels")) {
        return Ok(Arg::Labels(f));
    }
    if let Some(f) = field("$externalLabels").or_else(|| field(".ExternalLabels")) {
        return Ok(Arg::ExternalLabels(f));
    }
    match tok {
        "$value" | ".Value" => return Ok(Arg::Value),
        "$externalURL" | ".ExternalURL" => return Ok(Arg::ExternalUrl),
        "true" => return Ok(Arg::Bool(true)),
        "false" => return Ok(Arg::Bool(false)),
        _ => {}
    }
    tok.parse::<f64>().map(Arg::Num).map_err(|_| ExpandError(format!("unsupported operand {tok:?}")))
}

fn parse_pipeline(toks: &[String], pos: &mut usize) -> Result<Pipeline, ExpandError> {
    let mut pipe = Vec::new();
    let mut cmd = Command { func: None, args: Vec::new() };
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t.as_str() {
            "|" => {
                if cmd.func.is_none() && cmd.args.is_empty() {
                    return Err("missing command before '|'".into());
                }
                pipe.push(std::mem::replace(&mut cmd, Command { func: None, args: Vec::new() }));
            }
            "(" => cmd.args.push(Arg::Sub(Box::new(parse_pipeline(toks, pos)?))),
            ")" => break,
            name if cmd.func.is_none()
                && cmd.args.is_empty()
                && name.chars().next().is_some_and(char::is_alphabetic)
                && !matches!(name, "true" | "false") =>
            {
                if !FUNCS.contains(&name) {
                    return Err(ExpandError::from(format!("function {name:?} not defined")));
                }
                cmd.func = Some(name.to_string());
            }
            other => cmd.args.push(parse_arg(other)?),
        }
    }
    if cmd.func.is_none() && cmd.args.is_empty() {
        return Err("missing value for command".into());
    }
    pipe.push(cmd);
    Ok(pipe)
}

impl Template {
    /// Parses `src`; errors name what is wrong.
    pub(crate) fn parse(src: &str) -> Result<Template, ExpandError> {
        let mut stack: Vec<(Pipeline, Vec<Node>, Option<Vec<Node>>)> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = src;
        let mut trim_next = false;
        loop {
            let (raw, after) = match rest.find("{{") {
                Some(i) => (&rest[..i], Some(&rest[i..])),
                None => (rest, None),
            };
            let mut text = if trim_next { raw.trim_start() } else { raw };
            let Some(a) = after else {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.to_string()));
                }
                break;
            };
            let close = a.find("}}").ok_or("unclosed action")?;
            let mut body = &a[2..close];
            // `{{- ` and ` -}}` trim the text on that side (the space tells them from `-3`).
            if body.starts_with("- ") || body == "-" {
                text = text.trim_end();
                body = &body[1..];
            }
            trim_next = body.ends_with(" -");
            if trim_next {
                body = &body[..body.len() - 1];
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_string()));
            }
            rest = &a[close + 2..];
            let toks = tokens(body.trim())?;
            match toks.first().map(String::as_str) {
                None => return Err("missing value for command".into()),
                Some("if") => {
                    let mut pos = 1;
                    let cond = parse_pipeline(&toks, &mut pos)?;
                    stack.push((cond, std::mem::take(&mut nodes), None));
                }
                Some("else") => {
                    let top = stack.last_mut().ok_or("unexpected {{else}}")?;
                    if top.2.is_some() {
                        return Err("unexpected {{else}}".into());
                    }
                    top.2 = Some(std::mem::take(&mut nodes));
                }
                Some("end") => {
                    let (cond, outer, then) = stack.pop().ok_or("unexpected {{end}}")?;
                    let (then, els) = match then {
                        Some(t) => (t, std::mem::take(&mut nodes)),
                        None => (std::mem::take(&mut nodes), Vec::new()),
                    };
                    nodes = outer;
                    nodes.push(Node::If(cond, then, els));
                }
                Some(kw @ ("range" | "with" | "define" | "template" | "block")) => {
                    return Err(ExpandError::from(format!("{{{{{kw}}}}} is not supported in sidewatch templates")));
                }
                _ => {
                    let mut pos = 0;
                    nodes.push(Node::Action(parse_pipeline(&toks, &mut pos)?));
                }
            }
        }
        if !stack.is_empty() {
            return Err("unexpected EOF: {{if}} without {{end}}".into());
        }
        Ok(Template(nodes))
    }

    /// Renders with `data`; an error during execution is returned, not rendered.
    pub(crate) fn render(&self, data: &Data) -> Result<String, ExpandError> {
        let mut out = String::new();
        render_nodes(&self.0, data, &mut out)?;
        Ok(out)
    }
}

/// Expands `src` as Prometheus does for alerts: on error the text says so.
pub(crate) fn expand(src: &str, data: &Data) -> String {
    if !src.contains("{{") {
        return src.to_string();
    }
    match Template::parse(src).and_then(|t| t.render(data)) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

fn render_nodes(nodes: &[Node], data: &Data, out: &mut String) -> Result<(), ExpandError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&run(p, data)?.text()),
            Node::If(c, then, els) => render_nodes(if run(c, data)?.truthy() { then } else { els }, data, out)?,
        }
    }
    Ok(())
}

fn arg_val(a: &Arg, data: &Data) -> Result<Val, ExpandError> {
    let map = |m: &BTreeMap<&str, &str>| Val::Map(m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    Ok(match a {
        Arg::Labels(None) => map(&data.labels),
        Arg::Labels(Some(k)) => Val::Str(data.labels.get(k.as_str()).unwrap_or(&"").to_string()),
        Arg::ExternalLabels(None) => map(&data.external_labels),
        Arg::ExternalLabels(Some(k)) => Val::Str(data.external_labels.get(k.as_str()).unwrap_or(&"").to_string()),
        Arg::Value => Val::Num(data.value),
        Arg::ExternalUrl => Val::Str(data.external_url.to_string()),
        Arg::Str(s) => Val::Str(s.clone()),
        Arg::Num(n) => Val::Num(*n),
        Arg::Bool(b) => Val::Bool(*b),
        Arg::Sub(p) => run(p, data)?,
    })
}

fn run(p: &Pipeline, data: &Data) -> Result<Val, ExpandError> {
    let mut prev: Option<Val> = None;
    for cmd in p {
        let mut args = cmd.args.iter().map(|a| arg_val(a, data)).collect::<Result<Vec<Val>, ExpandError>>()?;
        if let Some(v) = prev.take() {
            args.push(v);
        }
        prev = Some(match &cmd.func {
            None => args.into_iter().next().ok_or("empty command")?,
            Some(f) => format::call(f, args)?,
        });
    }
    prev.ok_or_else(|| "empty pipeline".into())
}
