//! A real DNS server on 127.0.0.1 serving a test zone, for `ses-dkim check`.
//!
//! [`DnsServer::start`] writes the zone to a temporary file and runs dnslib's zone resolver
//! (installed in `.venv` by `scripts/setup-test-env`) on a free port, over UDP and TCP. It answers
//! exactly what the zone holds and NXDOMAIN for anything else; it never recurses.

use std::fmt;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{self, ServerProcess, Start};
use crate::{SETUP_HINT, TempDir, free_port, venv_bin};

/// How long [`DnsServer::start`] waits for the server to answer before giving up.
pub const DNS_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A DNS server for one zone on a free loopback port (UDP and TCP), killed when dropped.
pub struct DnsServer {
    port: u16,
    process: ServerProcess,
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
        process::with_retries("the DNS server", || DnsServer::start_once(&python, zone))
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
        self.process.log_path()
    }

    /// Returns the last few kilobytes of the server's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    fn start_once(python: &Path, zone: &str) -> Result<DnsServer, Start> {
        let port = free_udp_and_tcp_port().map_err(Start::Fatal)?;
        let dir = TempDir::new("ses-dkim-dns").map_err(Start::Fatal)?;
        let zone_file = dir.path().join("zone.txt");
        fs::write(&zone_file, zone).map_err(Start::Fatal)?;

        let mut command = Command::new(python);
        command
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
            .arg(&zone_file);
        // From here on, dropping `process` kills the server.
        let mut process = ServerProcess::spawn("the DNS server", dir, "dns.log", command, false)?;
        process.wait_until(DNS_START_TIMEOUT, &format!("answer on port {port}"), || {
            answers(port)
        })?;
        Ok(DnsServer { port, process })
    }
}

impl fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsServer")
            .field("port", &self.port)
            .field("process", &self.process)
            .finish()
    }
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
