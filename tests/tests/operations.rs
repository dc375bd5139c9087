//! `ses-dkim verify` for real operations: several regions, resuming from a state file after
//! `kill -9`, Ctrl-C, the DNS-workflow formats, and pacing accuracy.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ses_dkim_e2e::stub::{STUB_TOKENS, Stub, StubResponse};
use ses_dkim_e2e::{Moto, Run, StderrLines, TempDir, binary, run};

const FAKE_KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIDFAKEOPS"),
    ("AWS_SECRET_ACCESS_KEY", "fake-ops-secret"),
];

fn ses_dkim() -> PathBuf {
    binary("ses-dkim").unwrap()
}

fn verify(endpoint: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut all = vec!["verify", "--endpoint-url", endpoint];
    all.extend_from_slice(args);
    run(&ses_dkim(), &all, &FAKE_KEYS, stdin).unwrap()
}

fn domains(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("d{i:02}.example.com")).collect()
}

fn list_file(dir: &TempDir, names: &[String]) -> PathBuf {
    let path = dir.path().join("domains.txt");
    fs::write(&path, names.join("\n") + "\n").unwrap();
    path
}

/// Starts the binary in the background with a clean AWS environment, as `run` does.
fn spawn(args: &[&str], home: &Path) -> Child {
    ses_dkim_e2e::spawn(&ses_dkim(), args, &FAKE_KEYS, home).unwrap()
}

