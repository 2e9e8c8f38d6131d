//! `caseledger sample`: a deterministic generator of a realistic, entirely synthetic small
//! practice in the JSONL ingest format (DESIGN.md, "Ingest format").
//!
//! The output imports into a freshly `init`ed ledger with no other step: its first lines enrol
//! the practice's actors, signed by `admin` (the admin `caseledger init` creates).
//!
//! # Assumptions the output relies on
//!
//! * **Seqs.** `caseledger init` writes the genesis entry as seq 0 and nothing else, and
//!   `caseledger import` appends the file's lines in order, one entry per line, so line `i`
//!   of the file (1-based) becomes seq `i`. Amendment lines name their target by that seq
//!   (`"amends": <seq>`); the generator tracks the seq of every line it emits.
//! * **The ledger's clock.** The importer stamps every line with `recorded_at` = now. All
//!   `occurred_on` dates are on or before [`END`] (2026-06-30), so the ledger never sees a
//!   date in its future when imported on or after that day.
//! * **Order.** Lines are sorted globally by `occurred_on` (ties: administration first, then
//!   clinical events in the order generated, then the custodian's), as a record system
//!   feeding the ledger over eight years would have written them. Within a record that is
//!   causal order: opened first, a termination dated on or after everything before it,
//!   resumptions only after a termination, amendments after their target, holds released
//!   only after being placed, nothing after a destruction.
//! * **Destruction.** Lawfulness is judged at the import's `recorded_at`, not at
//!   `occurred_on`; destructions are dated on annual purge days no earlier than the day
//!   retention ran out (termination + 5 years + 1 day) and only records terminated before
//!   2021-06-01 are destroyed, so they are lawful at any import date after [`END`].
//! * **Private practice.** One record terminates without a written termination notice; it
//!   shows as an (11)(F) gap when the ledger is `init`ed with `--private-practice`.
//!
//! Everything (ids, dates, text) is a pure function of `(clients, seed)`: ChaCha8 seeded
//! with `seed`, and no iteration over hash maps.

use caseledger_core::time::{Date, TimeError};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::{self, Write};

/// A civil date as (year, month, day).
pub type Ymd = (i32, u32, u32);

/// First day of the practice's history.
pub const START: Ymd = (2018, 7, 1);
/// Last day of the practice's history: no `occurred_on` is later.
pub const END: Ymd = (2026, 6, 30);

/// The admin created by `caseledger init`; it signs the enrolment lines.
const ADMIN: &str = "admin";
/// The custodian: holds and destructions.
const CUSTODIAN: &str = "custodian-01";
/// Licensees enrolled at the start.
const FOUNDING: [&str; 6] = ["lic-01", "lic-02", "lic-03", "lic-04", "lic-05", "lic-06"];
/// The licensee who leaves (key revoked) and the day their key is revoked.
const LEAVER: &str = "lic-06";
const LEAVES_ON: Ymd = (2023, 9, 29);
/// Who takes over the leaver's clients.
const SUCCESSOR: &str = "lic-02";
/// A licensee who joins later, and when.
const JOINER: &str = "lic-07";
const JOINS_ON: Ymd = (2022, 1, 10);
/// Annual purge days (lawful destruction of records whose retention ran out).
const PURGES: [Ymd; 3] = [(2024, 6, 3), (2025, 6, 2), (2026, 6, 1)];
/// Terminations on or after this day are never destroyed (see the module docs).
const DESTROY_BEFORE: Ymd = (2021, 6, 1);
/// The hold still in force, and the released one: (matter, placed, released).
const HOLD_IN_FORCE: (&str, Ymd) = ("State Committee investigation SC-2024-0117", (2024, 3, 12));
const HOLD_RELEASED: (&str, Ymd, Ymd) = (
    "State Committee investigation SC-2022-0031",
    (2022, 5, 2),
    (2023, 11, 15),
);

// ---------------------------------------------------------------------------------------
// Dates as day numbers (days since 1970-01-01), for cheap arithmetic in the generator; the
// calendar itself is jiff's, and the lawful date is core's rule, not a second copy of it.

const EPOCH: jiff::civil::Date = jiff::civil::date(1970, 1, 1);

fn days(ymd: Ymd) -> i64 {
    // Dates here are 2018-2032 (module docs): the conversions cannot fail.
    let (y, m, d) = ymd;
    let date = jiff::civil::Date::new(
        i16::try_from(y).unwrap_or(1970),
        i8::try_from(m).unwrap_or(1),
        i8::try_from(d).unwrap_or(1),
    )
    .unwrap_or(EPOCH);
    civil_days(date)
}

