//! End-to-end tests of `ses-dkim status` and `ses-dkim check`.
//!
//! `status` runs against moto after `ses-dkim verify` created some identities (moto reports
//! Success with the tokens for those and NotStarted without tokens for any other domain), and
//! against the stub for what moto cannot produce: every verification state, the v2 spellings,
//! identities missing from the answer, batches of 100, and states that change between checks.
//!
//! `check` runs against a real DNS server on 127.0.0.1 (dnslib's zone resolver) serving a zone
//! with each situation: all records right, one missing, one pointing elsewhere, one under a
//! doubled name. The expected tokens come from moto, or from a state file a verify run wrote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use ses_dkim_e2e::stub::{Stub, StubRequest, StubResponse};
use ses_dkim_e2e::{DnsServer, Moto, Run, TempDir, binary, run};

/// The tokens moto gives every domain, in its order.
const TOKENS: [&str; 3] = [
    "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
    "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
    "wrqplteh7oodxnad7hsl4mixg2uavzneazxv5sxi2",
];

/// Fake keys: neither moto (auth off) nor the stub checks them.
const FAKE_KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIDE2ETESTFAKEKEY00"),
    ("AWS_SECRET_ACCESS_KEY", "e2e-test-fake-secret"),
];

const STATUS_CSV_HEADER: &str = "domain,region,dkim_enabled,status,tokens\n";
const CHECK_CSV_HEADER: &str = "domain,region,status,name,expected,found_name,found_value\n";

fn ses_dkim() -> PathBuf {
    binary("ses-dkim").unwrap()
}

/// Runs `ses-dkim COMMAND ARGS --region us-east-1 --endpoint-url ENDPOINT --rate 50`.
fn ses_dkim_at(endpoint: &str, command: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut all = vec![command];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--region",
        "us-east-1",
        "--endpoint-url",
        endpoint,
        "--rate",
        "50",
    ]);
    run(&ses_dkim(), &all, &FAKE_KEYS, stdin).unwrap()
}

/// Verifies `domains` against moto so that they exist there.
fn verify(moto: &Moto, domains: &[&str], extra: &[&str]) {
    let list = domains.join("\n");
    let out = ses_dkim_at(&moto.endpoint(), "verify", extra, Some(list.as_bytes()));
    assert_eq!(out.code, Some(0), "verify failed: {}", out.stderr);
}

fn tokens_text() -> String {
    TOKENS.join(" ")
}

/// The summary line's last words, `in 0.3s`, vary; drop everything after ` skipped in `.
fn summary(stderr: &str) -> &str {
    let last = stderr.lines().last().unwrap_or("");
    last.split(" skipped in ").next().unwrap_or(last)
}

// --- status against moto -------------------------------------------------------------------

#[test]
fn status_against_moto_shows_verified_domains_as_success_and_others_as_not_started() {
    let moto = Moto::start().unwrap();
    verify(&moto, &["a.example.com", "b.example.com"], &[]);

    let list =
        "# status list\na.example.com\nB.Example.com.\nnever.example\nbad domain\na.example.com\n";
    let out = ses_dkim_at(
        &moto.endpoint(),
        "status",
        &["-", "--format", "csv"],
        Some(list.as_bytes()),
    );

    let tokens = tokens_text();
    let expected = format!(
        "{STATUS_CSV_HEADER}\
         a.example.com,us-east-1,true,Success,{tokens}\n\
         b.example.com,us-east-1,true,Success,{tokens}\n\
         never.example,us-east-1,true,NotStarted,\n"
    );
    assert_eq!(out.stdout, expected, "stderr: {}", out.stderr);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .contains("ses-dkim: <stdin>:5: invalid domain `bad domain`"),
        "{}",
        out.stderr
    );
    assert_eq!(
        summary(&out.stderr),
        "ses-dkim: 3 domains: 2 Success, 1 NotStarted; 1 invalid line, 1 duplicate"
    );

    // Asking creates nothing: moto holds only what verify created.
    let mut identities = moto.list_identities().unwrap();
    identities.sort();
    assert_eq!(identities, ["a.example.com", "b.example.com"]);

    // Every domain verified: exit 0, in every format.
    let verified = b"a.example.com\nb.example.com\n";
    let table = ses_dkim_at(&moto.endpoint(), "status", &[], Some(verified));
    assert_eq!(table.code, Some(0), "stderr: {}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["DOMAIN", "REGION", "DKIM", "STATUS", "TOKENS"]);
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first[..4], ["a.example.com", "us-east-1", "yes", "Success"]);
    assert_eq!(first[4..], TOKENS);

    let json = ses_dkim_at(
        &moto.endpoint(),
        "status",
        &["--format", "json"],
        Some(verified),
    );
    assert_eq!(json.code, Some(0), "stderr: {}", json.stderr);
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    let rows = value.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["domain"], "b.example.com");
    assert_eq!(rows[1]["region"], "us-east-1");
    assert_eq!(rows[1]["dkim_enabled"], true);
    assert_eq!(rows[1]["status"], "Success");
    assert_eq!(rows[1]["tokens"], serde_json::json!(TOKENS));

    let jsonl = ses_dkim_at(
        &moto.endpoint(),
        "status",
        &["--format", "jsonl"],
        Some(verified),
    );
    let objects: Vec<Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2, "{}", jsonl.stdout);
    assert_eq!(objects[0]["status"], "Success");
}

