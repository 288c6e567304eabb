//! *Scraping*: fetching a target's `/metrics` and health endpoints on an interval and turning
//! what comes back into samples for the store.

pub(crate) mod client;
pub(crate) mod parse;
pub(crate) mod relabel;
pub(crate) mod target;
