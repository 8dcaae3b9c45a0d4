//! `GET /api/rooms/{room}/downlinks`: for an operator during an event, what
//! each subscriber of a room receives and what its network allows. With a
//! secret, the host's token is required (see `host_auth`).
//!
//! Asked of every worker (a webinar's attendees spread over them); each
//! answers from its own state, off the media path.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::future::join_all;
use relais_sfu::api::DownlinkReport;
use serde::Serialize;

use crate::host_auth::{refuse, require_host};
use crate::state::AppState;

#[derive(Debug, Serialize)]
pub struct RoomDownlinks {
    pub room: String,
    pub subscribers: Vec<SubscriberDownlink>,
}

#[derive(Debug, Serialize)]
pub struct SubscriberDownlink {
    /// The participant id of the protocol (`p12`).
    pub participant: String,
    pub name: Option<String>,
    /// The estimate its layers are allocated from; `null` before one.
    pub estimate_kbps: Option<u64>,
    /// `"twcc"` (the SFU's own estimate) or `"remb"` (the client's).
    pub estimate_source: Option<&'static str>,
    pub rtt_ms: Option<f64>,
    /// Packets lost toward it before repair, as its receiver reports.
    pub loss_percent: Option<f64>,
    /// Loss of 2% or more, or a round trip 150 ms above its lowest.
    pub congested: bool,
    pub video: Vec<VideoDowntrack>,
}

#[derive(Debug, Serialize)]
pub struct VideoDowntrack {
    pub track: String,
    /// The layer the allocation chose: 0 low, 1 medium, 2 high; `null`
    /// paused (for bandwidth, last-N, or because it was asked to).
    pub target: Option<u8>,
    /// The layer forwarded now (`null`: nothing yet, or paused).
    pub current: Option<u8>,
}

pub async fn downlinks(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err((status, message)) = require_host(
        state.config.secret.as_deref(),
        &headers,
        &room,
        "read its downlinks",
    ) {
        return refuse(status, &message);
    }
    let Some(found) = state.registry.room(&room) else {
        return refuse(StatusCode::NOT_FOUND, "no such room");
    };
    let asked = state.sfu.workers().iter().map(|w| w.downlinks(found.id));
    let mut reports: Vec<DownlinkReport> = Vec::new();
    for answer in join_all(asked).await {
        match answer {
            Ok(r) => reports.extend(r),
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }
    reports.sort_by_key(|r| r.participant);
    let subscribers = reports
        .into_iter()
        .map(|r| SubscriberDownlink {
            participant: r.participant.to_string(),
            name: found.member(r.participant).map(|m| m.name),
            estimate_kbps: r.estimate_bps.map(|b| b / 1000),
            estimate_source: r.estimate_source,
            rtt_ms: r.rtt.map(|d| d.as_secs_f64() * 1000.0),
            loss_percent: r.loss.map(|l| f64::from(l) * 100.0),
            congested: r.congested,
            video: r
                .video
                .into_iter()
                .map(|v| VideoDowntrack {
                    track: v.track.to_string(),
                    target: v.target,
                    current: v.current,
                })
                .collect(),
        })
        .collect();
    Json(RoomDownlinks { room, subscribers }).into_response()
}
