//! A scripted HTTP/1.1 stand-in for the SES endpoint, for the client's fault tests.
//!
//! The stub listens on `127.0.0.1` only, keeps connections alive, records every request it
//! reads and how many were in flight at once, and asks a script what to do with each one: answer
//! (after an optional delay), hang without answering, or drop the connection. A request that a
//! correctly working client would never send (unsigned, undated, or with another body) is refused
//! with a 400 before the script sees it, so a broken client cannot pass by accident.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ses_dkim_client::{SesClient, Settings};
use ses_dkim_core::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The three tokens of the field cases file.
pub(crate) const T1: &str = "abcdefghijklmnopqrstuvwxyz234567";
pub(crate) const T2: &str = "bcdefghijklmnopqrstuvwxyz234567a";
pub(crate) const T3: &str = "cdefghijklmnopqrstuvwxyz234567ab";

/// The request id the stub's own answers carry in their bodies.
pub(crate) const BODY_REQUEST_ID: &str = "00000000-0000-4000-8000-00000000b0d7";

/// The longest any scenario may run.
pub(crate) const SCENARIO_LIMIT: Duration = Duration::from_secs(30);

/// The most requests a stub answers from its script; later ones get a 400.
const MAX_REQUESTS: usize = 64;

/// The largest request head or body the stub reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What every `VerifyDomainDkim` body starts with.
const BODY_PREFIX: &[u8] = b"Action=VerifyDomainDkim&Version=2010-12-01&Domain=";

/// What every SigV4 `Authorization` header starts with.
const AUTHORIZATION_PREFIX: &str = "AWS4-HMAC-SHA256 Credential=";

/// moto 5.2.5's answer to a request it cannot handle (from the fixtures' parse vectors).
pub(crate) const MOTO_HTML_500: &str = "<!doctype html>\n<html lang=en>\n\
    <title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n\
    <p>The server encountered an internal error and was unable to complete your request.</p>\n";

/// A real SES `SignatureDoesNotMatch` body, as quoted in a public bug report.
pub(crate) const SIGNATURE_DOES_NOT_MATCH: &str = concat!(
    "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\n",
    "  <Error>\n",
    "    <Type>Sender</Type>\n",
    "    <Code>SignatureDoesNotMatch</Code>\n",
    "    <Message>The request signature we calculated does not match the signature you ",
    "provided. Check your AWS Secret Access Key and signing method. Consult the service ",
    "documentation for details.</Message>\n",
    "  </Error>\n",
    "  <RequestId>c1774ff6-4120-42f2-a68e-5c3d91b1ee92</RequestId>\n",
    "</ErrorResponse>\n",
);

/// Runs one scenario, failing the test if it takes longer than [`SCENARIO_LIMIT`].
pub(crate) async fn bounded<F: Future>(scenario: F) -> F::Output {
    match tokio::time::timeout(SCENARIO_LIMIT, scenario).await {
        Ok(output) => output,
        Err(_) => panic!("the scenario did not finish within {SCENARIO_LIMIT:?}"),
    }
}

/// Settings pointing at `stub`, with everything the environment could change set explicitly.
///
/// Region, endpoint and credentials are the ones the brief fixes; FIPS, dual-stack and the
/// attempt count are pinned too, because `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`
/// and `AWS_MAX_ATTEMPTS` (or the profile's keys) would otherwise apply. Three attempts is the
/// default. The rate is high so that only pacing tests are paced; backoff is short.
#[expect(
    clippy::field_reassign_with_default,
    reason = "Settings is #[non_exhaustive]: a struct literal does not compile outside its crate"
)]
pub(crate) fn settings(stub: &Stub) -> Settings {
    let mut settings = Settings::default();
    settings.region = Some("us-east-1".into());
    settings.endpoint_url = Some(stub.url());
    settings.credentials = Some(Credentials::new("AKIDSTUB", "stub-secret", None));
    settings.use_fips = Some(false);
    settings.use_dual_stack = Some(false);
    settings.max_attempts = Some(3);
    settings.rate = 1000.0;
    settings.initial_backoff = Duration::from_millis(10);
    settings.max_backoff = Duration::from_millis(50);
    settings.connect_timeout = Duration::from_secs(2);
    settings.attempt_timeout = Duration::from_secs(5);
    settings
}