/// Waits, at most `limit`, until the stub has seen `n` requests.
fn wait_for_requests(stub: &Stub, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while stub.requests().len() < n {
        assert!(
            Instant::now() < deadline,
            "the stub saw only {} requests",
            stub.requests().len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A stub that tells each request's arrival on the returned channel, then holds the request for
/// `hold` before answering with `answer()`. (The stub records a request only once it has
/// answered, so an arrival is told apart here.)
fn holding_stub(hold: Duration, answer: fn() -> StubResponse) -> (Stub, mpsc::Receiver<()>) {
    let (arrived, arrival) = mpsc::channel();
    let arrived = std::sync::Mutex::new(arrived);
    let stub = Stub::with(move |_, _| {
        if let Ok(arrived) = arrived.lock() {
            let _ = arrived.send(());
        }
        std::thread::sleep(hold);
        answer()
    })
    .unwrap();
    (stub, arrival)
}

/// Starts `verify` over `names` against `stub`, and presses Ctrl-C once its first request has
/// arrived; returns once the run says it is stopping, with the first press taken.
fn interrupted_in_flight(
    dir: &TempDir,
    names: &[String],
    stub: &Stub,
    arrival: &mpsc::Receiver<()>,
) -> (Child, StderrLines) {
    let list = list_file(dir, names);
    let endpoint = stub.endpoint();
    let args = ses_dkim_e2e::ses_args("verify", list.to_str().unwrap(), &endpoint, &[]);
    let mut child = spawn(&args, dir.path());
    let mut stderr = StderrLines::take(&mut child);
    arrival
        .recv_timeout(Duration::from_secs(30))
        .expect("no request in 30 s");
    ses_dkim_e2e::interrupt(&child).unwrap();
    stderr.wait_for("stopping: sending nothing more", Duration::from_secs(10));
    (child, stderr)
}

/// Reads the state file's verified domains with Python's sqlite3, an independent reader.
fn stored_domains(state: &Path) -> Vec<String> {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  assert db.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'\n\
                  for (d,) in db.execute(\"SELECT domain FROM results WHERE outcome = 'verified' \
                  ORDER BY domain\"): print(d)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn csv_domains(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").to_owned())
        .collect()
}

/// The same domain in two regions: six records, grouped by region, each with its zone.
#[test]
fn two_regions_give_six_records_with_each_regions_zone() {
    let moto = Moto::start().unwrap();
    let out = verify(
        &moto.endpoint(),
        &[
            "-",
            "--region",
            "us-east-1",
            "--region",
            "af-south-1",
            "--rate",
            "50",
            "--format",
            "csv",
        ],
        Some(b"example.com\nexample.org\n"),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 12, "{}", out.stdout);
    let order: Vec<(&str, &str)> = rows.iter().step_by(3).map(|r| (r[0], r[1])).collect();
    assert_eq!(
        order,
        [
            ("example.com", "us-east-1"),
            ("example.com", "af-south-1"),
            ("example.org", "us-east-1"),
            ("example.org", "af-south-1"),
        ]
    );
    for row in &rows {
        let zone = if row[1] == "af-south-1" {
            ".dkim.af-south-1.amazonses.com."
        } else {
            ".dkim.amazonses.com."
        };
        assert!(row[4].ends_with(zone), "{row:?}");
    }
    assert!(out.stderr.contains("4 verified"), "{}", out.stderr);
}

/// `kill -9` part-way loses nothing SES returned; the resumed run prints every domain's records
/// exactly once and calls no domain whose result was stored.
#[test]
fn resume_after_kill_9_loses_nothing_and_repeats_no_call() {
    let dir = TempDir::new("ses-dkim-e2e-resume").unwrap();
    let names = domains(30);
    let list = list_file(&dir, &names);
    let state = dir.path().join("state.db");
    let (list_arg, state_arg) = (list.to_str().unwrap(), state.to_str().unwrap());

    let first = Stub::start().unwrap();
    let endpoint = first.endpoint();
    let args = [
        "verify",
        list_arg,
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--rate",
        "20",
        "--format",
        "csv",
        "--state",
        state_arg,
    ];
    let mut child = spawn(&args, dir.path());
    wait_for_requests(&first, 12, Duration::from_secs(30));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();

    let stored = stored_domains(&state);
    assert!(
        stored.len() >= 11 && stored.len() < 30,
        "stored {}",
        stored.len()
    );

    let second = Stub::start().unwrap();
    let out = verify(
        &second.endpoint(),
        &[
            list_arg,
            "--region",
            "us-east-1",
            "--rate",
            "50",
            "--format",
            "csv",
            "--state",
            state_arg,
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);

    // Every domain's three records, exactly once, in list order.
    let printed = csv_domains(&out.stdout);
    let expected: Vec<String> = names
        .iter()
        .flat_map(|d| [d.clone(), d.clone(), d.clone()])
        .collect();
    assert_eq!(printed, expected);
    // No stored domain was called again.
    let called: Vec<String> = second
        .requests()
        .iter()
        .filter_map(|r| r.param("Domain"))
        .collect();
    for domain in &called {
        assert!(
            !stored.contains(domain),
            "{domain} was stored and called again"
        );
    }
    assert_eq!(called.len() + stored.len(), 30);
    assert!(
        out.stderr
            .contains(&format!("({} from the state file)", stored.len())),
        "{}",
        out.stderr
    );

    // A third run calls nothing at all.
    let third = Stub::start().unwrap();
    let out = verify(
        &third.endpoint(),
        &[
            list_arg,
            "--region",
            "us-east-1",
            "--format",
            "csv",
            "--state",
            state_arg,
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(csv_domains(&out.stdout).len(), 90);
    assert!(third.requests().is_empty());
}

/// Failures are stored too; only `--retry-failed` calls them again.
#[test]
fn failed_domains_wait_for_retry_failed() {
    let dir = TempDir::new("ses-dkim-e2e-retry").unwrap();
    let state = dir.path().join("state.db");
    let state_arg = state.to_str().unwrap();
    let refusing = Stub::with(|request, _| {
        if request.param("Domain").as_deref() == Some("denied.example.com") {
            StubResponse::error(403, "AccessDenied", "not authorized")
        } else {
            StubResponse::tokens(&STUB_TOKENS)
        }
    })
    .unwrap();
    let list = b"ok.example.com\ndenied.example.com\n";
    let args = [
        "-",
        "--region",
        "us-east-1",
        "--rate",
        "50",
        "--format",
        "csv",
        "--state",
        state_arg,
    ];

    let out = verify(&refusing.endpoint(), &args, Some(list));
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(refusing.requests().len(), 2);

    let out = verify(&refusing.endpoint(), &args, Some(list));
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("failed in an earlier run (--retry-failed tries again)"),
        "{}",
        out.stderr
    );
    assert_eq!(refusing.requests().len(), 2, "nothing called again");

    let fixed = Stub::start().unwrap();
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let out = verify(&fixed.endpoint(), &retry, Some(list));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let called: Vec<String> = fixed
        .requests()
        .iter()
        .filter_map(|r| r.param("Domain"))
        .collect();
    assert_eq!(called, ["denied.example.com"]);
    assert_eq!(csv_domains(&out.stdout).len(), 6);
}

/// Ctrl-C stops sending, finishes the call in flight, flushes, summarises and exits 130.
#[test]
fn ctrl_c_finishes_the_call_in_flight_and_exits_130() {
    let dir = TempDir::new("ses-dkim-e2e-sigint").unwrap();
    let list = list_file(&dir, &domains(20));
    // Every answer takes 300 ms, so the signal lands while a call is in flight.
    let stub = Stub::with(|_, _| {
        std::thread::sleep(Duration::from_millis(300));
        StubResponse::tokens(&STUB_TOKENS)
    })
    .unwrap();
    let endpoint = stub.endpoint();
    let args = [
        "verify",
        list.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--rate",
        "50",
        "--format",
        "csv",
    ];
    let child = spawn(&args, dir.path());
    wait_for_requests(&stub, 3, Duration::from_secs(30));
    ses_dkim_e2e::interrupt(&child).unwrap();
    let out = child.wait_with_output().unwrap();

    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert!(
        stderr.contains("; interrupted, the remaining domains were not attempted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopping: sending nothing more, finishing the calls already sent"),
        "{stderr}"
    );
    let answered = stub.requests().len();
    assert!(answered < 20, "it should have stopped sending");
    // The call in flight was finished and its records written: one set per request.
    assert_eq!(csv_domains(&stdout).len(), 3 * answered, "{stdout}");
    assert!(stderr.contains(&format!("{answered} verified")), "{stderr}");
}

/// A second Ctrl-C does not wait for the call in flight (here one the server takes 20 s to
/// answer): the run quits at once with status 130, saying so.
#[test]
fn a_second_ctrl_c_quits_at_once() {
    let dir = TempDir::new("ses-dkim-e2e-sigint-twice").unwrap();
    let (stub, arrival) = holding_stub(Duration::from_secs(20), || {
        StubResponse::tokens(&STUB_TOKENS)
    });
    // The first press is taken once the run says so; the second then goes to the same listener.
    let (mut child, stderr) = interrupted_in_flight(&dir, &domains(3), &stub, &arrival);
    ses_dkim_e2e::interrupt(&child).unwrap();
    // Well short of the 20 s the server takes to answer the call in flight.
    let code = ses_dkim_e2e::wait_exit(&mut child, Duration::from_secs(10));
    let stderr = stderr.all(Duration::from_secs(5));
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(
        stderr.contains("quitting at once: records not yet written are lost"),
        "{stderr}"
    );
}

#[test]
fn route53_change_batch_and_json_lines() {
    let stub = Stub::start().unwrap();
    let out = verify(
        &stub.endpoint(),
        &[
            "-",
            "--region",
            "us-east-1",
            "--rate",
            "50",
            "--format",
            "route53",
            "--ttl",
            "300",
        ],
        Some(b"example.com\nmail.example.org\n"),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let batch: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let changes = batch["Changes"].as_array().unwrap();
    assert_eq!(changes.len(), 6);
    for change in changes {
        assert_eq!(change["Action"], "UPSERT");
        let rrset = &change["ResourceRecordSet"];
        assert_eq!(rrset["Type"], "CNAME");
        assert_eq!(rrset["TTL"], 300);
        assert!(rrset["Name"].as_str().unwrap().ends_with('.'));
    }
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    // More than one Route 53 request takes: still one valid batch, with a warning to split it.
    let many: String = (0..103).map(|i| format!("d{i}.example.com\n")).collect();
    let out = verify(
        &stub.endpoint(),
        &[
            "-",
            "--region",
            "us-east-1",
            "--rate",
            "200",
            "--format",
            "route53",
        ],
        Some(many.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let batch: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(batch["Changes"].as_array().unwrap().len(), 309);
    assert!(
        out.stderr.contains(
            "warning: the Route 53 change batch has 309 records with 16068 characters of values, \
             more than one request to Route 53 takes"
        ),
        "{}",
        out.stderr
    );

    let out = verify(
        &stub.endpoint(),
        &[
            "-",
            "--region",
            "af-south-1",
            "--rate",
            "50",
            "--format",
            "jsonl",
        ],
        Some(b"example.com\nmail.example.org\n"),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let sets: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[1]["domain"], "mail.example.org");
    assert_eq!(sets[1]["region"], "af-south-1");
    let value = sets[1]["records"][0]["value"].as_str().unwrap();
    assert!(
        value.ends_with(".dkim.af-south-1.amazonses.com."),
        "{value}"
    );
}

/// `--zone ORIGIN`: relative owner names; a subdomain keeps its labels; a domain outside the zone
/// is an error for that domain alone.
#[test]
fn zone_file_with_an_origin() {
    let stub = Stub::start().unwrap();
    let out = verify(
        &stub.endpoint(),
        &[
            "-",
            "--region",
            "us-east-1",
            "--rate",
            "50",
            "--zone",
            "example.com.",
        ],
        Some(b"example.com\nmail.example.com\nexample.org\n"),
    );
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    let [t1, ..] = STUB_TOKENS;
    assert!(
        out.stdout.starts_with("$ORIGIN example.com.\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&format!(
        "\n{t1}._domainkey\t1800\tIN\tCNAME\t{t1}.dkim.amazonses.com.\n"
    )));
    assert!(
        out.stdout
            .contains(&format!("\n{t1}._domainkey.mail\t1800\tIN\tCNAME\t"))
    );
    assert!(!out.stdout.contains("example.org"), "{}", out.stdout);
    // The domain outside the zone was refused before any call: SES never saw it.
    let called: Vec<String> = stub
        .requests()
        .iter()
        .filter_map(|r| r.param("Domain"))
        .collect();
    assert_eq!(called, ["example.com", "mail.example.com"]);
    assert!(
        out.stderr
            .contains("<stdin>:3: example.org: `example.org` is outside the zone `example.com`"),
        "{}",
        out.stderr
    );
}

/// Over 31 calls (30 intervals) the achieved rate is within 2% of `--rate`, and no two calls
/// come closer than the pace allows.
#[test]
#[expect(
    clippy::print_stderr,
    reason = "the figures go into the project's performance notes"
)]
fn pacing_is_accurate_over_31_calls() {
    let rate = 2.0;
    let stub = Stub::start().unwrap();
    let list = domains(31).join("\n");
    let args = [
        "-",
        "--region",
        "us-east-1",
        "--rate",
        "2",
        "--format",
        "csv",
    ];
    let out = verify(&stub.endpoint(), &args, Some(list.as_bytes()));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);

    let arrivals: Vec<Instant> = stub.requests().iter().map(|r| r.arrived).collect();
    assert_eq!(arrivals.len(), 31);
    let gaps: Vec<f64> = arrivals
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    let achieved = 30.0 / (arrivals[30] - arrivals[0]).as_secs_f64();
    let smallest = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "pacing: 31 calls at --rate 2: achieved {achieved:.4}/s ({:+.2}%), smallest gap {:.1} ms",
        (achieved - rate) / rate * 100.0,
        smallest * 1000.0
    );
    assert!(
        (achieved - rate).abs() / rate <= 0.02,
        "achieved {achieved:.4}/s"
    );
    // The client keeps 505 ms between its sends (the interval plus a 1% guard); the stub's
    // threads see arrivals with a few milliseconds of scheduling jitter on a loaded two-core
    // machine, which the guard absorbs.
    assert!(
        smallest >= 0.5,
        "two calls {:.1} ms apart",
        smallest * 1000.0
    );
}

/// F08: a server that throttles two requests less than a second apart sees none at the default
/// pace; all five domains succeed with one request each.
#[test]
fn f08_pacing_at_exactly_the_limit() {
    let stub = Stub::with(|request, before| {
        let too_soon = before
            .iter()
            .rev()
            .find(|r| r.param("Domain").is_some())
            .is_some_and(|last| request.arrived - last.arrived < Duration::from_secs(1));
        if too_soon {
            StubResponse::error(400, "Throttling", "Rate exceeded")
        } else {
            StubResponse::tokens(&STUB_TOKENS)
        }
    })
    .unwrap();
    let list = domains(5).join("\n");
    let out = verify(
        &stub.endpoint(),
        &["-", "--region", "us-east-1", "--format", "csv"],
        Some(list.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        stub.requests().len(),
        5,
        "no request was throttled and retried"
    );
    assert_eq!(csv_domains(&out.stdout).len(), 15);
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&ses_dkim(), &["completions", shell], &[], None).unwrap();
        assert_eq!(out.code, Some(0), "{shell}: {}", out.stderr);
        assert!(
            out.stdout.contains("ses-dkim") && out.stdout.contains("verify"),
            "{shell}"
        );
    }
    let out = run(&ses_dkim(), &["completions", "tcsh"], &[], None).unwrap();
    assert_eq!(out.code, Some(2));
}

/// Missing credentials are a configuration error found before anything is written: exit 2, and
/// an existing `--output` file is left as it was.
#[test]
fn missing_credentials_leave_the_output_file_alone() {
    let dir = TempDir::new("ses-dkim-e2e-no-credentials").unwrap();
    let output = dir.path().join("records.zone");
    fs::write(&output, "; last week's records\n").unwrap();
    let stub = Stub::start().unwrap();
    let args = [
        "verify",
        "-",
        "--region",
        "eu-west-1",
        "--endpoint-url",
        &stub.endpoint(),
        "--output",
        output.to_str().unwrap(),
    ];
    // No keys at all: the harness gives the binary an empty HOME and no AWS variables.
    let out = run(&ses_dkim(), &args, &[], Some(b"example.com\n")).unwrap();
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .starts_with("ses-dkim: error: cannot load AWS credentials (set AWS_ACCESS_KEY_ID"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_to_string(&output).unwrap(),
        "; last week's records\n"
    );
    assert!(stub.requests().is_empty());
}

/// Retry and endpoint switches that the AWS tools refuse, set in the environment or in the
/// profile, are configuration errors that name the variable or key and the value (exit 2, before
/// any call): aws-config itself panics on some of them and quietly ignores others. What the AWS
/// tools accept still works.
#[test]
fn invalid_retry_and_endpoint_switches_are_named() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let dir = TempDir::new("ses-dkim-e2e-switches").unwrap();
    let config = dir.path().join("config");
    let config_file = config.to_str().unwrap();
    let args = [
        "verify",
        "-",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--format",
        "csv",
    ];
    let with = |env: &[(&str, &str)]| {
        let mut all = FAKE_KEYS.to_vec();
        all.extend_from_slice(env);
        run(&ses_dkim(), &args, &all, Some(b"example.com\n")).unwrap()
    };

    let refused = [
        ("AWS_MAX_ATTEMPTS", "x"),
        ("AWS_MAX_ATTEMPTS", "0"),
        ("AWS_MAX_ATTEMPTS", "-1"),
        ("AWS_RETRY_MODE", "fast"),
        ("AWS_USE_FIPS_ENDPOINT", "maybe"),
        ("AWS_USE_DUALSTACK_ENDPOINT", "yes"),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "1"),
    ];
    for (name, value) in refused {
        let out = with(&[(name, value)]);
        assert_eq!(out.code, Some(2), "{name}={value}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!(
                "ses-dkim: error: invalid setting {name}: `{value}` "
            )),
            "{name}={value}: {}",
            out.stderr
        );
    }
    let keys = [
        ("max_attempts", "abc"),
        ("use_fips_endpoint", "maybe"),
        ("ignore_configured_endpoint_urls", "on"),
    ];
    for (key, value) in keys {
        fs::write(&config, format!("[default]\n{key} = {value}\n")).unwrap();
        let out = with(&[("AWS_CONFIG_FILE", config_file)]);
        assert_eq!(out.code, Some(2), "{key} = {value}: {}", out.stderr);
        let named = format!("invalid setting {key}: `{value}` in the profile `default` ");
        assert!(out.stderr.contains(&named), "{}", out.stderr);
    }
    assert!(moto.list_identities().unwrap().is_empty());

    // The environment wins over the profile, whose bad value is then never read.
    fs::write(
        &config,
        "[default]\nmax_attempts = abc\nretry_mode = legacy\n",
    )
    .unwrap();
    let out = with(&[
        ("AWS_CONFIG_FILE", config_file),
        ("AWS_MAX_ATTEMPTS", "25"),
        ("AWS_USE_FIPS_ENDPOINT", "FALSE"),
    ]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(moto.list_identities().unwrap(), ["example.com"]);
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is read like the other switches (any case, spaces
/// around it, a blank variable as unset so that the profile's key counts) and applied to every
/// configured URL: the request goes to the region's own endpoint.
#[test]
fn ignoring_configured_endpoint_urls_reads_like_the_other_switches() {
    let dir = TempDir::new("ses-dkim-e2e-ignore-urls").unwrap();
    let config = dir.path().join("config");
    fs::write(
        &config,
        "[default]\nignore_configured_endpoint_urls = true\n",
    )
    .unwrap();
    let config_file = config.to_str().unwrap();
    let args = ["verify", "-", "--region", "us-east-1", "--dry-run"];
    let configured = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_SES", "http://127.0.0.1:2"),
    ];
    let cases: [&[(&str, &str)]; 3] = [
        &[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", " TRUE ")],
        &[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")],
        &[
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", ""),
            ("AWS_CONFIG_FILE", config_file),
        ],
    ];
    for case in cases {
        let mut env = FAKE_KEYS.to_vec();
        env.extend_from_slice(&configured);
        env.extend_from_slice(case);
        let out = run(&ses_dkim(), &args, &env, Some(b"example.com\n")).unwrap();
        assert_eq!(out.code, Some(0), "{case:?}: {}", out.stderr);
        assert!(
            out.stdout
                .starts_with("POST https://email.us-east-1.amazonaws.com/\n"),
            "{case:?}: {}",
            out.stdout
        );
    }

    let mut env = FAKE_KEYS.to_vec();
    env.extend_from_slice(&configured);
    env.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"));
    let out = run(&ses_dkim(), &args, &env, Some(b"example.com\n")).unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("POST http://127.0.0.1:2/\n"),
        "{}",
        out.stdout
    );
}

/// A directory given as the list is a usage error at once (exit 2, nothing asked), and a list
/// with no domain in it says so rather than only counting nothing.
#[test]
fn a_directory_is_no_list_and_an_empty_list_is_named() {
    let moto = Moto::start().unwrap();
    let dir = TempDir::new("ses-dkim-e2e-lists").unwrap();
    let folder = dir.path().to_str().unwrap();
    let out = verify(&moto.endpoint(), &[folder, "--region", "us-east-1"], None);
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_eq!(
        out.stderr,
        format!("ses-dkim: error: `{folder}` is a directory: name a file with one domain a line\n")
    );

    let out = verify(
        &moto.endpoint(),
        &["-", "--region", "us-east-1"],
        Some(b"# nothing yet\n\n"),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .starts_with("ses-dkim: <stdin>: no domains in the list\n"),
        "{}",
        out.stderr
    );
    assert!(moto.list_identities().unwrap().is_empty());
}

/// `scripts/demo`, the README's first command, takes the list and `-o` from where it is run, and
/// a `--region` of the caller's replaces its default rather than adding to it; `scripts/demo
/// status` shows the list's DKIM status after verifying it.
#[test]
fn the_demo_takes_paths_from_where_it_is_run() {
    let dir = TempDir::new("ses-dkim-e2e-demo").unwrap();
    fs::write(dir.path().join("small.txt"), "a.example\nb.example\n").unwrap();
    let script = ses_dkim_e2e::repo_root().join("scripts/demo");
    let args = [
        "small.txt",
        "--format",
        "csv",
        "--region",
        "eu-west-1",
        "-o",
        "out.csv",
    ];
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        // The binary this test run built, rather than a `cargo run` inside `cargo test`.
        .env("SES_DKIM_BIN", ses_dkim())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let csv = fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 6, "{csv}");
    assert!(
        rows.iter().all(|row| row.contains(",eu-west-1,CNAME,")),
        "{csv}"
    );

    // `status` verifies the list against its moto first (in the caller's region), so each domain
    // is Success.
    let out = Command::new("bash")
        .arg(&script)
        .args([
            "status",
            "small.txt",
            "--format",
            "csv",
            "--region",
            "eu-west-1",
        ])
        .env("SES_DKIM_BIN", ses_dkim())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let states: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|row| row.split(',').take(4).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        states,
        [
            "a.example,eu-west-1,true,Success",
            "b.example,eu-west-1,true,Success"
        ],
        "{stderr}"
    );
}