fn civil_days(date: jiff::civil::Date) -> i64 {
    i64::from((date - EPOCH).get_days())
}

fn date_of(z: i64) -> Result<Date, TimeError> {
    let civil = EPOCH
        .checked_add(jiff::Span::new().days(z))
        .map_err(|_| TimeError::OutOfRange)?;
    Date::from_civil(civil)
}

fn iso(z: i64) -> String {
    date_of(z).map(|d| d.to_string()).unwrap_or_default()
}

/// First day destruction is lawful: core's rule (`terminated + 5 years`, Feb 29 -> Feb 28,
/// plus a day).
fn lawful_from(terminated: i64) -> i64 {
    date_of(terminated)
        .and_then(caseledger_core::record::lawful_from)
        .map(|d| civil_days(d.civil()))
        .unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------
// Generated lines before ordering.

/// Sort class within a day: administration, clinical, custodian.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Admin,
    Clinical,
    Custodian,
}

struct Gen {
    date: i64,
    class: Class,
    /// Generation order (the tie-break after date and class).
    order: usize,
    kind: &'static str,
    author: String,
    record: Option<String>,
    payload: Option<String>,
    actor: Option<String>,
    role: Option<&'static str>,
    /// Index (into the generated list) of the amended line.
    amends: Option<usize>,
    matter: Option<String>,
    reason: Option<String>,
}

/// One ingest line, fields in the order DESIGN.md lists them.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    kind: &'a str,
    occurred_on: String,
    author: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amends: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matter: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// What the generator remembers about a record after its clinical history.
struct RecordSummary {
    id: String,
    /// Final termination date when the record ends terminated.
    terminated: Option<i64>,
    last_event: i64,
}

struct Generator {
    rng: ChaCha8Rng,
    lines: Vec<Gen>,
}

impl Generator {
    fn push(&mut self, mut g: Gen) -> usize {
        g.order = self.lines.len();
        self.lines.push(g);
        self.lines.len() - 1
    }

    fn admin(&mut self, date: i64, kind: &'static str, actor: &str, role: Option<&'static str>) {
        self.push(Gen {
            date,
            class: Class::Admin,
            order: 0,
            kind,
            author: ADMIN.to_owned(),
            record: None,
            payload: None,
            actor: Some(actor.to_owned()),
            role,
            amends: None,
            matter: None,
            reason: None,
        });
    }

    fn custodian(
        &mut self,
        date: i64,
        record: &str,
        kind: &'static str,
        matter: Option<&str>,
        reason: Option<String>,
    ) {
        self.push(Gen {
            date,
            class: Class::Custodian,
            order: 0,
            kind,
            author: CUSTODIAN.to_owned(),
            record: Some(record.to_owned()),
            payload: None,
            actor: None,
            role: None,
            amends: None,
            matter: matter.map(str::to_owned),
            reason,
        });
    }

    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool.choose(&mut self.rng).copied().unwrap_or("")
    }

    /// `n` distinct items of `pool` in random order, joined by `sep`.
    fn some(&mut self, pool: &[&str], n: usize, sep: &str) -> String {
        let mut chosen: Vec<&str> = pool
            .choose_multiple(&mut self.rng, n.min(pool.len()))
            .copied()
            .collect();
        chosen.shuffle(&mut self.rng);
        chosen.join(sep)
    }

    /// A paragraph of `n` sentences drawn from `pool`, without repeats.
    fn sentences(&mut self, pool: &[&str], n: usize) -> String {
        self.some(pool, n, " ")
    }
}

/// One client's clinical history, written by `licensee` (or the successor after the leaver's
/// departure).
struct Client<'g> {
    g: &'g mut Generator,
    id: String,
    label: String,
    licensee: &'static str,
    problem: &'static str,
    last: i64,
}

impl Client<'_> {
    fn author_on(&self, date: i64) -> &'static str {
        if self.licensee == LEAVER && date >= days(LEAVES_ON) {
            SUCCESSOR
        } else {
            self.licensee
        }
    }

    fn event(&mut self, date: i64, kind: &'static str, payload: String) -> usize {
        self.last = self.last.max(date);
        let author = self.author_on(date).to_owned();
        let payload = format!(
            "SYNTHETIC SAMPLE - not a real client. {} ({}), {}. {}",
            self.label,
            self.id,
            iso(date),
            payload
        );
        self.g.push(Gen {
            date,
            class: Class::Clinical,
            order: 0,
            kind,
            author,
            record: Some(self.id.clone()),
            payload: Some(payload),
            actor: None,
            role: None,
            amends: None,
            matter: None,
            reason: None,
        })
    }

    fn amendment(&mut self, date: i64, target: usize, payload: String) {
        let i = self.event(date, "amendment", payload);
        self.g.lines[i].amends = Some(target);
    }
}

