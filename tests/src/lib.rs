//! End-to-end test harness: runs the workspace's binaries against a local moto server.
//!
//! Nothing here talks to AWS. [`Moto::start`] runs moto's standalone server (installed in the
//! repository's `.venv` by `scripts/setup-test-env`) on a free loopback port, and [`run`] starts
//! a binary with every `AWS_*` variable removed and `HOME` pointing at an empty directory, so no
//! real credentials or profile can leak into a test.
//!
//! A typical test:
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let moto = ses_dkim_e2e::Moto::start()?;
//! let (key_id, secret) = moto.create_access_key()?;
//! moto.enable_auth()?;
//! let bin = ses_dkim_e2e::binary("ses-dkim")?;
//! let endpoint = moto.endpoint();
//! let run = ses_dkim_e2e::run(
//!     &bin,
//!     &["verify", "-", "--region", "us-east-1", "--endpoint-url", &endpoint],
//!     &[("AWS_ACCESS_KEY_ID", &key_id), ("AWS_SECRET_ACCESS_KEY", &secret)],
//!     Some(b"example.com\n"),
//! )?;
//! assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
//! # Ok(())
//! # }
//! ```

pub mod dns;
pub mod lambda;
mod process;
pub mod stub;

pub use dns::DnsServer;
pub use lambda::LambdaEmulator;

use process::{ServerProcess, Start};

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The role [`Moto::create_session_credentials`] creates, in moto's default account.
pub const TEST_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ses-dkim-test-role";

/// How long [`Moto::start`] waits for moto to answer before giving up.
pub const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`run`] lets a binary run before killing it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The command that installs moto, named in error messages.
const SETUP_HINT: &str = "run scripts/setup-test-env";

/// How many bytes of moto's log an error message or a failing test shows.
const LOG_TAIL_BYTES: usize = 4000;

/// Returns the repository's root directory (the parent of this package's directory).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Returns the path of the executable `name` in the repository's virtual environment.
pub fn venv_bin(name: &str) -> PathBuf {
    repo_root().join(".venv").join("bin").join(name)
}

/// A moto server on a free loopback port, killed when dropped.
///
/// moto keeps its state (identities, IAM users, whether auth is on) in the process, so each test
/// that needs a clean peer starts its own server or calls [`Moto::reset`].
pub struct Moto {
    port: u16,
    tls: bool,
    process: ServerProcess,
}

impl Moto {
    /// Starts `moto_server` on a free port of 127.0.0.1 and waits until it answers.
    ///
    /// # Errors
    ///
    /// Fails when moto is not installed in `.venv`, when it exits early or when it does not
    /// answer within [`MOTO_START_TIMEOUT`]; the error then carries the tail of moto's log.
    pub fn start() -> io::Result<Moto> {
        Moto::launch(None)
    }

    /// Starts `moto_server` serving HTTPS on 127.0.0.1 with the server certificate of `certs`.
    ///
    /// Only [`Moto::endpoint`] (`https://127.0.0.1:PORT`) and the log work on such a server: the
    /// other helpers speak plain HTTP.
    ///
    /// # Errors
    ///
    /// As [`Moto::start`].
    pub fn start_tls(certs: &TestCertificates) -> io::Result<Moto> {
        Moto::launch(Some(certs))
    }

    fn launch(certs: Option<&TestCertificates>) -> io::Result<Moto> {
        let server = venv_bin("moto_server");
        if !server.is_file() {
            return Err(io::Error::other(format!(
                "moto is not installed ({} is missing): {SETUP_HINT}",
                server.display()
            )));
        }
        // The port is free when picked but could be taken before moto binds it: moto then exits
        // at once, and another port is tried.
        process::with_retries("moto_server", || Moto::start_once(&server, certs))
    }

    /// Returns the URL to send AWS requests to, `http://127.0.0.1:PORT` (`https://` for a server
    /// started by [`Moto::start_tls`]).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Returns the loopback port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the path of the file that holds moto's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// Returns the last few kilobytes of moto's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Clears moto's state (identities, IAM users and keys) with `POST /moto-api/reset`.
    ///
    /// Whether auth is on is not state in this sense and stays as it was; access keys made by
    /// [`Moto::create_access_key`] are gone afterwards.
    ///
    /// # Errors
    ///
    /// Fails when moto does not answer 200.
    pub fn reset(&self) -> io::Result<()> {
        self.expect_ok("POST", "/moto-api/reset", None)
    }

