//! The wire format: every message round-trips through JSON, and the shapes
//! documented in docs/protocol.md parse as documented.

use relais_signaling::protocol::*;
use serde_json::json;

fn client(v: serde_json::Value) -> ClientMessage {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[test]
fn documented_client_messages_parse() {
    assert_eq!(
        client(
            json!({"type": "join", "req": "1", "room": "standup", "name": "Ann", "token": "eyJ..."})
        ),
        ClientMessage::Join {
            req: Some("1".into()),
            room: "standup".into(),
            name: Some("Ann".into()),
            token: Some("eyJ...".into()),
            role: None,
            mode: None,
            last_n: None,
        }
    );
    assert_eq!(
        client(json!({"type": "join", "room": "w", "role": "attendee", "mode": "webinar"})),
        ClientMessage::Join {
            req: None,
            room: "w".into(),
            name: None,
            token: None,
            role: Some(Role::Attendee),
            mode: Some(RoomMode::Webinar),
            last_n: None,
        }
    );
    assert_eq!(
        client(
            json!({"type": "publish_offer", "sdp": "v=0...", "sources": [{"mid": "0", "source": "screen"}]})
        ),
        ClientMessage::PublishOffer {
            req: None,
            sdp: "v=0...".into(),
            sources: vec![MidSource {
                mid: "0".into(),
                source: Source::Screen
            }],
        }
    );
    assert_eq!(
        client(
            json!({"type": "subscribe", "track_id": "p1t0", "max_width": 640, "max_height": 360})
        ),
        ClientMessage::Subscribe {
            req: None,
            track_id: "p1t0".into(),
            quality: None,
            max_width: Some(640),
            max_height: Some(360),
        }
    );
    for v in [
        json!({"type": "subscribe_answer", "sdp": "v=0"}),
        json!({"type": "mute", "track_id": "p1t1", "muted": true}),
        json!({"type": "unpublish", "track_id": "p1t1"}),
        json!({"type": "chat", "text": "hi"}),
        json!({"type": "raise_hand", "raised": true}),
        json!({"type": "set_role", "participant_id": "p2", "role": "presenter"}),
        json!({"type": "mute_participant", "participant_id": "p2"}),
        json!({"type": "remove_participant", "participant_id": "p2"}),
        json!({"type": "ping"}),
        json!({"type": "leave"}),
    ] {
        let m = client(v.clone());
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["type"], v["type"]);
        assert_eq!(client(back), m, "round trip of {v}");
    }
}

#[test]
fn unknown_types_and_fields_of_the_wrong_type_are_refused() {
    assert!(serde_json::from_value::<ClientMessage>(json!({"type": "fly"})).is_err());
    assert!(serde_json::from_value::<ClientMessage>(json!({"room": "r"})).is_err());
    assert!(serde_json::from_value::<ClientMessage>(json!({"type": "chat", "text": 5})).is_err());
    assert!(serde_json::from_value::<ClientMessage>(
        json!({"type": "subscribe", "track_id": "p1t0", "quality": "ultra"})
    )
    .is_err());
}

#[test]
fn server_messages_round_trip() {
    let track = TrackInfo {
        id: "p1t0".into(),
        participant_id: "p1".into(),
        source: Source::Camera,
        kind: Kind::Video,
        codec: "VP8".into(),
        layers: 3,
        muted: false,
    };
    let messages = vec![
        ServerMessage::Joined {
            req: Some("1".into()),
            protocol_version: PROTOCOL_VERSION,
            room: "standup".into(),
            mode: RoomMode::Meeting,
            participant_id: "p2".into(),
            role: Role::Participant,
            participants: vec![ParticipantInfo {
                id: "p1".into(),
                name: "Ann".into(),
                role: Role::Participant,
                hand_raised: false,
            }],
            tracks: vec![track.clone()],
            development: true,
        },
        ServerMessage::PublishAnswer {
            req: None,
            sdp: "v=0".into(),
            tracks: vec![MidTrack {
                mid: "0".into(),
                track_id: "p2t0".into(),
            }],
        },
        ServerMessage::SubscribeOffer {
            sdp: "v=0".into(),
            tracks: vec![],
        },
        ServerMessage::TrackPublished { track },
        ServerMessage::LayerChanged {
            track_id: "p1t0".into(),
            layer: None,
            reason: None,
        },
        ServerMessage::LayerChanged {
            track_id: "p1t0".into(),
            layer: None,
            reason: Some("bandwidth".into()),
        },
        ServerMessage::MutedByHost {},
        ServerMessage::Error {
            req: Some("7".into()),
            code: ErrorCode::RoomFull,
            message: "full".into(),
        },
        ServerMessage::Closing {
            reason: "removed".into(),
        },
    ];
    for m in messages {
        let text = serde_json::to_string(&m).unwrap();
        let back: ServerMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m, "{text}");
    }
    let e = serde_json::to_value(ServerMessage::Error {
        req: None,
        code: ErrorCode::MessageTooLarge,
        message: "m".into(),
    })
    .unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "message_too_large");
}
