//! The `relais` command line: serve (the default) or mint a token. Every
//! server flag can also come from an environment variable.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use relais_sfu::MediaPolicy;

use crate::auth::Claims;
use crate::config::{default_workers, ServerConfig};
use crate::protocol::{Role, RoomMode};

#[derive(Debug, Parser)]
#[command(
    name = "relais",
    version,
    about = "Relais: a WebRTC SFU that forwards simulcast between the participants of a room",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Print an access token for one person and one room.
    Token(TokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTP and WebSocket address (signaling, /healthz, /metrics, web client).
    #[arg(long, env = "RELAIS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// First UDP port for media; worker i uses media-port + i. 0 picks free ports.
    #[arg(long, env = "RELAIS_MEDIA_PORT", default_value_t = 50000)]
    pub media_port: u16,
    /// Address advertised to peers in ICE candidates. Default: the listen
    /// address, or the machine's primary address when listening on 0.0.0.0 or ::.
    #[arg(long, env = "RELAIS_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// Media worker threads, each with its own UDP port. Default: one per core.
    #[arg(long, env = "RELAIS_WORKERS")]
    pub workers: Option<usize>,
    /// HS256 secret for access tokens. Without it the server runs in an
    /// unauthenticated development mode.
    #[arg(long, env = "RELAIS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Participants allowed in one room.
    #[arg(long, env = "RELAIS_MAX_PARTICIPANTS", default_value_t = 1000)]
    pub max_participants: usize,
    /// Tracks one participant may publish.
    #[arg(long, env = "RELAIS_MAX_TRACKS", default_value_t = 8)]
    pub max_tracks: usize,
    /// Signaling messages per second per connection (bursts of twice that).
    #[arg(long, env = "RELAIS_MAX_MESSAGES_PER_SEC", default_value_t = 50)]
    pub max_messages_per_sec: u32,
    /// Seconds an empty room stays open before it closes.
    #[arg(long, env = "RELAIS_ROOM_GRACE_SECS", default_value_t = 30)]
    pub room_grace_secs: u64,
    /// Send media in batches with sendmmsg (one system call for up to 64
    /// datagrams). `false` sends each datagram with its own call.
    #[arg(long, env = "RELAIS_BATCH_SENDS", default_value_t = true, action = clap::ArgAction::Set)]
    pub batch_sends: bool,
    /// Estimate each subscriber's downlink (TWCC, or REMB) and fit the layers
    /// it receives within it, pausing what does not fit (docs/media-quality.md).
    /// `false` forwards what each subscriber asks for whatever its network,
    /// for about a quarter less CPU per forwarded packet.
    #[arg(long, env = "RELAIS_SUBSCRIBER_BWE", default_value_t = true, action = clap::ArgAction::Set)]
    pub subscriber_bwe: bool,
    /// Last-N: each participant receives camera video of only the N most
    /// recent speakers (plus pinned tracks and screen shares). 0: everyone's.
    #[arg(long, env = "RELAIS_LAST_N", default_value_t = 0)]
    pub last_n: usize,
    /// Audio top-N: in rooms with more than --audio-top-n-above audio
    /// publishers, forward audio of only the N loudest. 0: all audio.
    #[arg(long, env = "RELAIS_AUDIO_TOP_N", default_value_t = 3)]
    pub audio_top_n: usize,
    /// Audio publishers a room must exceed before audio top-N applies.
    #[arg(long, env = "RELAIS_AUDIO_TOP_N_ABOVE", default_value_t = 20)]
    pub audio_top_n_above: usize,
    /// Dynacast: ask publishers to pause simulcast layers nobody receives.
    #[arg(long, env = "RELAIS_DYNACAST", default_value_t = true, action = clap::ArgAction::Set)]
    pub dynacast: bool,
    /// Log filter in RUST_LOG syntax, for example `info` or `relais_sfu=debug,info`.
    #[arg(long, env = "RELAIS_LOG")]
    pub log: Option<String>,
}

