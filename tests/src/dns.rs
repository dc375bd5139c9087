//! A real DNS server on 127.0.0.1 serving a test zone, for `ses-dkim check`.
//!
//! [`DnsServer::start`] writes the zone to a temporary file and runs dnslib's zone resolver
//! (installed in `.venv` by `scripts/setup-test-env`) on a free port, over UDP and TCP. It answers
//! exactly what the zone holds and NXDOMAIN for anything else; it never recurses.

use std::fmt;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{LOG_TAIL_BYTES, SETUP_HINT, TempDir, free_port, log_tail, venv_bin};

/// How long [`DnsServer::start`] waits for the server to answer before giving up.
pub const DNS_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A DNS server for one zone on a free loopback port (UDP and TCP), killed when dropped.
pub struct DnsServer {
    port: u16,
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

impl DnsServer {
    /// Starts a server for `zone`, the text of a zone file with absolute owner names, and waits
    /// until it answers a query.
    ///
    /// # Errors
    ///
    /// Fails when dnslib is not installed in `.venv`, when the server exits early three times
    /// (a port taken between picking and binding) or when it does not answer within
    /// [`DNS_START_TIMEOUT`]; the error then carries the tail of its log.
    pub fn start(zone: &str) -> io::Result<DnsServer> {
        let python = venv_bin("python");
        if !python.is_file() {
            return Err(io::Error::other(format!(
                "the test venv is missing ({} not found): {SETUP_HINT}",
                python.display()
            )));
        }
        let mut last_error = None;
        for _ in 0..3 {
            match DnsServer::start_once(&python, zone) {
                Ok(server) => return Ok(server),
                Err(Start::Exited(error)) => last_error = Some(error),
                Err(Start::Fatal(error)) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("the DNS server did not start")))
    }

    /// Returns the server's address, `127.0.0.1:PORT`, as `--resolver` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Returns the port the server listens on (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the path of the file that holds the server's output (one line per query).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Returns the last few kilobytes of the server's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    fn start_once(python: &Path, zone: &str) -> Result<DnsServer, Start> {
        let port = free_udp_and_tcp_port().map_err(Start::Fatal)?;
        let dir = TempDir::new("ses-dkim-dns").map_err(Start::Fatal)?;
        let zone_file = dir.path().join("zone.txt");
        fs::write(&zone_file, zone).map_err(Start::Fatal)?;
        let log = dir.path().join("dns.log");
        let log_file = fs::File::create(&log).map_err(Start::Fatal)?;
        let log_file_err = log_file.try_clone().map_err(Start::Fatal)?;

        let child = Command::new(python)
            .args([
                "-u",
                "-m",
                "dnslib.zoneresolver",
                "--tcp",
                "--address",
                "127.0.0.1",
            ])
            .arg("--port")
            .arg(port.to_string())
            .arg("--zone")
            .arg(&zone_file)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_file_err)
            .spawn()
            .map_err(|error| {
                Start::Fatal(io::Error::new(
                    error.kind(),
                    format!("cannot start dnslib's zone resolver: {error}: {SETUP_HINT}"),
                ))
            })?;

        // From here on, dropping `server` kills the child.
        let mut server = DnsServer {
            port,
            child,
            log,
            dir,
        };
        let deadline = Instant::now() + DNS_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(Start::Exited(io::Error::other(format!(
                    "the DNS server exited early ({status}); its log:\n{}",
                    server.log_tail()
                ))));
            }
            if answers(port) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(Start::Fatal(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the DNS server did not answer on port {port} within {} s; its log:\n{}",
                        DNS_START_TIMEOUT.as_secs(),
                        server.log_tail()
                    ),
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsServer")
            .field("port", &self.port)
            .field("pid", &self.child.id())
            .field("log", &self.log)
            .finish()
    }
}

impl Drop for DnsServer {
    #[expect(
        clippy::print_stderr,
        reason = "a failing test shows the server's log: libtest prints captured stderr on failure"
    )]
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- DNS server log ({}), last {LOG_TAIL_BYTES} bytes ---\n{}",
                self.log.display(),
                self.log_tail()
            );
            self.dir.keep();
        }
    }
}

enum Start {
    /// The server exited before answering: worth another try on a new port.
    Exited(io::Error),
    /// Anything else: no retry.
    Fatal(io::Error),
}

/// Picks a port free for TCP that is also free for UDP at this moment.
fn free_udp_and_tcp_port() -> io::Result<u16> {
    for _ in 0..20 {
        let port = free_port()?;
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no port free for both UDP and TCP"))
}

/// Returns `true` when a UDP query to the port gets an answer with the query's id.
fn answers(port: u16) -> bool {
    let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let query = query_packet(0x5e5d, "ready.invalid.");
    if socket
        .send_to(&query, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .is_err()
    {
        return false;
    }
    let mut buf = [0; 512];
    matches!(socket.recv(&mut buf), Ok(n) if n >= 12 && buf[..2] == [0x5e, 0x5d])
}

/// Builds a DNS query for the A records of `name`.
fn query_packet(id: u16, name: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    // Flags: a standard query with recursion desired; one question.
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    // Type A, class IN.
    packet.extend_from_slice(&[0, 1, 0, 1]);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_packets_name_the_labels() {
        let packet = query_packet(1, "ready.invalid.");
        assert_eq!(&packet[..4], &[0, 1, 1, 0]);
        assert_eq!(&packet[12..19], b"\x05ready\x07");
        assert_eq!(&packet[packet.len() - 5..], &[0, 0, 1, 0, 1]);
    }
}