#[test]
fn status_of_an_empty_list_is_an_empty_success() {
    let moto = Moto::start().unwrap();
    let out = ses_dkim_at(
        &moto.endpoint(),
        "status",
        &["--format", "json"],
        Some(b"# none\n"),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "[]\n");
    let csv = ses_dkim_at(&moto.endpoint(), "status", &["--format", "csv"], Some(b""));
    assert_eq!(csv.stdout, STATUS_CSV_HEADER);
}

// --- status against the stub ---------------------------------------------------------------

/// Returns the identities a `GetIdentityDkimAttributes` request names, in order.
fn identities(request: &StubRequest) -> Vec<String> {
    (1..)
        .map_while(|i| request.param(&format!("Identities.member.{i}")))
        .collect()
}

/// A `GetIdentityDkimAttributesResponse` with one entry per `(identity, state)`; a state of
/// `Success` carries the stub's tokens.
fn attributes(entries: &[(String, String)]) -> StubResponse {
    let mut body = String::from(
        "<GetIdentityDkimAttributesResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\
         <GetIdentityDkimAttributesResult><DkimAttributes>",
    );
    for (identity, state) in entries {
        body.push_str(&format!(
            "<entry><key>{identity}</key><value><DkimEnabled>true</DkimEnabled>\
             <DkimVerificationStatus>{state}</DkimVerificationStatus>"
        ));
        if state == "Success" {
            body.push_str("<DkimTokens>");
            for token in TOKENS {
                body.push_str(&format!("<member>{token}</member>"));
            }
            body.push_str("</DkimTokens>");
        }
        body.push_str("</value></entry>");
    }
    body.push_str(
        "</DkimAttributes></GetIdentityDkimAttributesResult><ResponseMetadata>\
         <RequestId>stub-status</RequestId></ResponseMetadata></GetIdentityDkimAttributesResponse>",
    );
    StubResponse::new(200, body)
}

/// Starts a stub that answers each named identity with the state `state` picks from the
/// identity and the number of earlier requests; `None` leaves the identity out.
fn status_stub(state: impl Fn(&str, usize) -> Option<String> + Send + Sync + 'static) -> Stub {
    Stub::with(move |request, earlier| {
        let entries: Vec<(String, String)> = identities(request)
            .into_iter()
            .filter_map(|identity| {
                let state = state(&identity, earlier.len())?;
                Some((identity, state))
            })
            .collect();
        attributes(&entries)
    })
    .unwrap()
}

/// Writes a list of 150 domains into `home`: two `GetIdentityDkimAttributes` calls' worth.
fn two_batches(home: &TempDir) -> PathBuf {
    let list = home.path().join("list.txt");
    let names: Vec<String> = (0..150).map(|i| format!("d{i}.example.com\n")).collect();
    std::fs::write(&list, names.concat()).unwrap();
    list
}