    /// Makes moto check the SigV4 signature and IAM policies of every later request.
    ///
    /// Sends `POST /moto-api/reset-auth` with the plain-text body `0`: moto stores it as
    /// `INITIAL_NO_AUTH_ACTION_COUNT` (the number of requests let through unchecked, infinite by
    /// default) and restarts its request count, so the very next request is checked. Signatures
    /// are checked against keys made in moto's own IAM, so call [`Moto::create_access_key`]
    /// first: with auth on, the IAM calls themselves would need a valid key.
    ///
    /// # Errors
    ///
    /// Fails when moto does not answer 200.
    pub fn enable_auth(&self) -> io::Result<()> {
        self.expect_ok("POST", "/moto-api/reset-auth", Some("0"))
    }

    /// Turns signature and policy checks off again, as they are when moto starts.
    ///
    /// # Errors
    ///
    /// Fails when moto does not answer 200.
    pub fn disable_auth(&self) -> io::Result<()> {
        self.expect_ok("POST", "/moto-api/reset-auth", Some("inf"))
    }

    /// Creates an IAM user allowed `ses:*` and returns a new access key id and secret for it.
    ///
    /// Runs `scripts/moto-iam-key.py` with the venv's python. Call it while auth is off.
    ///
    /// # Errors
    ///
    /// Fails when the script cannot run, exits with an error or prints something other than
    /// two words.
    pub fn create_access_key(&self) -> io::Result<(String, String)> {
        let endpoint = self.endpoint();
        let out = venv_script("moto-iam-key.py", &["--endpoint", &endpoint])?;
        let mut words = out.stdout.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(id), Some(secret), None) => Ok((id.to_owned(), secret.to_owned())),
            _ => Err(io::Error::other(format!(
                "moto-iam-key.py printed {:?}, not `ACCESS_KEY_ID SECRET_ACCESS_KEY`",
                out.stdout
            ))),
        }
    }

    /// Returns the SES identities moto holds in `us-east-1`, in the order moto lists them.
    ///
    /// Runs boto3's `ses.list_identities()` with the venv's python and dummy keys, so call it
    /// while auth is off (as it is after [`Moto::start`] or [`Moto::disable_auth`]).
    ///
    /// # Errors
    ///
    /// Fails when the venv's python is missing or the call fails.
    pub fn list_identities(&self) -> io::Result<Vec<String>> {
        let endpoint = self.endpoint();
        let out = venv_python(LIST_IDENTITIES, &[&endpoint], "list_identities")?;
        Ok(out.stdout.lines().map(str::to_owned).collect())
    }

    /// Creates an IAM role allowed `ses:*` ([`TEST_ROLE_ARN`]), assumes it through moto's STS and
    /// returns the temporary access key id, secret and session token.
    ///
    /// moto accepts a session token only with the access key it issued it for: a key made by
    /// [`Moto::create_access_key`] with any `X-Amz-Security-Token`, or a made-up token, is
    /// answered with `InvalidClientTokenId`. Call it while auth is off.
    ///
    /// # Errors
    ///
    /// Fails when the venv's python is missing, the calls fail, or the output is not three
    /// words.
    pub fn create_session_credentials(&self) -> io::Result<(String, String, String)> {
        let endpoint = self.endpoint();
        let out = venv_python(ASSUME_ROLE, &[&endpoint], "assume_role")?;
        let mut words = out.stdout.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some(id), Some(secret), Some(token), None) => {
                Ok((id.to_owned(), secret.to_owned(), token.to_owned()))
            }
            _ => Err(io::Error::other(format!(
                "assume_role printed {:?}, not `ACCESS_KEY_ID SECRET_ACCESS_KEY SESSION_TOKEN`",
                out.stdout
            ))),
        }
    }

    /// Sends one plain HTTP/1.1 request to moto and returns its answer.
    ///
    /// The body, if any, goes with `Content-Type: text/plain` (what the `/moto-api/` calls
    /// need: moto reads nothing from a form-encoded body there).
    ///
    /// # Errors
    ///
    /// Fails when the connection fails or the answer is not HTTP.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> io::Result<HttpResponse> {
        http_request(self.port, method, path, body)
    }

    fn expect_ok(&self, method: &str, path: &str, body: Option<&str>) -> io::Result<()> {
        let response = self.http(method, path, body)?;
        if response.status == 200 {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "moto answered {method} {path} with {}: {}",
            response.status, response.body
        )))
    }

    fn start_once(server: &Path, certs: Option<&TestCertificates>) -> Result<Moto, Start> {
        let port = free_port().map_err(Start::Fatal)?;
        let dir = TempDir::new("ses-dkim-moto").map_err(Start::Fatal)?;
        let mut command = Command::new(server);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(certs) = certs {
            command.arg("--ssl-cert").arg(certs.server_certificate());
            command.arg("--ssl-key").arg(certs.server_key());
        }
        remove_aws_env(&mut command);
        // Would make moto check signatures from the start; the tests switch auth on themselves.
        command.env_remove("INITIAL_NO_AUTH_ACTION_COUNT");

        // From here on, dropping `process` kills moto.
        let mut process = ServerProcess::spawn("moto_server", dir, "moto.log", command, false)?;
        let what = format!("answer on port {port}");
        if certs.is_some() {
            // Listening is as far as a plain check can see into an HTTPS server.
            process.wait_until(MOTO_START_TIMEOUT, &what, || {
                TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
            })?;
        } else {
            process.wait_until(MOTO_START_TIMEOUT, &what, || {
                http_request(port, "GET", "/moto-api/", None).is_ok_and(|r| r.status == 200)
            })?;
        }
        Ok(Moto {
            port,
            tls: certs.is_some(),
            process,
        })
    }
}