/// An endpoint URL that cannot work is reported with where it came from, as a region is.
#[test]
fn endpoint_errors_say_where_the_url_came_from() {
    let dir = TempDir::new("ses-dkim-e2e-endpoint-origin").unwrap();
    let config = dir.path().join("config");
    fs::write(&config, "[default]\nendpoint_url = ftp://x\n").unwrap();
    let config = config.to_str().unwrap();
    let args = ["verify", "-", "--region", "us-east-1"];
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("AWS_ENDPOINT_URL_SES", "localhost:4566")],
            "invalid endpoint URL `localhost:4566`: no scheme: start it with `https://` (or \
             `http://` for a local emulator); the endpoint URL came from AWS_ENDPOINT_URL_SES",
        ),
        (
            &[(
                "AWS_ENDPOINT_URL",
                "https://email-smtp.us-east-1.amazonaws.com",
            )],
            "is the SES SMTP interface, not the API; use `https://email.<region>.amazonaws.com`; \
             the endpoint URL came from AWS_ENDPOINT_URL",
        ),
        (
            &[("AWS_CONFIG_FILE", config)],
            "invalid endpoint URL `ftp://x`: the scheme must be http or https; the endpoint URL \
             came from the profile's `endpoint_url` (or its `services` section)",
        ),
    ];
    for (env, message) in cases {
        let mut all = FAKE_KEYS.to_vec();
        all.extend_from_slice(env);
        let out = run(&ses_dkim(), &args, &all, Some(b"example.com\n")).unwrap();
        assert_eq!(out.code, Some(2), "{env:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{env:?}: {}", out.stderr);
    }
}