/// F14 at the binary: five distinct states and the v2 spellings, as SES spells them in v1; an
/// identity missing from the answer is NotFound and a state this version does not know is
/// kept as it is, neither shown as Failed; only all-Success exits 0.
#[test]
fn f14_pending_shown_as_failed() {
    let states: HashMap<&str, &str> = [
        ("pending.example", "Pending"),
        ("success.example", "Success"),
        ("failed.example", "Failed"),
        ("temporary.example", "TemporaryFailure"),
        ("not-started.example", "NotStarted"),
        ("v2-pending.example", "PENDING"),
        ("v2-temporary.example", "TEMPORARY_FAILURE"),
        ("v2-not-started.example", "NOT_STARTED"),
        ("new-state.example", "Verifying"),
    ]
    .into_iter()
    .collect();
    let owned: HashMap<String, String> = states
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stub = status_stub(move |identity, _| owned.get(identity).cloned());

    let list = "pending.example\nsuccess.example\nfailed.example\ntemporary.example\n\
                not-started.example\nv2-pending.example\nv2-temporary.example\n\
                v2-not-started.example\nnew-state.example\nunknown-to-ses.example\n";
    let out = ses_dkim_at(
        &stub.endpoint(),
        "status",
        &["-", "--format", "csv"],
        Some(list.as_bytes()),
    );
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);

    let shown: Vec<(String, String)> = out
        .stdout
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[0].to_owned(), cells[3].to_owned())
        })
        .collect();
    let expected = [
        ("pending.example", "Pending"),
        ("success.example", "Success"),
        ("failed.example", "Failed"),
        ("temporary.example", "TemporaryFailure"),
        ("not-started.example", "NotStarted"),
        ("v2-pending.example", "Pending"),
        ("v2-temporary.example", "TemporaryFailure"),
        ("v2-not-started.example", "NotStarted"),
        ("new-state.example", "Verifying"),
        ("unknown-to-ses.example", "NotFound"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(d, s)| ((*d).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(shown, expected, "stdout: {}", out.stdout);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains(",Failed,"))
            .count(),
        1,
        "only Failed is shown as Failed: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("unknown-to-ses.example,us-east-1,,NotFound,\n")
    );
    assert_eq!(
        summary(&out.stderr),
        "ses-dkim: 10 domains: 1 Success, 2 Pending, 2 TemporaryFailure, 2 NotStarted, 1 Failed, \
         1 NotFound, 1 unknown; 0 invalid lines, 0 duplicates"
    );

    // One request for the ten, naming each once.
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].param("Action").as_deref(),
        Some("GetIdentityDkimAttributes")
    );
    assert_eq!(identities(&requests[0]).len(), 10);

    let only_success = ses_dkim_at(&stub.endpoint(), "status", &[], Some(b"success.example\n"));
    assert_eq!(
        only_success.code,
        Some(0),
        "stderr: {}",
        only_success.stderr
    );
}

