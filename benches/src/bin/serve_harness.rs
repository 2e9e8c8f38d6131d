//! `caseledger serve` measured (issue 15), loopback only, bounded, stops by itself:
//!
//! * **S1** HTTP appends: `--events` pre-signed events (the P1 workload: 1 KiB payloads,
//!   signed before timing) posted one per request by 64 client threads, each on its own
//!   kept-alive connection, to a server (this binary re-run as `--serve CONFIG`, i.e.
//!   `caseledger_serve::run`, the code `caseledger serve` runs) holding the ledger
//!   `Immediate` (a 200 is durable and sealed); against **P1 in process** in the same run
//!   (the same events, 64 threads calling `Ledger::append` on a ledger made the same way).
//!   Rates, their ratio (goal ≥ 70 %), and the HTTP requests' p50 and p99 latency. The
//!   run with client event ids is also set against **P1 with ids** in process (the same
//!   events and ids, 64 threads calling `Ledger::append_keyed`): the same store work, so
//!   that ratio is what the HTTP layer costs on that path.
//! * **S2** `--ledgers` ledgers hosted by one server: the first request to each (a cold open:
//!   its key files read, sled opened, the store's state loaded) against a second request to
//!   it (warm), and the server's peak RSS (`VmHWM`), with the pool at its default
//!   (`max_open_ledgers = 16`: ledgers evicted as others are opened) and with every ledger
//!   open at once (`max_open_ledgers = --ledgers`).
//! * **S3** a monitor following `--tiles` entries through the server's C2SP tiles: a ledger
//!   of a tenth of them built by the bulk path (P3's: `append_batch` in `IMPORT_CHUNK`
//!   chunks under `Deferred`, one flush), served, and followed from scratch by the monitor
//!   library (`caseledger_witness::monitor::check` over `HttpLog`, what `caseledger
//!   monitor` runs) in a child process (this binary re-run as `--monitor …`, so its peak
//!   RSS, `VmHWM`, is its own); then the ledger grown to all of them and followed again,
//!   from scratch and from the first run's state. Entries/s and peak RSS of each run: the
//!   same RSS at 10× the entries is the bounded memory.
//!
//! `cargo run --release -p caseledger-bench --bin serve_harness -- --events 3000 --ledgers 1000`
//! (defaults: 3000 and 1000; `--tiles N` adds S3, `--only s3` runs it alone). Scratch under
//! `--dir` (default: a temporary directory, removed at the end).
//!
//! S1 also reports the CPU time spent in each timed window (`/proc/PID/stat`, utime +
//! stime, 10 ms ticks): the harness process's during P1 (its appending threads), and
//! during an HTTP run the server's and the harness's (there: its 64 client threads, whose
//! cost on a shared machine is charged against the server's rate; reported beside the
//! ratio, never subtracted from it); and the server's mean group (events per seal).
//! `--skip-batch1` leaves out the in-process "one append_batch_keyed per event" figure.
//! `--perf-server PREFIX` profiles the server alone over each timed HTTP window: `perf
//! record -e cpu-clock -F 999 --call-graph dwarf -p SERVER_PID -o PREFIX-NAME.data`
//! (NAME `http` or `http-ids`), started before the window (attached for 0.5 s first,
//! untimed) and stopped with SIGINT after it; and this process over P1's windows, for
//! comparison (`PREFIX-p1.data`, `PREFIX-p1-keyed.data`). `perf` must be on the PATH.
//! `--async-clients` runs the 64 clients (64 kept-alive connections, one request in flight
//! on each, as before) as tasks on one thread (a tokio current-thread runtime, what load
//! generators such as wrk or oha do) instead of 64 threads: a load generator that costs
//! the shared two cores less CPU and fewer context switches, never a different load.
//! `--rounds K` runs P1 and the two HTTP runs K times, alternated, each on a fresh ledger,
//! and ends with the medians of the rates and of the per-round ratios (a ratio pairs
//! windows seconds apart: on a shared machine whose disk has slow spells, the median of
//! paired ratios is the figure to quote).

use caseledger_bench::{bench_kek, Workload};
use caseledger_core::event::{Payload, SignedEvent};
use caseledger_keyfile::keydir::KeyDir;
use caseledger_store::{Durability, EventId, Ledger, OpenOptions, RequestDigest};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Client threads (the figure, as P1's writers).
const CLIENTS: usize = 64;
/// Records the events are spread over (opened untimed first).
const RECORDS: u64 = 100;
/// No single request may take longer: the harness stops by itself.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    if let Err(e) = real_main() {
        eprintln!("serve_harness: {e}");
        std::process::exit(2);
    }
}

