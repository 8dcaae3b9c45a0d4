//! The server's downlink estimate of each subscriber, read from its room
//! API (`GET /api/rooms/{room}/downlinks`, docs/operations.md): kbit/s by
//! participant id. With the server's secret, the request carries a host
//! token minted for the room.

use std::collections::BTreeMap;
use std::time::Duration;

use super::http_get;
use super::probe::SCRAPE_TIMEOUT;
use relais_signaling::auth::{mint_token, Claims};
use relais_signaling::protocol::Role;
use serde::Deserialize;

/// Largest report body read (about 200 bytes a subscriber).
const MAX_BODY: u64 = 8 << 20;

#[derive(Debug, Deserialize)]
struct Report {
    subscribers: Vec<Subscriber>,
}

#[derive(Debug, Deserialize)]
struct Subscriber {
    participant: String,
    estimate_kbps: Option<f64>,
}

/// The estimates in one report's JSON body.
pub fn parse(body: &str) -> Result<BTreeMap<String, f64>, String> {
    let report: Report = serde_json::from_str(body).map_err(|e| format!("bad report: {e}"))?;
    Ok(report
        .subscribers
        .into_iter()
        .filter_map(|s| Some((s.participant, s.estimate_kbps?)))
        .collect())
}

/// GET the report of `room` from `host`.
pub async fn estimates(
    host: &str,
    room: &str,
    secret: Option<&str>,
) -> Result<BTreeMap<String, f64>, String> {
    let auth = secret
        .map(|s| {
            let mut claims = Claims::new(room, "relais-load", Duration::from_secs(60));
            claims.role = Some(Role::Host);
            format!("Authorization: Bearer {}\r\n", mint_token(s, &claims))
        })
        .unwrap_or_default();
    let path = format!("/api/rooms/{room}/downlinks");
    let (status, body) = http_get::get(host, &path, &auth, MAX_BODY, SCRAPE_TIMEOUT).await?;
    if !status.contains(" 200") {
        return Err(format!("the downlink report of {room} answered {status:?}"));
    }
    parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_with_an_estimate_are_read_by_participant() {
        let body = r#"{"room":"r","subscribers":[
            {"participant":"p2","name":"Bob","estimate_kbps":2500,"estimate_source":"twcc","rtt_ms":null,"loss_percent":null,"congested":false,"video":[]},
            {"participant":"p3","name":"Carol","estimate_kbps":null,"estimate_source":null,"rtt_ms":null,"loss_percent":null,"congested":false,"video":[]}]}"#;
        let e = parse(body).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e["p2"], 2500.0);
        assert!(parse("not json").is_err());
    }
}