#[test]
fn status_asks_about_at_most_100_domains_a_call_in_list_order() {
    let stub = status_stub(|_, _| Some("Success".to_owned()));
    let mut list = String::new();
    for i in 0..250 {
        list.push_str(&format!("d{i}.example.com\n"));
        if i % 50 == 0 {
            // Duplicates and comments take no room in a batch.
            list.push_str(&format!("# again\nD{i}.example.com.\n"));
        }
    }
    let out = ses_dkim_at(
        &stub.endpoint(),
        "status",
        &["-", "--format", "jsonl"],
        Some(list.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 250);
    let last: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["domain"], "d249.example.com");

    let requests = stub.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| identities(r).len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(identities(&requests[1])[0], "d100.example.com");
    assert_eq!(identities(&requests[2])[49], "d249.example.com");
    assert!(
        summary(&out.stderr).ends_with("0 invalid lines, 5 duplicates"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_wait_asks_again_only_about_domains_not_final_until_they_are() {
    // `ready` is final at once; `late` is Pending in the first answer and Success after.
    let stub = status_stub(|identity, earlier| {
        Some(match (identity, earlier) {
            ("late.example", 0) => "Pending".to_owned(),
            _ => "Success".to_owned(),
        })
    });
    let started = Instant::now();
    let out = ses_dkim_at(
        &stub.endpoint(),
        "status",
        &[
            "-",
            "--wait",
            "--interval",
            "1",
            "--timeout",
            "60",
            "--format",
            "csv",
        ],
        Some(b"ready.example\nlate.example\n"),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let tokens = tokens_text();
    assert_eq!(
        out.stdout,
        format!(
            "{STATUS_CSV_HEADER}ready.example,us-east-1,true,Success,{tokens}\n\
             late.example,us-east-1,true,Success,{tokens}\n"
        )
    );
    assert!(
        out.stderr.contains("1 of 2 domains not final yet"),
        "{}",
        out.stderr
    );

    let requests = stub.requests();
    assert_eq!(requests.len(), 2, "one check, then one more");
    assert_eq!(identities(&requests[0]), ["ready.example", "late.example"]);
    assert_eq!(identities(&requests[1]), ["late.example"]);
    let gap = requests[1].arrived - requests[0].arrived;
    assert!(
        gap >= Duration::from_millis(900),
        "checked again after {gap:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn status_wait_gives_up_at_the_time_limit() {
    let stub = status_stub(|identity, _| {
        Some(
            if identity == "stuck.example" {
                "Pending"
            } else {
                "Failed"
            }
            .to_owned(),
        )
    });
    let started = Instant::now();
    let out = ses_dkim_at(
        &stub.endpoint(),
        "status",
        &[
            "-",
            "--wait",
            "--interval",
            "1",
            "--timeout",
            "3",
            "--format",
            "csv",
        ],
        Some(b"stuck.example\nbroken.example\n"),
    );
    let elapsed = started.elapsed();
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{STATUS_CSV_HEADER}stuck.example,us-east-1,true,Pending,\n\
             broken.example,us-east-1,true,Failed,\n"
        )
    );
    assert!(
        out.stderr.contains("timed out with 1 not final"),
        "{}",
        out.stderr
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    // Failed is final: only the Pending domain is asked about again.
    let requests = stub.requests();
    assert!(requests.len() >= 2, "{} requests", requests.len());
    for request in &requests[1..] {
        assert_eq!(identities(request), ["stuck.example"]);
    }
}

/// Ctrl-C while `status` waits for the next batch's pacing slot: the batch is not asked about,
/// the batches already answered are printed, and the run exits 130.
#[test]
fn status_ctrl_c_prints_what_was_answered_and_exits_130() {
    let stub = status_stub(|_, _| Some("Success".to_owned()));
    let home = TempDir::new("ses-dkim-e2e-status-sigint").unwrap();
    let list = two_batches(&home);
    let endpoint = stub.endpoint();
    // A call every 20 s: the second batch waits that long for its slot, which Ctrl-C cuts short.
    let args = [
        "status",
        list.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--rate",
        "0.05",
        "--format",
        "csv",
    ];
    let mut child = ses_dkim_e2e::spawn(&ses_dkim(), &args, &FAKE_KEYS, home.path()).unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    // The header and the first batch's rows, then Ctrl-C while the second batch waits.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = Vec::new();
    while printed.len() < 1 + 100 {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(e) => panic!("{} lines of stdout in 30 s ({e})", printed.len()),
        }
    }
    ses_dkim_e2e::interrupt(&child).unwrap();
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    printed.extend(lines.try_iter());

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert_eq!(stub.requests().len(), 1, "the second batch was asked about");
    assert_eq!(printed.len(), 1 + 100, "{printed:?}");
    assert_eq!(format!("{}\n", printed[0]), STATUS_CSV_HEADER);
    assert!(stderr.contains("interrupted"), "{stderr}");
}

#[test]
fn status_usage_errors_exit_2() {
    let stub = status_stub(|_, _| Some("Success".to_owned()));
    let endpoint = stub.endpoint();
    for args in [
        &["--wait", "--interval", "0"][..],
        &["--timeout", "5"][..],
        &["--format", "zone"][..],
        &["no-such-list.txt"][..],
    ] {
        let out = ses_dkim_at(&endpoint, "status", args, Some(b"example.com\n"));
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    assert!(stub.requests().is_empty());
}

#[test]
fn status_refused_credentials_exit_2() {
    let stub = Stub::with(|_, _| {
        StubResponse::error(
            403,
            "InvalidClientTokenId",
            "The security token is invalid.",
        )
    })
    .unwrap();
    let out = ses_dkim_at(
        &stub.endpoint(),
        "status",
        &[],
        Some(b"a.example\nb.example\n"),
    );
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .contains("<stdin>:1-2: cannot get the DKIM status of 2 domains"),
        "{}",
        out.stderr
    );
}

// --- check against a real DNS server -------------------------------------------------------

/// A zone with every situation `check` tells apart, for moto's tokens.
fn test_zone() -> String {
    let [t1, t2, t3] = TOKENS;
    let zone = "dkim.amazonses.com.";
    format!(
        "$TTL 300\n\
         ; every record right (one value in upper case: names compare without case)\n\
         {t1}._domainkey.ok.example. IN CNAME {t1}.{zone}\n\
         {t2}._domainkey.ok.example. IN CNAME {}.DKIM.AMAZONSES.COM.\n\
         {t3}._domainkey.ok.example. IN CNAME {t3}.{zone}\n\
         ; the second record was never published\n\
         {t1}._domainkey.missing.example. IN CNAME {t1}.{zone}\n\
         {t3}._domainkey.missing.example. IN CNAME {t3}.{zone}\n\
         ; the third points elsewhere\n\
         {t1}._domainkey.wrong.example. IN CNAME {t1}.{zone}\n\
         {t2}._domainkey.wrong.example. IN CNAME {t2}.{zone}\n\
         {t3}._domainkey.wrong.example. IN CNAME {t3}.dkim.eu-west-1.amazonses.com.\n\
         ; a web panel appended the zone to the first name (F12)\n\
         {t1}._domainkey.doubled.example.doubled.example. IN CNAME {t1}.{zone}\n\
         {t2}._domainkey.doubled.example. IN CNAME {t2}.{zone}\n\
         {t3}._domainkey.doubled.example. IN CNAME {t3}.{zone}\n",
        t2.to_uppercase()
    )
}

fn record_name(token: &str, domain: &str) -> String {
    format!("{token}._domainkey.{domain}.")
}

fn record_value(token: &str) -> String {
    format!("{token}.dkim.amazonses.com.")
}

/// The CSV row `check` prints for one record.
fn check_row(domain: &str, status: &str, token: &str, found: Option<(&str, &str)>) -> String {
    let (found_name, found_value) = found.unwrap_or(("", ""));
    format!(
        "{domain},us-east-1,{status},{},{},{found_name},{found_value}\n",
        record_name(token, domain),
        record_value(token)
    )
}

/// The CSV `check` prints for [`CHECK_LIST`] against [`test_zone`].
fn expected_check_csv() -> String {
    let [t1, t2, t3] = TOKENS;
    let ok = |domain: &str, token: &str| {
        let (name, value) = (record_name(token, domain), record_value(token));
        check_row(domain, "ok", token, Some((&name, &value)))
    };
    let wrong_name = record_name(t3, "wrong.example");
    let elsewhere = format!("{t3}.dkim.eu-west-1.amazonses.com.");
    let doubled_name = format!("{t1}._domainkey.doubled.example.doubled.example.");
    let doubled_value = record_value(t1);
    [
        CHECK_CSV_HEADER.to_owned(),
        ok("ok.example", t1),
        ok("ok.example", t2),
        ok("ok.example", t3),
        ok("missing.example", t1),
        check_row("missing.example", "missing", t2, None),
        ok("missing.example", t3),
        ok("wrong.example", t1),
        ok("wrong.example", t2),
        check_row(
            "wrong.example",
            "wrong",
            t3,
            Some((&wrong_name, &elsewhere)),
        ),
        check_row(
            "doubled.example",
            "doubled",
            t1,
            Some((&doubled_name, &doubled_value)),
        ),
        ok("doubled.example", t2),
        ok("doubled.example", t3),
    ]
    .concat()
}

const CHECK_LIST: &str = "ok.example\nmissing.example\nwrong.example\ndoubled.example\n";
const CHECK_DOMAINS: [&str; 4] = [
    "ok.example",
    "missing.example",
    "wrong.example",
    "doubled.example",
];

#[test]
fn check_with_tokens_from_moto_tells_each_dns_situation_apart() {
    let moto = Moto::start().unwrap();
    verify(&moto, &CHECK_DOMAINS, &[]);
    let dns = DnsServer::start(&test_zone()).unwrap();
    let resolver = dns.address();

    let out = ses_dkim_at(
        &moto.endpoint(),
        "check",
        &["-", "--resolver", &resolver, "--format", "csv"],
        Some(CHECK_LIST.as_bytes()),
    );
    assert_eq!(out.stdout, expected_check_csv(), "stderr: {}", out.stderr);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(
        summary(&out.stderr),
        "ses-dkim: 12 records: 9 ok, 1 missing, 1 wrong, 1 doubled, 0 error (lookup failed); \
         0 invalid lines, 0 duplicates"
    );
    // The queries reached the test server, and asking SES created nothing.
    let log = std::fs::read_to_string(dns.log_path()).unwrap();
    assert!(log.contains("doubled.example.doubled.example"), "{log}");
    let mut identities = moto.list_identities().unwrap();
    identities.sort();
    let mut expected: Vec<&str> = CHECK_DOMAINS.to_vec();
    expected.sort();
    assert_eq!(identities, expected);

    // Every record right: exit 0; the table names the finding and what was found.
    let ok = ses_dkim_at(
        &moto.endpoint(),
        "check",
        &["--resolver", &resolver],
        Some(b"ok.example\n"),
    );
    assert_eq!(ok.code, Some(0), "stderr: {}", ok.stderr);
    let lines: Vec<&str> = ok.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", ok.stdout);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["DOMAIN", "REGION", "STATUS", "NAME", "FOUND"]);
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        row,
        [
            "ok.example",
            "us-east-1",
            "ok",
            &record_name(TOKENS[1], "ok.example"),
            &record_value(TOKENS[1]),
        ]
    );

    // JSON carries the same findings.
    let json = ses_dkim_at(
        &moto.endpoint(),
        "check",
        &["--resolver", &resolver, "--format", "json"],
        Some(b"doubled.example\nwrong.example\n"),
    );
    let rows: Value = serde_json::from_str(&json.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["status"], "doubled");
    assert_eq!(
        rows[0]["found_name"],
        format!("{}._domainkey.doubled.example.doubled.example.", TOKENS[0])
    );
    assert_eq!(rows[5]["status"], "wrong");
    assert_eq!(
        rows[5]["found_value"],
        format!("{}.dkim.eu-west-1.amazonses.com.", TOKENS[2])
    );
    assert_eq!(rows[5]["expected"], record_value(TOKENS[2]));
}

#[test]
fn check_with_tokens_from_a_state_file_asks_no_one_but_dns() {
    let moto = Moto::start().unwrap();
    let dir = TempDir::new("ses-dkim-check-state").unwrap();
    let state = dir.path().join("state.db");
    let state = state.to_str().unwrap();
    verify(&moto, &CHECK_DOMAINS, &["--state", state]);
    drop(moto);

    let dns = DnsServer::start(&test_zone()).unwrap();
    // Nothing listens at the endpoint: every token must come from the state file.
    let out = ses_dkim_at(
        "http://127.0.0.1:9",
        "check",
        &[
            "-",
            "--state",
            state,
            "--resolver",
            &dns.address(),
            "--format",
            "csv",
        ],
        Some(CHECK_LIST.as_bytes()),
    );
    assert_eq!(out.stdout, expected_check_csv(), "stderr: {}", out.stderr);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
}

#[test]
fn check_reports_domains_ses_has_no_tokens_for() {
    let moto = Moto::start().unwrap();
    verify(&moto, &["ok.example"], &[]);
    let dns = DnsServer::start(&test_zone()).unwrap();
    let out = ses_dkim_at(
        &moto.endpoint(),
        "check",
        &["--resolver", &dns.address(), "--format", "csv"],
        Some(b"ok.example\nnever-verified.example\n"),
    );
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 4, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "<stdin>:2: never-verified.example: SES has no DKIM tokens for it (NotStarted)"
        ),
        "{}",
        out.stderr
    );
    // Asking did not create it.
    assert_eq!(moto.list_identities().unwrap(), ["ok.example"]);
}