/// `-v` logs each call once, as one line of the call's span with its domain, region and request
/// id (recorded once); at the most verbose level, no secret or session token appears anywhere.
#[test]
fn each_call_logs_one_line_with_domain_region_and_request_id() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let token = "OPS-SESSION-TOKEN-that-must-never-be-printed";
    let env = [FAKE_KEYS[0], FAKE_KEYS[1], ("AWS_SESSION_TOKEN", token)];
    let list: &[u8] = b"a.example\nb.example\n";
    let args = |verbosity| {
        [
            verbosity,
            "verify",
            "-",
            "--region",
            "us-east-1",
            "--endpoint-url",
            endpoint.as_str(),
            "-o",
            "/dev/null",
        ]
    };

    let out = run(&ses_dkim(), &args("-v"), &env, Some(list)).unwrap();
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let calls: Vec<&str> = out
        .stderr
        .lines()
        .filter(|line| line.contains("verify_domain_dkim{"))
        .collect();
    assert_eq!(calls.len(), 2, "{}", out.stderr);
    for (line, domain) in calls.iter().zip(["a.example", "b.example"]) {
        let span = format!("verify_domain_dkim{{domain={domain} region=us-east-1 request_id=\"");
        assert!(line.contains(" INFO ") && line.contains(&span), "{line}");
        assert!(line.ends_with("\"}: verified tokens=3"), "{line}");
        assert_eq!(line.matches("request_id=").count(), 1, "{line}");
    }

    let out = run(&ses_dkim(), &args("-vvv"), &env, Some(list)).unwrap();
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("verified tokens=3"), "{}", out.stderr);
    for secret in [FAKE_KEYS[1].1, token] {
        assert!(
            !out.stderr.contains(secret),
            "{secret} leaked: {}",
            out.stderr
        );
    }
}

