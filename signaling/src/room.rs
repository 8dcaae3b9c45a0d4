//! One room as signaling knows it: its members (name, role, raised hand, the
//! way to their socket) and its published tracks, behind one mutex that is
//! never held across an `.await`. Sending to members never waits: each has a
//! bounded outbox (see [`crate::outbox`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use relais_sfu::{ParticipantId, RoomId, TrackId};

use crate::outbox::{encode, Outbound, Outbox, OUTBOX_CAPACITY};
use crate::protocol::{ParticipantInfo, Role, RoomMode, ServerMessage, TrackInfo};

/// A room; the registry makes it on first join and drops it when it closes.
pub struct Room {
    pub id: RoomId,
    pub name: String,
    pub mode: RoomMode,
    /// The media worker that hosts this room.
    pub worker: usize,
    /// Its own last-N, set by the join that made it; `None`: the server's.
    pub last_n: Option<usize>,
    /// The room's media policy went to the workers.
    pub(crate) policy_sent: std::sync::atomic::AtomicBool,
    state: Mutex<RoomState>,
}

#[derive(Default)]
pub(crate) struct RoomState {
    pub(crate) members: BTreeMap<ParticipantId, Member>,
    pub(crate) tracks: BTreeMap<TrackId, TrackInfo>,
    /// Dropped from the registry; a join that finds it must make a new room.
    pub(crate) closed: bool,
    /// Bumped on every join, so a grace timer knows if someone came and went.
    pub(crate) epoch: u64,
    /// The dominant speaker last announced.
    pub(crate) speaker: Option<ParticipantId>,
}

pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) hand_raised: bool,
    /// The media worker that holds this member's peers.
    pub(crate) worker: usize,
    pub(crate) outbox: Outbox,
    /// While joining: messages held back until the `joined` reply is out.
    pub(crate) pending: Option<Vec<Utf8Bytes>>,
}

impl Member {
    pub(crate) fn info(&self, id: ParticipantId) -> ParticipantInfo {
        ParticipantInfo {
            id: id.to_string(),
            name: self.name.clone(),
            role: self.role,
            hand_raised: self.hand_raised,
        }
    }

    pub(crate) fn deliver(&mut self, text: &Utf8Bytes) {
        match &mut self.pending {
            Some(p) if p.len() < OUTBOX_CAPACITY => p.push(text.clone()),
            Some(_) => {
                tracing::warn!("dropping a joining client with too many messages held back");
                self.outbox.kill();
            }
            None => {
                self.outbox.push(Outbound::Text(text.clone()));
            }
        }
    }
}

/// What others may know of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub name: String,
    pub role: Role,
}

impl Room {
    pub(crate) fn new(id: RoomId, name: &str, mode: RoomMode, worker: usize) -> Room {
        Room {
            id,
            name: name.to_string(),
            mode,
            worker,
            last_n: None,
            policy_sent: Default::default(),
            state: Mutex::new(RoomState::default()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn member_count(&self) -> usize {
        self.lock().members.len()
    }

    pub fn member(&self, id: ParticipantId) -> Option<MemberView> {
        self.lock().members.get(&id).map(|m| MemberView {
            name: m.name.clone(),
            role: m.role,
        })
    }

    pub fn members(&self) -> Vec<ParticipantInfo> {
        self.lock()
            .members
            .iter()
            .map(|(id, m)| m.info(*id))
            .collect()
    }

    /// Send to every member except `except`.
    pub fn broadcast(&self, msg: &ServerMessage, except: Option<ParticipantId>) {
        let text = encode(msg);
        let mut st = self.lock();
        for (id, m) in st.members.iter_mut() {
            if Some(*id) != except {
                m.deliver(&text);
            }
        }
    }

    /// Send to one member. False if it is not in the room.
    pub fn send_to(&self, id: ParticipantId, msg: &ServerMessage) -> bool {
        let text = encode(msg);
        match self.lock().members.get_mut(&id) {
            Some(m) => {
                m.deliver(&text);
                true
            }
            None => false,
        }
    }

    /// Send `closing` to one member and close its socket.
    pub fn close_member(&self, id: ParticipantId, reason: &str) {
        if let Some(m) = self.lock().members.get(&id) {
            m.outbox.close(reason);
        }
    }

    /// Send `closing` to every member and close their sockets.
    pub fn close_all(&self, reason: &str) {
        for m in self.lock().members.values() {
            m.outbox.close(reason);
        }
    }

    /// Change a member's role; the old role, or `None` if not a member.
    pub fn set_role(&self, id: ParticipantId, role: Role) -> Option<Role> {
        let mut st = self.lock();
        let m = st.members.get_mut(&id)?;
        Some(std::mem::replace(&mut m.role, role))
    }

    pub fn set_hand(&self, id: ParticipantId, raised: bool) -> bool {
        match self.lock().members.get_mut(&id) {
            Some(m) => {
                m.hand_raised = raised;
                true
            }
            None => false,
        }
    }

    pub fn tracks(&self) -> Vec<TrackInfo> {
        self.lock().tracks.values().cloned().collect()
    }

    pub fn track(&self, id: TrackId) -> Option<TrackInfo> {
        self.lock().tracks.get(&id).cloned()
    }

    pub fn has_track(&self, id: TrackId) -> bool {
        self.lock().tracks.contains_key(&id)
    }

    pub fn tracks_of(&self, owner: ParticipantId) -> Vec<TrackId> {
        self.lock()
            .tracks
            .keys()
            .filter(|t| t.owner == owner)
            .copied()
            .collect()
    }

    /// Record a track. False if the room is closed.
    pub fn add_track(&self, id: TrackId, info: TrackInfo) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        st.tracks.insert(id, info);
        true
    }

    /// Forget a track. False if it was not listed.
    pub fn remove_track(&self, id: TrackId) -> bool {
        self.lock().tracks.remove(&id).is_some()
    }

    /// Record the dominant speaker; false when it was already announced
    /// (every worker of a room spanning several reports the same change).
    pub fn set_speaker(&self, who: Option<ParticipantId>) -> bool {
        let mut st = self.lock();
        let changed = st.speaker != who;
        st.speaker = who;
        changed
    }

    pub fn set_track_muted(&self, id: TrackId, muted: bool) {
        if let Some(t) = self.lock().tracks.get_mut(&id) {
            t.muted = muted;
        }
    }
}
