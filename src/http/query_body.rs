//! The *query response body*, written straight to bytes: a range query's answer can hold a
//! million points, and a JSON value tree of them took ~150 bytes a point (one abusive query
//! grew the process by hundreds of MiB). Written here it takes the ~30 bytes a point its text
//! takes, and stops as soon as it passes `query.max_response_bytes`.

use crate::promql::{QueryError, QueryOutput, Value};
use crate::store::Labels;
use std::io::Write;

/// Appends `v` as JSON (serde_json's formatting, so numbers print as they always did).
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(&mut *out, v).expect("JSON to a Vec cannot fail");
}

fn point(out: &mut Vec<u8>, t: i64, v: f64) {
    let ts = serde_json::Number::from_f64(t as f64 / 1000.0);
    out.push(b'[');
    put(out, &ts);
    out.push(b',');
    put(out, &crate::promql::format_value(v));
    out.push(b']');
}

fn metric(out: &mut Vec<u8>, l: &Labels) {
    out.push(b'{');
    for (i, (k, v)) in l.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put(out, &**k);
        out.push(b':');
        put(out, &**v);
    }
    out.push(b'}');
}

fn too_large(max: usize) -> QueryError {
    QueryError::exec(format!(
        "the response would be larger than {max} bytes (query.max_response_bytes); narrow the query or raise the limit"
    ))
}

/// The success body of a query evaluated at `t` (ms), at most `max` bytes.
pub(crate) fn success(out: QueryOutput, t: i64, max: usize) -> Result<Vec<u8>, QueryError> {
    let mut b: Vec<u8> = Vec::with_capacity(256);
    let kind = match &out.value {
        Value::Scalar(_) => "scalar",
        Value::String(_) => "string",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
    };
    write!(b, "{{\"status\":\"success\",\"data\":{{\"resultType\":\"{kind}\",\"result\":").expect("Vec write");
    match &out.value {
        Value::Scalar(v) => point(&mut b, t, *v),
        Value::String(s) => {
            let ts = serde_json::Number::from_f64(t as f64 / 1000.0);
            put(&mut b, &(ts, s));
        }
        Value::Vector(v) => {
            b.push(b'[');
            for (i, s) in v.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                b.extend_from_slice(b"{\"metric\":");
                metric(&mut b, &s.labels);
                b.extend_from_slice(b",\"value\":");
                point(&mut b, t, s.v);
                b.push(b'}');
                if b.len() > max {
                    return Err(too_large(max));
                }
            }
            b.push(b']');
        }
        Value::Matrix(m) => {
            b.push(b'[');
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                b.extend_from_slice(b"{\"metric\":");
                metric(&mut b, &s.labels);
                b.extend_from_slice(b",\"values\":[");
                for (j, &(t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        b.push(b',');
                    }
                    point(&mut b, t, v);
                }
                b.extend_from_slice(b"]}");
                if b.len() > max {
                    return Err(too_large(max));
                }
            }
            b.push(b']');
        }
    }
    b.push(b'}');
    let (warnings, infos): (Vec<String>, Vec<String>) =
        out.annotations.into_iter().partition(|a| a.starts_with("PromQL warning"));
    if !warnings.is_empty() {
        b.extend_from_slice(b",\"warnings\":");
        put(&mut b, &warnings);
    }
    if !infos.is_empty() {
        b.extend_from_slice(b",\"infos\":");
        put(&mut b, &infos);
    }
    b.push(b'}');
    if b.len() > max {
        return Err(too_large(max));
    }
    Ok(b)
}