const PROBLEMS: &[&str] = &[
    "generalized anxiety with sleep disturbance",
    "grief following the death of a parent",
    "work-related stress and burnout",
    "adjustment difficulties after relocation",
    "conflict with an adolescent child",
    "low mood and social withdrawal",
    "relationship distress with a partner",
    "panic episodes while driving",
    "caregiver strain for an elderly relative",
    "anger management concerns raised by an employer",
    "difficulty coping with a chronic illness diagnosis",
    "alcohol use the client wishes to reduce",
];
const SOURCES: &[&str] = &[
    "self-referred after a web search",
    "referred by a primary-care physician",
    "referred through an employee assistance program",
    "referred by a school counselor",
    "referred by a former client (no details recorded)",
    "referred by a community mental-health center waiting list",
];
const TECHNIQUES: &[&str] = &[
    "cognitive-behavioral therapy",
    "motivational interviewing",
    "solution-focused brief therapy",
    "psychoeducation",
    "mindfulness-based stress reduction exercises",
    "family-systems work",
    "behavioral activation",
    "narrative techniques",
];
const SESSION: &[&str] = &[
    "Client arrived on time and engaged well throughout the session.",
    "Reviewed the homework from the previous session; partially completed.",
    "Client reported two difficult days this week and identified the triggers.",
    "Practiced a paced-breathing exercise in session; client rated distress 6/10 before and 3/10 after.",
    "Explored the thoughts linked to the situation described; identified an all-or-nothing pattern.",
    "Client described improved sleep on most nights.",
    "Discussed boundaries with family members and rehearsed a conversation.",
    "Client reported no safety concerns; denies thoughts of self-harm.",
    "Reviewed progress toward the first goal of the plan; progress is steady.",
    "Client expressed ambivalence about change; reflected both sides.",
    "Introduced a thought record and agreed on practice between sessions.",
    "Client identified three supportive people they can contact.",
    "Session focused on problem-solving a current stressor at work.",
    "Client reported using the coping plan successfully once this week.",
];
const PLAN_NEXT: &[&str] = &[
    "Plan: continue weekly sessions; review the thought record next time.",
    "Plan: practice the breathing exercise daily and log distress ratings.",
    "Plan: client to schedule one pleasant activity on three days.",
    "Plan: revisit goals at the next session and consider reducing frequency.",
    "Plan: continue current approach; no changes to the plan of action.",
];
const CONTACTS: &[&str] = &[
    "Telephone call from client to reschedule the next appointment; rescheduled.",
    "Client did not attend the scheduled session; left a voicemail offering a new time.",
    "Secure message from client with a question about the homework; answered briefly.",
    "Telephone check-in at the client's request after a stressful event; 15 minutes; client stable.",
    "Client emailed to confirm the appointment; confirmed.",
    "Brief call to discuss a billing question; referred to the fee arrangement on file.",
];
const FEES: &[&str] = &[
    "$80 per 50-minute session, sliding scale; client qualifies for the $80 tier.",
    "$120 per 50-minute session; billed to client's insurance, $25 copay collected at each session.",
    "$95 per 50-minute session, sliding scale; 24-hour cancellation policy, late cancellations billed at $40.",
    "$60 per 50-minute session under the practice's reduced-fee program; reviewed every six months.",
    "$140 per 50-minute session, private pay; statements provided monthly for reimbursement.",
];
const CONSULTS: &[&str] = &[
    "Formal consult with the client's primary-care physician (with written release) about sleep medication; physician will reassess at next visit.",
    "Formal consult with a psychiatrist (with written release) regarding medication evaluation; result: evaluation scheduled, no change to the plan.",
    "Formal case consult with a supervising LCSW about treatment direction; result: continue current plan, add family session.",
    "Formal consult with the school counselor (with written release); result: agreed on a shared behavior plan.",
];
const REPORTS: &[&str] = &[
    "Evaluative report prepared at the request of the client's employer assistance program (with written release): attendance, engagement and progress summarized; no diagnosis disclosed beyond what the release permits.",
    "Evaluative report received from a psychologist: standardized screening scores in the moderate range; findings consistent with the assessment on file.",
    "Evaluative report prepared for the client's disability application (with written release), summarizing functional impact and course of treatment.",
];
const REFERRALS: &[&str] = &[
    "Referred to a psychiatrist for medication evaluation; client given three names and agreed to call.",
    "Referred to a support group for caregivers; information provided.",
    "Referred to a substance-use specialist for a specialized assessment; client consented.",
    "Referred to a couples therapist as the primary concern is relational; discussed the reasons with the client.",
];
const TERMINATION_REASONS: &[&str] = &[
    "treatment goals met",
    "client moved out of state",
    "client chose to end services",
    "client transferred to a provider covered by their new insurance",
    "no contact for 60 days after repeated outreach",
];

