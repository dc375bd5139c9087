//! The measuring loop both client loops share: the program around it, the flags, the timed
//! calls, the CPU and memory figures and the `RESULT` line.
//!
//! The loop on `aws-sdk-ses` (`benches/sdk-loop`, a workspace of its own) compiles this very file
//! by path, so that both sides are timed by the same code. It depends on nothing but std, tokio
//! (the caller's runtime, and a `LocalSet` for concurrent callers) and `nix` for `getrusage`.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::sys::resource::{Usage, UsageWho, getrusage};
use nix::sys::time::{TimeVal, TimeValLike};
use tokio::task::LocalSet;

/// The tokens of the moto fixture the stub answers with; every call must return exactly these.
pub const EXPECTED_TOKENS: [&str; 3] = [
    "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
    "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
    "wrqplteh7oodxnad7hsl4mixg2uavzneazxv5sxi2",
];

/// The fake access key id both loops sign with.
pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";

/// The fake secret both loops sign with (the AWS documentation's example secret).
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// The region both loops sign for.
pub const REGION: &str = "us-east-1";

/// Runs a client loop program named `name`: parses its flags, runs `body` (which sets up the
/// client and calls [`run`]) on a current-thread tokio runtime, and prints the `RESULT` line to
/// stdout and the CPU line to stderr.
///
/// Exits with 2 for bad flags and 1 when the runtime cannot start or `body` fails.
pub fn main<F, Fut>(name: &str, body: F) -> ExitCode
where
    F: FnOnce(LoopArgs) -> Fut,
    Fut: Future<Output = Result<Report, String>>,
{
    let args = match LoopArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "{name}: {message}\n{}", LoopArgs::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{name}: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body(args)) {
        Ok(report) => {
            let _ = writeln!(std::io::stderr(), "{name}: {}", report.cpu_line());
            let _ = writeln!(std::io::stdout(), "{}", report.result_line());
            ExitCode::SUCCESS
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "{name}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The flags of a client loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopArgs {
    /// `--endpoint URL`: where the stub listens, such as `http://127.0.0.1:8099`.
    pub endpoint: String,
    /// `--n N`: the timed calls (default 1000); 0 measures the process without calls.
    pub n: usize,
    /// `--warmup W`: untimed calls before the timed ones (default 100).
    pub warmup: usize,
    /// `--domain D`: the domain every call names (default `example.com`).
    pub domain: String,
    /// `--concurrency C`: callers side by side, sharing one client (default 1).
    pub concurrency: usize,
}

impl LoopArgs {
    /// The usage line both loops print on a bad flag.
    pub const USAGE: &'static str =
        "usage: --endpoint URL [--n N] [--warmup W] [--domain D] [--concurrency C]";

    /// Reads the flags (the program name already skipped).
    ///
    /// # Errors
    ///
    /// Fails on an unknown flag, a missing or non-numeric value, a zero concurrency or no
    /// `--endpoint`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut endpoint = None;
        let mut parsed = Self {
            endpoint: String::new(),
            n: 1000,
            warmup: 100,
            domain: "example.com".to_owned(),
            concurrency: 1,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (flag, None),
            };
            let Some(value) = inline.or_else(|| args.next()) else {
                return Err(format!("{name} needs a value"));
            };
            let number = |value: &str| {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{name} wants a number, not {value:?}"))
            };
            match name.as_str() {
                "--endpoint" => endpoint = Some(value),
                "--n" => parsed.n = number(&value)?,
                "--warmup" => parsed.warmup = number(&value)?,
                "--domain" => parsed.domain = value,
                "--concurrency" => parsed.concurrency = number(&value)?,
                _ => return Err(format!("unknown flag {name}")),
            }
        }
        parsed.endpoint = endpoint.ok_or("--endpoint is required")?;
        if parsed.concurrency == 0 {
            return Err("--concurrency must be at least 1".to_owned());
        }
        Ok(parsed)
    }
}