impl fmt::Debug for Moto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Moto")
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("process", &self.process)
            .finish()
    }
}

/// A plain HTTP answer: status code, headers in order, body as text.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code, such as 200.
    pub status: u16,
    /// The header fields as sent, names in the server's case.
    pub headers: Vec<(String, String)>,
    /// The body, decoded as UTF-8 with invalid bytes replaced.
    pub body: String,
}

impl HttpResponse {
    /// Returns the value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Returns the path of a workspace binary built in the same profile as the running test.
///
/// A test executable lives in `target/<profile>/deps/`; the binaries are in `target/<profile>/`.
/// Cargo builds a package's own binaries before its integration tests, but not other packages'
/// binaries, hence the build step in `scripts/test`.
///
/// # Errors
///
/// Fails when the binary has not been built.
pub fn binary(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| io::Error::other("the test executable has no parent directory"))?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Ok(path);
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "binary `{name}` not built ({} is missing): run `cargo build --workspace --bins` first",
            path.display()
        ),
    ))
}

/// What a finished process left: its exit status and its output as text.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit status.
    pub status: ExitStatus,
    /// The exit code, or `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Everything written to stdout, decoded as UTF-8 with invalid bytes replaced.
    pub stdout: String,
    /// Everything written to stderr, decoded as UTF-8 with invalid bytes replaced.
    pub stderr: String,
}

/// Returns the arguments `COMMAND LIST --region us-east-1 --endpoint-url ENDPOINT` followed by
/// `extra`, as most end-to-end runs start.
pub fn ses_args<'a>(
    command: &'a str,
    list: &'a str,
    endpoint: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        command,
        list,
        "--region",
        "us-east-1",
        "--endpoint-url",
        endpoint,
    ];
    args.extend_from_slice(extra);
    args
}

/// Returns a command that runs `bin` with `args` in a clean AWS environment.
///
/// The child inherits this process's environment less every `AWS_*` variable and the log filters
/// `RUST_LOG` and `SES_DKIM_LOG` (so that its stderr follows its flags only), with `HOME` set to
/// `home` (give it an empty directory, so that no `~/.aws/config` or credentials file is found)
/// and `AWS_EC2_METADATA_DISABLED=true` (so that a credential chain never reaches for an instance
/// metadata address); then `env` is applied, and may override all of these. The working
/// directory is the repository root; the caller sets the standard streams.
pub fn command(bin: &Path, args: &[&str], env: &[(&str, &str)], home: &Path) -> Command {
    let mut command = Command::new(bin);
    command.args(args).current_dir(repo_root());
    remove_aws_env(&mut command);
    command
        .env_remove("RUST_LOG")
        .env_remove("SES_DKIM_LOG")
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Starts `command`, naming `bin` when it cannot.
fn start(command: &mut Command, bin: &Path) -> io::Result<std::process::Child> {
    command.spawn().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot run {}: {error}", bin.display()),
        )
    })
}

/// Runs `bin` with `args` in a clean AWS environment (see [`command`], with a new empty `HOME`)
/// and returns its status and output. Its stdin is `stdin`, or empty.
///
/// # Errors
///
/// Fails when the binary cannot be started, or when it runs longer than [`RUN_TIMEOUT`]: it is
/// then killed and the error shows its stderr so far.
pub fn run(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> io::Result<Run> {
    let home = TempDir::new("ses-dkim-home")?;
    let mut command = command(bin, args, env, home.path());
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = start(&mut command, bin)?;

    // Feed stdin and drain both pipes on their own threads so no pipe fills up and blocks.
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(input)) => {
            let input = input.to_vec();
            // A child that exits without reading all of its input is not an error here.
            Some(thread::spawn(move || {
                let _ = pipe.write_all(&input);
            }))
        }
        _ => None,
    };
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);

    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };

    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    let Some(status) = status else {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{} did not finish within {} s and was killed; its stderr:\n{}",
                bin.display(),
                RUN_TIMEOUT.as_secs(),
                stderr.trim_end()
            ),
        ));
    };
    Ok(Run {
        status,
        code: status.code(),
        stdout,
        stderr,
    })
}

