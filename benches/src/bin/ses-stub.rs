//! A loopback SES stand-in for the client loops: answers every well-formed `VerifyDomainDkim`
//! call with the real success XML (the moto fixture), counts the calls, and refuses malformed
//! ones with 400, so that a broken client cannot look fast.
//!
//! ```text
//! ses-stub [--port P] [--max-requests N] [--check-signatures]
//! ```
//!
//! It listens on 127.0.0.1 only (port 0, the default, picks a free one), prints
//! `listening on http://127.0.0.1:PORT`, and serves HTTP/1.1 keep-alive connections, one thread
//! each. A request is refused unless it is `POST /` with a `host`, an `x-amz-date` of the form
//! `YYYYMMDDTHHMMSSZ`, a SigV4 `authorization` whose scope ends in `/ses/aws4_request` and the
//! body `Action=VerifyDomainDkim&Version=2010-12-01&Domain=<domain>`. With
//! `--check-signatures` it also signs each request again with aws-sigv4 for the benches' fake
//! credentials and refuses any signature that differs (slower; for checking, not timing).
//!
//! On SIGTERM, ctrl-c or after `--max-requests` answers it prints
//! `STUB requests=N ok=N rejected=N` and exits.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use ses_dkim_benches::harness::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

const SUCCESS_XML: &str = include_str!(
    "../../../crates/ses-dkim-core/tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml"
);

/// The body every call must start with; the domain follows.
const BODY_PREFIX: &str = "Action=VerifyDomainDkim&Version=2010-12-01&Domain=";

/// The largest request head or body the stub reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

struct Options {
    port: u16,
    max_requests: Option<u64>,
    check_signatures: bool,
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    rejected: AtomicU64,
}

impl Counts {
    fn line(&self) -> String {
        let ok = self.ok.load(Ordering::Relaxed);
        let rejected = self.rejected.load(Ordering::Relaxed);
        format!(
            "STUB requests={} ok={ok} rejected={rejected}",
            ok + rejected
        )
    }
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            let _ = writeln!(
                io::stderr(),
                "ses-stub: {message}\nusage: ses-stub [--port P] [--max-requests N] \
                 [--check-signatures]"
            );
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", options.port)) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = writeln!(io::stderr(), "ses-stub: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "listening on http://127.0.0.1:{port}");
        let _ = out.flush();
    }

    let counts = Arc::new(Counts::default());
    let (stop, stopped) = mpsc::channel::<()>();
    spawn_signal_watcher(stop.clone());
    let config = Arc::new(options);
    {
        let counts = Arc::clone(&counts);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counts, config, stop) =
                    (Arc::clone(&counts), Arc::clone(&config), stop.clone());
                thread::spawn(move || serve(stream, &counts, &config, &stop));
            }
        });
    }

    let _ = stopped.recv();
    let _ = writeln!(io::stdout(), "{}", counts.line());
    ExitCode::SUCCESS
}

fn parse_options(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        max_requests: None,
        check_signatures: false,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--check-signatures" => options.check_signatures = true,
            "--port" | "--max-requests" => {
                let value = args.next().ok_or(format!("{flag} needs a value"))?;
                let bad = |_| format!("{flag} wants a number, not {value:?}");
                if flag == "--port" {
                    options.port = value.parse().map_err(bad)?;
                } else {
                    options.max_requests = Some(value.parse().map_err(bad)?);
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// Sends on `stop` at SIGTERM or SIGINT.
fn spawn_signal_watcher(stop: mpsc::Sender<()>) {
    thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        let _ = stop.send(());
    });
}

/// Serves one keep-alive connection until the peer closes it or sends something unreadable.
fn serve(stream: TcpStream, counts: &Counts, options: &Options, stop: &mpsc::Sender<()>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let ok_response = response(200, SUCCESS_XML);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let verdict = check(&request, options.check_signatures);
        let sent = match &verdict {
            Ok(()) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                writer.write_all(&ok_response)
            }
            Err(reason) => {
                counts.rejected.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\"><Error>\
                     <Type>Sender</Type><Code>MalformedRequest</Code><Message>{reason}</Message>\
                     </Error><RequestId>ses-stub</RequestId></ErrorResponse>"
                );
                writer.write_all(&response(400, &body))
            }
        };
        let served = counts.ok.load(Ordering::Relaxed) + counts.rejected.load(Ordering::Relaxed);
        if options.max_requests.is_some_and(|max| served >= max) {
            let _ = stop.send(());
        }
        if sent.is_err() || request.close {
            return;
        }
    }
}

