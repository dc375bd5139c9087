//! The client against a scripted local endpoint: throttling, server faults, hung and reset
//! connections, oversized bodies, pacing, request ids, session tokens, DKIM zones and deadlines.
//!
//! Each test runs within [`support::SCENARIO_LIMIT`] and checks how many requests reached the
//! stub. Tests named after a field case (`fNN_...`) reproduce that case.

mod support;

use std::time::{Duration, Instant};

use ses_dkim_client::{CallOptions, ClientError};
use ses_dkim_core::{Credentials, DkimRecordSet, Domain, ErrorKind, ResponseError};
use support::{
    Action, MOTO_HTML_500, Reply, SIGNATURE_DOES_NOT_MATCH, Stub, T1, T2, T3, bounded, client, err,
    error_body, ok, settings, success_body,
};

/// The slack allowed between a paced send and its arrival at the stub, explained in
/// [`f08_pacing_at_exactly_the_limit`].
const ARRIVAL_JITTER: Duration = Duration::from_millis(50);

fn domain(name: &str) -> Domain {
    match Domain::parse(name) {
        Ok(domain) => domain,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn expect_ok(result: Result<DkimRecordSet, ClientError>) -> DkimRecordSet {
    match result {
        Ok(set) => set,
        Err(e) => panic!("expected records, got {e} ({e:?})"),
    }
}

fn expect_err(result: Result<DkimRecordSet, ClientError>) -> ClientError {
    match result {
        Ok(set) => panic!("expected an error, got {set:?}"),
        Err(e) => e,
    }
}

fn values(set: &DkimRecordSet) -> Vec<&str> {
    set.records.iter().map(|r| r.value()).collect()
}

/// F07: a 400 `Throttling` is retried after a backoff, and the call succeeds.
#[tokio::test]
async fn f07_throttling_is_a_400() {
    bounded(async {
        let stub =
            Stub::scripted([err(400, "Throttling", "Rate exceeded"), ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(set.records.len(), 3);
        assert_eq!(
            set.records[0].name(),
            format!("{T1}._domainkey.example.com.")
        );
        assert_eq!(set.records[2].value(), format!("{T3}.dkim.amazonses.com."));
        stub.assert_well_formed();
        let seen = stub.requests();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].arrived > seen[0].arrived);
        // Both attempts are fresh signatures of the same call.
        assert_eq!(seen[0].body, seen[1].body);
        assert_eq!(seen[0].domain(), "example.com");
    })
    .await;
}

/// A 500 `InternalFailure` is transient: retried, then the call succeeds.
#[tokio::test]
async fn internal_failure_500_is_retried() {
    bounded(async {
        let stub = Stub::scripted([
            err(500, "InternalFailure", "An internal error occurred."),
            ok(&[T1, T2, T3]),
        ])
        .await;
        let client = client(settings(&stub)).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(set.tokens.len(), 3);
        stub.assert_well_formed();
        assert_eq!(stub.count(), 2);
    })
    .await;
}

/// A 503 with an empty body carries no code: the status alone makes it transient.
#[tokio::test]
async fn empty_503_is_retried() {
    bounded(async {
        let stub = Stub::scripted([Reply::new(503, "").action(), ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(set.tokens.len(), 3);
        stub.assert_well_formed();
        assert_eq!(stub.count(), 2);
    })
    .await;
}

/// F21: an HTML 500 page is a transient error with the status and a printable snippet, retried
/// until the attempts run out.
#[tokio::test]
async fn f21_html_error_page() {
    bounded(async {
        let page = || {
            Reply::new(500, MOTO_HTML_500)
                .header("content-type", "text/html; charset=utf-8")
                .action()
        };
        let stub = Stub::scripted([page(), page(), page()]).await;
        let client = client(settings(&stub)).await;
        assert_eq!(client.max_attempts(), 3);

        let error = expect_err(client.verify(&domain("example.com")).await);

        assert_eq!(error.kind(), ErrorKind::Transient);
        let ClientError::Response(ResponseError::Parse(parse)) = &error else {
            panic!("expected a parse error, got {error:?}");
        };
        assert_eq!(parse.status, 500);
        assert!(
            parse.snippet.starts_with("<!doctype html> <html lang=en>"),
            "{}",
            parse.snippet
        );
        assert!(
            parse.snippet.chars().all(|c| !c.is_control()),
            "{}",
            parse.snippet
        );
        let shown = error.to_string();
        assert!(shown.contains("HTTP 500"), "{shown}");
        assert!(shown.contains("Internal Server Error"), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
        stub.assert_well_formed();
        assert_eq!(stub.count(), 3);
    })
    .await;
}

/// F19: `SignatureDoesNotMatch` is not retried, and the message names the likely causes and
/// carries the request id.
#[tokio::test]
async fn f19_smtp_credentials_used_as_api_keys() {
    bounded(async {
        let reply = Reply::new(403, SIGNATURE_DOES_NOT_MATCH).header("content-type", "text/xml");
        let stub = Stub::scripted([reply.action()]).await;
        let client = client(settings(&stub)).await;

        let error = expect_err(client.verify(&domain("example.com")).await);

        assert_eq!(error.kind(), ErrorKind::Credentials);
        assert_eq!(
            error.request_id(),
            Some("c1774ff6-4120-42f2-a68e-5c3d91b1ee92")
        );
        let shown = error.to_string();
        for words in [
            "secret access key",
            "SMTP",
            "region",
            "c1774ff6-4120-42f2-a68e-5c3d91b1ee92",
        ] {
            assert!(shown.contains(words), "{words:?} missing from: {shown}");
        }
        stub.assert_well_formed();
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// An endpoint that reads the request and never answers: each attempt times out, and the call
/// fails as transient after the last attempt, in bounded time.
#[tokio::test]
async fn hung_response_times_out_each_attempt() {
    bounded(async {
        let stub = Stub::scripted([Action::Hang, Action::Hang]).await;
        let mut settings = settings(&stub);
        settings.attempt_timeout = Duration::from_millis(300);
        settings.max_attempts = Some(2);
        let client = client(settings).await;

        let started = Instant::now();
        let error = expect_err(client.verify(&domain("example.com")).await);
        let took = started.elapsed();

        assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
        assert_eq!(error.kind(), ErrorKind::Transient);
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        stub.assert_well_formed();
        let seen = stub.requests();
        assert_eq!(seen.len(), 2);
        // The timed-out connection is abandoned, never reused.
        assert_ne!(seen[0].connection, seen[1].connection);
    })
    .await;
}

/// An answer whose body comes in several pieces is read whole: the pieces are joined in order.
#[tokio::test]
async fn a_body_in_several_pieces_is_joined() {
    bounded(async {
        let body = success_body(&[T1, T2, T3], Some("req-pieces"));
        let reply = Reply::new(200, body).in_chunks(4);
        let stub = Stub::scripted([reply.action()]).await;
        let client = client(settings(&stub)).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(values(&set).len(), 3);
        assert_eq!(set.records[2].value(), format!("{T3}.dkim.amazonses.com."));
        assert_eq!(set.request_id.as_deref(), Some("req-pieces"));
        stub.assert_well_formed();
    })
    .await;
}

/// A body over the cap is refused without reading it all, and not retried (its kind is
/// `Other`: a 2 MiB answer is a misdirected endpoint, which a retry does not fix).
#[tokio::test]
async fn oversized_body_is_refused_once() {
    bounded(async {
        let padding = format!("<Padding>{}</Padding>", "x".repeat(2 * 1024 * 1024));
        let body = success_body(&[T1, T2, T3], None).replace(
            "</VerifyDomainDkimResult>",
            &format!("</VerifyDomainDkimResult>{padding}"),
        );
        let reply = Reply::new(200, body).header("content-type", "text/xml");
        let stub = Stub::scripted([reply.action(), ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;

        let error = expect_err(client.verify(&domain("example.com")).await);

        let ClientError::BodyTooLarge { limit, .. } = error else {
            panic!("expected BodyTooLarge, got {error:?}");
        };
        assert_eq!(limit, 1024 * 1024);
        assert_eq!(error.kind(), ErrorKind::Other);
        stub.assert_well_formed();
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// A connection reset before any answer is a transient fault: retried on a new connection.
#[tokio::test]
async fn reset_without_answer_is_retried() {
    bounded(async {
        let stub = Stub::scripted([Action::Reset, ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(set.tokens.len(), 3);
        stub.assert_well_formed();
        let seen = stub.requests();
        assert_eq!(seen.len(), 2);
        assert_ne!(seen[0].connection, seen[1].connection);
    })
    .await;
}

/// A connection closed (FIN) before any answer is retried the same way.
#[tokio::test]
async fn close_without_answer_is_retried() {
    bounded(async {
        let stub = Stub::scripted([Action::Close, ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(set.tokens.len(), 3);
        stub.assert_well_formed();
        assert_eq!(stub.count(), 2);
        assert_eq!(stub.connections(), 2);
    })
    .await;
}

/// A stub that throttles any request arriving within 1 s (less the arrival jitter) of the last
/// one it accepted, as SES enforces its one-call-a-second limit.
async fn one_a_second_stub() -> Stub {
    let mut last_accepted: Option<Instant> = None;
    Stub::start(move |seen| {
        let too_soon = last_accepted.is_some_and(|last| {
            seen.arrived.duration_since(last) < Duration::from_secs(1) - ARRIVAL_JITTER
        });
        if too_soon {
            return err(400, "Throttling", "Rate exceeded");
        }
        last_accepted = Some(seen.arrived);
        ok(&[T1, T2, T3])
    })
    .await
}

/// The domains the stub was asked about, in the order the requests came.
fn requested_domains(stub: &Stub) -> Vec<String> {
    stub.requests()
        .iter()
        .map(|s| s.domain().to_owned())
        .collect()
}

/// Checks that five paced requests reached the stub one at a time, about a second apart.
///
/// The client spaces its sends exactly one interval apart (slot `k` is `first + k` seconds), but
/// the stub sees arrivals: each send is late by its timer's wake-up (tokio's timer ticks in
/// milliseconds) and by the time to sign, write and read it, and the first request also pays for
/// the TCP connect. That delay differs between requests, so two arrivals can be slightly less
/// than 1 s apart although the sends were not: measured here, gaps of 999.3 ms to 1001.5 ms, so a
/// stub that throttles at exactly 1 s throttled one request in three (each then succeeded on a
/// paced retry). [`ARRIVAL_JITTER`] (50 ms) covers that, and a loaded machine's scheduling delays,
/// without letting a faster rate through: a client pacing at 1.06/s would show gaps of 943 ms.
/// The span from the first arrival to the fifth checks the rate over four intervals, where the
/// jitter does not add up.
fn assert_paced(stub: &Stub) {
    stub.assert_well_formed();
    let seen = stub.requests();
    assert_eq!(
        seen.len(),
        5,
        "a throttled retry means the client paced too fast"
    );
    assert_eq!(stub.max_in_flight(), 1);
    let gaps: Vec<Duration> = seen
        .windows(2)
        .map(|pair| pair[1].arrived.duration_since(pair[0].arrived))
        .collect();
    for gap in &gaps {
        assert!(*gap >= Duration::from_secs(1) - ARRIVAL_JITTER, "{gaps:?}");
    }
    let span = seen[4].arrived.duration_since(seen[0].arrived);
    assert!(span >= Duration::from_secs(4) - ARRIVAL_JITTER, "{span:?}");
    // Answers are instant, so no slot is lost to waiting: the run is not much longer either.
    assert!(
        span < Duration::from_secs(4) + Duration::from_millis(500),
        "{span:?}"
    );
}

/// F08: five domains through one client at SES's limit of one call a second: all succeed, none
/// is throttled, one request at a time.
#[tokio::test]
async fn f08_pacing_at_exactly_the_limit() {
    bounded(async {
        let stub = one_a_second_stub().await;
        let mut settings = settings(&stub);
        settings.rate = 1.0;
        let client = client(settings).await;

        for n in 0..5 {
            let name = format!("example{n}.com");
            let set = expect_ok(client.verify(&domain(&name)).await);
            assert_eq!(set.domain.as_str(), name);
        }

        assert_paced(&stub);
        assert_eq!(
            requested_domains(&stub),
            [
                "example0.com",
                "example1.com",
                "example2.com",
                "example3.com",
                "example4.com"
            ]
        );
    })
    .await;
}

/// F08 with five concurrent tasks sharing one client: the shared pacer spaces them the same way.
#[tokio::test]
async fn f08_pacing_at_exactly_the_limit_concurrently() {
    bounded(async {
        let stub = one_a_second_stub().await;
        let mut settings = settings(&stub);
        settings.rate = 1.0;
        let client = client(settings).await;

        let tasks: Vec<_> = (0..5)
            .map(|n| {
                let client = client.clone();
                tokio::spawn(
                    async move { client.verify(&domain(&format!("example{n}.com"))).await },
                )
            })
            .collect();
        for task in tasks {
            let result = match task.await {
                Ok(result) => result,
                Err(e) => panic!("a task failed: {e}"),
            };
            expect_ok(result);
        }

        assert_paced(&stub);
        let mut domains = requested_domains(&stub);
        domains.sort();
        assert_eq!(
            domains,
            [
                "example0.com",
                "example1.com",
                "example2.com",
                "example3.com",
                "example4.com"
            ]
        );
    })
    .await;
}

/// An error body without `RequestId` takes the request id from the `x-amzn-RequestId` header.
#[tokio::test]
async fn request_id_of_an_error_comes_from_the_header() {
    bounded(async {
        let reply = Reply::new(
            400,
            error_body("InvalidParameterValue", "Invalid domain name", None),
        )
        .header("content-type", "text/xml")
        .header("x-amzn-RequestId", "hdr-err-0001");
        let stub = Stub::scripted([reply.action()]).await;
        let client = client(settings(&stub)).await;

        let error = expect_err(client.verify(&domain("example.com")).await);

        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert_eq!(error.request_id(), Some("hdr-err-0001"));
        assert!(error.to_string().contains("hdr-err-0001"), "{error}");
        stub.assert_well_formed();
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// A success body without `ResponseMetadata` takes the request id from the header; a body's own
/// request id wins over the header's.
#[tokio::test]
async fn request_id_of_a_success_comes_from_the_header() {
    bounded(async {
        let bare = Reply::new(200, success_body(&[T1, T2, T3], None))
            .header("content-type", "text/xml")
            .header("x-amzn-RequestId", "hdr-ok-0001");
        let both = Reply::new(200, success_body(&[T1, T2, T3], Some("body-ok-0002")))
            .header("x-amzn-RequestId", "hdr-ok-0002");
        let stub = Stub::scripted([bare.action(), both.action()]).await;
        let client = client(settings(&stub)).await;

        let first = expect_ok(client.verify(&domain("example.com")).await);
        let second = expect_ok(client.verify(&domain("example.org")).await);

        assert_eq!(first.request_id.as_deref(), Some("hdr-ok-0001"));
        assert_eq!(second.request_id.as_deref(), Some("body-ok-0002"));
        stub.assert_well_formed();
        assert_eq!(stub.count(), 2);
    })
    .await;
}

/// Runs one call with the given session token and returns what the stub saw.
async fn seen_with_token(token: Option<&str>) -> support::Seen {
    let stub = Stub::scripted([ok(&[T1, T2, T3])]).await;
    let mut settings = settings(&stub);
    settings.credentials = Some(Credentials::new(
        "AKIDSTUB",
        "stub-secret",
        token.map(str::to_owned),
    ));
    let client = client(settings).await;
    expect_ok(client.verify(&domain("example.com")).await);
    stub.assert_well_formed();
    let mut seen = stub.requests();
    assert_eq!(seen.len(), 1);
    seen.remove(0)
}

/// F17: a session token is sent and signed; an empty or missing one is not sent at all.
#[tokio::test]
async fn f17_session_token_handling() {
    bounded(async {
        let with = seen_with_token(Some("TOKEN")).await;
        assert_eq!(with.header("x-amz-security-token"), Some("TOKEN"));
        assert!(
            with.signed_headers().contains(&"x-amz-security-token"),
            "{:?}",
            with.signed_headers()
        );
        assert!(
            with.credential().starts_with("AKIDSTUB/"),
            "{}",
            with.credential()
        );
        assert!(
            with.credential().ends_with("/us-east-1/ses/aws4_request"),
            "{}",
            with.credential()
        );

        for token in [Some(""), None] {
            let without = seen_with_token(token).await;
            assert_eq!(
                without.header("x-amz-security-token"),
                None,
                "token {token:?}"
            );
            assert_eq!(
                without.signed_headers(),
                ["content-type", "host", "x-amz-date"]
            );
        }
    })
    .await;
}

/// F01 through the client: a region with its own DKIM zone signs for that region and points the
/// records into its zone, whatever the endpoint.
#[tokio::test]
async fn f01_region_decides_the_cname_target() {
    bounded(async {
        let stub = Stub::scripted([ok(&[T1, T2, T3])]).await;
        let mut settings = settings(&stub);
        settings.region = Some("af-south-1".into());
        let client = client(settings).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        for (value, token) in values(&set).into_iter().zip([T1, T2, T3]) {
            assert_eq!(value, format!("{token}.dkim.af-south-1.amazonses.com."));
        }
        assert_eq!(set.region.as_str(), "af-south-1");
        let seen = stub.requests();
        assert!(
            seen[0]
                .credential()
                .ends_with("/af-south-1/ses/aws4_request"),
            "{}",
            seen[0].credential()
        );
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// F02 through the client: an explicit DKIM zone overrides the region's.
#[tokio::test]
async fn f02_explicit_dkim_zone_wins() {
    bounded(async {
        let stub = Stub::scripted([ok(&[T1, T2, T3])]).await;
        let mut settings = settings(&stub);
        settings.region = Some("af-south-1".into());
        settings.dkim_zone = Some("dkim.example-zone.test".into());
        let client = client(settings).await;

        let set = expect_ok(client.verify(&domain("example.com")).await);

        assert_eq!(client.dkim_zone().as_str(), "dkim.example-zone.test");
        for (value, token) in values(&set).into_iter().zip([T1, T2, T3]) {
            assert_eq!(value, format!("{token}.dkim.example-zone.test."));
        }
        stub.assert_well_formed();
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// A deadline stops the retries of a throttled call as soon as the next backoff would cross it.
#[tokio::test]
async fn deadline_stops_retrying_a_throttled_call() {
    bounded(async {
        let stub = Stub::start(|_| err(400, "Throttling", "Rate exceeded")).await;
        let mut settings = settings(&stub);
        settings.initial_backoff = Duration::from_secs(1);
        settings.max_backoff = Duration::from_secs(20);
        // Enough attempts that the deadline, not the count, ends the call.
        settings.max_attempts = Some(10);
        let client = client(settings).await;

        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        let result = client
            .verify_with(&domain("example.com"), CallOptions::with_deadline(deadline))
            .await;
        let took = started.elapsed();

        let error = expect_err(result);
        let ClientError::DeadlineExceeded(cause) = &error else {
            panic!("expected DeadlineExceeded, got {error:?}");
        };
        assert_eq!(cause.kind(), ErrorKind::Throttling, "{cause:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        stub.assert_well_formed();
        assert!((1..=10).contains(&stub.count()), "{}", stub.count());
    })
    .await;
}

/// A deadline also bounds an attempt in flight: a hung endpoint does not hold the call for the
/// whole attempt timeout.
#[tokio::test]
async fn deadline_cuts_a_hung_attempt() {
    bounded(async {
        let stub = Stub::scripted([Action::Hang]).await;
        let mut settings = settings(&stub);
        settings.attempt_timeout = Duration::from_secs(10);
        let client = client(settings).await;

        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let result = client
            .verify_with(&domain("example.com"), CallOptions::with_deadline(deadline))
            .await;
        let took = started.elapsed();

        let error = expect_err(result);
        let ClientError::DeadlineExceeded(cause) = &error else {
            panic!("expected DeadlineExceeded, got {error:?}");
        };
        // Cut once and not retried: the cause is the cut attempt's own timeout.
        let ClientError::Timeout { after, .. } = **cause else {
            panic!("expected a timeout as the cause, got {cause:?}");
        };
        assert!(after <= Duration::from_millis(300), "{after:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        stub.assert_well_formed();
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// A deadline that comes while waiting for the next pacing slot reports the failure that made
/// the call retry, and leaves the slot to the client's next call.
#[tokio::test]
async fn deadline_while_paced_reports_the_throttling() {
    bounded(async {
        let stub =
            Stub::scripted([err(400, "Throttling", "Rate exceeded"), ok(&[T1, T2, T3])]).await;
        let mut settings = settings(&stub);
        settings.rate = 1.0;
        let client = client(settings).await;

        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        let result = client
            .verify_with(&domain("example.com"), CallOptions::with_deadline(deadline))
            .await;
        let took = started.elapsed();

        let error = expect_err(result);
        let ClientError::DeadlineExceeded(cause) = &error else {
            panic!("expected DeadlineExceeded, got {error:?}");
        };
        assert_eq!(cause.kind(), ErrorKind::Throttling, "{cause:?}");
        assert_eq!(error.request_id(), Some(support::BODY_REQUEST_ID));
        assert!(took < Duration::from_millis(500), "{took:?}");
        assert_eq!(stub.count(), 1);

        // The next call takes the slot the refused retry did not: one interval after the first.
        expect_ok(client.verify(&domain("example.com")).await);
        stub.assert_well_formed();
        let seen = stub.requests();
        assert_eq!(seen.len(), 2);
        let gap = seen[1].arrived.duration_since(seen[0].arrived);
        assert!(gap >= Duration::from_secs(1) - ARRIVAL_JITTER, "{gap:?}");
        assert!(gap < Duration::from_millis(1500), "{gap:?}");
    })
    .await;
}

/// The stub refuses what a broken client would send, so that such a client cannot pass: no
/// signature, no date, another action, no body.
#[tokio::test]
async fn stub_refuses_malformed_requests() {
    bounded(async {
        let stub = Stub::scripted([]).await;
        let signed = "authorization: AWS4-HMAC-SHA256 Credential=AKIDSTUB/20240101/us-east-1/ses/\
                      aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n";
        let dated = "x-amz-date: 20240101T000000Z\r\n";
        let good_body = "Action=VerifyDomainDkim&Version=2010-12-01&Domain=example.com";
        let cases = [
            ("", dated, good_body, "no SigV4 authorization"),
            (
                "authorization: Basic QUtJRA==\r\n",
                dated,
                good_body,
                "no SigV4 authorization",
            ),
            (signed, "", good_body, "no x-amz-date"),
            (
                signed,
                dated,
                "Action=ListIdentities&Version=2010-12-01",
                "not a VerifyDomainDkim",
            ),
            (signed, dated, "", "not a VerifyDomainDkim"),
        ];
        for (authorization, date, body, reason) in cases {
            let request = format!(
                "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\n{authorization}{date}\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let answer = support::raw_exchange(&stub, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
            assert!(answer.contains("StubRefusedMalformedRequest"), "{answer}");
            assert!(answer.contains(reason), "{reason:?} missing from: {answer}");
        }
        let seen = stub.requests();
        assert_eq!(seen.len(), cases.len());
        assert!(seen.iter().all(|s| s.refused.is_some()));
    })
    .await;
}

/// The stub's in-flight count sees overlapping requests, so the pacing tests' count of one
/// means something.
#[tokio::test]
async fn stub_counts_requests_in_flight() {
    bounded(async {
        let slow = || ok_reply().delayed(Duration::from_millis(300)).action();
        let stub = Stub::scripted([slow(), slow(), slow()]).await;
        let client = client(settings(&stub)).await;

        let tasks: Vec<_> = (0..3)
            .map(|n| {
                let client = client.clone();
                tokio::spawn(
                    async move { client.verify(&domain(&format!("example{n}.com"))).await },
                )
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(result) => drop(expect_ok(result)),
                Err(e) => panic!("a task failed: {e}"),
            }
        }

        stub.assert_well_formed();
        assert_eq!(stub.count(), 3);
        assert_eq!(stub.max_in_flight(), 3);
    })
    .await;
}

fn ok_reply() -> Reply {
    Reply::new(
        200,
        success_body(&[T1, T2, T3], Some(support::BODY_REQUEST_ID)),
    )
    .header("content-type", "text/xml")
}

/// The scenario [`explicit_settings_beat_the_environment`] runs in a hostile environment; it
/// passes in any environment, so it also runs with `--ignored`.
#[tokio::test]
#[ignore = "run by explicit_settings_beat_the_environment in a child process"]
async fn hostile_environment_child() {
    bounded(async {
        let stub = Stub::scripted([ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;

        assert_eq!(client.region().as_str(), "us-east-1");
        assert_eq!(client.endpoint().to_string(), stub.url());
        assert_eq!(client.max_attempts(), 3);
        assert_eq!(client.dkim_zone().as_str(), "dkim.amazonses.com");
        let set = expect_ok(client.verify(&domain("example.com")).await);
        assert_eq!(set.records[0].value(), format!("{T1}.dkim.amazonses.com."));

        stub.assert_well_formed();
        let seen = stub.requests();
        assert_eq!(seen.len(), 1);
        let credential = seen[0].credential();
        assert!(credential.starts_with("AKIDSTUB/"), "{credential}");
        assert!(
            credential.ends_with("/us-east-1/ses/aws4_request"),
            "{credential}"
        );
        assert_eq!(seen[0].header("x-amz-security-token"), None);
    })
    .await;
}

/// Explicit settings win over everything aws-config reads: the region, endpoint, FIPS and
/// dual-stack flags, attempt count and credentials of the environment and of a shared config
/// profile, including values aws-config would panic on.
#[tokio::test]
async fn explicit_settings_beat_the_environment() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("ses-dkim-faults-{}", std::process::id()));
        let config = dir.join("config");
        let credentials = dir.join("credentials");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&config, HOSTILE_CONFIG))
            .and_then(|()| std::fs::write(&credentials, HOSTILE_CREDENTIALS));
        if let Err(e) = written {
            panic!("cannot write the hostile config: {e}");
        }
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => panic!("cannot find the test binary: {e}"),
        };

        let mut command = std::process::Command::new(exe);
        command
            .args(["hostile_environment_child", "--exact", "--ignored"])
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
        for (name, value) in HOSTILE_ENV {
            command.env(name, value);
        }
        let output = tokio::task::spawn_blocking(move || command.output()).await;
        let _ = std::fs::remove_dir_all(&dir);

        let output = match output {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => panic!("cannot run the child: {e}"),
            Err(e) => panic!("the child's runner failed: {e}"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
    })
    .await;
}

/// Environment variables that would each change the client if the settings did not win.
const HOSTILE_ENV: &[(&str, &str)] = &[
    ("AWS_PROFILE", "hostile"),
    ("AWS_REGION", "eu-west-1"),
    ("AWS_DEFAULT_REGION", "eu-west-1"),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ("AWS_ENDPOINT_URL_SES", "http://127.0.0.1:9"),
    ("AWS_USE_FIPS_ENDPOINT", "true"),
    ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
    ("AWS_MAX_ATTEMPTS", "not-a-number"),
    ("AWS_RETRY_MODE", "adaptive"),
    ("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT"),
    ("AWS_SECRET_ACCESS_KEY", "environment-secret"),
    ("AWS_SESSION_TOKEN", "ENVIRONMENTTOKEN"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// A shared config whose default and selected profiles point elsewhere.
const HOSTILE_CONFIG: &str = "[default]
region = ap-southeast-2
endpoint_url = http://127.0.0.1:9
max_attempts = 9

[profile hostile]
region = eu-central-2
endpoint_url = http://127.0.0.1:9
use_fips_endpoint = true
max_attempts = nine
retry_mode = adaptive
services = hostile-services

[services hostile-services]
ses =
  endpoint_url = http://127.0.0.1:9
";

/// Shared credentials for the hostile profile.
const HOSTILE_CREDENTIALS: &str = "[hostile]
aws_access_key_id = AKIDPROFILE
aws_secret_access_key = profile-secret
aws_session_token = PROFILETOKEN
";

/// Returns a loopback port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(listener) => listener,
        Err(e) => panic!("cannot bind 127.0.0.1: {e}"),
    };
    match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no local address: {e}"),
    }
}

/// Settings like the stub's, pointing at `url` instead.
async fn settings_for(url: &str) -> ses_dkim_client::Settings {
    let unused = Stub::scripted([]).await;
    let mut settings = settings(&unused);
    settings.endpoint_url = Some(url.to_owned());
    settings
}

/// Waits, within the scenario's limit, until the stub has read `n` requests.
async fn until_seen(stub: &Stub, n: usize) {
    while stub.count() < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A refused connection is a connect failure: transient, so retried within the call, and told
/// apart from a failure on an open connection; the client has not succeeded yet.
#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    bounded(async {
        let url = format!("http://127.0.0.1:{}", closed_port());
        let client = client(settings_for(&url).await).await;

        let error = expect_err(client.verify(&domain("example.com")).await);

        let ClientError::Connect { endpoint, message } = &error else {
            panic!("expected a connect failure, got {error:?}");
        };
        assert_eq!(endpoint, &url);
        assert!(message.contains("Connection refused"), "{message}");
        assert!(error.is_connect());
        assert_eq!(error.kind(), ErrorKind::Transient);
        assert!(!error.repeats_on_every_call());
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("cannot connect to {url}: ")),
            "{shown}"
        );
        assert!(!client.has_succeeded());
    })
    .await;
}

/// A name that does not resolve and an address that does not answer in time are connect
/// failures too.
#[tokio::test]
async fn dns_failures_and_connect_timeouts_are_connect_failures() {
    bounded(async {
        // A label longer than DNS allows (63 bytes): the system resolver refuses the name itself,
        // without asking a name server, so the test does not depend on this machine's network.
        let unresolvable = format!("http://{}.example:80", "a".repeat(64));
        let mut settings = settings_for(&unresolvable).await;
        settings.max_attempts = Some(1);
        let unresolved = client(settings).await;
        let error = expect_err(unresolved.verify(&domain("example.com")).await);
        assert!(error.is_connect(), "{error:?}");
        assert!(error.to_string().contains("DNS lookup failed"), "{error}");

        // TEST-NET-1 (RFC 5737) is never routed: the connect times out, or fails at once where
        // the machine has no route at all; either way nothing was connected.
        let mut settings = settings_for("http://192.0.2.1:80").await;
        settings.max_attempts = Some(1);
        settings.connect_timeout = Duration::from_millis(200);
        let client = client(settings).await;
        let started = Instant::now();
        let error = expect_err(client.verify(&domain("example.com")).await);
        assert!(error.is_connect(), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

/// A reset, a close or a hang on an open connection is not a connect failure.
#[tokio::test]
async fn failures_on_an_open_connection_are_not_connect_failures() {
    bounded(async {
        for action in [Action::Reset, Action::Close, Action::Hang] {
            let stub = Stub::scripted([action.clone()]).await;
            let mut settings = settings(&stub);
            settings.max_attempts = Some(1);
            settings.attempt_timeout = Duration::from_millis(300);
            let client = client(settings).await;

            let error = expect_err(client.verify(&domain("example.com")).await);

            assert!(!error.is_connect(), "{action:?}: {error:?}");
            assert!(
                matches!(
                    error,
                    ClientError::Http { .. } | ClientError::Timeout { .. }
                ),
                "{action:?}: {error:?}"
            );
            assert_eq!(stub.count(), 1, "{action:?}");
        }
    })
    .await;
}

/// `has_succeeded` turns true with the first successful call, also for clones.
#[tokio::test]
async fn a_success_is_remembered() {
    bounded(async {
        let stub =
            Stub::scripted([err(400, "InvalidParameterValue", "no"), ok(&[T1, T2, T3])]).await;
        let client = client(settings(&stub)).await;
        let clone = client.clone();

        expect_err(client.verify(&domain("example.com")).await);
        assert!(!clone.has_succeeded(), "an error answer is no success");
        expect_ok(client.verify(&domain("example.com")).await);
        assert!(clone.has_succeeded());
    })
    .await;
}

/// An `https` URL naming a plain-HTTP server fails with a hint to try `http://`.
#[tokio::test]
async fn https_to_a_plain_http_server_suggests_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    bounded(async {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind 127.0.0.1: {e}"),
        };
        let port = match listener.local_addr() {
            Ok(addr) => addr.port(),
            Err(e) => panic!("no local address: {e}"),
        };
        // Answers whatever comes, a TLS ClientHello too, as a plain-HTTP server does.
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&connections);
        let server = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buffer = [0_u8; 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let mut settings = settings_for(&format!("https://127.0.0.1:{port}")).await;
        settings.max_attempts = Some(3);
        let client = client(settings).await;

        let error = expect_err(client.verify(&domain("example.com")).await);
        server.abort();

        // Every attempt would meet the same server: not retried, and it ends a batch run.
        assert!(matches!(error, ClientError::NotTls { .. }), "{error:?}");
        assert!(error.is_connect() && error.repeats_on_every_call(), "{error:?}");
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
        let shown = error.to_string();
        assert!(shown.contains("InvalidContentType"), "{shown}");
        assert!(
            shown.contains(&format!(
                "the server may speak plain HTTP: try http://127.0.0.1:{port}"
            )),
            "{shown}"
        );
    })
    .await;
}

/// Stopping ends a call waiting for its pacing slot at once, and nothing more is sent.
#[tokio::test]
async fn stop_sending_ends_a_wait_for_the_pacing_slot() {
    bounded(async {
        let stub = Stub::start(|_| ok(&[T1, T2, T3])).await;
        let mut settings = settings(&stub);
        // The next slot is 10 s after the first call.
        settings.rate = 0.1;
        let client = client(settings).await;
        expect_ok(client.verify(&domain("first.example")).await);

        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.verify(&domain("second.example")).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped_at = Instant::now();
        client.stop_sending();
        let result = match waiting.await {
            Ok(result) => result,
            Err(e) => panic!("the call's task failed: {e}"),
        };

        let error = expect_err(result);
        assert!(matches!(error, ClientError::Stopped(None)), "{error:?}");
        assert!(error.is_stopped());
        assert!(stopped_at.elapsed() < Duration::from_millis(500));
        assert!(client.is_sending_stopped());
        // Later calls are not sent either.
        let later = expect_err(client.verify(&domain("third.example")).await);
        assert!(matches!(later, ClientError::Stopped(None)), "{later:?}");
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// Stopping ends a call waiting to retry at once, reporting the failure before; the retry is
/// never sent.
#[tokio::test]
async fn stop_sending_ends_a_wait_to_retry() {
    bounded(async {
        let stub =
            Stub::start(|_| err(500, "InternalFailure", "An internal error occurred.")).await;
        let mut settings = settings(&stub);
        // Whichever comes last, the backoff or the next slot, the retry is seconds away.
        settings.initial_backoff = Duration::from_secs(20);
        settings.max_backoff = Duration::from_secs(20);
        settings.rate = 0.2;
        let client = client(settings).await;

        let call = tokio::spawn({
            let client = client.clone();
            async move { client.verify(&domain("example.com")).await }
        });
        until_seen(&stub, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped_at = Instant::now();
        client.stop_sending();
        let result = match call.await {
            Ok(result) => result,
            Err(e) => panic!("the call's task failed: {e}"),
        };

        let error = expect_err(result);
        let ClientError::Stopped(Some(cause)) = &error else {
            panic!("expected Stopped with the earlier failure, got {error:?}");
        };
        assert_eq!(cause.kind(), ErrorKind::Transient, "{cause:?}");
        assert!(error.to_string().contains("InternalFailure"), "{error}");
        assert!(stopped_at.elapsed() < Duration::from_millis(500));
        assert_eq!(stub.count(), 1);
    })
    .await;
}

/// Stopping does not cut an attempt already sent: its answer is returned.
#[tokio::test]
async fn stop_sending_lets_the_attempt_in_flight_finish() {
    bounded(async {
        let slow = Reply::new(200, success_body(&[T1, T2, T3], None))
            .delayed(Duration::from_millis(400))
            .action();
        let stub = Stub::scripted([slow]).await;
        let client = client(settings(&stub)).await;

        let call = tokio::spawn({
            let client = client.clone();
            async move { client.verify(&domain("example.com")).await }
        });
        until_seen(&stub, 1).await;
        client.stop_sending();
        let result = match call.await {
            Ok(result) => result,
            Err(e) => panic!("the call's task failed: {e}"),
        };

        let set = expect_ok(result);
        assert_eq!(values(&set).len(), 3);
        assert_eq!(stub.count(), 1);
    })
    .await;
}
