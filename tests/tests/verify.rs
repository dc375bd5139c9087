//! End-to-end tests of `ses-dkim verify` against a local moto server.
//!
//! moto answers `VerifyDomainDkim` for any domain with the same three tokens ([`TOKENS`]), so the
//! expected output is exact. moto accepts any domain, including ones SES would refuse (F20): the
//! tests therefore also check moto's identity list, which shows what the binary really sent.
//!
//! Each test starts its own moto (tests run on parallel threads). The main list is the checked-in
//! `tests/data/mixed-domains.txt`, passed by its path relative to the repository root (the working
//! directory [`run`] gives the binary) so that the `path:line:` prefix of its errors is known.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use ses_dkim_e2e::stub::{Stub, StubResponse};
use ses_dkim_e2e::{Moto, Run, TEST_ROLE_ARN, TempDir, TestCertificates, binary, run};

/// The tokens moto returns for every domain, in its order.
const TOKENS: [&str; 3] = [
    "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
    "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
    "wrqplteh7oodxnad7hsl4mixg2uavzneazxv5sxi2",
];

/// Fake keys: moto checks nothing until auth is enabled.
const FAKE_KEY_ID: &str = "AKIDE2ETESTFAKEKEY00";
const FAKE_SECRET: &str = "e2e-test-fake-secret";
const FAKE_KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", FAKE_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET),
];

/// The main list, relative to the repository root.
const MIXED_LIST: &str = "tests/data/mixed-domains.txt";

/// How many lines of [`MIXED_LIST`] end in CRLF.
const MIXED_LIST_CRLF_LINES: usize = 6;

/// The identities [`MIXED_LIST`] holds, normalised, in list order.
const MIXED_LIST_DOMAINS: [&str; 7] = [
    "example.com",
    "mail.shop.example.com",
    "xn--bcher-kva.example",
    "xn--cole-9oa.example",
    "example.org",
    "example.net",
    "last.example",
];

const CSV_HEADER: &str = "domain,region,type,name,value\n";

fn ses_dkim() -> PathBuf {
    binary("ses-dkim").unwrap()
}

/// Runs `ses-dkim verify ARGS --region us-east-1 --endpoint-url MOTO --rate 50` with `env`.
fn verify_with_env(moto: &Moto, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let endpoint = moto.endpoint();
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--region", "us-east-1", "--endpoint-url", &endpoint]);
    all.extend_from_slice(&["--rate", "50"]);
    run(&ses_dkim(), &all, env, stdin).unwrap()
}

/// Runs `ses-dkim verify` against moto with the fake keys.
fn verify(moto: &Moto, args: &[&str], stdin: Option<&[u8]>) -> Run {
    verify_with_env(moto, args, &FAKE_KEYS, stdin)
}

/// Returns the three CSV rows moto's answer gives `domain` in us-east-1.
fn csv_rows(domain: &str) -> String {
    TOKENS
        .iter()
        .map(|t| {
            format!("{domain},us-east-1,CNAME,{t}._domainkey.{domain}.,{t}.dkim.amazonses.com.\n")
        })
        .collect()
}

fn expected_csv(domains: &[&str]) -> String {
    let mut csv = CSV_HEADER.to_owned();
    for domain in domains {
        csv.push_str(&csv_rows(domain));
    }
    csv
}