/// A run that the configuration stops before its first record (here an endpoint nothing listens
/// on) leaves an existing `--output` file as it was and creates no new one; a run that verifies
/// replaces the file's content.
#[test]
fn a_run_stopped_before_its_first_record_leaves_the_output_file_alone() {
    let dir = TempDir::new("ses-dkim-e2e-output-kept").unwrap();
    let kept = dir.path().join("yesterday.zone");
    fs::write(&kept, "; yesterday's records\n").unwrap();
    let fresh = dir.path().join("new.zone");
    let refusing = ses_dkim_e2e::closed_endpoint().unwrap();
    let closed = refusing.url();
    let list: &[u8] = b"a.example\nb.example\n";
    for output in [&kept, &fresh] {
        let args = ["-", "--region", "us-east-1", "-o", output.to_str().unwrap()];
        let out = verify(closed, &args, Some(list));
        assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    }
    assert_eq!(
        fs::read_to_string(&kept).unwrap(),
        "; yesterday's records\n"
    );
    assert!(!fresh.exists());

    let moto = Moto::start().unwrap();
    let args = [
        "-",
        "--region",
        "us-east-1",
        "--format",
        "csv",
        "-o",
        kept.to_str().unwrap(),
    ];
    let out = verify(&moto.endpoint(), &args, Some(list));
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let csv = fs::read_to_string(&kept).unwrap();
    assert!(csv.starts_with("domain,region,type,name,value\n"), "{csv}");
    assert_eq!(csv.lines().count(), 7, "{csv}");
}

