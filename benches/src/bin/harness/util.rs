//! Small helpers every section uses: the error type, progress lines and rates.

use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub fn fail(msg: impl Into<String>) -> Box<dyn std::error::Error + Send + Sync> {
    msg.into().into()
}

/// A progress line on stderr, stamped with the seconds since the run started.
pub fn log(msg: impl AsRef<str>) {
    eprintln!(
        "[{:>7.1}s] {}",
        START.with(|s| s.elapsed().as_secs_f64()),
        msg.as_ref()
    );
}

thread_local! {
    pub static START: Instant = Instant::now();
}

pub fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Rounds a non-negative figure (a group size, a rank) to the nearest integer.
#[expect(
    clippy::cast_possible_truncation,
    reason = "group sizes and ranks are small non-negative figures"
)]
pub fn round_usize(x: f64) -> usize {
    x.max(0.0).round() as usize
}
