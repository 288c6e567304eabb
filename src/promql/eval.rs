//! The *evaluator*: walks the expression tree at one evaluation time, reading the store for
//! selectors. A range query evaluates the tree once per step; a subquery does the same over
//! its own aligned steps. Selector windows are open on the left as in Prometheus 3: an instant
//! selector reads `(t - lookback, t]` and takes the newest sample unless it is a staleness
//! marker; a range selector reads `(t - range, t]` and drops staleness markers.

use super::value::{LabelOps, Sample, Series, Value};
use super::{EngineOptions, ErrorKind, QueryError, QueryOutput};
use crate::store::{Labels, MatchOp, Matcher, SeriesView, Store, is_stale};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// State of one query: limits, counters, the query's own range, and caches.
pub(crate) struct Ctx<'a> {
    pub(crate) store: &'a Store,
    pub(crate) opts: &'a EngineOptions,
    /// Query start, end and step (ms); an instant query has `start == end`, step 0.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
    samples: Cell<usize>,
    deadline: Instant,
    annotations: RefCell<Vec<String>>,
    matchers: RefCell<HashMap<usize, std::rc::Rc<Vec<Vec<Matcher>>>>>,
    /// Results shared by the queries of one rule-group evaluation (see [`super::EvalCache`]).
    pub(crate) cache: Option<&'a super::EvalCache>,
}

pub(crate) type R<T> = Result<T, QueryError>;