/// Ctrl-C before the first record (the list has not delivered a domain yet) leaves an existing
/// `--output` file as it was, as a configuration error does.
#[test]
fn ctrl_c_before_the_first_record_leaves_the_output_file_alone() {
    let dir = TempDir::new("ses-dkim-e2e-sigint-output").unwrap();
    let output = dir.path().join("kept.zone");
    fs::write(&output, "; yesterday's records\n").unwrap();
    let stub = Stub::with(|_, _| StubResponse::tokens(&STUB_TOKENS)).unwrap();
    let endpoint = stub.endpoint();
    // -v (a global flag) for the `client ready` line waited for below.
    let extra = ["-o", output.to_str().unwrap(), "-v"];
    let args = ses_dkim_e2e::ses_args("verify", "-", &endpoint, &extra);
    let mut command = ses_dkim_e2e::command(&ses_dkim(), &args, &FAKE_KEYS, dir.path());
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    // Held open and never written: the list delivers nothing until the end of the test.
    let stdin = child.stdin.take();
    let mut stderr = StderrLines::take(&mut child);
    stderr.wait_for("client ready", Duration::from_secs(30));
    // Past the client's set-up, into the run: the Ctrl-C watcher is in place.
    std::thread::sleep(Duration::from_millis(500));
    ses_dkim_e2e::interrupt(&child).unwrap();
    let code = ses_dkim_e2e::wait_exit(&mut child, Duration::from_secs(10));
    drop(stdin);
    assert_eq!(code, Some(130), "{}", stderr.all(Duration::from_secs(5)));
    assert_eq!(
        fs::read_to_string(&output).unwrap(),
        "; yesterday's records\n"
    );
    assert!(stub.requests().is_empty());
}