/// Builds a client, failing the test on a configuration error.
pub(crate) async fn client(settings: Settings) -> SesClient {
    match SesClient::from_settings(settings).await {
        Ok(client) => client,
        Err(e) => panic!("cannot build the client: {e}"),
    }
}

/// What the stub does with one well-formed request.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Answer, after the reply's delay.
    Reply(Reply),
    /// Never answer; keep the connection open until the client drops it.
    Hang,
    /// Close the connection without answering (a FIN).
    Close,
    /// Reset the connection without answering (an RST).
    Reset,
}

/// One canned HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    /// Send the body with chunked transfer coding in this many pieces, each flushed and a moment
    /// apart, so that the client reads them as separate frames; `None` sends it whole.
    chunks: Option<usize>,
}

impl Reply {
    /// An answer with a status and a body, and no header but `content-length`.
    pub(crate) fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            chunks: None,
        }
    }

    /// Sends the body in `pieces` chunks, each flushed and a moment apart.
    pub(crate) fn in_chunks(mut self, pieces: usize) -> Self {
        self.chunks = Some(pieces.max(1));
        self
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits this long before answering.
    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Makes the reply an [`Action`].
    pub(crate) fn action(self) -> Action {
        Action::Reply(self)
    }
}

/// A `VerifyDomainDkimResponse` body with these tokens, without `ResponseMetadata`.
pub(crate) fn success_body(tokens: &[&str], request_id: Option<&str>) -> String {
    let members: String = tokens
        .iter()
        .map(|t| format!("\n      <member>{t}</member>"))
        .collect();
    let metadata = request_id
        .map(|id| {
            format!(
                "\n  <ResponseMetadata>\n    <RequestId>{id}</RequestId>\n  </ResponseMetadata>"
            )
        })
        .unwrap_or_default();
    format!(
        "<VerifyDomainDkimResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\n  \
         <VerifyDomainDkimResult>\n    <DkimTokens>{members}\n    </DkimTokens>\n  \
         </VerifyDomainDkimResult>{metadata}\n</VerifyDomainDkimResponse>\n"
    )
}

/// An `ErrorResponse` body, with a `RequestId` when given.
pub(crate) fn error_body(code: &str, message: &str, request_id: Option<&str>) -> String {
    let id = request_id
        .map(|id| format!("\n  <RequestId>{id}</RequestId>"))
        .unwrap_or_default();
    format!(
        "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\n  <Error>\n    \
         <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  \
         </Error>{id}\n</ErrorResponse>\n"
    )
}

/// `OK(tokens)`: a 200 with the tokens and a request id in the body.
pub(crate) fn ok(tokens: &[&str]) -> Action {
    Reply::new(200, success_body(tokens, Some(BODY_REQUEST_ID)))
        .header("content-type", "text/xml")
        .action()
}

/// `ERR(status, code, message)`: an `ErrorResponse` with a request id in the body.
pub(crate) fn err(status: u16, code: &str, message: &str) -> Action {
    Reply::new(status, error_body(code, message, Some(BODY_REQUEST_ID)))
        .header("content-type", "text/xml")
        .action()
}

/// One request as the stub read it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// When the whole request (head and body) had been read.
    pub(crate) arrived: Instant,
    /// Which accepted connection it came on, counting from 0.
    pub(crate) connection: usize,
    /// The request method.
    pub(crate) method: String,
    /// The request target.
    pub(crate) path: String,
    /// The headers, names in lower case, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
    /// Why the stub refused the request, if it did.
    pub(crate) refused: Option<String>,
}

