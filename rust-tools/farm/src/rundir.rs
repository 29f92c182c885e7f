//! Run directories: `<run root>/<UTC stamp>-<pid>-<n>/`, one per farm, with
//! one subdirectory per VM (its 9p share: mailbox, console log, collected
//! files). Old runs are pruned so the root keeps the newest few.

use crate::error::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many run directories are kept under the run root.
pub const KEEP_RUNS: usize = 10;

/// Creates a fresh run directory under `root` (absolute) and prunes old ones.
pub fn create(root: &Path) -> Result<PathBuf> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    let root = root
        .canonicalize()
        .with_context(|| format!("resolve {}", root.display()))?;
    prune(&root, KEEP_RUNS.saturating_sub(1));
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!(
        "{}-{}-{}",
        utc_stamp(secs),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let dir = root.join(name);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// Deletes all but the newest `keep` run directories under `root`.
fn prune(root: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    for old in &runs[..excess] {
        let _ = fs::remove_dir_all(old);
    }
}

/// `YYYYmmdd-HHMMSS` (UTC) for a Unix time.
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_764_047_105), "20251125-050505");
    }
}