/// Ctrl-C while a failed attempt waits for its retry: the retry is never sent, and the domain is
/// neither counted as failed nor stored as failed, so the next run with the same state file calls
/// it again.
#[test]
fn ctrl_c_during_a_retry_wait_leaves_the_domain_for_the_next_run() {
    let dir = TempDir::new("ses-dkim-e2e-sigint-retry").unwrap();
    let state = dir.path().join("state.db");
    let list = list_file(&dir, &["a.example.com".to_owned()]);
    let failing =
        Stub::with(|_, _| StubResponse::error(500, "InternalFailure", "try again")).unwrap();
    let endpoint = failing.endpoint();
    // A call every 20 s: the retry waits that long for its slot, whatever the backoff.
    let args = [
        "verify",
        list.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--rate",
        "0.05",
        "--format",
        "csv",
        "--state",
        state.to_str().unwrap(),
    ];
    let child = spawn(&args, dir.path());
    // The first attempt is answered; Ctrl-C comes while the client reads that answer or waits
    // for the retry's slot, and either way the retry is not sent.
    wait_for_requests(&failing, 1, Duration::from_secs(30));
    ses_dkim_e2e::interrupt(&child).unwrap();
    let out = child.wait_with_output().unwrap();

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert_eq!(failing.requests().len(), 1, "the retry was sent");
    assert!(
        stderr.contains("a.example.com: not retried, sending was stopped: ")
            && stderr.contains("InternalFailure"),
        "{stderr}"
    );
    assert!(stderr.contains("0 verified, 0 failed"), "{stderr}");

    let fixed = Stub::start().unwrap();
    let out = verify(
        &fixed.endpoint(),
        &[
            list.to_str().unwrap(),
            "--region",
            "us-east-1",
            "--format",
            "csv",
            "--state",
            state.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(fixed.requests().len(), 1, "the next run calls it again");
    assert_eq!(csv_domains(&out.stdout).len(), 3, "{}", out.stdout);
}

/// Ctrl-C while a failing attempt is in flight: the attempt finishes, its failure is reported as
/// not retried, and no retry is announced (no "retrying" warning) or sent.
#[test]
fn ctrl_c_during_a_failing_attempt_announces_no_retry() {
    let dir = TempDir::new("ses-dkim-e2e-sigint-in-flight").unwrap();
    // Held long enough for Ctrl-C to be taken before the answer comes.
    let (stub, arrival) = holding_stub(Duration::from_secs(2), || {
        StubResponse::error(500, "InternalFailure", "try again")
    });
    let names = ["a.example.com".to_owned()];
    let (mut child, stderr) = interrupted_in_flight(&dir, &names, &stub, &arrival);
    let code = ses_dkim_e2e::wait_exit(&mut child, Duration::from_secs(30));
    let stderr = stderr.all(Duration::from_secs(5));

    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(
        stderr.contains("a.example.com: not retried, sending was stopped: ")
            && stderr.contains("InternalFailure"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert_eq!(stub.requests().len(), 1, "the retry was sent");
}