impl Seen {
    /// Returns the first value of a header, by its lower-case name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns the `SignedHeaders` list of the `Authorization` header.
    pub(crate) fn signed_headers(&self) -> Vec<&str> {
        let authorization = self.header("authorization").unwrap_or_default();
        authorization
            .split(", ")
            .find_map(|part| part.strip_prefix("SignedHeaders="))
            .map(|list| list.split(';').collect())
            .unwrap_or_default()
    }

    /// Returns the `Credential=` scope of the `Authorization` header.
    pub(crate) fn credential(&self) -> &str {
        let authorization = self.header("authorization").unwrap_or_default();
        authorization
            .strip_prefix(AUTHORIZATION_PREFIX)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_default()
    }

    /// Returns the form-encoded domain the body asks about.
    pub(crate) fn domain(&self) -> &str {
        let rest = self.body.strip_prefix(BODY_PREFIX).unwrap_or_default();
        std::str::from_utf8(rest).unwrap_or_default()
    }
}

/// A running stub; it stops accepting when dropped.
pub(crate) struct Stub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

type Script = Box<dyn FnMut(&Seen) -> Action + Send>;

struct Shared {
    script: Mutex<Script>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    connections: AtomicUsize,
}

impl Stub {
    /// Starts a stub that plays `actions` in order, one per well-formed request, and refuses
    /// every request after the last with a 400.
    pub(crate) async fn scripted(actions: impl IntoIterator<Item = Action>) -> Self {
        let mut queue: VecDeque<Action> = actions.into_iter().collect();
        Self::start(move |_| {
            queue
                .pop_front()
                .unwrap_or_else(|| err(400, "StubScriptExhausted", "the stub has no more answers"))
        })
        .await
    }