/// Writes a synthetic practice of `clients` clients as JSONL to `out`, deterministically for
/// a given `(clients, seed)`.
pub fn generate(clients: u32, seed: u64, out: &mut dyn Write) -> io::Result<()> {
    let lines = build(clients, seed);
    let mut w = io::BufWriter::new(out);
    for line in &lines {
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// The ordered lines, without newlines.
fn build(clients: u32, seed: u64) -> Vec<String> {
    let mut g = Generator {
        rng: ChaCha8Rng::seed_from_u64(seed),
        lines: Vec::new(),
    };
    let (start, end) = (days(START), days(END));

    // Actors: founding licensees and the custodian before anything else; a joiner later; the
    // leaver's key revoked on their last day.
    for lic in FOUNDING {
        g.admin(start - 30, "actor_enrolled", lic, Some("licensee"));
    }
    g.admin(start - 30, "actor_enrolled", CUSTODIAN, Some("custodian"));
    g.admin(days(JOINS_ON), "actor_enrolled", JOINER, Some("licensee"));
    g.admin(days(LEAVES_ON), "key_revoked", LEAVER, None);

    let mut summaries = Vec::new();
    for n in 1..=clients {
        summaries.push(client(&mut g, n, start, end));
    }
    holds_and_purges(&mut g, &mut summaries);

    // Global order; then seqs (line i -> seq i, genesis is seq 0).
    let mut order: Vec<usize> = (0..g.lines.len()).collect();
    order.sort_by_key(|&i| (g.lines[i].date, g.lines[i].class, g.lines[i].order));
    let mut seq_of = vec![0u64; g.lines.len()];
    for (pos, &i) in order.iter().enumerate() {
        seq_of[i] = pos as u64 + 1;
    }
    order
        .iter()
        .map(|&i| {
            let l = &g.lines[i];
            let line = Line {
                record: l.record.as_deref(),
                kind: l.kind,
                occurred_on: iso(l.date),
                author: &l.author,
                payload: l.payload.as_deref(),
                actor: l.actor.as_deref(),
                role: l.role,
                amends: l.amends.map(|t| seq_of[t]),
                matter: l.matter.as_deref(),
                reason: l.reason.as_deref(),
            };
            // Serializing plain strings and integers cannot fail.
            serde_json::to_string(&line).unwrap_or_default()
        })
        .collect()
}

/// One client's history from intake to (possibly) termination, resumption and termination
/// again, all on or before `end`.
fn client(g: &mut Generator, n: u32, start: i64, end: i64) -> RecordSummary {
    let id = format!("C-{n:04}");
    let label = format!("Client A-{n:04}");
    let opened = g.rng.gen_range(start..end - 10);
    let mut pool: Vec<&'static str> = FOUNDING
        .iter()
        .copied()
        .filter(|l| *l != LEAVER || opened < days(LEAVES_ON) - 60)
        .collect();
    if opened >= days(JOINS_ON) {
        pool.push(JOINER);
    }
    let licensee = pool.choose(&mut g.rng).copied().unwrap_or("lic-01");
    let problem = g.pick(PROBLEMS);

    // Deliberate gaps, so the report has something to find.
    let no_fee = n % 67 == 13;
    let no_assessment = n % 71 == 29;
    let no_notice = n % 97 == 41;
    let consent = g.rng.gen_bool(0.85);
    let long_term = g.rng.gen_bool(0.12);

    let mut c = Client {
        g,
        id: id.clone(),
        label,
        licensee,
        problem,
        last: opened,
    };
    let source = c.g.pick(SOURCES);
    let intake = format!(
        "Intake. Record opened; {source}. Presenting concern in the client's words: {problem}. Contact details and emergency contact recorded in the practice management system (not in this ledger)."
    );
    c.event(opened, "record_opened", intake);
    c.event(opened, "contact", "Initial telephone contact before intake to schedule the first appointment; 10 minutes; no clinical content discussed.".to_owned());
    let techniques = c.g.some(TECHNIQUES, 3, ", ");
    c.event(
        opened,
        "disclosure",
        format!("Disclosed in writing and discussed: purposes of treatment, goals, and techniques to be used ({techniques}); limits of confidentiality; client's right to ask questions at any time. Client signed the disclosure form."),
    );
    if consent {
        c.event(
            opened,
            "recording_consent",
            "Client informed that records are kept electronically and that no session will be audio- or video-recorded without separate written consent; client consented to electronic records.".to_owned(),
        );
    }
    if !no_fee {
        let fee = c.g.pick(FEES);
        c.event(
            opened,
            "fee_arrangement",
            format!("Fee arrangement agreed and signed: {fee}"),
        );
    }
    let text = presenting(c.g, problem);
    c.event(opened, "presenting_problem", text);
    let mut d = opened + c.g.rng.gen_range(5..12);
    if !no_assessment {
        let text = assessment(c.g, problem);
        c.event(d, "assessment", text);
    }
    d += c.g.rng.gen_range(0..7);
    let text = plan(c.g, problem);
    c.event(d, "plan_of_action", text);

    let Some(terminated) = episode(&mut c, d, end, long_term, no_notice) else {
        return RecordSummary {
            id,
            terminated: None,
            last_event: c.last,
        };
    };
    // Some clients come back.
    let mut terminated = terminated;
    if c.g.rng.gen_bool(0.12) {
        let back = terminated + c.g.rng.gen_range(45..700);
        if back < end - 20 {
            c.event(back, "service_resumed", "Client returned for further services; consent and disclosure reviewed and re-signed.".to_owned());
            let text = presenting(c.g, c.problem);
            c.event(back, "presenting_problem", format!("New episode. {text}"));
            let text = plan(c.g, c.problem);
            c.event(back + 7, "plan_of_action", format!("Updated plan. {text}"));
            match episode(&mut c, back + 7, end, false, false) {
                Some(t) => terminated = t,
                None => {
                    return RecordSummary {
                        id,
                        terminated: None,
                        last_event: c.last,
                    }
                }
            }
        }
    }
    RecordSummary {
        id,
        terminated: Some(terminated),
        last_event: c.last,
    }
}

/// Sessions from `from` on; then a termination with notice when it falls on or before `end`.
/// Returns the termination date, or `None` when service is still ongoing at `end`.
fn episode(
    c: &mut Client<'_>,
    from: i64,
    end: i64,
    long_term: bool,
    no_notice: bool,
) -> Option<i64> {
    let sessions = if long_term {
        c.g.rng.gen_range(12..40)
    } else {
        c.g.rng.gen_range(3..16)
    };
    let interval = if long_term {
        28
    } else if c.g.rng.gen_bool(0.6) {
        7
    } else {
        14
    };
    let mut d = from;
    let mut extras_done = (false, false, false);
    for s in 0..sessions {
        let next = d + interval + c.g.rng.gen_range(0..3);
        if next > end {
            return None;
        }
        d = next;
        let text = note(c.g, s + 1);
        let note_at = c.event(d, "progress_note", text);
        let fix = c.g.rng.gen_range(1..4);
        if c.g.rng.gen_bool(0.04) && d + fix <= end {
            c.amendment(
                d + fix,
                note_at,
                "Amendment to the progress note of the session date above: the distress rating was recorded as 3/10 and should read 5/10; original entry retained.".to_owned(),
            );
        }
        if c.g.rng.gen_bool(0.25) {
            let after = c.g.rng.gen_range(1..6);
            if d + after <= end {
                let text = c.g.pick(CONTACTS).to_owned();
                c.event(d + after, "contact", text);
            }
        }
        if s >= 2 && !extras_done.0 && c.g.rng.gen_bool(0.06) {
            extras_done.0 = true;
            let text = c.g.pick(CONSULTS).to_owned();
            c.event(d, "consult", text);
        }
        if s >= 3 && !extras_done.1 && c.g.rng.gen_bool(0.04) {
            extras_done.1 = true;
            let text = report_text(c.g);
            c.event(d, "evaluative_report", text);
        }
        if s >= 1 && !extras_done.2 && c.g.rng.gen_bool(0.03) {
            extras_done.2 = true;
            let text = c.g.pick(REFERRALS).to_owned();
            c.event(d, "referral", text);
        }
    }
    let t = c.last + c.g.rng.gen_range(7..30);
    if t > end {
        return None;
    }
    let reason = c.g.pick(TERMINATION_REASONS);
    if !no_notice {
        c.event(
            t,
            "termination_notice",
            format!("Written termination letter sent to the client: services terminate on {}; reason: {reason}. Letter includes referral resources and how to resume services.", iso(t)),
        );
    }
    c.event(t, "service_terminated", format!("Service terminated; reason: {reason}. Closing summary: progress toward goals reviewed with the client."));
    Some(t)
}

fn presenting(g: &mut Generator, problem: &str) -> String {
    let detail = g.sentences(
        &[
            "Onset about six months ago.",
            "Symptoms have intensified over the past month.",
            "Client reports reduced concentration at work.",
            "Client reports irritability at home.",
            "No prior counseling.",
            "One prior course of counseling several years ago, described as helpful.",
            "Client is motivated for change.",
        ],
        3,
    );
    format!("Presenting problem: {problem}. {detail}")
}

fn assessment(g: &mut Generator, problem: &str) -> String {
    let parts = g.sentences(
        &[
            "Mental status: alert and oriented, mood described as 'worn out', affect congruent, thought process linear.",
            "Risk screen: denies current suicidal or homicidal ideation; no history of attempts; protective factors include family and employment.",
            "Substance use: social alcohol use reported, no other substances.",
            "Medical: no significant conditions reported; encouraged a routine check-up.",
            "Social: lives with a partner; employed full time; limited social contact outside work.",
            "Strengths: insight, reliable attendance, supportive sibling.",
            "Standardized screening administered; scores in the mild-to-moderate range.",
            "Cultural and spiritual factors discussed; client identifies faith community as a support.",
        ],
        5,
    );
    format!("Assessment completed over two sessions regarding {problem}. {parts} Impression: symptoms consistent with the presenting problem; outpatient counseling is appropriate.")
}

fn plan(g: &mut Generator, problem: &str) -> String {
    let t = g.some(TECHNIQUES, 2, " and ");
    let goals = g.sentences(
        &[
            "Goal 1: reduce self-rated distress from 7/10 to 4/10 within twelve weeks.",
            "Goal 2: restore a regular sleep schedule on at least five nights a week.",
            "Goal 3: identify and use two coping strategies when triggers arise.",
            "Goal 4: re-engage in one valued social activity each week.",
            "Goal 5: improve communication with family members about the concern.",
        ],
        3,
    );
    format!("Plan of action for {problem}. {goals} Approach: {t}. Frequency: weekly to biweekly sessions; progress reviewed every six sessions.")
}

fn note(g: &mut Generator, n: u32) -> String {
    let k = g.rng.gen_range(2..5);
    let body = g.sentences(SESSION, k);
    let next = g.pick(PLAN_NEXT);
    format!("Progress note, session {n}, 50 minutes, in person. {body} {next}")
}

fn report_text(g: &mut Generator) -> String {
    let base = g.pick(REPORTS);
    let extra = g.sentences(SESSION, 3);
    format!("{base} Summary of course of treatment: {extra}")
}

/// Holds for investigations, then annual lawful purges by the custodian.
fn holds_and_purges(g: &mut Generator, records: &mut [RecordSummary]) {
    // Candidate for a hold: terminated long ago, nothing recorded after the hold is placed.
    let candidate = |r: &RecordSummary, before: i64, placed: i64| {
        r.terminated.is_some_and(|t| t < before) && r.last_event < placed
    };

    let (in_force_matter, in_force_on) = HOLD_IN_FORCE;
    let in_force_on = days(in_force_on);
    let held = records
        .iter()
        .position(|r| candidate(r, days((2019, 6, 1)), in_force_on));
    let (released_matter, placed, released) = HOLD_RELEASED;
    let (placed, released) = (days(placed), days(released));
    let was_held = records
        .iter()
        .enumerate()
        .position(|(i, r)| Some(i) != held && candidate(r, days((2018, 12, 31)), placed));

    if let Some(i) = was_held {
        let id = records[i].id.clone();
        g.custodian(placed, &id, "hold_placed", Some(released_matter), None);
        g.custodian(released, &id, "hold_released", Some(released_matter), None);
        records[i].last_event = released;
    }
    if let Some(i) = held {
        let id = records[i].id.clone();
        g.custodian(in_force_on, &id, "hold_placed", Some(in_force_matter), None);
        records[i].last_event = in_force_on;
    }

    let mut destroyed = vec![false; records.len()];
    for purge in PURGES {
        let p = days(purge);
        for (i, r) in records.iter().enumerate() {
            let Some(t) = r.terminated else { continue };
            if destroyed[i]
                || Some(i) == held
                || t >= days(DESTROY_BEFORE)
                || lawful_from(t) > p
                || r.last_event > p
            {
                continue;
            }
            // The custodian defers a few to the next purge (or leaves them eligible).
            if g.rng.gen_bool(0.15) {
                continue;
            }
            destroyed[i] = true;
            let reason = format!(
                "Retention policy RP-5: 5 years after termination (purge {})",
                purge.0
            );
            g.custodian(p, &r.id, "destruction", None, Some(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::event::{Event, EventKind, Kind, LedgerSettings, Role, ShortText};
    use caseledger_core::ids::{ActorId, Nonce, RecordId, Seq};
    use caseledger_core::keys::SigningKey;
    use caseledger_core::record::{Item, LedgerState, Step};
    use caseledger_core::time::{Date, Timestamp};
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn sample(clients: u32, seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        generate(clients, seed, &mut out).unwrap();
        out
    }

    fn key_for(actor: &str) -> SigningKey {
        let mut seed = [7u8; 32];
        for (i, b) in actor.bytes().enumerate() {
            seed[i % 32] ^= b;
        }
        SigningKey::from_seed(&seed)
    }

    fn event_of(v: &Value, nonce: u64) -> Event {
        let s = |f: &str| v[f].as_str().map(str::to_owned);
        let kind = Kind::parse(v["kind"].as_str().unwrap()).unwrap();
        let occurred_on = Date::parse(v["occurred_on"].as_str().unwrap()).unwrap();
        let ek = match kind {
            Kind::ActorEnrolled => {
                let actor = s("actor").unwrap();
                EventKind::ActorEnrolled {
                    public_key: key_for(&actor).public_key(),
                    actor: ActorId::new(actor).unwrap(),
                    role: Role::parse(&s("role").unwrap()).unwrap(),
                }
            }
            Kind::KeyRevoked => EventKind::KeyRevoked {
                actor: ActorId::new(s("actor").unwrap()).unwrap(),
            },
            Kind::ServiceTerminated => EventKind::ServiceTerminated {
                terminated_on: occurred_on,
                reason: s("reason")
                    .map(|r| caseledger_core::event::TerminationReason::parse(&r).unwrap())
                    .unwrap_or_default(),
            },
            Kind::Amendment => EventKind::Amendment {
                amends: Seq(v["amends"].as_u64().unwrap()),
            },
            Kind::HoldPlaced => EventKind::HoldPlaced {
                matter: ShortText::new(s("matter").unwrap()).unwrap(),
            },
            Kind::HoldReleased => EventKind::HoldReleased {
                matter: ShortText::new(s("matter").unwrap()).unwrap(),
            },
            Kind::Destruction => EventKind::Destruction {
                reason: ShortText::new(s("reason").unwrap()).unwrap(),
                citation: None,
            },
            k => EventKind::simple(k).unwrap(),
        };
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&nonce.to_be_bytes());
        Event {
            record: s("record").map(|r| RecordId::new(r).unwrap()),
            author: ActorId::new(s("author").unwrap()).unwrap(),
            kind: ek,
            occurred_on,
            signed_at: Timestamp::start_of(Date::parse("2026-11-28").unwrap()).unwrap(),
            commitment: None,
            nonce: Nonce(n),
        }
    }

    /// Runs the sample through the record fold, as `init` + `import` would on 2026-11-28.
    fn replay(bytes: &[u8]) -> LedgerState {
        let recorded_at = Timestamp::start_of(Date::parse("2026-11-28").unwrap()).unwrap();
        let mut st = LedgerState::default();
        let genesis = Event {
            record: None,
            author: ActorId::new(ADMIN).unwrap(),
            kind: EventKind::Genesis {
                origin: ShortText::new("sample.example/practice").unwrap(),
                admin: ActorId::new(ADMIN).unwrap(),
                admin_key: key_for(ADMIN).public_key(),
                ledger_key: key_for("ledger").public_key(),
                settings: LedgerSettings {
                    private_practice: true,
                    ..LedgerSettings::default()
                },
            },
            occurred_on: Date::parse("2026-11-28").unwrap(),
            signed_at: recorded_at,
            commitment: None,
            nonce: Nonce([0; 16]),
        };
        st.step(Step {
            seq: Seq(0),
            recorded_at,
            placement: None,
            prev_registry: st.registry.last_change,
            event: &genesis,
        })
        .unwrap();
        for (i, line) in bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let seq = i as u64 + 1;
            let v: Value =
                serde_json::from_slice(line).unwrap_or_else(|e| panic!("line {seq}: {e}"));
            let ev = event_of(&v, seq);
            if let Err(e) = st.step(Step {
                seq: Seq(seq),
                recorded_at,
                placement: st.placement_for(ev.record.as_ref()),
                prev_registry: st.registry.last_change,
                event: &ev,
            }) {
                panic!("line {seq} refused: {e}: {}", String::from_utf8_lossy(line));
            }
        }
        st
    }

    fn days_of_iso(s: &str) -> i64 {
        civil_days(Date::parse(s).unwrap().civil())
    }

    #[test]
    fn dates_round_trip() {
        for z in days((2016, 1, 1))..days((2032, 12, 31)) {
            assert_eq!(civil_days(date_of(z).unwrap().civil()), z);
            assert_eq!(days_of_iso(&iso(z)), z);
        }
        assert_eq!(days((1970, 1, 1)), 0);
        assert_eq!(days((2000, 3, 1)), 11_017);
        assert_eq!(iso(days((2024, 2, 29))), "2024-02-29");
        assert_eq!(iso(lawful_from(days((2021, 5, 31)))), "2026-06-01");
        assert_eq!(iso(lawful_from(days((2024, 2, 29)))), "2029-03-01");
    }

    #[test]
    fn every_line_is_accepted_and_the_practice_is_realistic() {
        let bytes = sample(200, 42);
        let st = replay(&bytes);
        let as_of = Date::parse("2026-11-28").unwrap();
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        let mut missing = 0;
        for r in st.records.values() {
            *by_status.entry(r.status(as_of, false).name()).or_default() += 1;
            if !r.completeness(&st.registry.settings).missing().is_empty() {
                missing += 1;
            }
        }
        assert_eq!(st.records.len(), 200);
        for s in [
            "open",
            "retained",
            "eligible",
            "on_hold",
            "destroyed_lawfully",
        ] {
            assert!(
                by_status.get(s).copied().unwrap_or(0) > 0,
                "no {s} record: {by_status:?}"
            );
        }
        assert_eq!(by_status.get("destroyed_early"), None);
        assert!(missing >= 3, "records missing items: {missing}");
        let lines: Vec<Value> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let count = |k: &str| lines.iter().filter(|v| v["kind"] == k).count();
        assert!(count("service_resumed") > 0);
        assert!(count("amendment") > 0);
        assert_eq!(count("hold_placed"), 2);
        assert_eq!(count("hold_released"), 1);
        assert_eq!(count("key_revoked"), 1);
        assert!(count("consult") > 0 && count("evaluative_report") > 0 && count("referral") > 0);
        // Every destruction is lawful and the hold in force is still in force.
        for r in st.records.values() {
            if let Some(d) = &r.destroyed {
                assert!(d.lawful);
            }
        }
        assert_eq!(
            st.records.values().filter(|r| !r.holds.is_empty()).count(),
            1
        );
        // Specific gaps are there.
        let gaps = |item: fn(&caseledger_core::record::Completeness) -> Item| {
            st.records
                .values()
                .filter(|r| item(&r.completeness(&st.registry.settings)) == Item::Missing)
                .count()
        };
        assert!(gaps(|c| c.b_fee_arrangement) > 0);
        assert!(gaps(|c| c.a_assessment) > 0);
        assert!(gaps(|c| c.f_termination_notice) > 0);
        // Nothing is dated after the end of the history; no clinical text in headers.
        assert!(lines
            .iter()
            .all(|v| v["occurred_on"].as_str().unwrap() <= "2026-06-30"));
        // Payload sizes are plausible.
        for v in &lines {
            if let Some(p) = v["payload"].as_str() {
                assert!(
                    (100..=1500).contains(&p.len()),
                    "payload of {} bytes",
                    p.len()
                );
            }
        }
    }

    #[test]
    fn small_and_odd_sizes_are_accepted() {
        for (n, seed) in [(0, 1), (1, 2), (5, 3), (37, 4), (120, 9)] {
            replay(&sample(n, seed));
        }
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(sample(50, 7), sample(50, 7));
        assert_ne!(sample(50, 7), sample(50, 8));
    }

    /// Regenerates `ledger-data/sample/practice.jsonl` (the committed sample) and prints its
    /// statistics: `cargo test -p caseledger -- --ignored write_committed_sample --nocapture`.
    #[test]
    #[ignore]
    fn write_committed_sample() {
        let bytes = sample(200, 42);
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../ledger-data/sample/practice.jsonl"
        );
        std::fs::write(path, &bytes).unwrap();
        stats(&bytes);
    }

    fn stats(bytes: &[u8]) {
        let st = replay(bytes);
        let as_of = Date::parse("2026-11-28").unwrap();
        let lines: Vec<Value> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        println!("lines (events): {}, bytes: {}", lines.len(), bytes.len());
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for v in &lines {
            *kinds
                .entry(v["kind"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        println!("by kind: {kinds:?}");
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut ids: Vec<_> = st.records.keys().collect();
        ids.sort();
        for id in ids {
            let r = &st.records[id];
            *by_status.entry(r.status(as_of, false).name()).or_default() += 1;
            for m in r.completeness(&st.registry.settings).missing() {
                missing.entry(m).or_default().push(id.to_string());
            }
            if !r.holds.is_empty() {
                println!("on hold: {id} {:?}", r.holds);
            }
        }
        println!(
            "records: {}, by status as of {as_of}: {by_status:?}",
            st.records.len()
        );
        println!("missing items (private practice): {missing:?}");
    }
}