#[test]
fn check_usage_errors_exit_2() {
    let endpoint = "http://127.0.0.1:9";
    for args in [
        &["--resolver", "localhost:53"][..],
        &["--state", "no-such-state.db"][..],
        &["--format", "route53"][..],
    ] {
        let out = ses_dkim_at(endpoint, "check", args, Some(b"example.com\n"));
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    assert!(!ses_dkim_e2e::repo_root().join("no-such-state.db").exists());
}

/// `ses-dkim status ... | true`: a reader gone before the first row stops the run before the
/// second batch is asked about; the summary says so, and the status is 1 although every domain
/// answered is `Success` (the rest were never asked about).
#[test]
fn status_stops_at_a_closed_pipe_and_says_so() {
    let stub = status_stub(|_, _| Some("Success".to_owned()));
    let home = TempDir::new("ses-dkim-e2e-status-closed-pipe").unwrap();
    let list = two_batches(&home);
    let endpoint = stub.endpoint();
    let args = ses_dkim_e2e::ses_args(
        "status",
        list.to_str().unwrap(),
        &endpoint,
        &["--rate", "50"],
    );
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let (mut child, stderr) =
        ses_dkim_e2e::spawn_to(&ses_dkim(), &args, &FAKE_KEYS, home.path(), writer).unwrap();
    let code = ses_dkim_e2e::wait_exit(&mut child, Duration::from_secs(60));
    let stderr = stderr.all(Duration::from_secs(5));

    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_eq!(stub.requests().len(), 1, "the second batch was asked about");
    assert!(
        stderr.contains("; the output was closed, the remaining domains were not asked about"),
        "{stderr}"
    );
    for bad in ["Broken pipe", "broken pipe", "panicked", "error:"] {
        assert!(!stderr.contains(bad), "{stderr}");
    }
}