/// What a loop measured over its timed calls.
#[derive(Debug, Clone)]
pub struct Report {
    /// The timed calls made.
    pub calls: usize,
    /// The wall time of the timed calls, all callers together.
    pub wall: Duration,
    /// Each timed call's latency in nanoseconds, sorted.
    pub latencies_ns: Vec<u64>,
    /// The process's user-space CPU time over the timed calls.
    pub cpu_user: Duration,
    /// The process's kernel CPU time over the timed calls (mostly the loopback TCP stack).
    pub cpu_system: Duration,
    /// The process's peak resident set size, in KiB, at the end.
    pub max_rss_kib: u64,
}

impl Report {
    /// Formats the one line the comparison script reads, `RESULT` followed by `calls`, `wall_s`,
    /// `mean_us`, `p50_us`, `p99_us`, `cpu_us_per_call` (user plus kernel) and `rss_kib` (peak),
    /// each as `name=value`.
    pub fn result_line(&self) -> String {
        let calls = self.calls.max(1) as f64;
        let mean_us = self.latencies_ns.iter().sum::<u64>() as f64 / calls / 1e3;
        let cpu = self.cpu_user + self.cpu_system;
        let mut line = String::with_capacity(128);
        let _ = write!(
            line,
            "RESULT calls={} wall_s={:.6} mean_us={:.2} p50_us={:.2} p99_us={:.2} \
             cpu_us_per_call={:.3} rss_kib={}",
            self.calls,
            self.wall.as_secs_f64(),
            mean_us,
            self.percentile_us(50),
            self.percentile_us(99),
            self.per_call_us(cpu),
            self.max_rss_kib,
        );
        line
    }

    /// Formats the CPU time split into user and kernel time, a line for stderr:
    /// `CPU user_us_per_call=... sys_us_per_call=...`.
    pub fn cpu_line(&self) -> String {
        format!(
            "CPU user_us_per_call={:.3} sys_us_per_call={:.3}",
            self.per_call_us(self.cpu_user),
            self.per_call_us(self.cpu_system),
        )
    }

    /// Returns a time per timed call in microseconds, 0 without calls.
    fn per_call_us(&self, time: Duration) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        time.as_secs_f64() * 1e6 / self.calls as f64
    }

    /// Returns the nearest-rank percentile of the latencies in microseconds, 0 without calls.
    fn percentile_us(&self, percent: usize) -> f64 {
        let count = self.latencies_ns.len();
        if count == 0 {
            return 0.0;
        }
        let rank = (count * percent).div_ceil(100).clamp(1, count);
        self.latencies_ns.get(rank - 1).copied().unwrap_or(0) as f64 / 1e3
    }
}

/// Checks that an answer carried the stub's tokens, in order.
///
/// # Errors
///
/// Names the first token that differs, or the count when only that differs.
pub fn check_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut count = 0;
    for (i, got) in tokens.into_iter().enumerate() {
        if EXPECTED_TOKENS.get(i) != Some(&got) {
            return Err(format!("unexpected token {got:?} at position {i}"));
        }
        count += 1;
    }
    if count == EXPECTED_TOKENS.len() {
        Ok(())
    } else {
        Err(format!("{count} tokens, not {}", EXPECTED_TOKENS.len()))
    }
}

/// Makes `args.warmup` untimed calls, then `args.n` timed ones, `args.concurrency` at a time,
/// and measures the timed ones.
///
/// With more than one caller, each is a task of its own on a [`tokio::task::LocalSet`], so that
/// the runtime polls only the callers whose answer came in; the loop works on any tokio runtime
/// flavour.
///
/// # Errors
///
/// Returns the first failed call's message, or a failure of `getrusage`.
pub async fn run<F>(args: &LoopArgs, call: F) -> Result<Report, String>
where
    F: AsyncFn() -> Result<(), String> + 'static,
{
    let call = Rc::new(call);
    let latencies = Rc::new(RefCell::new(Vec::with_capacity(args.warmup.max(args.n))));
    drive(&call, args.warmup, args.concurrency, &latencies).await?;
    latencies.borrow_mut().clear();

    let before = rusage()?;
    let start = Instant::now();
    drive(&call, args.n, args.concurrency, &latencies).await?;
    let wall = start.elapsed();
    let after = rusage()?;

    let mut latencies_ns = latencies.take();
    latencies_ns.sort_unstable();
    Ok(Report {
        calls: args.n,
        wall,
        latencies_ns,
        cpu_user: micros(&after.user_time()).saturating_sub(micros(&before.user_time())),
        cpu_system: micros(&after.system_time()).saturating_sub(micros(&before.system_time())),
        max_rss_kib: u64::try_from(after.max_rss()).unwrap_or(0),
    })
}

