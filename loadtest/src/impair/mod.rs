//! Network impairment for tests and operators: random loss (seeded), delay,
//! jitter, reordering and a rate cap on UDP between clients and a server.
//!
//! - [`Link`]: one direction, sans-IO (a datagram in, its fate out), so
//!   tests can reason about it on a virtual clock.
//! - [`Proxy`]: a UDP proxy applying a link to each direction; the
//!   `relais-impair` binary runs one.
//! - [`redirect_candidates`]: make one client send its media through a
//!   proxy without changing the server (the server's candidates in an offer
//!   are replaced by the proxy's address).
//!
//! A proxy impairs real datagrams between real processes (ICE, DTLS, SRTP,
//! RTCP and retransmissions all cross it), which a hook inside the bot's
//! socket could not promise for a browser or another client.

mod link;
mod proxy;

use std::net::SocketAddr;

pub use link::{Impairment, Link, LinkStats};
pub use proxy::{Proxy, ProxyConfig, ProxyStats};

/// `sdp` with the address of every UDP host candidate replaced by `via`.
pub fn redirect_candidates(sdp: &str, via: SocketAddr) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        out.push_str(&redirect_line(line, via).unwrap_or_else(|| line.to_string()));
    }
    out
}

/// `a=candidate:<foundation> <component> udp <priority> <ip> <port> typ host ...`
fn redirect_line(line: &str, via: SocketAddr) -> Option<String> {
    let body = line.strip_prefix("a=candidate:")?;
    let end = body.trim_end_matches(['\r', '\n']);
    let mut f: Vec<&str> = end.split(' ').collect();
    if f.len() < 8 || !f[2].eq_ignore_ascii_case("udp") || f[6] != "typ" || f[7] != "host" {
        return None;
    }
    let (ip, port) = (via.ip().to_string(), via.port().to_string());
    f[4] = &ip;
    f[5] = &port;
    Some(format!("a=candidate:{}{}", f.join(" "), &body[end.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_point_at_the_proxy() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 10.0.0.1 50000 typ host\r\n\
                   a=candidate:2 1 tcp 2130706431 10.0.0.1 50000 typ host\r\na=mid:0\r\n";
        let out = redirect_candidates(sdp, "127.0.0.1:9".parse().unwrap());
        assert_eq!(
            out,
            "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n\
             a=candidate:2 1 tcp 2130706431 10.0.0.1 50000 typ host\r\na=mid:0\r\n"
        );
    }
}
