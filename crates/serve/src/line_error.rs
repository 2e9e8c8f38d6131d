//! The error of the JSON event line and its pre-signed fields (a leaf module: [`crate::ingest`]
//! and [`crate::presign`] both use it).

/// Why a line (or a pre-signed field) was refused: `field: why`, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LineError(pub String);

/// A [`LineError`] from a format string.
macro_rules! line_err {
    ($($t:tt)*) => { $crate::line_error::LineError(format!($($t)*)) };
}
/// Returns a [`LineError`] from a format string.
macro_rules! bail_line {
    ($($t:tt)*) => { return Err(line_err!($($t)*)) };
}
pub(crate) use {bail_line, line_err};

/// The result of parsing a line.
pub type Result<T, E = LineError> = std::result::Result<T, E>;