/// Starts `bin` with `args` in the background, in the clean AWS environment of [`command`] with
/// `home` as `HOME`; its stdin is empty and its stdout and stderr are pipes.
///
/// The caller waits for the child, within a bound of its own.
///
/// # Errors
///
/// Fails when the binary cannot be started.
pub fn spawn(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    home: &Path,
) -> io::Result<std::process::Child> {
    let mut command = command(bin, args, env, home);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    start(&mut command, bin)
}

/// Starts `bin` with `args` in the clean AWS environment of [`command`] with `home` as `HOME`,
/// writing its stdout to `stdout` (such as one end of a pipe); its stdin is empty, and its stderr
/// is read by the [`StderrLines`] returned with it.
///
/// # Errors
///
/// Fails when the binary cannot be started.
pub fn spawn_to(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    home: &Path,
    stdout: impl Into<Stdio>,
) -> io::Result<(std::process::Child, StderrLines)> {
    let mut command = command(bin, args, env, home);
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped());
    // The command, and with it this process's copy of `stdout`, is dropped on return.
    let mut child = start(&mut command, bin)?;
    let stderr = StderrLines::take(&mut child);
    Ok((child, stderr))
}

/// A child's stderr, read a line at a time on a thread of its own, so that a test can wait for a
/// message before it goes on.
pub struct StderrLines {
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl StderrLines {
    /// Takes over `child`'s stderr, which must be a pipe.
    ///
    /// # Panics
    ///
    /// Panics when the child's stderr was not piped or was taken already.
    pub fn take(child: &mut std::process::Child) -> Self {
        use std::io::BufRead;
        let stderr = child.stderr.take().expect("the child's stderr is a pipe");
        let (send, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits, at most `limit`, for a line that contains `needle`.
    ///
    /// # Panics
    ///
    /// Panics, showing every line so far, when none comes in time or stderr ends first.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {needle:?} within {} s; stderr so far:\n{}",
                    limit.as_secs(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Returns every line, waiting for the rest until stderr ends (the child has exited) or
    /// `limit` passes.
    pub fn all(mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => break,
            }
        }
        self.seen.join("\n")
    }
}

/// Waits, at most `limit`, for `child` to exit and returns its exit code (`None` for a signal).
///
/// # Panics
///
/// Panics, after killing the child, when it is still running at the limit.
pub fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit within {} s", limit.as_secs());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGINT to a child process, as Ctrl-C in its terminal does.
///
/// # Errors
///
/// Fails when `kill` cannot be run or cannot signal the process.
pub fn interrupt(child: &std::process::Child) -> io::Result<()> {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -INT {} failed: {status}",
            child.id()
        )))
    }
}

/// Lists moto's SES identities in `us-east-1` through boto3, one a line.
const LIST_IDENTITIES: &str = r#"
import sys, boto3
ses = boto3.client(
    "ses",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
for identity in ses.list_identities()["Identities"]:
    print(identity)
"#;

/// Creates a role allowed `ses:*`, assumes it and prints `KEY_ID SECRET SESSION_TOKEN`.
const ASSUME_ROLE: &str = r#"
import json, sys, boto3
options = dict(
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
trust = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}
allow_ses = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}],
}
iam = boto3.client("iam", **options)
name = "ses-dkim-test-role"
try:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
except iam.exceptions.EntityAlreadyExistsException:
    arn = iam.get_role(RoleName=name)["Role"]["Arn"]