/// Makes `total` calls with `concurrency` callers, recording each call's latency.
async fn drive<F>(
    call: &Rc<F>,
    total: usize,
    concurrency: usize,
    latencies: &Rc<RefCell<Vec<u64>>>,
) -> Result<(), String>
where
    F: AsyncFn() -> Result<(), String> + 'static,
{
    let next = Rc::new(Cell::new(0));
    if concurrency <= 1 {
        return caller(call.as_ref(), &next, total, latencies).await;
    }
    let callers = LocalSet::new();
    let handles: Vec<_> = (0..concurrency.min(total))
        .map(|_| {
            let (call, next, latencies) = (Rc::clone(call), Rc::clone(&next), Rc::clone(latencies));
            callers
                .spawn_local(async move { caller(call.as_ref(), &next, total, &latencies).await })
        })
        .collect();
    callers
        .run_until(async {
            for handle in handles {
                handle.await.map_err(|e| format!("a caller died: {e}"))??;
            }
            Ok(())
        })
        .await
}

/// One caller: takes call numbers from `next` until `total` are taken.
async fn caller<F>(
    call: &F,
    next: &Cell<usize>,
    total: usize,
    latencies: &RefCell<Vec<u64>>,
) -> Result<(), String>
where
    F: AsyncFn() -> Result<(), String>,
{
    loop {
        let number = next.get();
        if number >= total {
            return Ok(());
        }
        next.set(number + 1);
        let start = Instant::now();
        call().await?;
        let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        latencies.borrow_mut().push(elapsed);
    }
}

fn rusage() -> Result<Usage, String> {
    getrusage(UsageWho::RUSAGE_SELF).map_err(|e| format!("getrusage: {e}"))
}

fn micros(time: &TimeVal) -> Duration {
    Duration::from_micros(u64::try_from(time.num_microseconds()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<LoopArgs, String> {
        LoopArgs::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_parse_with_defaults() {
        let parsed = args("--endpoint http://127.0.0.1:1 --n=5 --concurrency 8").unwrap();
        assert_eq!(parsed.endpoint, "http://127.0.0.1:1");
        assert_eq!((parsed.n, parsed.warmup, parsed.concurrency), (5, 100, 8));
        assert_eq!(parsed.domain, "example.com");
        assert!(args("--n 5").is_err());
        assert!(args("--endpoint x --n five").is_err());
        assert!(args("--endpoint x --concurrency 0").is_err());
        assert!(args("--endpoint x --bogus 1").is_err());
    }

    #[test]
    fn expected_tokens_are_the_fixtures() {
        let fixture = include_str!(
            "../../crates/ses-dkim-core/tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml"
        );
        for token in EXPECTED_TOKENS {
            assert!(
                fixture.contains(&format!("<member>{token}</member>")),
                "{token}"
            );
        }
        assert!(check_tokens(EXPECTED_TOKENS).is_ok());
        assert!(check_tokens(EXPECTED_TOKENS[..2].iter().copied()).is_err());
        assert!(check_tokens(["x", "y", "z"]).is_err());
    }

    #[test]
    fn every_call_is_made_and_timed() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let counted = Rc::new(Cell::new(0));
        let loop_args = args("--endpoint x --n 10 --warmup 3 --concurrency 4").unwrap();
        let counter = Rc::clone(&counted);
        let report = runtime
            .block_on(run(&loop_args, async move || {
                counter.set(counter.get() + 1);
                tokio::task::yield_now().await;
                Ok(())
            }))
            .unwrap();
        assert_eq!(counted.get(), 13);
        assert_eq!((report.calls, report.latencies_ns.len()), (10, 10));
        assert!(report.result_line().starts_with("RESULT calls=10 wall_s="));
    }
}
