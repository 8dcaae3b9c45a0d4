//! Everything the server is configured with, and the media core's settings
//! derived from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use relais_sfu::{MediaPolicy, SfuConfig};

/// Settings of one server. `Default` suits in-process tests: an ephemeral
/// HTTP port, ephemeral media ports, one worker, no secret.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTP and WebSocket address.
    pub listen: SocketAddr,
    /// First UDP media port (worker `i` uses `media_port + i`); 0: ephemeral.
    pub media_port: u16,
    /// Address advertised in ICE candidates; `None`: derived from `listen`.
    pub public_ip: Option<IpAddr>,
    /// Media worker threads.
    pub workers: usize,
    /// HS256 secret for access tokens; `None`: development mode.
    pub secret: Option<String>,
    pub max_participants: usize,
    pub max_tracks: usize,
    pub max_messages_per_sec: u32,
    /// How long an empty room lives on before it closes.
    pub room_grace: Duration,
    /// Media workers send datagrams in batches (`sendmmsg`).
    pub batch_sends: bool,
    /// Estimate subscribers' downlinks and fit their layers in them.
    pub subscriber_bwe: bool,
    /// Last-N, audio top-N and dynacast of every room.
    pub media: MediaPolicy,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            media_port: 0,
            public_ip: None,
            workers: 1,
            secret: None,
            max_participants: 1000,
            max_tracks: 8,
            max_messages_per_sec: 50,
            room_grace: Duration::from_secs(30),
            batch_sends: true,
            subscriber_bwe: SfuConfig::default().subscriber_bwe,
            media: MediaPolicy::default(),
        }
    }
}

impl ServerConfig {
    /// The address the media sockets bind to: the listen address, or all
    /// interfaces when listening on all interfaces.
    pub fn bind_ip(&self) -> IpAddr {
        self.listen.ip()
    }

    /// The address advertised to peers.
    pub fn advertised_ip(&self) -> IpAddr {
        self.public_ip
            .unwrap_or_else(|| advertised_for(self.listen.ip(), primary_address))
    }

    pub fn sfu_config(&self) -> SfuConfig {
        SfuConfig {
            workers: self.workers.max(1),
            bind_ip: self.bind_ip(),
            media_port: self.media_port,
            public_ip: self.advertised_ip(),
            max_tracks_per_participant: self.max_tracks,
            batch_sends: self.batch_sends,
            subscriber_bwe: self.subscriber_bwe,
            media: self.media,
            ..SfuConfig::default()
        }
    }
}

/// The listen address itself, unless it is unspecified (0.0.0.0 or ::):
/// then what `find_primary` says.
fn advertised_for(listen: IpAddr, find_primary: impl FnOnce(IpAddr) -> IpAddr) -> IpAddr {
    if listen.is_unspecified() {
        find_primary(listen)
    } else {
        listen
    }
}

/// The machine's address on its default route, found by connecting a UDP
/// socket to a public address (nothing is sent); 127.0.0.1 when there is none.
pub fn primary_address(family: IpAddr) -> IpAddr {
    let (bind, probe): (IpAddr, SocketAddr) = match family {
        IpAddr::V4(_) => (
            Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::from(([8, 8, 8, 8], 53)),
        ),
        IpAddr::V6(_) => (
            Ipv6Addr::UNSPECIFIED.into(),
            SocketAddr::from((
                Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
                53,
            )),
        ),
    };
    UdpSocket::bind(SocketAddr::new(bind, 0))
        .and_then(|s| {
            s.connect(probe)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Number of media workers by default: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_suit_tests() {
        let c = ServerConfig::default();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.media_port, 0);
        assert_eq!(c.workers, 1);
        assert!(c.secret.is_none());
        assert_eq!(c.max_participants, 1000);
        assert_eq!(c.max_tracks, 8);
        assert_eq!(c.max_messages_per_sec, 50);
        assert_eq!(c.room_grace, Duration::from_secs(30));
        let sfu = c.sfu_config();
        assert_eq!(sfu.public_ip, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(sfu.bind_ip, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(sfu.max_tracks_per_participant, 8);
    }

    #[test]
    fn a_specific_listen_address_is_advertised() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(advertised_for(ip, |_| panic!("not asked")), ip);
    }

    #[test]
    fn all_interfaces_advertise_the_primary_address() {
        let primary: IpAddr = "192.168.1.20".parse().unwrap();
        assert_eq!(
            advertised_for(Ipv4Addr::UNSPECIFIED.into(), |_| primary),
            primary
        );
        let found = primary_address(Ipv4Addr::UNSPECIFIED.into());
        assert!(!found.is_unspecified());
    }

    #[test]
    fn public_ip_overrides() {
        let c = ServerConfig {
            listen: "0.0.0.0:8080".parse().unwrap(),
            public_ip: Some("203.0.113.7".parse().unwrap()),
            ..ServerConfig::default()
        };
        assert_eq!(
            c.sfu_config().public_ip,
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(c.sfu_config().bind_ip, IpAddr::from([0, 0, 0, 0]));
    }
}
