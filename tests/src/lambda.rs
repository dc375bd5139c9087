//! cargo-lambda's emulator (`cargo lambda watch`) serving one of the workspace's functions on
//! a loopback port.
//!
//! cargo-lambda is installed in the repository's `.venv` by `scripts/setup-test-env`. The
//! emulator builds the function with cargo in the workspace's own target directory, so a build
//! that `scripts/test` made already is mostly reused; the first invocation still waits for that
//! build, which [`LambdaEmulator::start`] allows for.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::process::ServerProcess;
use crate::{HttpResponse, SETUP_HINT, TempDir, free_port, parse_response};
use crate::{remove_aws_env, repo_root, venv_bin};

/// How long [`LambdaEmulator::start`] waits for the function's first answer: the emulator
/// builds the function first.
pub const LAMBDA_READY_TIMEOUT: Duration = Duration::from_secs(300);

/// How long [`LambdaEmulator::invoke`] waits for an answer.
pub const LAMBDA_INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the emulator may take to listen on its port.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);

/// `cargo lambda watch` running one function; the emulator, the build and the function are
/// killed when this is dropped.
pub struct LambdaEmulator {
    port: u16,
    function: String,
    process: ServerProcess,
}

impl LambdaEmulator {
    /// Starts the emulator on a free port of 127.0.0.1 for the binary `function` of the package
    /// `package`, and waits until the function has answered a first invocation (the payload `{}`).
    ///
    /// The emulator and the function get this process's environment less every `AWS_*`
    /// variable, with the shared AWS config and credentials files pointed at paths that do not
    /// exist and instance metadata disabled, so no real credentials or profile can leak in; then
    /// `env` is applied (the function's region, fake keys, `AWS_ENDPOINT_URL_SES`, ...).
    ///
    /// # Errors
    ///
    /// Fails when cargo-lambda is not installed in `.venv`, when the emulator exits early, or
    /// when the function does not answer within [`LAMBDA_READY_TIMEOUT`]; the error then
    /// carries the tail of the emulator's log.
    pub fn start(package: &str, function: &str, env: &[(&str, &str)]) -> io::Result<Self> {
        let cargo_lambda = venv_bin("cargo-lambda");
        if !cargo_lambda.is_file() {
            return Err(io::Error::other(format!(
                "cargo-lambda is not installed ({} is missing): {SETUP_HINT}",
                cargo_lambda.display()
            )));
        }
        let port = free_port()?;
        let dir = TempDir::new("ses-dkim-lambda")?;

        let mut command = Command::new(&cargo_lambda);
        command
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .args(["--package", package, "--bin", function, "--ignore-changes"])
            .current_dir(repo_root());
        remove_aws_env(&mut command);
        command
            .env("AWS_CONFIG_FILE", dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.path().join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (key, value) in env {
            command.env(key, value);
        }
        // A group of its own, so that dropping kills the build and the function with it.
        let mut process =
            ServerProcess::spawn("cargo lambda watch", dir, "cargo-lambda.log", command, true)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        process.wait_until(LISTEN_TIMEOUT, &format!("listen on port {port}"), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        })?;

        let emulator = Self {
            port,
            function: function.to_owned(),
            process,
        };
        emulator.invoke_within("{}", LAMBDA_READY_TIMEOUT)?;
        Ok(emulator)
    }

    /// Returns the loopback port invocations go to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the last few kilobytes of the emulator's log, which holds the function's output.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Returns the whole log of the emulator so far, the function's output included.
    ///
    /// # Errors
    ///
    /// Fails when the log cannot be read.
    pub fn log(&self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(&fs::read(self.process.log_path())?).into_owned())
    }

    /// Invokes the function with `payload` through the emulator's Lambda API, as
    /// `aws lambda invoke` would, and returns the HTTP answer: 200 with the function's answer,
    /// or an error status with `{"errorType": ..., "errorMessage": ...}`.
    ///
    /// # Errors
    ///
    /// Fails when the emulator does not answer within [`LAMBDA_INVOKE_TIMEOUT`].
    pub fn invoke(&self, payload: &str) -> io::Result<HttpResponse> {
        self.invoke_within(payload, LAMBDA_INVOKE_TIMEOUT)
    }

    /// Sends an HTTP request to the function's URL as the emulator serves it
    /// (`/lambda-url/FUNCTION/` followed by `path`), as `curl` would: the emulator turns it into
    /// a payload-2.0 event and the function's answer back into an HTTP answer.
    ///
    /// `body` is the content type and the body, or `None` for a request without a body.
    ///
    /// # Errors
    ///
    /// Fails when the emulator does not answer within [`LAMBDA_INVOKE_TIMEOUT`].
    pub fn request_url(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> io::Result<HttpResponse> {
        let path = format!(
            "/lambda-url/{}/{}",
            self.function,
            path.trim_start_matches('/')
        );
        send(self.port, method, &path, body, LAMBDA_INVOKE_TIMEOUT).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "{method} {path} failed: {error}; the emulator's log:\n{}",
                    self.log_tail()
                ),
            )
        })
    }

    fn invoke_within(&self, payload: &str, timeout: Duration) -> io::Result<HttpResponse> {
        let path = format!("/2015-03-31/functions/{}/invocations", self.function);
        let body = Some(("application/json", payload));
        send(self.port, "POST", &path, body, timeout).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "invoking {} failed: {error}; the emulator's log:\n{}",
                    self.function,
                    self.log_tail()
                ),
            )
        })
    }
}

impl std::fmt::Debug for LambdaEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaEmulator")
            .field("port", &self.port)
            .field("function", &self.function)
            .field("process", &self.process)
            .finish()
    }
}

/// Sends one request with `Connection: close` and reads the answer to the end of the stream.
///
/// `body` is the content type and the body; without one, no body is sent.
fn send(
    port: u16,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;

    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    match body {
        Some((content_type, body)) => request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => request.push_str("\r\n"),
    }
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}