fn real_main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let config = args.get(1).ok_or("--serve CONFIG")?;
        caseledger_serve::run(Path::new(config))?;
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--monitor") {
        return monitor_child(args.get(1..).unwrap_or_default());
    }
    let mut events = 3000u64;
    let mut ledgers = 1000usize;
    let mut dir = None;
    let mut tiles = None;
    let mut only = None;
    let mut opts = S1Opts {
        rounds: 1,
        ..S1Opts::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a}: a value"));
        match a.as_str() {
            "--events" => events = val()?.parse()?,
            "--ledgers" => ledgers = val()?.parse()?,
            "--dir" => dir = Some(PathBuf::from(val()?)),
            "--tiles" => tiles = Some(val()?.parse::<u64>()?),
            "--only" => only = Some(val()?.clone()),
            "--skip-batch1" => opts.skip_batch1 = true,
            "--perf-server" => opts.perf = Some(PathBuf::from(val()?)),
            "--async-clients" => opts.async_clients = true,
            "--rounds" => opts.rounds = val()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let tmp;
    let root = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            // The server reads relative config paths against the config's directory.
            std::fs::canonicalize(d)?
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("s1") {
        s1(&root, events, &opts)?;
    }
    if run("s2") {
        s2(&root, ledgers)?;
    }
    if let Some(n) = tiles.filter(|_| run("s3")) {
        s3(&root, n)?;
    } else if only.as_deref() == Some("s3") {
        return Err("--only s3 needs --tiles N".into());
    }
    Ok(())
}

/// S1's options beyond the event count.
#[derive(Default)]
struct S1Opts {
    /// Leave out the in-process `append_batch_keyed` run.
    skip_batch1: bool,
    /// Profile the server over each HTTP window into `PREFIX-NAME.data`.
    perf: Option<PathBuf>,
    /// The clients as tasks on one thread, not 64 threads.
    async_clients: bool,
    /// P1 and the HTTP runs this many times, alternated (medians of the paired ratios).
    rounds: usize,
}

/// CPU time (user + system) used so far by process `pid` ("self": this one), in
/// milliseconds, from `/proc/PID/stat` (fields 14 and 15, in clock ticks of 10 ms: the
/// Linux default `USER_HZ`).
fn cpu_ms(pid: &str) -> Res<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = s.rsplit_once(')').ok_or("/proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let tick = |i: usize| -> Res<u64> { Ok(f.get(i - 3).ok_or("/proc stat")?.parse::<u64>()?) };
    Ok((tick(14)? + tick(15)?) * 10)
}

/// The seals in the ledger's `checkpoints.log` (every seal the store made is logged there).
fn seal_count(dir: &Path) -> Res<usize> {
    let bytes = std::fs::read(dir.join(caseledger_core::layout::CHECKPOINTS_LOG))?;
    let mut n = 0;
    for r in caseledger_core::layout::LogRecords::new(&bytes) {
        r.map_err(|e| format!("checkpoints.log: {e:?}"))?;
        n += 1;
    }
    Ok(n)
}

/// `PREFIX-NAME.data`.
fn perf_out(prefix: &Path, name: &str) -> PathBuf {
    let mut out = prefix.as_os_str().to_owned();
    out.push(format!("-{name}.data"));
    PathBuf::from(out)
}

/// A `perf record` of process `pid` into `out`, stopped (SIGINT) by [`Perf::stop`].
struct Perf(Child);

impl Perf {
    fn start(pid: u32, out: &Path) -> Res<Perf> {
        let child = Command::new("perf")
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "999",
                "--call-graph",
                "dwarf",
                "-p",
            ])
            .arg(pid.to_string())
            .arg("-o")
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Attached before the window opens (perf gives no sign of it).
        std::thread::sleep(Duration::from_millis(500));
        Ok(Perf(child))
    }

    fn stop(mut self) -> Res<()> {
        Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()?;
        self.0.wait()?;
        Ok(())
    }
}

fn log(s: impl AsRef<str>) {
    eprintln!("[serve_harness] {}", s.as_ref());
}

/// A ledger of the workload at `dir` (genesis, the licensee enrolled, the records opened)
/// and its key directory `keys` (ledger.pem, kek) as `caseledger serve` reads it.
fn make_ledger(
    dir: &Path,
    keys: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
) -> Res<()> {
    let kd = KeyDir::at(keys);
    kd.create()?;
    caseledger_keyfile::write_new(&kd.ledger_key_path(), &w.ledger_key)?;
    caseledger_keyfile::kek::write_kek(keys, &bench_kek())?;
    let l = Ledger::create_with_genesis(dir, w.genesis()?, open_options(w)?)?;
    l.append_batch(vec![(w.enrolment()?, None)])
        .map_err(|e| format!("enrolment: {e:?}"))?;
    if !opening.is_empty() {
        l.append_batch(
            opening
                .iter()
                .map(|(e, p)| (e.clone(), Some(p.clone())))
                .collect(),
        )
        .map_err(|e| format!("opening records: {e:?}"))?;
    }
    l.close()?;
    Ok(())
}

