//! The *built-in packs*: the rule files of `rules/` and the runbooks of `docs/runbooks/`,
//! embedded in the binary. `rules.files` names packs as `builtin:<glob>`; `sidewatch run`
//! where `rules.files` is at its default and matches nothing uses `builtin:*.yml`, so it watches
//! itself with the packs from any folder; the runbooks are always there (see
//! `notify::template::Runbooks`). `sidewatch rules export DIR` writes both out (a test keeps
//! these lists equal to the folders).

/// `(file name, contents)` of each rule pack.
pub(crate) const RULES: &[(&str, &str)] = &[
    ("ai.yml", include_str!("../../rules/ai.yml")),
    ("health.yml", include_str!("../../rules/health.yml")),
    ("http.yml", include_str!("../../rules/http.yml")),
    ("runtime.yml", include_str!("../../rules/runtime.yml")),
    ("sidewatch.yml", include_str!("../../rules/sidewatch.yml")),
    ("slo.yml", include_str!("../../rules/slo.yml")),
    ("worker.yml", include_str!("../../rules/worker.yml")),
];

/// `(file name, contents)` of each runbook.
pub(crate) const RUNBOOKS: &[(&str, &str)] = &[
    ("AIDailySpendOverBudget.md", include_str!("../../docs/runbooks/AIDailySpendOverBudget.md")),
    ("AIFallbackRatioHigh.md", include_str!("../../docs/runbooks/AIFallbackRatioHigh.md")),
    ("AIGenerateStepErrorsHigh.md", include_str!("../../docs/runbooks/AIGenerateStepErrorsHigh.md")),
    ("AIProviderErrorRatioHigh.md", include_str!("../../docs/runbooks/AIProviderErrorRatioHigh.md")),
    ("AIProviderLatencyP95High.md", include_str!("../../docs/runbooks/AIProviderLatencyP95High.md")),
    ("DBPoolPressure.md", include_str!("../../docs/runbooks/DBPoolPressure.md")),
    ("DBQueryLatencyP95High.md", include_str!("../../docs/runbooks/DBQueryLatencyP95High.md")),
    ("HeapUsageHigh.md", include_str!("../../docs/runbooks/HeapUsageHigh.md")),
    ("Http5xxRatioHigh.md", include_str!("../../docs/runbooks/Http5xxRatioHigh.md")),
    ("HttpLatencyP95High.md", include_str!("../../docs/runbooks/HttpLatencyP95High.md")),
    ("HttpTrafficCollapse.md", include_str!("../../docs/runbooks/HttpTrafficCollapse.md")),
    ("JobsFailingPermanently.md", include_str!("../../docs/runbooks/JobsFailingPermanently.md")),
    ("LivenessFailing.md", include_str!("../../docs/runbooks/LivenessFailing.md")),
    ("QueueBacklogGrowing.md", include_str!("../../docs/runbooks/QueueBacklogGrowing.md")),
    ("RateLimitSpike.md", include_str!("../../docs/runbooks/RateLimitSpike.md")),
    ("ReadinessFailing.md", include_str!("../../docs/runbooks/ReadinessFailing.md")),
    ("RetryStorm.md", include_str!("../../docs/runbooks/RetryStorm.md")),
    ("SLOErrorBudgetBurnFast.md", include_str!("../../docs/runbooks/SLOErrorBudgetBurnFast.md")),
    ("SLOErrorBudgetBurnSlow.md", include_str!("../../docs/runbooks/SLOErrorBudgetBurnSlow.md")),
    ("SidewatchDeliveriesFailing.md", include_str!("../../docs/runbooks/SidewatchDeliveriesFailing.md")),
    ("SidewatchOutboxBacklog.md", include_str!("../../docs/runbooks/SidewatchOutboxBacklog.md")),
    ("SidewatchRuleEvaluationFailures.md", include_str!("../../docs/runbooks/SidewatchRuleEvaluationFailures.md")),
    ("SidewatchRuleIterationsMissed.md", include_str!("../../docs/runbooks/SidewatchRuleIterationsMissed.md")),
    ("SidewatchStoreNearSeriesCap.md", include_str!("../../docs/runbooks/SidewatchStoreNearSeriesCap.md")),
    ("SidewatchTargetsDown.md", include_str!("../../docs/runbooks/SidewatchTargetsDown.md")),
    ("TargetDown.md", include_str!("../../docs/runbooks/TargetDown.md")),
    ("Watchdog.md", include_str!("../../docs/runbooks/Watchdog.md")),
];

/// Writes the packs under `dir` (`rules/`, `runbooks/`), replacing files of the same name.
pub(crate) fn write(dir: &std::path::Path) -> std::io::Result<()> {
    for (sub, files) in [("rules", RULES), ("runbooks", RUNBOOKS)] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        for (name, text) in files {
            std::fs::write(d.join(name), text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    fn names(dir: &str, ext: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .filter(|n| n.ends_with(ext))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_pack_and_runbook_is_embedded() {
        let embedded = |l: &[(&str, &str)]| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        assert_eq!(embedded(super::RULES), names("rules", ".yml"), "add the new pack to src/rules/packs.rs");
        assert_eq!(
            embedded(super::RUNBOOKS),
            names("docs/runbooks", ".md"),
            "add the new runbook to src/rules/packs.rs"
        );
    }
}
