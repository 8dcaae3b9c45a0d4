//! The single task that reads the media core's events and tells the rooms:
//! tracks that come, go or mute, offers for subscribers, layer changes, and
//! participants whose peers failed.

use std::sync::Arc;

use relais_sfu::{CoreEvent, ParticipantId};
use tokio::sync::mpsc;

use crate::convert::track_from_core;
use crate::protocol::{MidTrack, PublisherLayer, ServerMessage};
use crate::state::AppState;

pub async fn run(state: Arc<AppState>, mut events: mpsc::UnboundedReceiver<CoreEvent>) {
    while let Some(event) = events.recv().await {
        route(&state, event);
    }
    tracing::debug!("core event stream ended");
}

fn send_to(state: &AppState, participant: ParticipantId, msg: &ServerMessage) {
    if let Some(room) = state.registry.room_of(participant) {
        room.send_to(participant, msg);
    }
}

pub fn route(state: &Arc<AppState>, event: CoreEvent) {
    match event {
        CoreEvent::TrackPublished { room, track } => {
            let Some(room) = state.registry.room_by_id(room) else {
                return;
            };
            let info = track_from_core(&track);
            if room.add_track(track.id, info.clone()) {
                room.broadcast(
                    &ServerMessage::TrackPublished { track: info },
                    Some(track.id.owner),
                );
            }
        }
        CoreEvent::TrackUnpublished { room, track } => {
            let Some(room) = state.registry.room_by_id(room) else {
                return;
            };
            if room.remove_track(track) {
                room.broadcast(
                    &ServerMessage::TrackUnpublished {
                        track_id: track.to_string(),
                    },
                    None,
                );
            }
        }
        CoreEvent::TrackMuted { room, track, muted } => {
            let Some(room) = state.registry.room_by_id(room) else {
                return;
            };
            room.set_track_muted(track, muted);
            room.broadcast(
                &ServerMessage::TrackMuted {
                    track_id: track.to_string(),
                    muted,
                },
                None,
            );
        }
        CoreEvent::SubscriberOffer {
            participant,
            sdp,
            tracks,
        } => send_to(
            state,
            participant,
            &ServerMessage::SubscribeOffer {
                sdp,
                tracks: tracks
                    .into_iter()
                    .map(|t| MidTrack {
                        mid: t.mid,
                        track_id: t.track.to_string(),
                    })
                    .collect(),
            },
        ),
        CoreEvent::ActiveSpeaker { room, participant } => {
            if let Some(room) = state
                .registry
                .room_by_id(room)
                .filter(|r| r.set_speaker(participant))
            {
                let participant_id = participant.map(|p| p.to_string());
                room.broadcast(&ServerMessage::ActiveSpeaker { participant_id }, None);
            }
        }
        CoreEvent::LayerSwitched {
            participant,
            track,
            layer,
        } => send_to(
            state,
            participant,
            &ServerMessage::LayerChanged {
                track_id: track.to_string(),
                layer,
                reason: None,
            },
        ),
        CoreEvent::PausedForBandwidth { participant, track } => send_to(
            state,
            participant,
            &ServerMessage::LayerChanged {
                track_id: track.to_string(),
                layer: None,
                reason: Some("bandwidth".into()),
            },
        ),
        CoreEvent::LastN {
            participant,
            paused,
        } => send_to(
            state,
            participant,
            &ServerMessage::LastN {
                paused: paused.iter().map(ToString::to_string).collect(),
            },
        ),
        CoreEvent::PublisherLayers {
            participant,
            track,
            layers,
        } => send_to(
            state,
            participant,
            &ServerMessage::PublisherLayers {
                track_id: track.to_string(),
                layers: layers
                    .into_iter()
                    .map(|l| PublisherLayer {
                        rid: l.rid,
                        active: l.active,
                    })
                    .collect(),
            },
        ),
        CoreEvent::ParticipantFailed {
            participant,
            reason,
        } => {
            tracing::warn!(%participant, %reason, "participant's peer failed");
            if let Some(room) = state.registry.room_of(participant) {
                room.close_member(participant, "failed");
            }
            let state = state.clone();
            tokio::spawn(async move {
                state.remove_participant(participant, "failed").await;
            });
        }
        CoreEvent::PeerState {
            participant,
            role,
            state: peer,
        } => {
            tracing::debug!(%participant, ?role, state = ?peer, "peer state");
        }
    }
}