impl<'a> Ctx<'a> {
    pub(crate) fn new(store: &'a Store, opts: &'a EngineOptions, start: i64, end: i64, step: i64) -> Ctx<'a> {
        Ctx {
            store,
            opts,
            start,
            end,
            step,
            samples: Cell::new(0),
            deadline: Instant::now() + opts.timeout,
            annotations: RefCell::default(),
            matchers: RefCell::default(),
            cache: None,
        }
    }

    pub(crate) fn finish(self, value: Value) -> QueryOutput {
        let mut annotations = self.annotations.into_inner();
        annotations.sort();
        annotations.dedup();
        QueryOutput { value, samples: self.samples.get(), annotations }
    }

    /// Records a `PromQL warning: …` annotation.
    pub(crate) fn warn(&self, msg: impl std::fmt::Display) {
        self.annotations.borrow_mut().push(format!("PromQL warning: {msg}"));
    }

    /// Records a `PromQL info: …` annotation.
    pub(crate) fn info(&self, msg: impl std::fmt::Display) {
        self.annotations.borrow_mut().push(format!("PromQL info: {msg}"));
    }

    /// Fails when the query ran out of time.
    pub(crate) fn check_deadline(&self) -> R<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError { kind: ErrorKind::Timeout, msg: "query timed out in query execution".into() });
        }
        Ok(())
    }

    fn count_samples(&self, n: usize) -> R<()> {
        let total = self.samples.get() + n;
        self.samples.set(total);
        if total > self.opts.max_samples {
            return Err(QueryError::exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    /// Evaluates `e` at `t` (ms).
    pub(crate) fn eval(&self, e: &Expr, t: i64) -> R<Value> {
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => Ok(Value::Vector(
                    v.into_iter().map(|s| Sample { labels: s.labels.into_without_name(), t, v: -s.v }).collect(),
                )),
                other => Err(QueryError::bad(format!("unary expression not allowed on {}", other.type_name()))),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.select_instant(vs, t)?)),
            Expr::MatrixSelector(ms) => {
                let mut out = Vec::new();
                self.visit_range(ms, t, |view, _, _, it| {
                    let points: Vec<(i64, f64)> = it.collect();
                    if !points.is_empty() {
                        out.push(Series { labels: view.labels(false), points });
                    }
                    Ok(())
                })?;
                Ok(Value::Matrix(out))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?)),
            Expr::Binary(b) => super::binary::eval(self, b, t),
            Expr::Aggregate(a) => self.cached(e, t, || super::aggregate::eval(self, a, t)),
            Expr::Call(c) => self.cached(e, t, || super::functions::call(self, c, t)),
            Expr::Extension(_) => Err(QueryError::bad("unsupported expression")),
        }
    }

    /// Whether the rule-group cache holds the result of `e` at `t` (then evaluating it is a copy).
    pub(crate) fn is_cached(&self, e: &Expr, t: i64) -> bool {
        self.cache.is_some_and(|c| c.contains(&(e.to_string(), t, self.start, self.end)))
    }

    /// `f()`, or the result an earlier query of the same rule-group evaluation got for the
    /// same expression at the same time. Only expressions that read the store are worth it.
    fn cached(&self, e: &Expr, t: i64, f: impl Fn() -> R<Value>) -> R<Value> {
        let Some(cache) = self.cache else { return f() };
        let cell = cache.cell((e.to_string(), t, self.start, self.end));
        let mut mine = None;
        let kept = cell.get_or_init(|| {
            let r = f();
            // Small results only: the repeated aggregations are small, and copying a large
            // vector would cost memory for little gain. Errors are not kept either.
            let keep = match &r {
                Ok(Value::Vector(x)) => x.len() <= super::EvalCache::MAX_SAMPLES,
                Ok(Value::Matrix(m)) => m.len() <= super::EvalCache::MAX_SAMPLES / 8,
                Ok(_) => true,
                Err(_) => false,
            };
            let kept = if keep { r.as_ref().ok().cloned() } else { None };
            mine = Some(r);
            kept
        });
        match (mine, kept) {
            (Some(r), _) => r,
            (None, Some(v)) => Ok(v.clone()),
            // Computed by another query, but not kept: compute it here too.
            (None, None) => f(),
        }
    }

    /// Evaluates `e` expecting an instant vector.
    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> R<Vec<Sample>> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(QueryError::bad(format!("expected instant vector, got {}", other.type_name()))),
        }
    }

    /// Evaluates `e` expecting a scalar.
    pub(crate) fn eval_scalar(&self, e: &Expr, t: i64) -> R<f64> {
        match self.eval(e, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(QueryError::bad(format!("expected scalar, got {}", other.type_name()))),
        }
    }

    /// Evaluates `e` at every step and joins the results into series (a range query).
    pub(crate) fn eval_range(&self, e: &Expr, start: i64, end: i64, step: i64) -> R<Value> {
        let mut acc = Accumulator::default();
        let mut t = start;
        let mut points = 0usize;
        while t <= end {
            self.check_deadline()?;
            match self.eval(e, t)? {
                Value::Scalar(v) => acc.push(&Labels::default(), t, v),
                Value::Vector(v) => {
                    points += v.len();
                    if points > self.opts.max_points {
                        return Err(QueryError::exec(format!(
                            "query processing would load too many samples into memory in query execution: the \
                             result would hold more than {} points (query.max_points)",
                            self.opts.max_points
                        )));
                    }
                    for s in check_unique(v)? {
                        acc.push(&s.labels, t, s.v);
                    }
                }
                other => {
                    let ty = if matches!(other, Value::Matrix(_)) { "range vector" } else { "string" };
                    return Err(QueryError::bad(format!(
                        "invalid expression type \"{ty}\" for range query, must be Scalar or instant Vector"
                    )));
                }
            }
            t += step;
        }
        Ok(Value::Matrix(acc.into_series()))
    }

    /// The time a selector or subquery reads at: its `@` time (or `t`) minus its offset.
    pub(crate) fn ref_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_ms(*st),
        };
        base - offset_ms(offset)
    }

    /// The store matchers of a selector, one set per `or` alternative (compiled once per query).
    fn matchers_of(&self, vs: &VectorSelector) -> R<std::rc::Rc<Vec<Vec<Matcher>>>> {
        let key = vs as *const VectorSelector as usize;
        if let Some(m) = self.matchers.borrow().get(&key) {
            return Ok(m.clone());
        }
        let convert = |ms: &[promql_parser::label::Matcher]| -> R<Vec<Matcher>> {
            let mut out = Vec::with_capacity(ms.len() + 1);
            if let Some(name) = &vs.name
                && !ms.iter().any(|m| m.name == super::value::NAME)
            {
                out.push(Matcher::eq(super::value::NAME, name));
            }
            for m in ms {
                let op = match m.op {
                    PMatchOp::Equal => MatchOp::Equal,
                    PMatchOp::NotEqual => MatchOp::NotEqual,
                    PMatchOp::Re(_) => MatchOp::Regex,
                    PMatchOp::NotRe(_) => MatchOp::NotRegex,
                };
                let m = Matcher::new(op, m.name.clone(), m.value.clone())
                    .map_err(|e| QueryError::bad(format!("invalid regular expression {:?}: {e}", m.value)))?;
                out.push(m);
            }
            Ok(out)
        };
        let sets = if vs.matchers.or_matchers.is_empty() {
            vec![convert(&vs.matchers.matchers)?]
        } else {
            vs.matchers.or_matchers.iter().map(|set| convert(set)).collect::<R<Vec<_>>>()?
        };
        let sets = std::rc::Rc::new(sets);
        self.matchers.borrow_mut().insert(key, sets.clone());
        Ok(sets)
    }

    /// Calls `f` with each series of `vs` that has samples in `[start, end]`, streaming them.
    /// A series matched by several `or` sets of matchers is visited once.
    fn visit_raw(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
        mut f: impl FnMut(&SeriesView<'_>, &mut dyn Iterator<Item = (i64, f64)>) -> R<()>,
    ) -> R<()> {
        let sets = self.matchers_of(vs)?;
        let mut seen = std::collections::HashSet::new();
        let mut result = Ok(());
        let mut n = 0usize;
        for set in sets.iter() {
            let mut count = 0usize;
            self.store.visit_series(set, start, end, |view, it| {
                if result.is_err() || (sets.len() > 1 && !seen.insert(view.id())) {
                    return;
                }
                n += 1;
                if n.is_multiple_of(4096)
                    && let Err(e) = self.check_deadline()
                {
                    result = Err(e);
                    return;
                }
                let mut counted = it.inspect(|_| count += 1);
                result = f(view, &mut counted);
            });
            result.clone()?;
            self.count_samples(count)?;
        }
        result
    }

    /// The instant vector of `vs` at `t`: per series the newest sample in the lookback window,
    /// unless it is a staleness marker.
    pub(crate) fn select_instant(&self, vs: &VectorSelector, t: i64) -> R<Vec<Sample>> {
        let te = self.ref_time(&vs.at, &vs.offset, t);
        let sets = self.matchers_of(vs)?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for set in sets.iter() {
            self.store.visit_last(set, te - self.opts.lookback_ms + 1, te, |labels, st, v| {
                if !is_stale(v) && (sets.len() == 1 || seen.insert(labels.clone())) {
                    out.push(Sample { labels: labels.clone(), t: st, v });
                }
            });
        }
        self.check_deadline()?;
        self.count_samples(out.len())?;
        Ok(out)
    }

    /// Calls `f(series, window_start, window_end, samples)` for each series of a range
    /// selector at `t`, the samples streamed without staleness markers.
    pub(crate) fn visit_range(
        &self,
        ms: &MatrixSelector,
        t: i64,
        mut f: impl FnMut(&SeriesView<'_>, i64, i64, &mut dyn Iterator<Item = (i64, f64)>) -> R<()>,
    ) -> R<()> {
        let vs = &ms.vs;
        let te = self.ref_time(&vs.at, &vs.offset, t);
        let start = te - ms.range.as_millis() as i64;
        self.visit_raw(vs, start + 1, te, |view, it| {
            let mut live = it.filter(|(_, v)| !is_stale(*v));
            f(view, start, te, &mut live)
        })
    }

    /// Evaluates a subquery at `t` into one series per label set.
    pub(crate) fn subquery(&self, sq: &SubqueryExpr, t: i64) -> R<Vec<Series>> {
        let te = self.ref_time(&sq.at, &sq.offset, t);
        let step = sq.step.map(|s| s.as_millis() as i64).unwrap_or(self.opts.default_subquery_step_ms).max(1);
        let mint = te - sq.range.as_millis() as i64;
        let mut ts = step * (mint / step);
        if ts <= mint {
            ts += step;
        }
        let mut acc = Accumulator::default();
        while ts <= te {
            self.check_deadline()?;
            match self.eval(&sq.expr, ts)? {
                Value::Scalar(v) => acc.push(&Labels::default(), ts, v),
                Value::Vector(v) => {
                    for s in v {
                        acc.push(&s.labels, ts, s.v);
                    }
                }
                other => return Err(QueryError::bad(format!("subquery of {} is not allowed", other.type_name()))),
            }
            ts += step;
        }
        Ok(acc.into_series())
    }
}

/// Every selector of `e` with how far back before the evaluation time it reads (ms): its
/// range and offset plus the ranges and offsets of enclosing subqueries (an `@` subquery starts
/// over from its fixed time). The one walk behind the retention check, rule-derived retention
/// and the conformance runner's selector scan.
pub(crate) fn selector_spans(e: &Expr) -> Vec<(&VectorSelector, i64)> {
    fn walk<'e>(e: &'e Expr, base: i64, out: &mut Vec<(&'e VectorSelector, i64)>) {
        match e {
            Expr::VectorSelector(vs) => out.push((vs, base + offset_ms(&vs.offset))),
            Expr::MatrixSelector(ms) => {
                out.push((&ms.vs, base + offset_ms(&ms.vs.offset) + ms.range.as_millis() as i64))
            }
            Expr::Subquery(sq) => {
                let base = if sq.at.is_some() { 0 } else { base + offset_ms(&sq.offset) + sq.range.as_millis() as i64 };
                walk(&sq.expr, base, out)
            }
            Expr::Aggregate(a) => {
                walk(&a.expr, base, out);
                if let Some(p) = &a.param {
                    walk(p, base, out);
                }
            }
            Expr::Unary(u) => walk(&u.expr, base, out),
            Expr::Binary(b) => {
                walk(&b.lhs, base, out);
                walk(&b.rhs, base, out);
            }
            Expr::Paren(p) => walk(&p.expr, base, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, base, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(e, 0, &mut out);
    out
}

/// A warning when a selector's window (its range, offsets and enclosing subquery ranges)
/// reaches further back than the store keeps that metric: the query is answered with what the
/// store holds, as Prometheus answers with what its TSDB holds, and says so.
pub(crate) fn retention_warning(store: &Store, e: &Expr) -> Option<String> {
    for (vs, span) in selector_spans(e) {
        let keep = store.retention_of(vs.name.as_deref());
        if vs.at.is_none() && span > keep {
            let d = |ms: i64| crate::config::Duration(std::time::Duration::from_millis(ms.max(0) as u64));
            return Some(format!(
                "PromQL warning: the window of {} reaches back {} (range, offset and enclosing subqueries), beyond the store's retention of {} for it (store.retention): the result covers only the data the store holds",
                vs,
                d(span),
                d(keep)
            ));
        }
    }
    None
}

/// Joins per-step samples into series.
#[derive(Default)]
pub(crate) struct Accumulator {
    index: HashMap<Labels, usize>,
    series: Vec<Series>,
}

impl Accumulator {
    pub(crate) fn push(&mut self, labels: &Labels, t: i64, v: f64) {
        let i = match self.index.get(labels) {
            Some(&i) => i,
            None => {
                self.series.push(Series { labels: labels.clone(), points: Vec::new() });
                self.index.insert(labels.clone(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.series[i].points.push((t, v));
    }

    pub(crate) fn into_series(mut self) -> Vec<Series> {
        self.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.series
    }
}

/// Fails with Prometheus' error when two samples carry the same label set.
pub(crate) fn check_unique(v: Vec<Sample>) -> R<Vec<Sample>> {
    if v.len() > 1 {
        let mut seen: std::collections::HashSet<&Labels, crate::store::FastHash> =
            std::collections::HashSet::with_capacity_and_hasher(v.len(), Default::default());
        for s in &v {
            if !seen.insert(&s.labels) {
                return Err(QueryError::exec("vector cannot contain metrics with the same labelset"));
            }
        }
    }
    Ok(v)
}

/// Milliseconds since the epoch (negative before it).
pub(crate) fn system_ms(st: SystemTime) -> i64 {
    match st.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// An offset in ms (negative for `offset -5m`).
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}
