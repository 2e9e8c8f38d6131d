//! The result table: one row per target, printed as Markdown.

use caseledger_bench::stats::si;
use std::fmt::Write as _;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    NotMeasured,
    /// Reported, with no goal (yet).
    Reported,
}

pub struct Row {
    pub target: String,
    pub floor: String,
    pub ours: String,
    pub ratio: String,
    pub goal: String,
    pub verdict: Verdict,
    pub note: String,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// A row of caseledger's median `ours` against the floor's median, met when the ratio
    /// reaches `goal`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per row reads as the row's columns"
    )]
    pub fn ratio_row(
        &mut self,
        target: &str,
        floor_name: &str,
        floor: f64,
        ours: f64,
        unit: &str,
        goal: f64,
        note: String,
    ) {
        let ratio = if floor > 0.0 { ours / floor } else { 0.0 };
        self.rows.push(Row {
            target: target.to_owned(),
            floor: format!("{floor_name} {} {unit}", si(floor)),
            ours: format!("{} {unit}", si(ours)),
            ratio: format!("{:.0}%", ratio * 100.0),
            goal: format!(">= {:.0}% of {floor_name}", goal * 100.0),
            verdict: if ratio >= goal {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note,
        });
    }
    /// A row of caseledger's median `ours` as a share of a peer's median, with no goal.
    pub fn info_row(
        &mut self,
        target: &str,
        floor_name: &str,
        floor: f64,
        ours: f64,
        unit: &str,
        note: String,
    ) {
        let ratio = if floor > 0.0 { ours / floor } else { 0.0 };
        self.rows.push(Row {
            target: target.to_owned(),
            floor: format!("{floor_name} {} {unit}", si(floor)),
            ours: format!("{} {unit}", si(ours)),
            ratio: format!("{:.0}%", ratio * 100.0),
            goal: "none (reported)".to_owned(),
            verdict: Verdict::Reported,
            note,
        });
    }
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "| target | floor (median) | caseledger (median) | ratio | goal | result | notes |\n",
        );
        s.push_str("|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let v = match r.verdict {
                Verdict::Met => "met",
                Verdict::NotMet => "NOT met",
                Verdict::NotMeasured => "not measured",
                Verdict::Reported => "-",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.target, r.floor, r.ours, r.ratio, r.goal, v, r.note
            );
        }
        s
    }
}

/// Per-repetition rates for a notes column: `12.3k, 12.5k, 11.9k`.
pub fn fmt_rates(v: &[f64]) -> String {
    v.iter().map(|x| si(*x)).collect::<Vec<_>>().join(", ")
}

/// Per-repetition seconds for a notes column: `1.23, 1.25`.
pub fn fmt_secs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}