impl ServeArgs {
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            media_port: self.media_port,
            public_ip: self.public_ip,
            workers: self.workers.unwrap_or_else(default_workers).max(1),
            secret: self.secret.clone().filter(|s| !s.is_empty()),
            max_participants: self.max_participants,
            max_tracks: self.max_tracks,
            max_messages_per_sec: self.max_messages_per_sec,
            room_grace: Duration::from_secs(self.room_grace_secs),
            batch_sends: self.batch_sends,
            subscriber_bwe: self.subscriber_bwe,
            media: MediaPolicy {
                last_n: self.last_n,
                audio_top_n: self.audio_top_n,
                audio_top_n_above: self.audio_top_n_above,
                dynacast: self.dynacast,
            },
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The room the token admits to.
    #[arg(long)]
    pub room: String,
    /// Who the holder is (a user id of your application).
    #[arg(long)]
    pub identity: String,
    /// Display name (default: the identity).
    #[arg(long)]
    pub name: Option<String>,
    /// host, presenter, attendee or participant.
    #[arg(long, value_parser = parse_role, default_value = "participant")]
    pub role: Role,
    /// meeting or webinar: the mode of the room if this join creates it.
    #[arg(long, value_parser = parse_mode, default_value = "meeting")]
    pub mode: RoomMode,
    /// The room's last-N if this join creates it (0: no limit); default: the server's.
    #[arg(long)]
    pub last_n: Option<usize>,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    /// The server's secret.
    #[arg(long, env = "RELAIS_SECRET", hide_env_values = true)]
    pub secret: String,
}

impl TokenArgs {
    pub fn claims(&self) -> Claims {
        let mut claims = Claims::new(
            self.room.clone(),
            self.identity.clone(),
            Duration::from_secs(self.ttl_secs),
        );
        claims.name = self.name.clone();
        claims.role = Some(self.role);
        claims.mode = Some(self.mode);
        claims.last_n = self.last_n;
        claims
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("'{s}' is not a role: use host, presenter, attendee or participant"))
}

fn parse_mode(s: &str) -> Result<RoomMode, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("'{s}' is not a room mode: use meeting or webinar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("relais").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn serve_is_the_default_with_documented_defaults() {
        let cli = parse(&[]);
        assert!(cli.command.is_none());
        let c = cli.serve.config();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.media_port, 50000);
        assert_eq!(c.max_participants, 1000);
        assert_eq!(c.max_tracks, 8);
        assert_eq!(c.max_messages_per_sec, 50);
        assert_eq!(c.room_grace, Duration::from_secs(30));
        assert!(c.workers >= 1);
    }

    #[test]
    fn flags_override() {
        let cli = parse(&[
            "--listen",
            "0.0.0.0:9000",
            "--media-port",
            "40000",
            "--workers",
            "3",
            "--secret",
            "s",
            "--max-tracks",
            "4",
        ]);
        let c = cli.serve.config();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.media_port, 40000);
        assert_eq!(c.workers, 3);
        assert_eq!(c.secret.as_deref(), Some("s"));
        assert_eq!(c.sfu_config().max_tracks_per_participant, 4);
    }

    #[test]
    fn token_subcommand_makes_claims() {
        let cli = parse(&[
            "token",
            "--room",
            "R",
            "--identity",
            "I",
            "--role",
            "presenter",
            "--mode",
            "webinar",
            "--secret",
            "S",
        ]);
        let Some(CliCommand::Token(t)) = cli.command else {
            panic!("expected token")
        };
        let claims = t.claims();
        assert_eq!(claims.room, "R");
        assert_eq!(claims.sub, "I");
        assert_eq!(claims.role, Some(Role::Presenter));
        assert_eq!(claims.mode, Some(RoomMode::Webinar));
        assert!(claims.exp > crate::auth::unix_now() + 3500);
    }

    #[test]
    fn a_bad_role_is_refused() {
        assert!(Cli::try_parse_from([
            "relais",
            "token",
            "--room",
            "R",
            "--identity",
            "I",
            "--role",
            "king",
            "--secret",
            "S"
        ])
        .is_err());
    }
}
