//! P6 proofs: inclusion and consistency proof generation from the store at the verification
//! ledger's head size (cold right after opening, then warm), and the proofs' sizes.

use crate::table::{Row, Table, Verdict};
use crate::util::{fail, round_usize, Res};
use caseledger_bench::stats::{median, si};
use caseledger_core::Seq;
use caseledger_store::{Ledger, OpenOptions};
use std::path::Path;
use std::time::Instant;

/// Proofs generated per P6 repetition.
const P6_PROOFS: usize = 2000;

/// P6: proof generation from the store at its head size. Returns per-proof medians (µs),
/// p99s and the largest proof lengths (hashes) for (inclusion, consistency).
struct ProofFigures {
    cold_incl_us: f64,
    cold_cons_us: f64,
    incl_us: f64,
    incl_p99: f64,
    incl_max_len: usize,
    cons_us: f64,
    cons_p99: f64,
    cons_max_len: usize,
    size: u64,
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = round_usize((v.len() - 1) as f64 * q);
    v[i.min(v.len() - 1)]
}

fn p6_proofs(dir: &Path) -> Res<ProofFigures> {
    use caseledger_core::merkle::{verify_consistency, verify_inclusion, Sha256Hasher};
    // Opening checks the derived state against the newest seal (one signature, popcount
    // node reads, the entries after the seal: none here). For comparison, what checking the
    // whole tree from entry bytes would cost: every entry read and hashed into a range.
    let t = std::time::Instant::now();
    let l = Ledger::open(
        dir,
        OpenOptions::default().with_kek(caseledger_bench::bench_kek()),
    )?;
    let open_s = t.elapsed().as_secs_f64();
    let n = l.head().size;
    let root = l.root();
    let t = std::time::Instant::now();
    let mut whole = caseledger_core::merkle::CompactRange::new();
    for seq in 0..n {
        let b = l
            .entry_bytes(caseledger_core::Seq(seq))?
            .ok_or_else(|| crate::util::fail("entry missing"))?;
        whole
            .append(
                &Sha256Hasher,
                caseledger_core::hash::merkle_leaf(&caseledger_core::hash::entry_hash(&b)),
            )
            .map_err(|e| crate::util::fail(format!("{e}")))?;
    }
    if whole.root(&Sha256Hasher) != root {
        return Err(crate::util::fail("whole-tree recompute differs"));
    }
    crate::util::log(format!(
        "open with the derived-state check from the newest seal: {:.3} s; recomputing the whole tree from entry bytes instead: {:.3} s ({n} entries)",
        open_s,
        t.elapsed().as_secs_f64()
    ));
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut incl, mut cons) = (Vec::with_capacity(P6_PROOFS), Vec::with_capacity(P6_PROOFS));
    let (mut incl_max, mut cons_max) = (0, 0);
    let (mut cold_incl, mut cold_cons) = (0.0, 0.0);
    // Pass 0 right after opening (cold sled cache), pass 1 on fresh random positions (warm).
    for k in 0..2 * P6_PROOFS {
        if k == P6_PROOFS {
            cold_incl = median(&incl);
            cold_cons = median(&cons);
            incl.clear();
            cons.clear();
        }
        let i = next() % n;
        let t = Instant::now();
        let p = l.inclusion_proof(Seq(i), n)?;
        incl.push(t.elapsed().as_secs_f64() * 1e6);
        incl_max = incl_max.max(p.len());
        let size1 = 1 + next() % (n - 1);
        let t = Instant::now();
        let c = l.consistency_proof(size1, n)?;
        cons.push(t.elapsed().as_secs_f64() * 1e6);
        cons_max = cons_max.max(c.len());
        if k < 8 {
            // Sanity: the proofs verify (not timed).
            let bytes = l
                .entry_bytes(Seq(i))?
                .ok_or_else(|| fail("entry missing"))?;
            let leaf =
                caseledger_core::hash::merkle_leaf(&caseledger_core::hash::entry_hash(&bytes));
            verify_inclusion(&Sha256Hasher, i, n, &leaf, &p, &root)
                .map_err(|e| fail(format!("P6 inclusion proof: {e}")))?;
            let root1 = l.root_at(size1)?;
            verify_consistency(&Sha256Hasher, size1, n, &c, &root1, &root)
                .map_err(|e| fail(format!("P6 consistency proof: {e}")))?;
        }
    }
    l.close()?;
    Ok(ProofFigures {
        cold_incl_us: cold_incl,
        cold_cons_us: cold_cons,
        incl_us: median(&incl),
        incl_p99: percentile(&incl, 0.99),
        incl_max_len: incl_max,
        cons_us: median(&cons),
        cons_p99: percentile(&cons, 0.99),
        cons_max_len: cons_max,
        size: n,
    })
}

fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        u64::BITS - (n - 1).leading_zeros()
    }
}

/// Measures proofs from the ledger in `dir` and adds the three P6 rows to `table`.
pub fn section(dir: &Path, table: &mut Table) -> Res<()> {
    let pf = p6_proofs(dir)?;
    let bound = 32 * u64::from(ceil_log2(pf.size));
    let size_ok =
        (pf.incl_max_len as u64) * 32 <= bound && (pf.cons_max_len as u64) * 32 <= bound + 32;
    let p6_note = if pf.size < 1_000_000 {
        format!(" (quick: at {} entries, not 1M)", si(pf.size as f64))
    } else {
        String::new()
    };
    table.push(Row {
            target: format!("P6 inclusion proof at {} entries", si(pf.size as f64)),
            floor: "-".to_owned(),
            ours: format!("{:.1} µs/proof (p99 {:.1})", pf.incl_us, pf.incl_p99),
            ratio: "-".to_owned(),
            goal: "<= 50 µs".to_owned(),
            verdict: if pf.incl_us <= 50.0 {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            note: format!(
                "{P6_PROOFS} random leaves, warm; cold (first {P6_PROOFS} after open) {:.1} µs{p6_note}",
                pf.cold_incl_us
            ),
        });
    table.push(Row {
        target: format!("P6 consistency proof at {} entries", si(pf.size as f64)),
        floor: "-".to_owned(),
        ours: format!("{:.1} µs/proof (p99 {:.1})", pf.cons_us, pf.cons_p99),
        ratio: "-".to_owned(),
        goal: "<= 50 µs".to_owned(),
        verdict: if pf.cons_us <= 50.0 {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        note: format!(
            "{P6_PROOFS} random old sizes, warm; cold {:.1} µs{p6_note}",
            pf.cold_cons_us
        ),
    });
    table.push(Row {
        target: "P6 proof size".to_owned(),
        floor: format!("32·⌈log2 n⌉ = {bound} B"),
        ours: format!(
            "inclusion max {} B, consistency max {} B",
            pf.incl_max_len * 32,
            pf.cons_max_len * 32
        ),
        ratio: "-".to_owned(),
        goal: "<= 32·⌈log2 n⌉ B (consistency: +32 B when the old size is not a power of 2)"
            .to_owned(),
        verdict: if size_ok {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        note: format!("n = {}", pf.size),
    });
    Ok(())
}
