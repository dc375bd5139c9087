//! Criterion benchmarks of the core, one group per API: signing, response parsing, rendering
//! and domain parsing.
//!
//! Every measured closure checks its result, so a benchmark of a call that started failing
//! fails instead of timing the error path.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ses_dkim_core::{
    Credentials, DkimRecordSet, DkimZone, Domain, Endpoint, EndpointVariant, ErrorKind,
    OutputFormat, Region, RenderOptions, Renderer, Signer, parse_get_identity_dkim_attributes,
    parse_verify_domain_dkim, request, sign,
};

const MOTO_SUCCESS: &str = include_str!(
    "../../crates/ses-dkim-core/tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml"
);
const SES_THROTTLING: &str =
    include_str!("../../crates/ses-dkim-core/tests/data/responses/error.throttling.ses-real.xml");

/// 2024-01-01T00:00:00Z: a fixed time keeps every iteration's work identical.
fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

fn sign_request(c: &mut Criterion) {
    let region = Region::parse("us-east-1").unwrap();
    let endpoint = Endpoint::for_region(&region, EndpointVariant::Standard).unwrap();
    let domain = Domain::parse("example.com").unwrap();
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    );
    let time = fixed_time();

    let mut group = c.benchmark_group("sign");
    group.bench_function("verify_domain_dkim", |b| {
        b.iter(|| {
            let mut request = request::verify_domain_dkim(black_box(&endpoint), black_box(&domain));
            sign(
                &mut request,
                black_box(&credentials),
                &region,
                black_box(time),
            )
            .unwrap();
            assert!(request.headers().contains_key("authorization"));
            request
        });
    });
    // What a client pays per call: the signer keeps the day's signing key.
    let mut signer = Signer::new();
    group.bench_function("verify_domain_dkim_kept_key", |b| {
        b.iter(|| {
            let mut request = request::verify_domain_dkim(black_box(&endpoint), black_box(&domain));
            signer
                .sign(
                    &mut request,
                    black_box(&credentials),
                    &region,
                    black_box(time),
                )
                .unwrap();
            assert!(request.headers().contains_key("authorization"));
            request
        });
    });
    group.finish();
}

fn parse_response(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("success_moto", |b| {
        b.iter(|| {
            let output = parse_verify_domain_dkim(200, black_box(MOTO_SUCCESS.as_bytes())).unwrap();
            assert_eq!(output.tokens.len(), 3);
            output
        });
    });
    group.bench_function("error_throttling_ses", |b| {
        b.iter(|| {
            let error =
                parse_verify_domain_dkim(400, black_box(SES_THROTTLING.as_bytes())).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Throttling);
            error
        });
    });
    group.finish();
}

/// A `GetIdentityDkimAttributes` answer for 100 domains, each with three tokens.
fn status_response_for_100() -> String {
    let entries: String = (0..100)
        .map(|i| {
            format!(
                "<entry><key>d{i}.example.com</key><value><DkimEnabled>true</DkimEnabled>\
                 <DkimVerificationStatus>Pending</DkimVerificationStatus><DkimTokens>\
                 <member>abcdefghijklmnopqrstuvwxyz23456{0}</member>\
                 <member>bcdefghijklmnopqrstuvwxyz234567{0}</member>\
                 <member>cdefghijklmnopqrstuvwxyz234567a{0}</member>\
                 </DkimTokens></value></entry>",
                i % 10
            )
        })
        .collect();
    format!(
        "<GetIdentityDkimAttributesResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\
         <GetIdentityDkimAttributesResult><DkimAttributes>{entries}</DkimAttributes>\
         </GetIdentityDkimAttributesResult><ResponseMetadata><RequestId>r</RequestId>\
         </ResponseMetadata></GetIdentityDkimAttributesResponse>"
    )
}

fn parse_status(c: &mut Criterion) {
    let body = status_response_for_100();
    c.benchmark_group("parse")
        .bench_function("status_100_identities", |b| {
            b.iter(|| {
                let output = parse_get_identity_dkim_attributes(200, black_box(body.as_bytes()))
                    .expect("the status response parses");
                assert_eq!(output.attributes.len(), 100);
                output
            })
        });
}

fn render(c: &mut Criterion) {
    let region = Region::parse("us-east-1").unwrap();
    let zone = DkimZone::for_region(&region).unwrap();
    let output = parse_verify_domain_dkim(200, MOTO_SUCCESS.as_bytes()).unwrap();
    let set = DkimRecordSet::new(
        Domain::parse("example.com").unwrap(),
        region,
        &zone,
        output.tokens,
        output.request_id,
    )
    .unwrap();
    let last_value = set.records[2].value().to_owned();

    let mut group = c.benchmark_group("render");
    for format in OutputFormat::ALL {
        group.bench_function(format.as_str(), |b| {
            b.iter(|| {
                let out = Renderer::render_all(
                    black_box(format),
                    RenderOptions::default(),
                    [black_box(&set)],
                )
                .unwrap();
                assert!(out.contains(&last_value));
                out
            });
        });
    }
    group.finish();
}

/// Building one domain's records from its three tokens, as every verified domain does.
fn build_records(c: &mut Criterion) {
    let region = Region::parse("us-east-1").unwrap();
    let zone = DkimZone::for_region(&region).unwrap();
    let domain = Domain::parse("example.com").unwrap();
    let output = parse_verify_domain_dkim(200, MOTO_SUCCESS.as_bytes()).unwrap();

    c.benchmark_group("records").bench_function("build", |b| {
        b.iter_batched(
            || output.tokens.clone(),
            |tokens| {
                let set = DkimRecordSet::new(
                    black_box(domain.clone()),
                    region.clone(),
                    black_box(&zone),
                    tokens,
                    None,
                )
                .unwrap();
                assert_eq!(set.records.len(), 3);
                set
            },
            BatchSize::SmallInput,
        );
    });
}

fn parse_domain(c: &mut Criterion) {
    let mut group = c.benchmark_group("domain");
    for (id, input, expected) in [
        ("ascii", "Mail.Example.COM.", "mail.example.com"),
        ("idn", "bücher.example", "xn--bcher-kva.example"),
    ] {
        group.bench_function(id, |b| {
            b.iter(|| {
                let domain = Domain::parse(black_box(input)).unwrap();
                assert_eq!(domain.as_str(), expected);
                domain
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    sign_request,
    parse_response,
    parse_status,
    render,
    build_records,
    parse_domain
);
criterion_main!(benches);