fn open_options(w: &Workload) -> Res<OpenOptions> {
    Ok(OpenOptions::default()
        .with_durability(Durability::Immediate)
        .with_kek(bench_kek())
        .with_ledger_key(w.ledger_key.clone()))
}

/// An event as the JSON line a record system posts, pre-signed, with a client event id
/// when `id` is given.
fn json_line(e: &SignedEvent, p: &Payload, id: Option<String>) -> Res<String> {
    use base64::Engine;
    let caseledger_core::event::AuthorSignature::Ed25519(sig) = e.signature else {
        return Err("the workload signs with Ed25519".into());
    };
    let ev = &e.event;
    Ok(serde_json::json!({
        "id": id,
        "record": ev.record.as_ref().map(|r| r.as_str()),
        "kind": ev.kind.kind().name(),
        "occurred_on": ev.occurred_on.to_string(),
        "author": ev.author.as_str(),
        "payload": std::str::from_utf8(p.content())?,
        "signed_at": ev.signed_at.to_string(),
        "nonce": hex::encode(ev.nonce.0),
        "salt": hex::encode(p.salt()),
        "signature": base64::engine::general_purpose::STANDARD.encode(sig.0),
    })
    .to_string())
}

/// The server: this binary as `--serve CONFIG`; its address from its first line.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(config: &Path) -> Res<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--serve")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(
                config.with_extension("log"),
            )?))
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("stdout")?).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .ok_or_else(|| format!("the server did not start: {line:?}"))?
            .to_owned();
        Ok(Server { child, addr })
    }

    /// Peak RSS so far, KiB (`VmHWM`).
    fn peak_rss_kib(&self) -> Res<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let v = s
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .ok_or("no VmHWM")?;
        Ok(v.trim().trim_end_matches("kB").trim().parse()?)
    }

    /// SIGTERM (graceful: ledgers closed), then its exit.
    fn stop(mut self) -> Res<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                return Err("the server did not stop within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kept-alive HTTP/1.1 connection.
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
    addr: String,
}

impl Conn {
    fn new(addr: &str) -> Res<Conn> {
        let w = TcpStream::connect(addr)?;
        w.set_nodelay(true)?;
        w.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        let r = BufReader::new(w.try_clone()?);
        Ok(Conn {
            w,
            r,
            addr: addr.to_owned(),
        })
    }

    /// (status, body).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> Res<(u16, String)> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n",
            self.addr
        );
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        self.w.write_all(req.as_bytes())?;
        let mut status_line = String::new();
        self.r.read_line(&mut status_line)?;
        let status: u16 = status_line.split(' ').nth(1).ok_or("no status")?.parse()?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h)?;
            match header_line(&h)? {
                None => break,
                Some(n) => len = n.unwrap_or(len),
            }
        }
        let mut b = vec![0u8; len];
        self.r.read_exact(&mut b)?;
        Ok((status, String::from_utf8_lossy(&b).into_owned()))
    }
}

fn write_config(path: &Path, body: &str, hash: &str, limits: &str) -> Res<()> {
    std::fs::write(
        path,
        format!(
            "listen = \"127.0.0.1:0\"\n[limits]\n{limits}\n{body}\n[[clients]]\nname = \"bench\"\ntoken_sha256 = \"{hash}\"\nscopes = [\"append\", \"read-proofs\"]\n"
        ),
    )?;
    Ok(())
}

/// The `per_mille`-th quantile of sorted samples (nearest rank): 500 the median, 990 p99.
fn quantile(sorted: &[f64], per_mille: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) * per_mille.min(1000) + 500) / 1000;
    sorted[i.min(sorted.len() - 1)]
}

/// How the in-process runs append.
#[derive(Clone, Copy)]
enum InProcess {
    /// `Ledger::append`: P1.
    Append,
    /// `Ledger::append_keyed` with a client event id per event (the ids and the store work
    /// of S1's HTTP run with ids): P1 with ids, the in-process peer of that run.
    Keyed,
    /// One `append_batch_keyed` per event (a batch of one, committed on its own, as the
    /// server did for a lone event with a client id before `Ledger::append_keyed`).
    Batch1,
}

/// The client event id of the `i`th timed event, as S1's HTTP run with ids sends it.
fn bench_id(i: usize) -> String {
    format!("bench-{i}")
}