/// Replaces the run time of the summary line (`... skipped in 0.3s`) with `N.N`.
fn normalise_seconds(stderr: &str) -> String {
    const MARK: &str = " skipped in ";
    let mut out = String::new();
    for line in stderr.lines() {
        let normalised = line.find(MARK).and_then(|at| {
            let start = at + MARK.len();
            let rest = &line[start..];
            let end = rest.find('s')?;
            let number = &rest[..end];
            let is_time = number.split_once('.').is_some_and(|(whole, tenths)| {
                !whole.is_empty()
                    && whole.bytes().all(|b| b.is_ascii_digit())
                    && tenths.len() == 1
                    && tenths.bytes().all(|b| b.is_ascii_digit())
            });
            is_time.then(|| format!("{}N.N{}", &line[..start], &rest[end..]))
        });
        out.push_str(normalised.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Replaces every value after `request id ` (up to the next space) with `ID`.
fn normalise_request_ids(text: &str) -> String {
    const MARK: &str = "request id ";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let start = at + MARK.len();
        out.push_str(&rest[..start]);
        out.push_str("ID");
        let after = &rest[start..];
        let end = after
            .find(|c: char| c.is_whitespace())
            .unwrap_or(after.len());
        assert!(end > 0, "empty request id in {text:?}");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A shared config file and credentials file written for one test.
struct AwsFiles {
    config: String,
    credentials: String,
}

impl AwsFiles {
    /// Writes `config` and `credentials` into `dir`.
    fn write(dir: &TempDir, config: &str, credentials: &str) -> AwsFiles {
        let path = |name: &str, text: &str| {
            let path = dir.path().join(name);
            fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        AwsFiles {
            config: path("config", config),
            credentials: path("credentials", credentials),
        }
    }

    /// Returns the two variables that point the AWS tools at the files.
    fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("AWS_CONFIG_FILE", &self.config),
            ("AWS_SHARED_CREDENTIALS_FILE", &self.credentials),
        ]
    }
}

/// Checks that a run stopped at its first domain with a configuration error (exit 2, only the
/// CSV header written, one error line and the summary saying so) and returns the error line.
fn stopped_at_the_first_domain(out: &Run) -> String {
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, CSV_HEADER);
    let stderr = normalise_seconds(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(
        lines[1],
        "ses-dkim: 0 verified, 1 failed, 0 invalid lines, 0 duplicates skipped in N.Ns; stopped \
         early, the remaining domains were not attempted"
    );
    lines[0].to_owned()
}

/// Returns the summary line for a run with no failures.
fn summary(verified: usize, invalid: usize, duplicates: usize) -> String {
    let lines = if invalid == 1 { "line" } else { "lines" };
    let dups = if duplicates == 1 {
        "duplicate"
    } else {
        "duplicates"
    };
    format!(
        "ses-dkim: {verified} verified, 0 failed, {invalid} invalid {lines}, {duplicates} {dups} \
         skipped in N.Ns\n"
    )
}

/// How many requests for `/` (SES, IAM, STS) moto has logged so far.
///
/// moto's server logs a request before it sends the answer, so once a client has its answer the
/// line is in the log. Error answers are logged in colour, hence no quotes around the pattern.
fn root_posts(moto: &Moto) -> usize {
    fs::read_to_string(moto.log_path())
        .unwrap()
        .matches("POST / HTTP/1.1")
        .count()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn sorted_strs(items: &[&str]) -> Vec<String> {
    sorted(items.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn mixed_list_data_file_keeps_its_line_endings() {
    let bytes = fs::read(ses_dkim_e2e::repo_root().join(MIXED_LIST)).unwrap();
    let text = String::from_utf8(bytes).unwrap();

    assert_eq!(
        text.matches("\r\n").count(),
        MIXED_LIST_CRLF_LINES,
        "{MIXED_LIST} lost or gained CRLF line endings (see tests/data/.gitattributes)"
    );
    assert!(text.contains("mail.shop.example.com\n"), "no LF-only line");
    assert!(
        !text.ends_with('\n'),
        "the last line has no line ending on purpose"
    );
}

/// The main scenario: a list with every kind of line, CSV output compared byte for byte.
#[test]
fn mixed_list_prints_exact_csv_reports_invalid_lines_and_creates_only_valid_identities() {
    let moto = Moto::start().unwrap();
    let before = root_posts(&moto);

    let out = verify(&moto, &[MIXED_LIST, "--format", "csv"], None);

    assert_eq!(
        out.stdout,
        expected_csv(&MIXED_LIST_DOMAINS),
        "stderr: {}",
        out.stderr
    );
    let label = "a".repeat(64);
    let expected_stderr = [
        format!("{MIXED_LIST}:18: invalid domain `bad domain`: the name holds whitespace"),
        format!(
            "{MIXED_LIST}:19: invalid domain `user@example.com`: this is an email address; use \
             the part after `@`: `example.com`"
        ),
        format!(
            "{MIXED_LIST}:20: invalid domain `https://example.com/x`: this is a URL; drop the \
             scheme and path: `example.com`"
        ),
        format!(
            "{MIXED_LIST}:21: invalid domain `*.example.com`: wildcards cannot be verified; give \
             the domain itself"
        ),
        format!(
            "{MIXED_LIST}:22: invalid domain `example..com`: the name has an empty label (`..` or \
             a leading dot)"
        ),
        format!(
            "{MIXED_LIST}:23: invalid domain `{label}.example.com`: a label is 64 octets long (at \
             most 63)"
        ),
    ]
    .iter()
    .map(|line| format!("ses-dkim: {line}\n"))
    .collect::<String>()
        + &summary(7, 6, 4);
    assert_eq!(normalise_seconds(&out.stderr), expected_stderr);
    assert_eq!(out.code, Some(1), "invalid lines make the exit status 1");

    assert_eq!(
        root_posts(&moto) - before,
        MIXED_LIST_DOMAINS.len(),
        "one call per identity"
    );
    assert_eq!(
        sorted(moto.list_identities().unwrap()),
        sorted_strs(&MIXED_LIST_DOMAINS)
    );
}

#[test]
fn mixed_list_in_zone_json_and_table_formats() {
    let moto = Moto::start().unwrap();

    // Zone: a comment naming the domain, then three absolute CNAME lines with the default TTL.
    let zone = verify(&moto, &[MIXED_LIST, "--format", "zone"], None);
    assert_eq!(zone.code, Some(1), "stderr: {}", zone.stderr);
    let mut expected = String::new();
    for domain in MIXED_LIST_DOMAINS {
        expected.push_str(&format!("; {domain} (us-east-1) request id ID\n"));
        for t in TOKENS {
            expected.push_str(&format!(
                "{t}._domainkey.{domain}.\t1800\tIN\tCNAME\t{t}.dkim.amazonses.com.\n"
            ));
        }
    }
    assert_eq!(normalise_request_ids(&zone.stdout), expected);
    assert_eq!(
        normalise_seconds(&zone.stderr).lines().last(),
        summary(7, 6, 4).lines().last()
    );

    // JSON: one object per domain, in list order.
    let json = verify(&moto, &[MIXED_LIST, "--format", "json"], None);
    assert_eq!(json.code, Some(1), "stderr: {}", json.stderr);
    let parsed: Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", json.stdout));
    let sets = parsed.as_array().expect("a JSON array");
    let domains: Vec<&str> = sets.iter().map(|s| s["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, MIXED_LIST_DOMAINS);
    for set in sets {
        let domain = set["domain"].as_str().unwrap();
        assert_eq!(set["region"], "us-east-1", "{set}");
        assert_eq!(set["tokens"], serde_json::json!(TOKENS), "{set}");
        assert!(
            set["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{set}"
        );
        let records = set["records"].as_array().expect("records is an array");
        assert_eq!(records.len(), 3, "{set}");
        for (record, t) in records.iter().zip(TOKENS) {
            assert_eq!(
                record["name"],
                format!("{t}._domainkey.{domain}."),
                "{record}"
            );
            assert_eq!(record["type"], "CNAME", "{record}");
            assert_eq!(
                record["value"],
                format!("{t}.dkim.amazonses.com."),
                "{record}"
            );
            assert_eq!(record["host"], format!("{t}._domainkey"), "{record}");
        }
    }

    // Table: per domain a title line, a header and three rows, columns aligned.
    let table = verify(&moto, &[MIXED_LIST, "--format", "table"], None);
    assert_eq!(table.code, Some(1), "stderr: {}", table.stderr);
    let blocks: Vec<&str> = table.stdout.trim_end().split("\n\n").collect();
    assert_eq!(blocks.len(), MIXED_LIST_DOMAINS.len(), "{}", table.stdout);
    for (block, domain) in blocks.iter().zip(MIXED_LIST_DOMAINS) {
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines.len(), 5, "{block}");
        assert!(
            lines[0].starts_with(&format!("{domain} (us-east-1)")),
            "{block}"
        );
        let header = lines[1];
        let name_col = header.find("NAME").expect("a NAME column");
        let type_col = header.find("TYPE").expect("a TYPE column");
        let value_col = header.find("VALUE").expect("a VALUE column");
        for (row, t) in lines[2..].iter().zip(TOKENS) {
            let name = format!("{t}._domainkey.{domain}.");
            let value = format!("{t}.dkim.amazonses.com.");
            assert_eq!(row.find(&name), Some(name_col), "NAME column in {block}");
            assert_eq!(row.find("CNAME"), Some(type_col), "TYPE column in {block}");
            assert_eq!(row.find(&value), Some(value_col), "VALUE column in {block}");
            assert_eq!(row.trim_end().len(), value_col + value.len(), "{block}");
        }
    }
}

#[test]
fn signed_with_a_moto_iam_key_succeeds() {
    let moto = Moto::start().unwrap();
    let (key_id, secret) = moto.create_access_key().unwrap();
    moto.enable_auth().unwrap();

    let out = verify_with_env(
        &moto,
        &["-", "--format", "csv"],
        &[
            ("AWS_ACCESS_KEY_ID", &key_id),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
        Some("example.com\nbücher.example\n".as_bytes()),
    );

    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout,
        expected_csv(&["example.com", "xn--bcher-kva.example"])
    );
    assert_eq!(normalise_seconds(&out.stderr), summary(2, 0, 0));
    moto.disable_auth().unwrap();
    assert_eq!(
        sorted(moto.list_identities().unwrap()),
        sorted_strs(&["example.com", "xn--bcher-kva.example"])
    );
}

/// F19: a wrong secret (or SMTP credentials) is SignatureDoesNotMatch: not retried, the likely
/// causes named, and the run stops after the first domain.
#[test]
fn f19_wrong_secret_names_the_likely_causes_and_stops_early() {
    let moto = Moto::start().unwrap();
    let (key_id, _secret) = moto.create_access_key().unwrap();
    moto.enable_auth().unwrap();
    let before = root_posts(&moto);

    let out = verify_with_env(
        &moto,
        &["-", "--format", "csv"],
        &[
            ("AWS_ACCESS_KEY_ID", &key_id),
            ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
        ],
        Some(b"a.example.com\nb.example.com\nc.example.com\n"),
    );

    // Refused credentials before any success count as a configuration error.
    let error = stopped_at_the_first_domain(&out);
    assert!(
        error.starts_with("ses-dkim: <stdin>:1: a.example.com: "),
        "{error}"
    );
    for needle in ["SignatureDoesNotMatch", "secret", "SMTP", "region"] {
        assert!(error.contains(needle), "no {needle:?} in: {error}");
    }
    assert_eq!(root_posts(&moto) - before, 1, "one call, not retried");
    moto.disable_auth().unwrap();
    assert_eq!(moto.list_identities().unwrap(), Vec::<String>::new());
}

/// F17: a session token is sent and signed when set, and not sent when empty or unset.
///
/// moto checks a token only against the temporary key it issued it with: a key from its STS
/// with its token works, with another token it fails; an IAM user's key works with an empty token
/// (so no `X-Amz-Security-Token` was sent) and fails with any token.
#[test]
fn f17_session_token_is_sent_and_signed_only_when_set() {
    let moto = Moto::start().unwrap();
    let (user_key, user_secret) = moto.create_access_key().unwrap();
    let (temp_key, temp_secret, token) = moto.create_session_credentials().unwrap();
    assert!(temp_key.starts_with("ASIA"), "{temp_key}");
    moto.enable_auth().unwrap();
    let list: &[u8] = b"example.com\nexample.org\n";
    let args = ["-", "--format", "csv"];
    let with = |key: &str, secret: &str, token: &str| {
        verify_with_env(
            &moto,
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", key),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_SESSION_TOKEN", token),
            ],
            Some(list),
        )
    };

    let temporary = with(&temp_key, &temp_secret, &token);
    assert_eq!(temporary.code, Some(0), "stderr: {}", temporary.stderr);
    assert_eq!(
        temporary.stdout,
        expected_csv(&["example.com", "example.org"])
    );
    assert!(!temporary.stderr.contains(&token), "{}", temporary.stderr);

    let empty = with(&user_key, &user_secret, "");
    assert_eq!(empty.code, Some(0), "stderr: {}", empty.stderr);
    assert_eq!(empty.stdout, expected_csv(&["example.com", "example.org"]));

    for (key, secret, bad_token) in [
        (
            temp_key.as_str(),
            temp_secret.as_str(),
            "not-the-issued-token",
        ),
        (
            user_key.as_str(),
            user_secret.as_str(),
            "a-token-moto-never-issued",
        ),
    ] {
        let rejected = with(key, secret, bad_token);
        assert_eq!(rejected.code, Some(2), "stderr: {}", rejected.stderr);
        assert_eq!(rejected.stdout, CSV_HEADER);
        assert!(
            rejected.stderr.contains("InvalidClientTokenId")
                && rejected.stderr.contains("session token")
                && rejected.stderr.contains("stopped early"),
            "{}",
            rejected.stderr
        );
        assert!(!rejected.stderr.contains(bad_token), "{}", rejected.stderr);
    }
}

/// F09: one trailing dot is a zone file's absolute name; more dots, or only the root, are
/// rejected before any call.
#[test]
fn f09_trailing_dot_from_zone_files() {
    let moto = Moto::start().unwrap();
    let before = root_posts(&moto);

    let out = verify(
        &moto,
        &["-", "--format", "csv"],
        Some(b"example.com.\nexample.com..\n.\n"),
    );

    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, expected_csv(&["example.com"]));
    let expected_stderr = "\
ses-dkim: <stdin>:2: invalid domain `example.com..`: the name has an empty label (`..` or a leading dot)
ses-dkim: <stdin>:3: invalid domain `.`: the root `.` is not a domain
"
    .to_owned()
        + &summary(1, 2, 0);
    assert_eq!(normalise_seconds(&out.stderr), expected_stderr);
    assert_eq!(
        root_posts(&moto) - before,
        1,
        "no call for the rejected lines"
    );
    assert_eq!(moto.list_identities().unwrap(), ["example.com"]);
}

/// F10: case variants are one identity, called once.
#[test]
fn f10_case_variants_are_one_identity() {
    let moto = Moto::start().unwrap();
    let before = root_posts(&moto);

    let out = verify(
        &moto,
        &["-", "--format", "csv"],
        Some(b"EXAMPLE.COM\nEXAMple.Com\nexample.com\n"),
    );

    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, expected_csv(&["example.com"]));
    assert_eq!(normalise_seconds(&out.stderr), summary(1, 0, 2));
    assert!(
        out.stderr.contains("2 duplicates skipped"),
        "{}",
        out.stderr
    );
    assert_eq!(root_posts(&moto) - before, 1, "one call");
    assert_eq!(moto.list_identities().unwrap(), ["example.com"]);
}

/// F11: CRLF, blank lines and surrounding blanks leave nothing behind.
#[test]
fn f11_line_endings_and_blanks_in_list_files() {
    let moto = Moto::start().unwrap();

    let out = verify(
        &moto,
        &["-", "--format", "csv"],
        Some(b"example.com\r\nexample.org\r\n\r\n   example.net  \t\n"),
    );

    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout,
        expected_csv(&["example.com", "example.org", "example.net"])
    );
    assert!(!out.stdout.contains(['\r', ' ', '\t']), "{:?}", out.stdout);
    assert_eq!(normalise_seconds(&out.stderr), summary(3, 0, 0));
    assert_eq!(
        sorted(moto.list_identities().unwrap()),
        sorted_strs(&["example.com", "example.net", "example.org"])
    );
}

/// F12 and F13: with or without a trailing dot in the list, every format writes absolute names
/// with exactly one final dot, relative hosts relative to the domain, and never the domain twice.
#[test]
fn f12_f13_names_end_in_exactly_one_dot_in_every_format() {
    let moto = Moto::start().unwrap();

    for input in ["example.com\n", "example.com.\n"] {
        for format in ["zone", "csv", "json", "table"] {
            let out = verify(&moto, &["-", "--format", format], Some(input.as_bytes()));
            let context = format!("{format} for {input:?}: {}{}", out.stdout, out.stderr);
            assert_eq!(out.code, Some(0), "{context}");
            assert!(!out.stdout.contains(".."), "{context}");
            assert!(!out.stdout.contains("example.com.example.com"), "{context}");
            for t in TOKENS {
                let name = format!("{t}._domainkey.example.com.");
                let value = format!("{t}.dkim.amazonses.com.");
                assert!(out.stdout.contains(&name), "{context}");
                assert!(out.stdout.contains(&value), "{context}");
            }
            match format {
                "csv" => assert_eq!(out.stdout, expected_csv(&["example.com"]), "{context}"),
                "zone" => {
                    let names: Vec<&str> = out
                        .stdout
                        .lines()
                        .filter(|line| !line.starts_with(';'))
                        .map(|line| line.split('\t').next().unwrap_or(""))
                        .collect();
                    let expected: Vec<String> = TOKENS
                        .iter()
                        .map(|t| format!("{t}._domainkey.example.com."))
                        .collect();
                    assert_eq!(names, expected, "{context}");
                }
                "json" => {
                    let parsed: Value = serde_json::from_str(&out.stdout).unwrap();
                    let records = parsed[0]["records"].as_array().unwrap();
                    assert_eq!(parsed[0]["domain"], "example.com", "{context}");
                    for (record, t) in records.iter().zip(TOKENS) {
                        assert_eq!(record["host"], format!("{t}._domainkey"), "{context}");
                        assert_eq!(
                            record["name"],
                            format!("{t}._domainkey.example.com."),
                            "{context}"
                        );
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(moto.list_identities().unwrap(), ["example.com"]);
}

/// F20: moto would accept these; the binary rejects them itself, before any call.
#[test]
fn f20_invalid_names_are_rejected_before_any_call() {
    let moto = Moto::start().unwrap();
    let before = root_posts(&moto);
    let long_label = "a".repeat(300);
    let a59 = "a".repeat(59);
    let long_name = format!("{a59}.{a59}.{a59}.{a59}.{}.example", "a".repeat(52));
    assert_eq!(long_name.len(), 300);
    let list = format!("bad domain\n{long_label}\n{long_name}\n");

    let out = verify(&moto, &["-", "--format", "csv"], Some(list.as_bytes()));

    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, CSV_HEADER);
    let expected_stderr = format!(
        "ses-dkim: <stdin>:1: invalid domain `bad domain`: the name holds whitespace\n\
         ses-dkim: <stdin>:2: invalid domain `{}...`: the name is 300 octets long (at most 253)\n\
         ses-dkim: <stdin>:3: invalid domain `{}...`: the name is 300 octets long (at most 253)\n",
        &long_label[..80],
        &long_name[..80]
    ) + &summary(0, 3, 0);
    assert_eq!(normalise_seconds(&out.stderr), expected_stderr);
    assert_eq!(root_posts(&moto) - before, 0, "no call at all");
    assert_eq!(moto.list_identities().unwrap(), Vec::<String>::new());
}

#[test]
fn dry_run_prints_signed_requests_hides_the_token_and_sends_nothing() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let token = "E2E-SESSION-TOKEN-that-must-never-be-printed";
    let before = root_posts(&moto);

    let out = verify_with_env(
        &moto,
        &["-", "--dry-run"],
        &[
            ("AWS_ACCESS_KEY_ID", FAKE_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET),
            ("AWS_SESSION_TOKEN", token),
        ],
        Some("example.com\nbücher.example\nEXAMPLE.COM\n".as_bytes()),
    );

    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !stream.contains(token),
            "the session token leaked: {stream}"
        );
        assert!(!stream.contains(FAKE_SECRET), "the secret leaked: {stream}");
    }
    let requests: Vec<&str> = out
        .stdout
        .split(&format!("POST {endpoint}/\n"))
        .skip(1)
        .collect();
    assert_eq!(
        requests.len(),
        2,
        "one request per identity: {}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("POST ").count(), 2, "{}", out.stdout);
    for (request, domain) in requests
        .iter()
        .zip(["example.com", "xn--bcher-kva.example"])
    {
        let authorization = request
            .lines()
            .find_map(|line| line.strip_prefix("authorization: "))
            .unwrap_or_else(|| panic!("no authorization header: {request}"));
        assert!(
            authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={FAKE_KEY_ID}/")),
            "{authorization}"
        );
        assert!(
            authorization.contains("/us-east-1/ses/aws4_request"),
            "{authorization}"
        );
        // F17: the token is signed even though its value is hidden.
        assert!(
            authorization.contains("x-amz-security-token"),
            "{authorization}"
        );
        assert!(
            request.contains("\nx-amz-security-token: "),
            "the token header is shown (redacted): {request}"
        );
        let body = format!("\nAction=VerifyDomainDkim&Version=2010-12-01&Domain={domain}\n");
        assert!(request.contains(&body), "no body {body:?} in: {request}");
    }
    assert_eq!(
        normalise_seconds(&out.stderr),
        "ses-dkim: dry run: 2 requests signed, nothing sent, 0 failed, 0 invalid lines, 1 \
         duplicate skipped in N.Ns\n"
    );
    assert_eq!(root_posts(&moto) - before, 0, "nothing sent");
    assert_eq!(moto.list_identities().unwrap(), Vec::<String>::new());
}

/// A dry run shows what a real run would send, so it previews a resume: no request for a domain
/// the state file holds. It never writes an `--output` file: asking for one is a usage error, so
/// a records file is never overwritten with requests.
#[test]
fn dry_run_previews_a_resume_and_never_writes_the_output_file() {
    let moto = Moto::start().unwrap();
    let dir = TempDir::new("ses-dkim-e2e-dry-run-state").unwrap();
    let state = dir.path().join("state.db");
    let records = dir.path().join("records.csv");
    let (state_arg, records_arg) = (state.to_str().unwrap(), records.to_str().unwrap());

    let done = verify(
        &moto,
        &[
            "-",
            "--format",
            "csv",
            "--state",
            state_arg,
            "-o",
            records_arg,
        ],
        Some(b"a.example\n"),
    );
    assert_eq!(done.code, Some(0), "stderr: {}", done.stderr);
    let written = fs::read_to_string(&records).unwrap();
    assert_eq!(written, expected_csv(&["a.example"]));

    let refused = verify(
        &moto,
        &["-", "--dry-run", "--state", state_arg, "-o", records_arg],
        Some(b"a.example\nb.example\n"),
    );
    assert_eq!(refused.code, Some(2), "stderr: {}", refused.stderr);
    assert!(
        refused.stderr.contains("--dry-run") && refused.stderr.contains("--output"),
        "{}",
        refused.stderr
    );
    assert_eq!(fs::read_to_string(&records).unwrap(), written);

    let preview = verify(
        &moto,
        &["-", "--dry-run", "--state", state_arg],
        Some(b"a.example\nb.example\n"),
    );
    assert_eq!(preview.code, Some(0), "stderr: {}", preview.stderr);
    assert_eq!(
        preview.stdout.matches("POST ").count(),
        1,
        "{}",
        preview.stdout
    );
    assert!(
        preview.stdout.contains("&Domain=b.example\n") && !preview.stdout.contains("a.example"),
        "{}",
        preview.stdout
    );
    assert_eq!(
        normalise_seconds(&preview.stderr),
        "ses-dkim: dry run: 1 request signed, nothing sent (1 done in the state file), 0 failed, \
         0 invalid lines, 0 duplicates skipped in N.Ns\n"
    );
    let mut identities = moto.list_identities().unwrap();
    identities.sort();
    assert_eq!(identities, ["a.example"], "the dry runs sent nothing");
}

#[test]
fn output_file_gets_the_records_and_stdout_stays_empty() {
    let moto = Moto::start().unwrap();
    let dir = TempDir::new("ses-dkim-e2e-output").unwrap();
    let path = dir.path().join("records.csv");
    let path_arg = path.to_str().unwrap();

    let out = verify(
        &moto,
        &["-", "--format", "csv", "--output", path_arg],
        Some(b"example.com\nexample.org\n"),
    );

    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(normalise_seconds(&out.stderr), summary(2, 0, 0));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        expected_csv(&["example.com", "example.org"])
    );
}

/// `ses-dkim verify ... | head -n 1`, and a reader gone before the first record: the closed pipe
/// stops the run, which calls SES for no further domain, says so in its summary and ends with
/// status 1 (not every domain got its records), keeping what it earned before (here an invalid
/// line) and never reporting the closed pipe as an error.
#[test]
fn a_closed_pipe_stops_the_run_and_says_so() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;

    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let dir = TempDir::new("ses-dkim-e2e-closed-pipe").unwrap();
    let list = dir.path().join("list.txt");
    fs::write(
        &list,
        "x@y.example\na.example\nb.example\nc.example\nd.example\n",
    )
    .unwrap();
    // A second between calls: the reader of the first line is gone long before the next.
    let args = ses_dkim_e2e::ses_args(
        "verify",
        list.to_str().unwrap(),
        &endpoint,
        &["--rate", "1"],
    );

    for reads_a_line in [false, true] {
        moto.reset().unwrap();
        let (reader, writer) = std::io::pipe().unwrap();
        let reader = if reads_a_line {
            Some(reader)
        } else {
            drop(reader);
            None
        };
        let (mut child, stderr) =
            ses_dkim_e2e::spawn_to(&ses_dkim(), &args, &FAKE_KEYS, dir.path(), writer).unwrap();
        if let Some(reader) = reader {
            let mut line = String::new();
            BufReader::new(reader).read_line(&mut line).unwrap();
            assert!(
                line.starts_with("; a.example (us-east-1) request id "),
                "{line:?}"
            );
        }
        let code = ses_dkim_e2e::wait_exit(&mut child, Duration::from_secs(60));
        let stderr = stderr.all(Duration::from_secs(5));

        let case = if reads_a_line {
            "head -n 1"
        } else {
            "no reader"
        };
        assert_eq!(code, Some(1), "{case}: stderr: {stderr}");
        assert!(stderr.contains("list.txt:1: "), "{case}: {stderr}");
        assert!(
            stderr.contains("; the output was closed, the remaining domains were not attempted"),
            "{case}: {stderr}"
        );
        for bad in ["Broken pipe", "broken pipe", "panicked", "error:"] {
            assert!(!stderr.contains(bad), "{case}: {stderr}");
        }
        // The domain whose records met the closed pipe was called; none after it.
        let called = if reads_a_line {
            vec!["a.example", "b.example"]
        } else {
            vec!["a.example"]
        };
        let mut identities = moto.list_identities().unwrap();
        identities.sort();
        assert_eq!(identities, called, "{case}: {stderr}");
    }
}

/// A usage error exits with 2 ("nothing was verified") and leaves an existing `--output` file as
/// it was.
#[test]
fn usage_error_leaves_an_existing_output_file_alone() {
    let dir = TempDir::new("ses-dkim-e2e-output").unwrap();
    let path = dir.path().join("records.zone");
    let published = "; the records published last week\n";
    fs::write(&path, published).unwrap();
    let path_arg = path.to_str().unwrap();

    let out = run(
        &ses_dkim(),
        &["verify", "-", "--region", "mars-1", "--output", path_arg],
        &FAKE_KEYS,
        Some(b"example.com\n"),
    )
    .unwrap();

    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_eq!(fs::read_to_string(&path).unwrap(), published);
}

#[test]
fn usage_errors_exit_2() {
    let bin = ses_dkim();
    let list: &[u8] = b"example.com\n";
    let cases: [(&[&str], &[&str]); 4] = [
        (&["verify", "-", "--bogus"], &["--bogus"]),
        (
            &[
                "verify",
                "tests/data/no-such-list.txt",
                "--region",
                "us-east-1",
            ],
            &["cannot open `tests/data/no-such-list.txt`"],
        ),
        (
            &["verify", "-", "--region", "mars-1"],
            &[
                "unknown SES region `mars-1`",
                "--endpoint-url and --dkim-zone",
                "the region came from --region",
                "us-east-1",
                "eu-west-1",
                "af-south-1",
            ],
        ),
        (
            &[
                "verify",
                "-",
                "--region",
                "us-east-1",
                "--endpoint-url",
                "https://email-smtp.us-east-1.amazonaws.com",
            ],
            &["SMTP interface"],
        ),
    ];

    for (args, needles) in cases {
        let out = run(&bin, args, &FAKE_KEYS, Some(list)).unwrap();
        assert_eq!(out.code, Some(2), "{args:?}: stderr: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
        for needle in needles {
            assert!(
                out.stderr.contains(needle),
                "{args:?}: no {needle:?} in: {}",
                out.stderr
            );
        }
    }

    // A region from the environment is named with the variable it came from.
    for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        let env = [FAKE_KEYS[0], FAKE_KEYS[1], (variable, "Us-East-1")];
        let out = run(&bin, &["verify", "-"], &env, Some(list)).unwrap();
        assert_eq!(out.code, Some(2), "{variable}: stderr: {}", out.stderr);
        assert!(
            out.stderr.contains("invalid region `Us-East-1`")
                && out
                    .stderr
                    .contains(&format!("the region came from {variable}")),
            "{}",
            out.stderr
        );
    }
    // A region unknown to the table, with an endpoint given, is named as unknown first, with the
    // nearest known one and both settings a newer region needs.
    let endpoint = [
        "--region",
        "eu-wst-1",
        "--endpoint-url",
        "http://127.0.0.1:9",
    ];
    let mut args = vec!["verify", "-"];
    args.extend_from_slice(&endpoint);
    let out = run(&bin, &args, &FAKE_KEYS, Some(list)).unwrap();
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr
            .contains("unknown SES region `eu-wst-1`: did you mean `eu-west-1`?")
            && out.stderr.contains("--endpoint-url and --dkim-zone"),
        "{}",
        out.stderr
    );
}

/// A misspelt `--profile` (or `AWS_PROFILE`) is named as such, not as a missing region, and also
/// when a region and keys in the environment are there to go on without it.
#[test]
fn a_misspelt_profile_is_named_whatever_else_is_set() {
    let dir = TempDir::new("ses-dkim-e2e-profiles").unwrap();
    let written = AwsFiles::write(
        &dir,
        "[profile real]\nregion = eu-west-1\n",
        &format!(
            "[real]\naws_access_key_id = {FAKE_KEY_ID}\naws_secret_access_key = {FAKE_SECRET}\n"
        ),
    );
    let files = written.env();
    let list: &[u8] = b"example.com\n";
    let bin = ses_dkim();

    let flag = run(
        &bin,
        &["verify", "-", "--profile", "rael"],
        &files,
        Some(list),
    )
    .unwrap();
    let env = [files[0], files[1], ("AWS_PROFILE", "rael")];
    let variable = run(&bin, &["verify", "-"], &env, Some(list)).unwrap();
    for out in [flag, variable] {
        assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
        assert!(
            out.stderr.contains("the AWS profile `rael` is not defined")
                && !out.stderr.contains("no AWS region"),
            "{}",
            out.stderr
        );
    }

    // Also with a region and keys in the environment, which would otherwise hide the typo.
    let mut keyed = FAKE_KEYS.to_vec();
    keyed.extend_from_slice(&files);
    let with_region = ["verify", "-", "--region", "us-east-1", "--dry-run"];
    let flag = run(
        &bin,
        &[&with_region[..], &["--profile", "rael"]].concat(),
        &keyed,
        Some(list),
    );
    keyed.push(("AWS_PROFILE", "rael"));
    let variable = run(&bin, &with_region, &keyed, Some(list));
    for out in [flag.unwrap(), variable.unwrap()] {
        assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
        assert!(
            out.stderr.contains("the AWS profile `rael` is not defined"),
            "{}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
    }

    // The profile that exists gives its region; without a profile the region is what is missing.
    let real = ["verify", "-", "--profile", "real", "--dry-run"];
    let found = run(&bin, &real, &files, Some(list)).unwrap();
    assert_eq!(found.code, Some(0), "stderr: {}", found.stderr);
    assert!(found.stdout.contains("host: email.eu-west-1.amazonaws.com"));
    let none = run(&bin, &["verify", "-"], &files, Some(list)).unwrap();
    assert_eq!(none.code, Some(2));
    assert!(none.stderr.contains("no AWS region"), "{}", none.stderr);
}

/// Writing the records over the list being read would empty the list: refused up front.
#[test]
fn output_over_the_list_itself_is_refused() {
    let dir = TempDir::new("ses-dkim-e2e-same-file").unwrap();
    let path = dir.path().join("domains.txt");
    fs::write(&path, "example.com\n").unwrap();
    let path_arg = path.to_str().unwrap();

    let out = run(
        &ses_dkim(),
        &[
            "verify",
            path_arg,
            "--region",
            "us-east-1",
            // Refused before any call; were one made, nothing listens here.
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--output",
            path_arg,
        ],
        &FAKE_KEYS,
        None,
    )
    .unwrap();

    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("is the list being read"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "example.com\n");
}

/// HTTPS to an endpoint whose certificate an authority outside the built-in roots signed (a
/// corporate proxy's, say) is refused, and trusted once `--ca-bundle`, `AWS_CA_BUNDLE` or the
/// profile's `ca_bundle` names the authority's certificate; a bundle that cannot be read is a
/// configuration error naming it, before any call.
#[test]
fn a_ca_bundle_makes_a_private_authority_trusted() {
    let certs = TestCertificates::make().unwrap();
    let moto = Moto::start_tls(&certs).unwrap();
    let bundle = certs.ca_bundle();
    let bundle = bundle.to_str().unwrap();
    let list: &[u8] = b"example.com\n";
    let args = ["-", "--format", "csv", "--max-attempts", "1"];
    let with = |extra: &[&str], env: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        let mut all_env = FAKE_KEYS.to_vec();
        all_env.extend_from_slice(env);
        verify_with_env(&moto, &all, &all_env, Some(list))
    };

    // The built-in roots do not know the authority: refused, not retried, and the run stops.
    let untrusted = verify(
        &moto,
        &["-", "--format", "csv"],
        Some(b"a.example\nb.example\n"),
    );
    let error = stopped_at_the_first_domain(&untrusted);
    for needle in [
        "<stdin>:1: a.example",
        "is not trusted",
        "UnknownIssuer",
        "AWS_CA_BUNDLE",
    ] {
        assert!(error.contains(needle), "no {needle:?} in: {error}");
    }

    let dir = TempDir::new("ses-dkim-e2e-ca-bundle").unwrap();
    let config = dir.path().join("config");
    fs::write(&config, format!("[default]\nca_bundle = {bundle}\n")).unwrap();
    let config = config.to_str().unwrap();
    let trusted = [
        with(&["--ca-bundle", bundle], &[]),
        with(&[], &[("AWS_CA_BUNDLE", bundle)]),
        with(&[], &[("AWS_CONFIG_FILE", config)]),
        // The flag wins over the variable.
        with(
            &["--ca-bundle", bundle],
            &[("AWS_CA_BUNDLE", "/nonexistent/ca.pem")],
        ),
    ];
    for out in trusted {
        assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
        assert_eq!(out.stdout, expected_csv(&["example.com"]));
    }

    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let refused = with(&[], &[("AWS_CA_BUNDLE", missing)]);
    assert_eq!(refused.code, Some(2), "stderr: {}", refused.stderr);
    assert_eq!(refused.stdout, "");
    assert!(
        refused.stderr.contains(&format!(
            "cannot use the CA bundle {missing} named by AWS_CA_BUNDLE"
        )),
        "{}",
        refused.stderr
    );
}

/// The credential chain beyond environment keys: a profile of the shared credentials file named
/// by `--profile` or `AWS_PROFILE`, and a profile whose `credential_process` prints temporary
/// credentials with their session token. moto checks every signature: a profile with a wrong
/// secret is refused, so the keys of the files are the ones that signed.
#[test]
fn credentials_come_from_profiles_and_credential_processes() {
    let moto = Moto::start().unwrap();
    let (key_id, secret) = moto.create_access_key().unwrap();
    let (temp_key, temp_secret, token) = moto.create_session_credentials().unwrap();
    moto.enable_auth().unwrap();

    let dir = TempDir::new("ses-dkim-e2e-chain").unwrap();
    let process = dir.path().join("print-credentials");
    let json = format!(
        r#"{{"Version": 1, "AccessKeyId": "{temp_key}", "SecretAccessKey": "{temp_secret}", "SessionToken": "{token}"}}"#
    );
    fs::write(&process, format!("#!/bin/sh\ncat <<'END'\n{json}\nEND\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&process, fs::Permissions::from_mode(0o700)).unwrap();
    }
    let written = AwsFiles::write(
        &dir,
        &format!(
            "[profile process]\ncredential_process = {}\n",
            process.display()
        ),
        &format!(
            "[keys]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n\n\
             [wrong]\naws_access_key_id = {key_id}\naws_secret_access_key = not-the-secret\n"
        ),
    );
    let files = written.env();
    let list: &[u8] = b"example.com\n";
    let args = |profile: &'static str| ["-", "--format", "csv", "--profile", profile];

    let by_flag = verify_with_env(&moto, &args("keys"), &files, Some(list));
    let named = [files[0], files[1], ("AWS_PROFILE", "keys")];
    let by_variable = verify_with_env(&moto, &["-", "--format", "csv"], &named, Some(list));
    let by_process = verify_with_env(&moto, &args("process"), &files, Some(list));
    for out in [by_flag, by_variable, by_process] {
        assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
        assert_eq!(out.stdout, expected_csv(&["example.com"]));
        assert!(!out.stderr.contains(&token), "{}", out.stderr);
    }

    let wrong = verify_with_env(&moto, &args("wrong"), &files, Some(list));
    assert_eq!(wrong.code, Some(2), "stderr: {}", wrong.stderr);
    assert!(
        wrong.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        wrong.stderr
    );
}

/// A profile named by `--profile` wins over keys in the environment, as with the AWS CLI: they
/// may be another account's. `AWS_PROFILE` does not, also as with the AWS CLI. moto checks the
/// signatures: the environment's keys have a wrong secret, so only the profile's can succeed.
#[test]
fn an_explicit_profile_wins_over_keys_in_the_environment() {
    let moto = Moto::start().unwrap();
    let (key_id, secret) = moto.create_access_key().unwrap();
    moto.enable_auth().unwrap();
    let dir = TempDir::new("ses-dkim-e2e-profile-first").unwrap();
    let written = AwsFiles::write(
        &dir,
        "",
        &format!("[keys]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"),
    );
    let [config, credentials] = written.env();
    let env = [
        config,
        credentials,
        ("AWS_ACCESS_KEY_ID", key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "another-accounts-secret"),
    ];
    let list: &[u8] = b"example.com\n";

    let by_flag = verify_with_env(
        &moto,
        &["-", "--format", "csv", "--profile", "keys"],
        &env,
        Some(list),
    );
    assert_eq!(by_flag.code, Some(0), "stderr: {}", by_flag.stderr);
    assert_eq!(by_flag.stdout, expected_csv(&["example.com"]));

    let mut by_variable = env.to_vec();
    by_variable.push(("AWS_PROFILE", "keys"));
    let out = verify_with_env(&moto, &["-", "--format", "csv"], &by_variable, Some(list));
    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        out.stderr
    );
}

/// The credential chain through STS: a profile that assumes a role with the keys of its
/// `source_profile`, and a web identity (the token file and role of EKS or a CI's OIDC). Both
/// reach moto's STS through `AWS_ENDPOINT_URL`, as the SES calls do through `--endpoint-url`.
///
/// With auth on, moto checks the base keys' signature on `AssumeRole` and the temporary keys'
/// on every SES call: a wrong base secret is refused. moto cannot check an
/// `AssumeRoleWithWebIdentity` with auth on (it wants a signature on that unsigned call), so the
/// web identity runs with auth off, where it is the only source of credentials configured.
#[test]
fn credentials_come_from_assumed_roles_and_web_identities() {
    let moto = Moto::start().unwrap();
    // Creates the role; its temporary keys are not needed here.
    moto.create_session_credentials().unwrap();
    let (key_id, secret) = moto.create_access_key().unwrap();
    let endpoint = moto.endpoint();
    let list: &[u8] = b"example.com\n";
    let args = ["-", "--format", "csv", "--profile", "assumed"];
    let config = format!("[profile assumed]\nrole_arn = {TEST_ROLE_ARN}\nsource_profile = base\n");
    let dir = TempDir::new("ses-dkim-e2e-sts").unwrap();

    // Web identity first, while auth is off.
    let token = dir.path().join("token");
    fs::write(&token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJlMmUifQ.\n").unwrap();
    let web_identity = [
        ("AWS_ROLE_ARN", TEST_ROLE_ARN),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_SESSION_NAME", "ses-dkim-e2e"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let by_web_identity =
        verify_with_env(&moto, &["-", "--format", "csv"], &web_identity, Some(list));
    assert_eq!(
        by_web_identity.code,
        Some(0),
        "stderr: {}",
        by_web_identity.stderr
    );
    assert_eq!(by_web_identity.stdout, expected_csv(&["example.com"]));

    moto.enable_auth().unwrap();
    // Assumes the role with base keys of this secret.
    let assume_with = |base_secret: &str| {
        let base = format!(
            "[base]\naws_access_key_id = {key_id}\naws_secret_access_key = {base_secret}\n"
        );
        let files = AwsFiles::write(&dir, &config, &base);
        let [config_file, credentials_file] = files.env();
        let env = [
            config_file,
            credentials_file,
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ];
        verify_with_env(&moto, &args, &env, Some(list))
    };
    let assumed = assume_with(&secret);
    assert_eq!(assumed.code, Some(0), "stderr: {}", assumed.stderr);
    assert_eq!(assumed.stdout, expected_csv(&["example.com"]));

    let refused = assume_with("wrong");
    assert_eq!(refused.code, Some(2), "stderr: {}", refused.stderr);
    assert!(
        refused.stderr.contains("cannot load AWS credentials"),
        "{}",
        refused.stderr
    );
}

/// A `ses-dkim verify` running in the background, its stdout read line by line as it comes.
struct Background {
    child: std::process::Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
    /// The stdout lines received so far.
    lines: Vec<String>,
}

impl Background {
    /// Starts `ses-dkim verify ARGS` with the fake keys, no `AWS_*` variable of this process and
    /// an empty `HOME`, as [`run`] does.
    fn start(args: &[&str], home: &Path) -> Background {
        use std::io::{BufRead, BufReader, Read};

        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        let mut child = ses_dkim_e2e::spawn(&ses_dkim(), &all, &FAKE_KEYS, home).unwrap();
        let (send, stdout) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Background {
            child,
            stdout,
            stderr,
            lines: Vec::new(),
        }
    }

    /// Waits, at most `limit`, until stdout has `n` lines.
    fn wait_for_lines(&mut self, n: usize, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.lines.len() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.lines.push(line),
                Err(e) => panic!(
                    "stdout has {} of {n} lines ({e}): {:?}",
                    self.lines.len(),
                    self.lines
                ),
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    fn interrupt(&self) {
        ses_dkim_e2e::interrupt(&self.child).unwrap();
    }

    /// Waits, at most `limit`, for the process to end; returns its exit code, all of its stdout
    /// as text and its stderr. A process still running then is killed and the test fails.
    fn finish(mut self, limit: std::time::Duration) -> (Option<i32>, String, String) {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "ses-dkim did not end within {limit:?}; stderr: {}",
                    self.stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        // The reader thread ends with the pipe.
        self.lines.extend(self.stdout.iter());
        let mut stdout = self.lines.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        (status.code(), stdout, self.stderr.join().unwrap())
    }
}

/// The serving side of the container and instance-metadata credential endpoints: temporary
/// keys as JSON, the way ECS and EC2 hand them out.
///
/// Neither moto nor anything else runs these endpoints locally as aws-config expects them
/// (moto's instance metadata answers the IMDSv2 token request without its TTL header), so the
/// test stub plays them; the keys it hands out are moto's own, and moto checks every signature.
fn credential_endpoints(key: &str, secret: &str, token: &str) -> Stub {
    let json = format!(
        r#"{{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "{key}", "SecretAccessKey": "{secret}", "Token": "{token}", "Expiration": "2099-01-01T00:00:00Z", "LastUpdated": "2026-01-01T00:00:00Z"}}"#
    );
    Stub::with(move |request, _| {
        let json_answer =
            || StubResponse::new(200, json.clone()).with_header("content-type", "application/json");
        let imds_token = request.header("x-aws-ec2-metadata-token") == Some("imds-session");
        match (request.method.as_str(), request.path.as_str()) {
            // The container endpoint, with the authorization token of its environment.
            ("GET", "/container-credentials")
                if request.header("authorization") == Some("container-secret") =>
            {
                json_answer()
            }
            // IMDSv2: a session token first, then the role's name and its keys.
            ("PUT", "/latest/api/token")
                if request
                    .header("x-aws-ec2-metadata-token-ttl-seconds")
                    .is_some() =>
            {
                StubResponse::new(200, "imds-session")
                    .with_header("content-type", "text/plain")
                    .with_header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
            }
            ("GET", "/latest/meta-data/iam/security-credentials/") if imds_token => {
                StubResponse::new(200, "ses-dkim-instance-role")
                    .with_header("content-type", "text/plain")
            }
            ("GET", "/latest/meta-data/iam/security-credentials/ses-dkim-instance-role")
                if imds_token =>
            {
                json_answer()
            }
            _ => StubResponse::new(404, "not here").with_header("content-type", "text/plain"),
        }
    })
    .unwrap()
}

/// The credential chain of containers and instances: ECS's full-URI endpoint with its
/// authorization token, and EC2's instance metadata (IMDSv2, a session token first). Both hand
/// out moto's temporary keys, and moto checks every signature: the same endpoints handing out a
/// wrong secret are refused, so the served keys are the ones that signed.
#[test]
fn credentials_come_from_container_and_instance_metadata_endpoints() {
    let moto = Moto::start().unwrap();
    let (key, secret, token) = moto.create_session_credentials().unwrap();
    moto.enable_auth().unwrap();
    let list: &[u8] = b"example.com\n";
    let args = ["-", "--format", "csv"];

    let served = credential_endpoints(&key, &secret, &token);
    let base = served.endpoint();
    let container_uri = format!("{base}/container-credentials");
    let container = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret"),
    ];
    let instance = [
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", base.as_str()),
    ];
    // A profile named by `--profile` that holds no keys leaves the rest of the chain to find
    // them, as with the AWS CLI, and its instance-metadata endpoint is the one asked.
    let dir = TempDir::new("ses-dkim-e2e-instance-profile").unwrap();
    let files = AwsFiles::write(
        &dir,
        &format!(
            "[profile regional]\nregion = us-east-1\nec2_metadata_service_endpoint = {base}\n"
        ),
        "",
    );
    let [config, credentials] = files.env();
    let profiled = [instance[0], config, credentials];
    let out = verify_with_env(
        &moto,
        &["-", "--format", "csv", "--profile", "regional"],
        &profiled,
        Some(list),
    );
    assert_eq!(out.code, Some(0), "profile, then instance: {}", out.stderr);
    assert_eq!(out.stdout, expected_csv(&["example.com"]));

    for (source, env) in [("container", &container), ("instance", &instance)] {
        let out = verify_with_env(&moto, &args, env, Some(list));
        assert_eq!(out.code, Some(0), "{source}: {}", out.stderr);
        assert_eq!(out.stdout, expected_csv(&["example.com"]), "{source}");
        assert!(
            !out.stderr.contains(&token) && !out.stderr.contains(&secret),
            "{source}: {}",
            out.stderr
        );
    }
    let paths: Vec<String> = served.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.iter().any(|p| p == "/container-credentials")
            && paths.iter().any(|p| p == "/latest/api/token")
            && paths
                .iter()
                .any(|p| p.ends_with("/security-credentials/ses-dkim-instance-role")),
        "{paths:?}"
    );

    let wrong = credential_endpoints(&key, "not-the-secret", &token);
    let wrong_base = wrong.endpoint();
    let wrong_uri = format!("{wrong_base}/container-credentials");
    let wrong_container = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", wrong_uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret"),
    ];
    let wrong_instance = [
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", wrong_base.as_str()),
    ];
    for (source, env) in [
        ("container", &wrong_container),
        ("instance", &wrong_instance),
    ] {
        let refused = verify_with_env(&moto, &args, env, Some(list));
        assert_eq!(refused.code, Some(2), "{source}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("SignatureDoesNotMatch"),
            "{source}: {}",
            refused.stderr
        );
    }
}

/// Ctrl-C while the binary waits for its next pacing slot: that call is never sent. The run
/// ends at once with status 130, and moto holds exactly the identities whose records came out.
#[test]
fn ctrl_c_while_waiting_for_the_next_slot_sends_nothing_more() {
    use std::time::{Duration, Instant};

    let moto = Moto::start().unwrap();
    let dir = TempDir::new("ses-dkim-e2e-sigint-wait").unwrap();
    let domains: Vec<String> = (1..=10).map(|i| format!("d{i}.example.com")).collect();
    let list = dir.path().join("ten.txt");
    fs::write(&list, domains.join("\n") + "\n").unwrap();
    let endpoint = moto.endpoint();
    // A call every 4 s: after the second domain's records, the binary waits about 4 s for the
    // third domain's slot, far longer than it may take to stop.
    let args = [
        list.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--rate",
        "0.25",
        "--format",
        "csv",
    ];
    let mut background = Background::start(&args, dir.path());
    // The header and three rows for each of two domains.
    background.wait_for_lines(1 + 2 * 3, Duration::from_secs(30));
    let signalled = Instant::now();
    background.interrupt();
    let (code, stdout, stderr) = background.finish(Duration::from_secs(10));
    let took = signalled.elapsed();

    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(
        took < Duration::from_secs(2),
        "it waited for the slot: {took:?}"
    );
    assert_eq!(stdout, expected_csv(&["d1.example.com", "d2.example.com"]));
    assert!(
        stderr.contains("ses-dkim: 2 verified, 0 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("; interrupted, the remaining domains were not attempted"),
        "{stderr}"
    );
    let mut identities = moto.list_identities().unwrap();
    identities.sort();
    assert_eq!(identities, ["d1.example.com", "d2.example.com"]);
}

/// An endpoint that refuses connections before anything worked is a configuration error: the
/// run stops after the first domain's attempts with status 2, naming the endpoint and what to
/// check.
#[test]
fn an_unreachable_endpoint_stops_the_run_as_a_configuration_error() {
    let refusing = ses_dkim_e2e::closed_endpoint().unwrap();
    let endpoint = refusing.url().to_owned();
    let out = run(
        &ses_dkim(),
        &[
            "verify",
            "-",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &endpoint,
            "--rate",
            "50",
        ],
        &FAKE_KEYS,
        Some(b"a.example.com\nb.example.com\nc.example.com\n"),
    )
    .unwrap();

    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "");
    let message = format!(
        "a.example.com: cannot connect to {endpoint}: Connection refused (os error 111); check \
         --endpoint-url (or AWS_ENDPOINT_URL_SES / AWS_ENDPOINT_URL / the profile's \
         endpoint_url) and that the server is running\n"
    );
    assert!(out.stderr.contains(&message), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("retrying: cannot connect").count(),
        2,
        "the first domain's three attempts: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("b.example.com"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("0 verified, 1 failed, 0 invalid lines, 0 duplicates skipped in ")
            && out
                .stderr
                .contains("; stopped early, the remaining domains were not attempted"),
        "{}",
        out.stderr
    );
}

/// After a call has worked, a lost endpoint is a passing fault: each later domain fails on its
/// own and the run goes on.
#[test]
fn a_lost_endpoint_after_a_success_fails_each_domain() {
    use std::time::Duration;

    let moto = Moto::start().unwrap();
    let dir = TempDir::new("ses-dkim-e2e-lost-endpoint").unwrap();
    let list = dir.path().join("three.txt");
    fs::write(&list, "a.example.com\nb.example.com\nc.example.com\n").unwrap();
    let endpoint = moto.endpoint();
    let args = [
        list.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--endpoint-url",
        &endpoint,
        "--rate",
        "0.25",
        "--max-attempts",
        "1",
        "--format",
        "csv",
    ];
    let mut background = Background::start(&args, dir.path());
    background.wait_for_lines(1 + 3, Duration::from_secs(30));
    // The next call is 2 s after the first: moto is gone by then.
    drop(moto);
    let (code, stdout, stderr) = background.finish(Duration::from_secs(30));

    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_eq!(stdout, expected_csv(&["a.example.com"]));
    for domain in ["b.example.com", "c.example.com"] {
        assert!(
            stderr.contains(&format!("{domain}: cannot connect to {endpoint}: ")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("1 verified, 2 failed"), "{stderr}");
    assert!(!stderr.contains("stopped early"), "{stderr}");
}

/// An endpoint that answers, but not as SES does (here a web server's HTML 501 page), stops the
/// run at its first domain as a configuration error, and stores nothing, so that the next run,
/// at the right endpoint, verifies every domain. A 503 page, which an outage gives as well, and
/// any such answer after a call has worked, is a failure of its domain only.
#[test]
fn an_endpoint_that_is_not_ses_stops_the_run_and_stores_nothing() {
    let html = || {
        StubResponse::new(
            501,
            "<html><body><h1>501 Not Implemented</h1></body></html>",
        )
        .with_header("content-type", "text/html")
    };
    let web_server = Stub::with(move |_, _| html()).unwrap();
    let dir = TempDir::new("ses-dkim-e2e-not-ses").unwrap();
    let state = dir.path().join("state.db");
    let state = state.to_str().unwrap();
    let list: &[u8] = b"a.example.com\nb.example.com\nc.example.com\n";
    let args = |endpoint: &str| {
        [
            "verify",
            "-",
            "--region",
            "us-east-1",
            "--endpoint-url",
            endpoint,
            "--rate",
            "50",
            "--format",
            "csv",
            "--state",
            state,
        ]
        .map(str::to_owned)
    };
    let run_at = |endpoint: &str| {
        let args = args(endpoint);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&ses_dkim(), &args, &FAKE_KEYS, Some(list)).unwrap()
    };

    let out = run_at(&web_server.endpoint());
    let error = stopped_at_the_first_domain(&out);
    assert_eq!(web_server.requests().len(), 1, "{}", out.stderr);
    assert!(
        error.starts_with("ses-dkim: <stdin>:1: a.example.com: ")
            && error.contains("501")
            && error.contains("this is not an SES answer: check that --endpoint-url"),
        "{error}"
    );

    let moto = Moto::start().unwrap();
    let out = run_at(&moto.endpoint());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout,
        expected_csv(&["a.example.com", "b.example.com", "c.example.com"])
    );

    // A 503 page is an outage as likely as a wrong endpoint: each domain fails on its own.
    let outage = Stub::with(|_, _| {
        StubResponse::new(
            503,
            "<html><body>503 Service Temporarily Unavailable</body></html>",
        )
        .with_header("content-type", "text/html")
    })
    .unwrap();
    let endpoint = outage.endpoint();
    let out = run(
        &ses_dkim(),
        &[
            "verify",
            "-",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &endpoint,
            "--rate",
            "50",
            "--max-attempts",
            "1",
        ],
        &FAKE_KEYS,
        Some(list),
    )
    .unwrap();
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(outage.requests().len(), 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("0 verified, 3 failed"),
        "{}",
        out.stderr
    );

    // One success first: then each foreign answer fails its own domain and the run goes on.
    let flaky = Stub::with(move |_, before| {
        if before.is_empty() {
            StubResponse::tokens(&ses_dkim_e2e::stub::STUB_TOKENS)
        } else {
            html()
        }
    })
    .unwrap();
    let endpoint = flaky.endpoint();
    let out = run(
        &ses_dkim(),
        &[
            "verify",
            "-",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &endpoint,
            "--rate",
            "50",
        ],
        &FAKE_KEYS,
        Some(list),
    )
    .unwrap();
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert_eq!(flaky.requests().len(), 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("1 verified, 2 failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not an SES answer"), "{}", out.stderr);
}

/// `https://` at moto, which speaks plain HTTP, says to try `http://`, and stops the run before
/// anything is created.
#[test]
fn https_to_plain_http_moto_suggests_http() {
    let moto = Moto::start().unwrap();
    let https = format!("https://127.0.0.1:{}", moto.port());
    let out = run(
        &ses_dkim(),
        &[
            "verify",
            "-",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &https,
            "--max-attempts",
            "1",
            "--rate",
            "50",
        ],
        &FAKE_KEYS,
        Some(b"a.example.com\nb.example.com\n"),
    )
    .unwrap();

    assert_eq!(out.code, Some(2), "stderr: {}", out.stderr);
    let hint = format!(
        "a.example.com: cannot connect to {https}: received corrupt message of type \
         InvalidContentType; the server may speak plain HTTP: try {}",
        moto.endpoint()
    );
    assert!(out.stderr.contains(&hint), "{}", out.stderr);
    assert!(!out.stderr.contains("b.example.com"), "{}", out.stderr);
    assert_eq!(moto.list_identities().unwrap(), Vec::<String>::new());
}

/// `status` and `check` stop the same way at an endpoint that refuses connections before
/// anything worked: status 2 after the first batch of 100, with the endpoint named.
#[test]
fn status_and_check_stop_at_an_unreachable_endpoint() {
    let refusing = ses_dkim_e2e::closed_endpoint().unwrap();
    let endpoint = refusing.url().to_owned();
    // Two batches: 100 domains, then one.
    let list: String = (1..=101).map(|i| format!("d{i}.example.com\n")).collect();
    for (command, what) in [("status", "DKIM status"), ("check", "DKIM tokens")] {
        let out = run(
            &ses_dkim(),
            &[
                command,
                "-",
                "--region",
                "us-east-1",
                "--endpoint-url",
                &endpoint,
                "--rate",
                "50",
                "--max-attempts",
                "1",
            ],
            &FAKE_KEYS,
            Some(list.as_bytes()),
        )
        .unwrap();

        assert_eq!(out.code, Some(2), "{command}: {}", out.stderr);
        let message = format!(
            "<stdin>:1-100: cannot get the {what} of 100 domains: cannot connect to {endpoint}: \
             Connection refused (os error 111); check --endpoint-url"
        );
        assert!(out.stderr.contains(&message), "{command}: {}", out.stderr);
        assert!(
            !out.stderr.contains("<stdin>:101"),
            "{command}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("; stopped early"),
            "{command}: {}",
            out.stderr
        );
    }
}
