//! The floor: the client loop with no client, writing one request signed ahead of time as
//! pre-built bytes over a blocking keep-alive socket and reading the answer.
//!
//! Same flags and `RESULT` line as `client-loop` (with `--concurrency 1` only); each answer is
//! checked for the status and for the fixture's exact bytes, which hold the expected tokens.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::SystemTime;

use ses_dkim_benches::harness::{self, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};
use ses_dkim_core::{Credentials, Domain, Endpoint, Region, request, sign};

const SUCCESS_XML: &str = include_str!(
    "../../../crates/ses-dkim-core/tests/data/responses/verify-domain-dkim.response.moto-5.2.5.xml"
);

fn main() -> ExitCode {
    harness::main("raw-loop", |args| async move {
        if args.concurrency != 1 {
            return Err("raw-loop runs one caller only".to_owned());
        }
        let endpoint = Endpoint::parse(&args.endpoint).map_err(|e| e.to_string())?;
        let wire = signed_bytes(&endpoint, &args.domain)?;
        let stream = TcpStream::connect((endpoint.host(), endpoint.port()))
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let connection = RefCell::new((writer, BufReader::new(stream), Vec::new()));
        harness::run(&args, async move || {
            let (writer, reader, body) = &mut *connection.borrow_mut();
            exchange(writer, reader, body, &wire)
        })
        .await
    })
}

/// Builds and signs the one request, then lays it out as HTTP/1.1 bytes.
fn signed_bytes(endpoint: &Endpoint, domain: &str) -> Result<Vec<u8>, String> {
    let domain = Domain::parse(domain).map_err(|e| e.to_string())?;
    let region = Region::parse(REGION).map_err(|e| e.to_string())?;
    let mut http_request = request::verify_domain_dkim(endpoint, &domain);
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None);
    sign(&mut http_request, &credentials, &region, SystemTime::now()).map_err(|e| e.to_string())?;

    let mut wire = b"POST / HTTP/1.1\r\n".to_vec();
    for (name, value) in http_request.headers() {
        wire.extend_from_slice(name.as_str().as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    let length = format!("content-length: {}\r\n\r\n", http_request.body().len());
    wire.extend_from_slice(length.as_bytes());
    wire.extend_from_slice(http_request.body());
    Ok(wire)
}

/// Writes the request and reads one answer into `body`, checking its status and tokens.
fn exchange(
    writer: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    wire: &[u8],
) -> Result<(), String> {
    writer.write_all(wire).map_err(|e| e.to_string())?;
    let mut length = None;
    let mut first = true;
    loop {
        let head = reader.fill_buf().map_err(|e| e.to_string())?;
        let Some(end) = head.iter().position(|&b| b == b'\n') else {
            return Err("the answer's head is cut short".to_owned());
        };
        let line = head.get(..end).unwrap_or_default().trim_ascii();
        if first && !line.starts_with(b"HTTP/1.1 200 ") {
            return Err(format!("answer {:?}", String::from_utf8_lossy(line)));
        }
        first = false;
        let done = line.is_empty();
        if let Some(value) = line
            .strip_prefix(b"content-length:")
            .and_then(|v| std::str::from_utf8(v).ok())
        {
            length = value.trim().parse::<usize>().ok();
        }
        reader.consume(end + 1);
        if done {
            break;
        }
    }
    let length = length.ok_or("no content-length")?;
    body.resize(length, 0);
    reader.read_exact(body).map_err(|e| e.to_string())?;
    // The stub answers the fixture whose tokens are the expected ones, byte for byte.
    if body.as_slice() != SUCCESS_XML.as_bytes() {
        return Err(format!("answer {:?}", String::from_utf8_lossy(body)));
    }
    Ok(())
}