    /// Starts a stub that asks `script` what to do with each well-formed request.
    pub(crate) async fn start(script: impl FnMut(&Seen) -> Action + Send + 'static) -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind the stub to 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("the stub has no local address: {e}"),
        };
        let shared = Arc::new(Shared {
            script: Mutex::new(Box::new(script)),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Self {
            addr,
            shared,
            accept,
        }
    }

    /// Returns the endpoint URL to give the client.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns every request read so far, in order.
    pub(crate) fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// Returns the number of requests read so far.
    pub(crate) fn count(&self) -> usize {
        lock(&self.shared.seen).len()
    }

    /// Returns the most requests that were ever in flight at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Returns the number of connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Fails the test if any request was refused as malformed.
    pub(crate) fn assert_well_formed(&self) {
        for (i, seen) in self.requests().iter().enumerate() {
            if let Some(reason) = &seen.refused {
                panic!("request {i} was refused by the stub: {reason}");
            }
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Sends raw bytes on a new connection and returns everything read back until the stub closes
/// it; send `connection: close`.
pub(crate) async fn raw_exchange(stub: &Stub, request: &[u8]) -> String {
    let mut socket = match TcpStream::connect(stub.addr).await {
        Ok(socket) => socket,
        Err(e) => panic!("cannot connect to the stub: {e}"),
    };
    let mut answer = Vec::new();
    let exchanged = async {
        socket.write_all(request).await?;
        socket.read_to_end(&mut answer).await
    };
    if let Err(e) = exchanged.await {
        panic!("raw exchange failed: {e}");
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((socket, _)) = listener.accept().await {
        let connection = shared.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve(socket, connection, Arc::clone(&shared)));
    }
}

/// Counts one request in flight until dropped.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one connection: read a request, act, and loop while the connection stays usable.
async fn serve(mut socket: TcpStream, connection: usize, shared: Arc<Shared>) {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let Some(request) = read_request(&mut socket, &mut buffer, connection).await else {
            return;
        };
        let _in_flight = InFlight::enter(&shared);
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let action = decide(&shared, request);
        match action {
            Action::Reply(reply) => {
                tokio::time::sleep(reply.delay).await;
                if write_reply(&mut socket, &reply).await.is_err() || close {
                    return;
                }
            }
            Action::Hang => {
                drain_until_closed(&mut socket).await;
                return;
            }
            Action::Close => return,
            Action::Reset => {
                reset(&socket);
                return;
            }
        }
    }
}

/// Records the request and picks the action: a refusal, the request limit, or the script's.
fn decide(shared: &Shared, request: Seen) -> Action {
    let refused = request.refused.clone();
    let count = {
        let mut seen = lock(&shared.seen);
        seen.push(request.clone());
        seen.len()
    };
    if let Some(reason) = refused {
        return err(400, "StubRefusedMalformedRequest", &reason);
    }
    if count > MAX_REQUESTS {
        return err(
            400,
            "StubRequestLimit",
            "the stub answers at most 64 requests",
        );
    }
    (lock(&shared.script))(&request)
}

/// Reads one request; `None` on a closed connection or a request that cannot be framed.
async fn read_request(
    socket: &mut TcpStream,
    buffer: &mut Vec<u8>,
    connection: usize,
) -> Option<Seen> {
    let head_len = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > MAX_REQUEST_BYTES || !fill(socket, buffer).await {
            return None;
        }
    };

    let head = String::from_utf8_lossy(&buffer[..head_len]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();

    // Only `content-length` framing: the client always sends a complete, sized body.
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if header("transfer-encoding").is_some() {
        return None;
    }
    let body_len = match header("content-length") {
        Some(value) => value.parse::<usize>().ok()?,
        None => 0,
    };
    if body_len > MAX_REQUEST_BYTES {
        return None;
    }
    while buffer.len() < head_len + body_len {
        if !fill(socket, buffer).await {
            return None;
        }
    }
    let arrived = Instant::now();
    let body = buffer[head_len..head_len + body_len].to_vec();
    buffer.drain(..head_len + body_len);

    let mut seen = Seen {
        arrived,
        connection,
        method,
        path,
        headers,
        body,
        refused: None,
    };
    seen.refused = refusal(&seen);
    Some(seen)
}

/// Says why a request is not one a working client sends, if it is not.
fn refusal(seen: &Seen) -> Option<String> {
    if seen.method != "POST" || seen.path != "/" {
        return Some(format!(
            "expected POST /, got {} {}",
            seen.method, seen.path
        ));
    }
    if seen.header("content-length").is_none() {
        return Some("no content-length".into());
    }
    let signed = seen
        .header("authorization")
        .is_some_and(|v| v.starts_with(AUTHORIZATION_PREFIX));
    if !signed {
        return Some("no SigV4 authorization header".into());
    }
    if seen.header("x-amz-date").is_none() {
        return Some("no x-amz-date header".into());
    }
    if !seen.body.starts_with(BODY_PREFIX) {
        return Some(format!(
            "the body is not a VerifyDomainDkim request: {}",
            String::from_utf8_lossy(&seen.body)
        ));
    }
    None
}

/// Reads more bytes into `buffer`; `false` at the end of the stream or on an error.
async fn fill(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Reads and discards until the peer closes, so that a hung request ends with the client.
async fn drain_until_closed(socket: &mut TcpStream) {
    let mut sink = Vec::new();
    while fill(socket, &mut sink).await {
        sink.clear();
    }
}

#[expect(
    deprecated,
    reason = "a zero linger makes close send an RST at once; it never blocks the thread"
)]
fn reset(socket: &TcpStream) {
    let _ = socket.set_linger(Some(Duration::ZERO));
}

async fn write_reply(socket: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let reason = http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", reply.status);
    for (name, value) in &reply.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let Some(pieces) = reply.chunks else {
        let _ = write!(head, "content-length: {}\r\n\r\n", reply.body.len());
        socket.write_all(head.as_bytes()).await?;
        socket.write_all(&reply.body).await?;
        return socket.flush().await;
    };
    head.push_str("transfer-encoding: chunked\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    for piece in reply.body.chunks(reply.body.len().div_ceil(pieces).max(1)) {
        socket
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await?;
        socket.write_all(piece).await?;
        socket.write_all(b"\r\n").await?;
        socket.flush().await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    socket.write_all(b"0\r\n\r\n").await?;
    socket.flush().await
}