iam.put_role_policy(RoleName=name, PolicyName="allow-ses", PolicyDocument=json.dumps(allow_ses))
sts = boto3.client("sts", **options)
credentials = sts.assume_role(RoleArn=arn, RoleSessionName="ses-dkim-test")["Credentials"]
print(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
"#;

/// Runs `scripts/NAME` with the venv's python and returns its output when it succeeds.
fn venv_script(name: &str, args: &[&str]) -> io::Result<Run> {
    let script = repo_root().join("scripts").join(name);
    let script = script.to_string_lossy();
    let mut all = vec![script.as_ref()];
    all.extend_from_slice(args);
    python(&all, name)
}

/// Runs the Python source `script` with the venv's python and returns its output when it
/// succeeds; `what` names it in the error.
fn venv_python(script: &str, args: &[&str], what: &str) -> io::Result<Run> {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    python(&all, &format!("{what} through boto3"))
}

/// Runs the venv's python with `args` (through [`run`], so in a clean AWS environment) and fails
/// unless it exits with 0; `what` names the script in the error.
fn python(args: &[&str], what: &str) -> io::Result<Run> {
    let python = venv_bin("python");
    if !python.is_file() {
        return Err(io::Error::other(format!(
            "the test venv is missing ({} not found): {SETUP_HINT}",
            python.display()
        )));
    }
    let out = run(&python, args, &[], None)?;
    if out.code != Some(0) {
        return Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            out.status,
            out.stderr.trim_end()
        )));
    }
    Ok(out)
}

/// A throwaway certificate authority and a server certificate for 127.0.0.1 and `localhost`, made
/// fresh by `scripts/tls-test-cert.py` in a temporary directory.
#[derive(Debug)]
pub struct TestCertificates {
    dir: TempDir,
}

impl TestCertificates {
    /// Makes the authority and the server's certificate and key.
    ///
    /// # Errors
    ///
    /// Fails when the venv is missing or the script fails.
    pub fn make() -> io::Result<TestCertificates> {
        let dir = TempDir::new("ses-dkim-tls")?;
        let target = dir.path().to_string_lossy();
        venv_script("tls-test-cert.py", &["--dir", &target])?;
        Ok(TestCertificates { dir })
    }

    /// Returns the PEM file of the authority's certificate: the bundle a client should trust.
    pub fn ca_bundle(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Returns the PEM file of the server's certificate.
    pub fn server_certificate(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// Returns the PEM file of the server's private key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }
}

/// A directory under the system's temporary directory, removed when dropped unless kept.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates a new empty directory whose name starts with `prefix`.
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be created.
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}-{}-{nanos}-{n}", std::process::id());
            let path = std::env::temp_dir().join(name);
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path, keep: false }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
        }
    }

    /// Returns the directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes every `AWS_*` variable that `command` would inherit.
fn remove_aws_env(command: &mut Command) {
    let names: Vec<OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("AWS_"))
        .collect();
    for name in names {
        command.env_remove(name);
    }
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A loopback port that refuses every connection, for the tests of an unreachable endpoint.
///
/// Its socket is bound but never listens, so a connection to it is refused, and no other server
/// can take the port while this value lives.
#[derive(Debug)]
pub struct ClosedEndpoint {
    _socket: socket2::Socket,
    url: String,
}

impl ClosedEndpoint {
    /// Returns the endpoint's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Binds a loopback port that refuses every connection; see [`ClosedEndpoint`].
///
/// # Errors
///
/// Fails when no loopback port can be bound.
pub fn closed_endpoint() -> io::Result<ClosedEndpoint> {
    use socket2::{Domain, Socket, Type};

    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    let port = socket
        .local_addr()?
        .as_socket()
        .map(|address| address.port())
        .ok_or_else(|| io::Error::other("the bound socket has no IP address"))?;
    Ok(ClosedEndpoint {
        _socket: socket,
        url: format!("http://127.0.0.1:{port}"),
    })
}

fn drain<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn collect(handle: Option<thread::JoinHandle<Vec<u8>>>) -> String {
    let bytes = handle
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn log_tail(path: &Path) -> String {
    let Ok(bytes) = fs::read(path) else {
        return format!("(cannot read {})", path.display());
    };
    let start = bytes.len().saturating_sub(LOG_TAIL_BYTES);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Sends one request with `Connection: close` and reads the answer to the end of the stream.
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> io::Result<HttpResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;

    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    request.push_str("Connection: close\r\nAccept: */*\r\n");
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        request.push_str("Content-Type: text/plain\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("HTTP answer without the end of its header"))?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("HTTP answer without a status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let body = String::from_utf8_lossy(&raw[head_end + 4..]).into_owned();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_headers_and_body() {
        let raw = b"HTTP/1.1 403 FORBIDDEN\r\nContent-Type: text/xml\r\nx-amzn-RequestId: abc\r\n\r\n<a/>";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 403);
        assert_eq!(response.header("X-Amzn-RequestId"), Some("abc"));
        assert_eq!(response.body, "<a/>");
    }

    #[test]
    fn rejects_an_answer_without_a_header_end() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn venv_bin_is_under_the_repository() {
        assert!(venv_bin("python").ends_with(".venv/bin/python"));
        assert!(repo_root().join("tests").join("Cargo.toml").is_file());
    }
}