/// One request as read off the wire.
struct Request {
    method: String,
    target: String,
    /// Lower-cased names with their values, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request; `None` when the peer closed the connection between requests.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let (method, target) = (method.to_owned(), target.to_owned());

    let mut headers = Vec::new();
    let mut head_bytes = line.len();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        head_bytes += read;
        if read == 0 || head_bytes > MAX_REQUEST_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad request head",
            ));
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }

    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
        close: false,
    };
    request.close = request
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let length: usize = match request.header("content-length") {
        Some(value) => value
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?,
        None => 0,
    };
    if length > MAX_REQUEST_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    request.body.resize(length, 0);
    reader.read_exact(&mut request.body)?;
    Ok(Some(request))
}

/// Says why a request is not a well-formed signed `VerifyDomainDkim` call, if it is not.
fn check(request: &Request, check_signature: bool) -> Result<(), String> {
    if request.method != "POST" || request.target != "/" {
        return Err(format!(
            "expected POST /, got {} {}",
            request.method, request.target
        ));
    }
    let host = request.header("host").ok_or("no host header")?;
    let date = request.header("x-amz-date").ok_or("no x-amz-date header")?;
    let time = parse_amz_date(date).ok_or("x-amz-date is not YYYYMMDDTHHMMSSZ")?;
    let authorization = request
        .header("authorization")
        .ok_or("no authorization header")?;
    let scope_ok = authorization.starts_with("AWS4-HMAC-SHA256 Credential=")
        && authorization.contains(&format!("/{}/", date.get(..8).unwrap_or_default()))
        && authorization.contains("/ses/aws4_request, SignedHeaders=")
        && authorization.contains(", Signature=");
    if !scope_ok {
        return Err("the authorization is not SigV4 for ses".to_owned());
    }
    let body = std::str::from_utf8(&request.body).map_err(|_| "the body is not UTF-8")?;
    let domain = body
        .strip_prefix(BODY_PREFIX)
        .ok_or("the body is not a VerifyDomainDkim call")?;
    if domain.is_empty() || domain.contains('&') {
        return Err("the body names no single domain".to_owned());
    }
    if check_signature {
        let expected = signature_for(request, host, time)?;
        if expected != authorization {
            return Err("the signature does not match".to_owned());
        }
    }
    Ok(())
}

/// Signs the request again with aws-sigv4's general signer, as SES would check it, and returns
/// the `authorization` value it computes.
fn signature_for(request: &Request, host: &str, time: SystemTime) -> Result<String, String> {
    let region = request
        .header("authorization")
        .and_then(|a| a.split('/').nth(2))
        .ok_or("no region in the scope")?;
    let identity: Identity = aws_credential_types::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        request.header("x-amz-security-token").map(str::to_owned),
        None,
        "ses-stub",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("ses")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    // The headers the client says it signed, less those the signer adds itself.
    let listed = request
        .header("authorization")
        .and_then(|a| a.split("SignedHeaders=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .ok_or("no SignedHeaders")?;
    let signed: Vec<(&str, &str)> = request
        .headers
        .iter()
        .filter(|(name, _)| {
            listed.split(';').any(|n| n == name)
                && !matches!(name.as_str(), "x-amz-date" | "x-amz-security-token")
        })
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        signed.into_iter(),
        SignableBody::Bytes(&request.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions
        .headers()
        .find(|(name, _)| *name == "authorization")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| "aws-sigv4 gave no authorization".to_owned())
}

/// Reads `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(date: &str) -> Option<SystemTime> {
    let bytes = date.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| date.get(range)?.parse::<u64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let m = (month + 9) % 12;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// A whole HTTP/1.1 response with an XML body, as SES sends it.
fn response(status: u16, body: &str) -> Vec<u8> {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nx-amzn-requestid: ses-stub\r\ncontent-type: text/xml\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse() {
        assert_eq!(
            parse_amz_date("20240101T000000Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_704_067_200))
        );
        assert_eq!(
            parse_amz_date("20240229T235959Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
        );
        assert_eq!(parse_amz_date("2024-01-01T00:00:00Z"), None);
    }
}