/// 64 threads appending `timed` in process to a new ledger, as `how` says. Returns
/// events/s.
fn in_process(
    root: &Path,
    name: &str,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    timed: &[(SignedEvent, Payload)],
    how: InProcess,
    perf: Option<&Path>,
) -> Res<f64> {
    let dir = root.join(name);
    make_ledger(&dir, &root.join(format!("{name}-keys")), w, opening)?;
    let l = Ledger::open(&dir, open_options(w)?)?;
    // Each event with its id and request digest (made before timing, as the HTTP run's
    // bodies are; the digest stands for the server's, which hashes the request's fields).
    let mut per: Vec<Vec<(SignedEvent, Payload, EventId, RequestDigest)>> =
        vec![Vec::new(); CLIENTS];
    for (i, (e, p)) in timed.iter().enumerate() {
        let id = EventId::new(&bench_id(i)).map_err(|e| format!("event id: {e}"))?;
        use sha2::Digest;
        let d = sha2::Sha256::new()
            .chain_update(e.event.nonce.0)
            .chain_update(p.content())
            .chain_update(p.salt())
            .finalize();
        per[i % CLIENTS].push((e.clone(), p.clone(), id, RequestDigest(d.into())));
    }
    let before = l.stats();
    let perf = match perf {
        Some(prefix) => Some(Perf::start(std::process::id(), &perf_out(prefix, name))?),
        None => None,
    };
    let cpu0 = cpu_ms("self")?;
    let t = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let hs: Vec<_> = per
            .into_iter()
            .map(|mine| {
                let l = &l;
                s.spawn(move || -> Result<(), String> {
                    for (e, p, id, digest) in mine {
                        match how {
                            InProcess::Append => {
                                l.append(e, Some(p)).map_err(|e| e.to_string())?;
                            }
                            InProcess::Keyed => {
                                let k = l
                                    .append_keyed(e, Some(p), &id, digest)
                                    .map_err(|e| e.to_string())?;
                                if k.replayed {
                                    return Err(format!("{} answered as a replay", id.as_str()));
                                }
                            }
                            InProcess::Batch1 => {
                                l.append_batch_keyed(vec![(e, Some(p), None)])
                                    .map_err(|e| e.error.to_string())?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().map_err(|_| "an appending thread panicked")??;
        }
        Ok(())
    })?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_ms("self")? - cpu0;
    if let Some(p) = perf {
        p.stop()?;
    }
    let after = l.stats();
    l.close()?;
    let n = timed.len() as f64;
    let groups = (after.transactions - before.transactions).max(1) as f64;
    log(format!(
        "{name} in process: {n} events in {secs:.2} s: {:.0} ev/s, mean group {:.1}; CPU {cpu} ms ({:.0} us/event)",
        n / secs,
        n / groups,
        cpu as f64 * 1000.0 / n,
    ));
    Ok(n / secs)
}

/// One header line of an answer: `None` at the blank line that ends them, else its
/// `Content-Length` if it is that header.
fn header_line(line: &str) -> Res<Option<Option<usize>>> {
    let h = line.trim_end();
    if h.is_empty() {
        return Ok(None);
    }
    match h.split_once(':') {
        Some((n, v)) if n.eq_ignore_ascii_case("content-length") => {
            Ok(Some(Some(v.trim().parse()?)))
        }
        _ => Ok(Some(None)),
    }
}

/// S1: HTTP appends against P1 in process.
fn s1(root: &Path, n: u64, opts: &S1Opts) -> Res<()> {
    let w = Workload::new(RECORDS);
    let opening = w.events(0..RECORDS)?;
    let timed = w.events(RECORDS..RECORDS + n)?;
    let batch1 = if opts.skip_batch1 {
        "not run".to_owned()
    } else {
        // The same as batches of one (`append_batch_keyed`, each its own transaction: what
        // the server did for a lone event with a client id before it used
        // `Ledger::append_keyed`, which joins the group).
        let r = in_process(
            root,
            "p1-batch1",
            &w,
            &opening,
            &timed,
            InProcess::Batch1,
            None,
        )?;
        format!("{r:.0} ev/s")
    };
    // Each round: P1 in process (`Ledger::append`, group commit), then HTTP without and with
    // ids, each on a fresh ledger, back to back: a ratio pairs windows seconds apart, so
    // that a shared machine's slow spells (its disk's, mostly) fall on both sides more
    // often than across rounds.
    // Ratios: without ids to P1, with ids to P1, with ids to P1 with ids (`InProcess::Keyed`,
    // the same store work: what the HTTP layer costs on that path).
    let mut ratios: [Vec<f64>; 3] = Default::default();
    // Rates: P1, HTTP without ids, HTTP with ids, P1 with ids.
    let mut rates: [Vec<f64>; 4] = Default::default();
    for round in 1..=opts.rounds {
        let sfx = if opts.rounds > 1 {
            format!("-r{round}")
        } else {
            String::new()
        };
        let run = |name: &str, how| {
            let name = format!("{name}{sfx}");
            in_process(root, &name, &w, &opening, &timed, how, opts.perf.as_deref())
        };
        let p1_rate = run("p1", InProcess::Append)?;
        rates[0].push(p1_rate);
        let keyed_rate = run("p1-keyed", InProcess::Keyed)?;
        rates[3].push(keyed_rate);
        for ids in [false, true] {
            let h = over_http(root, &w, &opening, &timed, ids, opts, &sfx)?;
            let (rate, lat) = (h.rate, &h.latencies);
            let k = usize::from(ids);
            rates[k + 1].push(rate);
            ratios[k].push(rate / p1_rate);
            if ids {
                ratios[2].push(rate / keyed_rate);
                println!(
                    "S1 HTTP with ids against P1 with ids in process (Ledger::append_keyed, the same ids, {CLIENTS} threads, {keyed_rate:.0} ev/s): {:.0} %",
                    100.0 * rate / keyed_rate
                );
            }
            println!(
                "S1 HTTP appends{}, {CLIENTS} clients{}, Immediate, pre-signed, 1 KiB payloads, {n} events: {rate:.0} ev/s; P1 in process (same events, {CLIENTS} threads) {p1_rate:.0} ev/s; ratio {:.0} % (goal >= 70 %); in process, one append_batch_keyed per event: {batch1}; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; server peak RSS {:.1} MiB",
                if ids { " with client event ids" } else { " without ids" },
                if opts.async_clients { " (async, one thread)" } else { " (threads)" },
                100.0 * rate / p1_rate,
                quantile(lat, 500),
                quantile(lat, 990),
                quantile(lat, 1000),
                h.rss_kib as f64 / 1024.0,
            );
            let per = |ms: u64| ms as f64 * 1000.0 / n as f64;
            println!(
                "S1 HTTP{} CPU over the window: server {} ms ({:.0} us/event), harness (64 clients) {} ms ({:.0} us/event, {:.0} % of the two); server mean group {:.1} events per seal",
                if ids { " with ids" } else { "" },
                h.server_cpu_ms,
                per(h.server_cpu_ms),
                h.client_cpu_ms,
                per(h.client_cpu_ms),
                100.0 * h.client_cpu_ms as f64 / (h.server_cpu_ms + h.client_cpu_ms).max(1) as f64,
                h.mean_group,
            );
        }
    }
    if opts.rounds > 1 {
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            quantile(&v, 500)
        };
        let pct = |v: &[f64]| {
            // Sorted as numbers (as strings, "100" would come before "63").
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            let v: Vec<String> = v.iter().map(|r| format!("{:.0}", 100.0 * r)).collect();
            v.join(" ")
        };
        println!(
            "S1 over {} rounds ({} events each, clients{}): median P1 {:.0} ev/s; HTTP without ids median {:.0} ev/s, median ratio {:.0} % (rounds: {}); with ids median {:.0} ev/s, median ratio {:.0} % (rounds: {}); goal >= 70 %; P1 with ids in process median {:.0} ev/s, HTTP with ids against it: median ratio {:.0} % (rounds: {})",
            opts.rounds,
            n,
            if opts.async_clients { " async, one thread" } else { " 64 threads" },
            median(&rates[0]),
            median(&rates[1]),
            100.0 * median(&ratios[0]),
            pct(&ratios[0]),
            median(&rates[2]),
            100.0 * median(&ratios[1]),
            pct(&ratios[1]),
            median(&rates[3]),
            100.0 * median(&ratios[2]),
            pct(&ratios[2]),
        );
    }
    Ok(())
}

/// What one HTTP run measured.
struct HttpRun {
    /// Events per second.
    rate: f64,
    /// Each request's, in ms, sorted.
    latencies: Vec<f64>,
    /// The server's peak RSS.
    rss_kib: u64,
    /// CPU time over the timed window: the server's, and this process's (its clients').
    server_cpu_ms: u64,
    client_cpu_ms: u64,
    /// Events per seal written in the window (the store seals each group commit).
    mean_group: f64,
}

/// `timed` posted by `CLIENTS` threads to a server holding a new ledger; each event with a
/// client id when `ids`; profiled into `PERF-NAME.data` when `perf` is given.
fn over_http(
    root: &Path,
    w: &Workload,
    opening: &[(SignedEvent, Payload)],
    timed: &[(SignedEvent, Payload)],
    ids: bool,
    opts: &S1Opts,
    sfx: &str,
) -> Res<HttpRun> {
    let perf = opts.perf.as_deref();
    let name = format!("{}{sfx}", if ids { "http-ids" } else { "http" });
    let name = name.as_str();
    let http_dir = root.join(name);
    let keys = root.join(format!("{name}-keys"));
    make_ledger(&http_dir, &keys, w, opening)?;
    let (token, hash) = caseledger_serve::auth::new_token();
    let config = root.join(format!("s1-{name}.toml"));
    write_config(
        &config,
        &format!(
            "[ledgers.bench]\ndir = \"{}\"\nkeys = \"{}\"",
            http_dir.display(),
            keys.display()
        ),
        &hash,
        "max_connections = 256",
    )?;
    let lines: Vec<String> = timed
        .iter()
        .enumerate()
        .map(|(i, (e, p))| json_line(e, p, ids.then(|| bench_id(i))))
        .collect::<Res<_>>()?;
    let seals0 = seal_count(&http_dir)?;
    let server = Server::start(&config)?;
    let addr = server.addr.clone();
    // Opened (cold) before timing, as P1's ledger is.
    let (st, b) = Conn::new(&addr)?.call("GET", "/v1/ledgers/bench/checkpoint", &token, None)?;
    if st != 200 {
        return Err(format!("checkpoint: HTTP {st}: {b}").into());
    }
    let mut per: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
    for (i, l) in lines.into_iter().enumerate() {
        per[i % CLIENTS].push(l);
    }
    let server_pid = server.child.id().to_string();
    let perf = match perf {
        Some(prefix) => Some(Perf::start(server.child.id(), &perf_out(prefix, name))?),
        None => None,
    };
    let (server0, client0) = (cpu_ms(&server_pid)?, cpu_ms("self")?);
    let t = Instant::now();
    let mut lat = if opts.async_clients {
        async_clients(&addr, &token, per)?
    } else {
        thread_clients(&addr, &token, per)?
    };
    let secs = t.elapsed().as_secs_f64();
    let (server_cpu_ms, client_cpu_ms) =
        (cpu_ms(&server_pid)? - server0, cpu_ms("self")? - client0);
    if let Some(p) = perf {
        p.stop()?;
    }
    let rss = server.peak_rss_kib()?;
    server.stop()?;
    lat.sort_by(f64::total_cmp);
    // Every request answered 200: the ledger holds them all.
    let l = Ledger::open(&http_dir, open_options(w)?)?;
    let size = l.head().size;
    l.close()?;
    let seals = seal_count(&http_dir)? - seals0;
    let want = 2 + RECORDS + timed.len() as u64;
    if size != want {
        return Err(format!("the served ledger holds {size} entries, not {want}").into());
    }
    Ok(HttpRun {
        rate: timed.len() as f64 / secs,
        latencies: lat,
        rss_kib: rss,
        server_cpu_ms,
        client_cpu_ms,
        mean_group: timed.len() as f64 / seals.max(1) as f64,
    })
}

/// Each client's events posted by a thread of its own on its own connection; every
/// request's latency in ms.
fn thread_clients(addr: &str, token: &str, per: Vec<Vec<String>>) -> Res<Vec<f64>> {
    std::thread::scope(|s| -> Res<Vec<f64>> {
        let hs: Vec<_> = per
            .into_iter()
            .map(|mine| {
                let (addr, token) = (&addr, &token);
                s.spawn(move || -> Result<Vec<f64>, String> {
                    let mut c = Conn::new(addr).map_err(|e| e.to_string())?;
                    let mut out = Vec::with_capacity(mine.len());
                    for body in mine {
                        let t = Instant::now();
                        let (st, b) = c
                            .call("POST", "/v1/ledgers/bench/events", token, Some(&body))
                            .map_err(|e| e.to_string())?;
                        if st != 200 {
                            return Err(format!("HTTP {st}: {b}"));
                        }
                        out.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in hs {
            all.extend(h.join().map_err(|_| "a client thread panicked")??);
        }
        Ok(all)
    })
}

/// [`thread_clients`] with each client a task on one thread (a current-thread tokio
/// runtime): the same connections, requests and checks.
fn async_clients(addr: &str, token: &str, per: Vec<Vec<String>>) -> Res<Vec<f64>> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    async fn client(addr: String, token: String, mine: Vec<String>) -> Res<Vec<f64>> {
        let s = tokio::net::TcpStream::connect(&addr).await?;
        s.set_nodelay(true)?;
        let (r, mut w) = s.into_split();
        let mut r = tokio::io::BufReader::new(r);
        let mut out = Vec::with_capacity(mine.len());
        for body in mine {
            let t = Instant::now();
            let req = format!(
                "POST /v1/ledgers/bench/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let answer = async {
                w.write_all(req.as_bytes()).await?;
                let mut line = String::new();
                r.read_line(&mut line).await?;
                let status: u16 = line.split(' ').nth(1).ok_or("no status")?.parse()?;
                let mut len = 0usize;
                loop {
                    line.clear();
                    r.read_line(&mut line).await?;
                    match header_line(&line)? {
                        None => break,
                        Some(n) => len = n.unwrap_or(len),
                    }
                }
                let mut b = vec![0u8; len];
                r.read_exact(&mut b).await?;
                Res::Ok((status, b))
            };
            let (status, b) = tokio::time::timeout(REQUEST_TIMEOUT, answer)
                .await
                .map_err(|_| "a request timed out")??;
            if status != 200 {
                return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&b)).into());
            }
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(out)
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async {
        let hs: Vec<_> = per
            .into_iter()
            .map(|mine| {
                let (addr, token) = (addr.to_owned(), token.to_owned());
                tokio::spawn(
                    async move { client(addr, token, mine).await.map_err(|e| e.to_string()) },
                )
            })
            .collect();
        let mut all = Vec::new();
        for h in hs {
            all.extend(h.await.map_err(|_| "a client task panicked")??);
        }
        Ok(all)
    })
}

/// S2: `m` ledgers hosted; cold and warm first requests, peak RSS, for two pool sizes.
fn s2(root: &Path, m: usize) -> Res<()> {
    let base = root.join("many");
    std::fs::create_dir_all(&base)?;
    let w = Workload::new(RECORDS);
    let t = Instant::now();
    let mut body = String::new();
    for i in 0..m {
        let dir = base.join(format!("l{i:04}"));
        let keys = base.join(format!("k{i:04}"));
        if !dir.exists() {
            make_ledger(&dir, &keys, &w, &[])?;
        }
        body.push_str(&format!(
            "[ledgers.l{i:04}]\ndir = \"{}\"\nkeys = \"{}\"\n",
            dir.display(),
            keys.display()
        ));
    }
    log(format!(
        "{m} ledgers made in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let (token, hash) = caseledger_serve::auth::new_token();
    for max_open in [16, m] {
        let config = root.join(format!("s2-{max_open}.toml"));
        write_config(
            &config,
            &body,
            &hash,
            &format!("max_open_ledgers = {max_open}\nidle_close_secs = 3600"),
        )?;
        let server = Server::start(&config)?;
        let idle_rss = server.peak_rss_kib()?;
        let mut c = Conn::new(&server.addr)?;
        let (mut cold, mut warm) = (Vec::with_capacity(m), Vec::with_capacity(m));
        for i in 0..m {
            let path = format!("/v1/ledgers/l{i:04}/checkpoint");
            let t = Instant::now();
            let (st, b) = c.call("GET", &path, &token, None)?;
            cold.push(t.elapsed().as_secs_f64() * 1000.0);
            if st != 200 {
                return Err(format!("ledger {i}: HTTP {st}: {b}").into());
            }
            let t = Instant::now();
            c.call("GET", &path, &token, None)?;
            warm.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let rss = server.peak_rss_kib()?;
        server.stop()?;
        cold.sort_by(f64::total_cmp);
        warm.sort_by(f64::total_cmp);
        println!(
            "S2 {m} ledgers hosted, max_open_ledgers = {max_open}: a cold ledger's first request p50 {:.1} ms, p99 {:.1} ms (warm: p50 {:.2} ms); server peak RSS {:.1} MiB after a request to each ({:.1} MiB before any)",
            quantile(&cold, 500),
            quantile(&cold, 990),
            quantile(&warm, 500),
            rss as f64 / 1024.0,
            idle_rss as f64 / 1024.0,
        );
    }
    Ok(())
}

/// Appends the workload's events `range` to the ledger at `dir` by the bulk path (P3's:
/// `append_batch` in `IMPORT_CHUNK` chunks under `Deferred`, one flush; every batch is
/// sealed), generating each chunk as it goes so that memory stays one chunk's.
fn grow(dir: &Path, w: &Workload, range: std::ops::Range<u64>) -> Res<()> {
    let opts = open_options(w)?.with_durability(Durability::Deferred);
    let l = Ledger::open(dir, opts)?;
    let chunk = caseledger_store::IMPORT_CHUNK as u64;
    let mut at = range.start;
    while at < range.end {
        let end = (at + chunk).min(range.end);
        let batch = w
            .events(at..end)?
            .into_iter()
            .map(|(e, p)| (e, Some(p)))
            .collect();
        l.append_batch(batch)
            .map_err(|e| format!("bulk batch at {at}: {e:?}"))?;
        at = end;
    }
    l.flush()?;
    l.close()?;
    Ok(())
}

/// One monitor run in a child: (entries checked, seconds, peak RSS KiB, fetches).
fn monitor_run(
    root: &Path,
    url: &str,
    key: &str,
    token: &str,
    state: Option<&Path>,
    save: &Path,
) -> Res<(u64, f64, u64, u64)> {
    let mut c = Command::new(std::env::current_exe()?);
    c.args(["--monitor", url, key, token]).arg(save);
    if let Some(s) = state {
        c.arg(s);
    }
    let out = c.current_dir(root).stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        return Err(format!("the monitor child failed: {}", out.status).into());
    }
    let text = String::from_utf8(out.stdout)?;
    let f: Vec<&str> = text.split_whitespace().collect();
    let field = |i: usize| f.get(i).copied().ok_or("monitor output");
    let int = |i: usize| -> Res<u64> { Ok(field(i)?.parse::<u64>()?) };
    Ok((int(0)?, field(1)?.parse::<f64>()?, int(2)?, int(3)?))
}

/// `--monitor URL KEY TOKEN SAVE [STATE]`: one `monitor::check` from STATE (none: from
/// scratch), the resulting state written to SAVE; prints `entries seconds peak_rss_kib
/// fetches` on stdout. Exits non-zero on a finding: the harness measures a clean log.
fn monitor_child(a: &[String]) -> Res<()> {
    use caseledger_witness::monitor::{check, read_state, write_state, HttpLog};
    let [url, key, token, save, rest @ ..] = a else {
        return Err("--monitor URL KEY TOKEN SAVE [STATE]".into());
    };
    let key = caseledger_core::note::NoteVerifier::parse(key)?;
    let state = match rest.first() {
        Some(p) => read_state(Path::new(p))?,
        None => None,
    };
    let log = HttpLog::new(url, Some(token.clone()), REQUEST_TIMEOUT, None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let t = Instant::now();
    let r = check(&log, &key, state.as_ref(), i64::try_from(now)?, None)?;
    let secs = t.elapsed().as_secs_f64();
    if !r.findings.is_empty() {
        return Err(format!("findings: {:?}", r.findings).into());
    }
    if let Some(s) = &r.state {
        write_state(Path::new(save), s)?;
    }
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .ok_or("no VmHWM")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()?;
    println!("{} {secs} {hwm} {}", r.entries_checked, r.fetches);
    Ok(())
}

/// S3: a monitor following `n` entries through the served tiles (a tenth first).
fn s3(root: &Path, n: u64) -> Res<()> {
    let w = Workload::new(RECORDS);
    let dir = root.join("tiles-ledger");
    let keys = root.join("tiles-keys");
    let first = (n / 10).max(RECORDS);
    let t = Instant::now();
    make_ledger(&dir, &keys, &w, &[])?;
    grow(&dir, &w, 0..first)?;
    log(format!(
        "S3: {first} entries built in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let (token, hash) = caseledger_serve::auth::new_token();
    let config = root.join("s3.toml");
    write_config(
        &config,
        &format!(
            "[ledgers.bench]\ndir = \"{}\"\nkeys = \"{}\"\n",
            dir.display(),
            keys.display()
        ),
        &hash,
        "",
    )?;
    let key = caseledger_core::note::NoteVerifier::new(w.origin(), w.ledger_key.public_key())?
        .to_string();
    let mut rows = Vec::new();
    let s_first = root.join("s3-mon-first.json");
    let server = Server::start(&config)?;
    let url = format!("http://{}/v1/ledgers/bench/tlog", server.addr);
    rows.push((
        format!("from scratch, {} entries", first + 2),
        monitor_run(root, &url, &key, &token, None, &s_first)?,
    ));
    let server_rss = server.peak_rss_kib()?;
    server.stop()?;
    let t = Instant::now();
    grow(&dir, &w, first..n)?;
    log(format!(
        "S3: grown to {n} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let server = Server::start(&config)?;
    let url = format!("http://{}/v1/ledgers/bench/tlog", server.addr);
    rows.push((
        format!("from scratch, {} entries", n + 2),
        monitor_run(
            root,
            &url,
            &key,
            &token,
            None,
            &root.join("s3-mon-full.json"),
        )?,
    ));
    rows.push((
        format!("from the first run's state, {} new entries", n - first),
        monitor_run(
            root,
            &url,
            &key,
            &token,
            Some(&s_first),
            &root.join("s3-mon-inc.json"),
        )?,
    ));
    let server_rss = server_rss.max(server.peak_rss_kib()?);
    server.stop()?;
    for (what, (entries, secs, rss, fetches)) in rows {
        println!(
            "S3 monitor over HTTP (served tiles), {what}: {entries} entries checked in {secs:.1} s: {:.0} entries/s, {fetches} fetches; monitor peak RSS {:.1} MiB",
            entries as f64 / secs,
            rss as f64 / 1024.0
        );
    }
    println!("S3 server peak RSS {:.1} MiB", server_rss as f64 / 1024.0);
    Ok(())
}
