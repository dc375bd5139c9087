//! A tiny HTTP stand-in on 127.0.0.1 for what moto cannot do: SES answers scripted per request,
//! exact arrival times and a record of every request; also the container and instance-metadata
//! credential endpoints, which moto does not serve as aws-config expects them.
//!
//! It speaks just enough HTTP/1.1 (keep-alive, `content-length` bodies) for the clients under
//! test, one thread per connection.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct StubRequest {
    /// When its head arrived.
    pub arrived: Instant,
    /// The request line's method.
    pub method: String,
    /// The request line's target, such as `/`.
    pub path: String,
    /// Lower-cased header names with their values.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl StubRequest {
    /// Returns the first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns the decoded value of a form parameter of the body, such as `Domain`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.body.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| decode(value))
        })
    }
}

/// What the stub answers.
#[derive(Debug, Clone)]
pub struct StubResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Header lines sent besides `content-length` (and a `content-type` of `text/xml` and an
    /// `x-amzn-requestid`, unless given here).
    pub headers: Vec<(String, String)>,
}

impl StubResponse {
    /// An answer with this status and body.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header line.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// A `VerifyDomainDkimResponse` with these tokens.
    pub fn tokens(tokens: &[&str]) -> Self {
        let members: String = tokens
            .iter()
            .map(|t| format!("<member>{t}</member>"))
            .collect();
        Self::new(
            200,
            format!(
                "<VerifyDomainDkimResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\
                 <VerifyDomainDkimResult><DkimTokens>{members}</DkimTokens>\
                 </VerifyDomainDkimResult><ResponseMetadata><RequestId>stub-request</RequestId>\
                 </ResponseMetadata></VerifyDomainDkimResponse>"
            ),
        )
    }

    /// An `ErrorResponse` with a code and a message.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::new(
            status,
            format!(
                "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\"><Error>\
                 <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>stub-error</RequestId></ErrorResponse>"
            ),
        )
    }
}

/// The three tokens the stub gives every domain by default.
pub const STUB_TOKENS: [&str; 3] = [
    "abcdefghijklmnopqrstuvwxyz234567",
    "bcdefghijklmnopqrstuvwxyz234567a",
    "cdefghijklmnopqrstuvwxyz234567ab",
];

type Responder = dyn Fn(&StubRequest, &[StubRequest]) -> StubResponse + Send + Sync;

/// A running stub; stops accepting when dropped.
pub struct Stub {
    port: u16,
    requests: Arc<Mutex<Vec<StubRequest>>>,
    stop: Arc<AtomicBool>,
}

impl Stub {
    /// Starts a stub that answers every request with [`STUB_TOKENS`].
    ///
    /// # Errors
    ///
    /// Fails when no loopback port can be bound.
    pub fn start() -> io::Result<Self> {
        Self::with(|_, _| StubResponse::tokens(&STUB_TOKENS))
    }

    /// Starts a stub whose answer `respond` picks from the request and the ones before it.
    ///
    /// # Errors
    ///
    /// Fails when no loopback port can be bound.
    pub fn with(
        respond: impl Fn(&StubRequest, &[StubRequest]) -> StubResponse + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Responder> = Arc::new(respond);

        let (seen, halt) = (Arc::clone(&requests), Arc::clone(&stop));
        thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, respond) = (Arc::clone(&seen), Arc::clone(&respond));
                        thread::spawn(move || serve(stream, &seen, respond.as_ref()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Self {
            port,
            requests,
            stop,
        })
    }

    /// Returns the stub's URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Returns every request answered so far, in arrival order (a request is recorded once its
    /// answer is chosen, after `respond` returns).
    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<StubRequest>>, respond: &Responder) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let response = {
            let mut all = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let response = respond(&request, &all);
            all.push(request);
            response
        };
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            response.status,
            response.body.len()
        );
        let defaults = [
            ("content-type", "text/xml"),
            ("x-amzn-requestid", "stub-header"),
        ];
        for (name, value) in defaults {
            if !response.headers.iter().any(|(n, _)| n == name) {
                let _ = write!(head, "{name}: {value}\r\n");
            }
        }
        for (name, value) in &response.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(response.body.as_bytes()).is_err()
        {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<StubRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let arrived = Instant::now();
    let mut words = line.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(StubRequest {
        arrived,
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Decodes a form value (`+` and `%XX`).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = value
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
