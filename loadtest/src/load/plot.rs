//! `--plot FILE.svg`: bitrate, loss and latency over time.

use std::path::Path;

use super::Report;

pub fn draw(_report: &Report, _path: &Path) -> anyhow::Result<()> {
    anyhow::bail!("--plot is not implemented yet")
}
