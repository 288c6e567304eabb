//! *Sending a digest*: each written digest goes through the outbox to `digest.receivers`, as a
//! [report message](crate::notify::model::ReportMessage) — recorded in the delivery history
//! and retried like any notification — and, with `digest.notify_held`, a digest the evidence
//! gate held back is announced with observed against required counts. The job delivers what
//! is due at once; a running sidewatch's workers retry what fails.

use super::{Ctx, ReportError};
use crate::notify::model::{
    AlertData, AlertStatus, InlineImage, Map, Notification, ReportMessage, ZERO_TIME, fingerprint, rfc3339,
};
use serde_json::Value;

/// Queues `msg` for every `digest.receivers` entry under group `group`; returns the rows
/// delivered now.
async fn queue(ctx: &Ctx, group: &str, msg: ReportMessage) -> Result<usize, ReportError> {
    let receivers = &ctx.cfg.digest.receivers;
    if receivers.is_empty() {
        return Ok(0);
    }
    let plan = crate::notify::Plan::build(&ctx.cfg.notify, &ctx.base_dir, &ctx.cfg.external_url())
        .map_err(|e| ReportError::Compute(format!("[notify]: {e}")))?;
    let labels: Map = [("alertname", "WeeklyDigest"), ("digest", group), ("severity", "info")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let alert = AlertData {
        status: AlertStatus::Firing,
        fingerprint: format!("{:016x}", fingerprint(&labels)),
        annotations: [("summary".to_string(), msg.headline.clone())].into(),
        labels: labels.clone(),
        starts_at: rfc3339(ctx.now),
        ends_at: ZERO_TIME.into(),
        generator_url: msg.link.clone(),
        sidewatch: None,
    };
    let mut out = Vec::new();
    for r in receivers {
        let mut n = Notification::build(
            r,
            &format!("digest:{group}"),
            &labels,
            &ctx.cfg.external_url(),
            vec![alert.clone()],
            0,
        );
        n.sidewatch_kind = Some("digest".into());
        n.report = Some(msg.clone());
        out.push(crate::notify::dispatch::Outgoing {
            receiver: r.clone(),
            kind: "digest".into(),
            notification: n,
            suppressed: None,
            reminder: None,
        });
    }
    crate::notify::enqueue(&plan, &ctx.storage, out, ctx.now).await?;
    Ok(crate::notify::deliver_due(&plan, &ctx.storage).await)
}

/// The top lines of a digest: its incident groups, flagged KPIs, error budget, failures.
fn lines(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for g in doc["incident_groups"].as_array().into_iter().flatten().take(3) {
        out.push(format!(
            "{} — {}, {} incident(s), {}",
            g["alert"].as_str().unwrap_or(""),
            g["sev"].as_str().unwrap_or(""),
            g["count"],
            g["median_mttr_text"].as_str().unwrap_or("")
        ));
    }
    for f in doc["display"]["funnels"].as_array().into_iter().flatten().filter(|f| f["flagged"] == true) {
        out.push(format!(
            "{} {} ({}, {})",
            f["name"].as_str().unwrap_or(""),
            f["latest"].as_str().unwrap_or(""),
            f["change"].as_str().unwrap_or(""),
            f["severity"].as_str().unwrap_or("")
        ));
    }
    if !doc["availability"]["error_budget_left"].is_null() {
        out.push(format!("Error budget: {}", doc["display"]["availability"]["budget"].as_str().unwrap_or("")));
    }
    let failed = doc["failed_deliveries"]["total"].as_u64().unwrap_or(0);
    if failed > 0 {
        out.push(format!("{failed} notification(s) failed for good"));
    }
    out.truncate(6);
    out
}

/// Sends a written digest: `doc` its JSON, `md` its Markdown, `charts` (name, SVG).
pub(crate) async fn written(
    ctx: &Ctx,
    key: &str,
    doc: &Value,
    md: &str,
    charts: &[(String, String)],
) -> Result<usize, ReportError> {
    if ctx.cfg.digest.receivers.is_empty() {
        return Ok(0);
    }
    use base64::Engine as _;
    let mut images = Vec::new();
    for (name, svg) in charts {
        match super::html::png(svg) {
            Ok(png) => images.push(InlineImage {
                cid: format!("chart-{name}"),
                png_base64: base64::engine::general_purpose::STANDARD.encode(png),
            }),
            Err(e) => {
                tracing::warn!(chart = %name, error = %e, "digest chart not rasterized; the email shows its name")
            }
        }
    }
    let title = format!("Weekly digest {key}");
    let html = super::html::page(&title, md, &|link: &str| {
        let name = link.rsplit('/').next().unwrap_or(link).trim_end_matches(".svg");
        format!("cid:chart-{name}")
    });
    let msg = ReportMessage {
        title,
        headline: doc["headline"].as_str().unwrap_or("").to_string(),
        lines: lines(doc),
        link: format!("{}/ops#reports", ctx.cfg.external_url()),
        text: md.to_string(),
        html,
        json: doc.clone(),
        images,
    };
    queue(ctx, key, msg).await
}

/// Announces a digest the evidence gate held back (`digest.notify_held`).
pub(crate) async fn held(ctx: &Ctx, key: &str, answer: &Value) -> Result<usize, ReportError> {
    if !ctx.cfg.digest.notify_held {
        return Ok(0);
    }
    let (o, r) = (&answer["observed"], &answer["required"]);
    let headline = format!(
        "Not enough evidence for the weekly digest of {key}: {} events and {} LLM calls observed, {} and {} required.",
        o["events"], o["llm_calls"], r["events"], r["llm_calls"]
    );
    let text = format!("{headline}\n\nNothing was written. The next scheduled run tries again.\n");
    let msg = ReportMessage {
        title: format!("Weekly digest {key} held"),
        html: super::html::page("Weekly digest held", &text, &|l: &str| l.to_string()),
        headline,
        lines: vec![
            format!("Events: {} of {}", o["events"], r["events"]),
            format!("LLM calls: {} of {}", o["llm_calls"], r["llm_calls"]),
        ],
        link: String::new(),
        text,
        json: answer.clone(),
        images: Vec::new(),
    };
    queue(ctx, &format!("{key}-held"), msg).await
}
