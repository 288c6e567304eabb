//! The *store settings*: `[store]`, the limits and persistence of the in-memory time-series
//! store.

use crate::config::{Duration, Invalid};
use serde::{Deserialize, Serialize};

/// `[store]`: the in-memory time-series store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    /// Keep samples at least this long (minimum 1h). Metrics that rules read further back
    /// (longer ranges, offsets) are kept as long as those rules need, plus this margin.
    pub(crate) retention: Duration,
    /// Most series the store holds, recording-rule outputs included; scrapes that would pass
    /// it fail with a clear error.
    pub(crate) max_series: usize,
    /// How often the store is written to its checkpoint file (also at shutdown).
    pub(crate) checkpoint_interval: Duration,
    /// The checkpoint file. Empty means next to the SQLite database (`<db>.store`), or
    /// `data/sidewatch.store` with PostgreSQL.
    pub(crate) checkpoint_path: String,
    /// Where sealed chunks (full, read-only) are kept: `"files"` writes them to segment files
    /// in a directory beside the checkpoint (`<checkpoint>.chunks/`) read through a memory map,
    /// so only the pages queries read are resident, as Prometheus does with `chunks_head`;
    /// `"memory"` keeps them on the heap.
    pub(crate) sealed_chunks: SealedChunks,
}

/// `store.sealed_chunks`: where full chunks live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SealedChunks {
    /// Segment files beside the checkpoint, memory-mapped for reading.
    #[default]
    Files,
    /// On the heap.
    Memory,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Duration::from_secs(6 * 3600),
            max_series: 1_000_000,
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_path: String::new(),
            sealed_chunks: SealedChunks::Files,
        }
    }
}

/// Checks `[store]`; `invalid(path, message)` formats one error.
pub(crate) fn validate(store: &StoreConfig, invalid: Invalid<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if store.retention < Duration::from_secs(3600) {
        errors.push(invalid(&["store", "retention"], "must be at least 1h"));
    }
    if store.max_series == 0 {
        errors.push(invalid(&["store", "max_series"], "must be at least 1"));
    }
    if store.checkpoint_interval.get().is_zero() {
        errors.push(invalid(&["store", "checkpoint_interval"], "must be longer than 0s"));
    }
    errors
}
