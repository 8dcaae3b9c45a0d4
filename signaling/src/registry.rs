//! Every room by name and id, and every participant's room: making rooms on
//! first join, placing them on the least loaded media worker, taking members
//! in and out, and closing rooms that stayed empty. It lives off the media
//! path: only signaling tasks touch it, never a media worker.
//!
//! Lock order: a room's mutex may be taken while holding nothing, and the
//! maps below may be touched while holding a room's mutex, never the reverse.
//! No lock is ever held across an `.await`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use relais_sfu::{ParticipantId, RoomId, TrackId};

/// How the join that makes a room wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRoom {
    pub mode: RoomMode,
    /// Its own last-N; `None`: the server's.
    pub last_n: Option<usize>,
}

impl From<RoomMode> for NewRoom {
    fn from(mode: RoomMode) -> Self {
        NewRoom { mode, last_n: None }
    }
}

use crate::error::SignalError;
use crate::outbox::{encode, Outbound, Outbox};
use crate::protocol::{ErrorCode, ParticipantInfo, Role, RoomMode, ServerMessage, TrackInfo};
use crate::room::Member;
pub use crate::room::{MemberView, Room};
pub struct Registry {
    rooms: DashMap<String, Arc<Room>>,
    by_id: DashMap<RoomId, Arc<Room>>,
    participants: DashMap<ParticipantId, Arc<Room>>,
    /// Members per media worker, to place new rooms.
    worker_load: Vec<AtomicUsize>,
    next_room: AtomicU64,
    next_participant: AtomicU64,
}
/// Someone about to join.
pub struct NewMember {
    pub name: String,
    /// `None`: decided by the room (see [`Registry::reserve`]).
    pub role: Option<Role>,
    pub outbox: Outbox,
}

/// A place taken in a room, and the room as it was at that moment.
pub struct Reservation {
    pub room: Arc<Room>,
    pub role: Role,
    pub others: Vec<ParticipantInfo>,
    pub tracks: Vec<TrackInfo>,
}

/// A member taken out of its room.
pub struct Removed {
    pub room: Arc<Room>,
    /// The media worker that held the member.
    pub worker: usize,
    /// The room's epoch if it is now empty.
    pub empty_at_epoch: Option<u64>,
    /// Tracks of the member still listed in the room.
    pub tracks: Vec<TrackId>,
}
impl Registry {
    pub fn new(workers: usize) -> Self {
        Registry {
            rooms: DashMap::new(),
            by_id: DashMap::new(),
            participants: DashMap::new(),
            worker_load: (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            next_room: AtomicU64::new(1),
            next_participant: AtomicU64::new(1),
        }
    }

    pub fn next_participant_id(&self) -> ParticipantId {
        ParticipantId(self.next_participant.fetch_add(1, Ordering::Relaxed))
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn room(&self, name: &str) -> Option<Arc<Room>> {
        self.rooms.get(name).map(|r| r.clone())
    }

    pub fn room_by_id(&self, id: RoomId) -> Option<Arc<Room>> {
        self.by_id.get(&id).map(|r| r.clone())
    }

    pub fn room_of(&self, participant: ParticipantId) -> Option<Arc<Room>> {
        self.participants.get(&participant).map(|r| r.clone())
    }

    pub fn all_rooms(&self) -> Vec<Arc<Room>> {
        self.rooms.iter().map(|r| r.value().clone()).collect()
    }

    /// The media worker holding a member's peers.
    pub fn worker_of(&self, id: ParticipantId) -> Option<usize> {
        let room = self.room_of(id)?;
        let st = room.lock();
        st.members.get(&id).map(|m| m.worker)
    }

    /// The worker with the fewest members (the lowest index on a tie).
    fn least_loaded_worker(&self) -> usize {
        self.worker_load
            .iter()
            .enumerate()
            .min_by_key(|(i, load)| (load.load(Ordering::Relaxed), *i))
            .map(|(i, _)| i)
            .unwrap_or(0)
    }

    fn new_room(&self, name: &str, spec: NewRoom) -> Arc<Room> {
        let mut room = Room::new(
            RoomId(self.next_room.fetch_add(1, Ordering::Relaxed)),
            name,
            spec.mode,
            self.least_loaded_worker(),
        );
        room.last_n = spec.last_n;
        let room = Arc::new(room);
        self.by_id.insert(room.id, room.clone());
        room
    }

    /// Take a place in room `name`, making it (in `mode`, with its own
    /// last-N if given) if it does not exist. Without a role given, a member is a `participant` in a meeting;
    /// in a webinar the first member becomes `host`, the others `attendee`.
    /// Until [`Registry::complete_join`], messages to the new member wait.
    pub fn reserve(
        &self,
        name: &str,
        spec: impl Into<NewRoom>,
        id: ParticipantId,
        new: NewMember,
        max_participants: usize,
    ) -> Result<Reservation, SignalError> {
        let spec = spec.into();
        loop {
            let room = self
                .rooms
                .entry(name.to_string())
                .or_insert_with(|| self.new_room(name, spec))
                .clone();
            let mut st = room.lock();
            if st.closed {
                drop(st);
                self.rooms.remove_if(name, |_, r| Arc::ptr_eq(r, &room));
                continue;
            }
            if st.members.len() >= max_participants {
                return Err(SignalError::new(
                    ErrorCode::RoomFull,
                    format!("room '{name}' is full ({max_participants} participants)"),
                ));
            }
            let role = new.role.unwrap_or(match room.mode {
                RoomMode::Meeting => Role::Participant,
                RoomMode::Webinar if st.members.is_empty() => Role::Host,
                RoomMode::Webinar => Role::Attendee,
            });
            let others = st
                .members
                .iter()
                .filter(|(_, m)| m.pending.is_none())
                .map(|(id, m)| m.info(*id))
                .collect();
            let tracks = st.tracks.values().cloned().collect();
            // Everyone who may publish stays on the room's worker; a webinar's
            // audience spreads over all workers, which relay the room's media
            // to each other.
            let worker = if room.mode == RoomMode::Webinar && role == Role::Attendee {
                self.least_loaded_worker()
            } else {
                room.worker
            };
            st.members.insert(
                id,
                Member {
                    name: new.name,
                    role,
                    hand_raised: false,
                    worker,
                    outbox: new.outbox,
                    pending: Some(Vec::new()),
                },
            );
            st.epoch += 1;
            drop(st);
            self.participants.insert(id, room.clone());
            self.worker_load[worker].fetch_add(1, Ordering::Relaxed);
            return Ok(Reservation {
                room,
                role,
                others,
                tracks,
            });
        }
    }

    /// Finish a join: send `joined`, then what waited, then tell the others.
    /// False if the member was removed in the meantime.
    pub fn complete_join(&self, id: ParticipantId, joined: &ServerMessage) -> bool {
        let Some(room) = self.room_of(id) else {
            return false;
        };
        let mut st = room.lock();
        let Some(member) = st.members.get_mut(&id) else {
            return false;
        };
        member.outbox.send(joined);
        for text in member.pending.take().unwrap_or_default() {
            member.outbox.push(Outbound::Text(text));
        }
        let announce = encode(&ServerMessage::ParticipantJoined {
            participant: member.info(id),
        });
        for (other, m) in st.members.iter_mut() {
            if *other != id {
                m.deliver(&announce);
            }
        }
        true
    }

    /// Take a member out of its room. `None` if it was not in one (already
    /// removed: removal happens once).
    pub fn remove_member(&self, id: ParticipantId) -> Option<Removed> {
        let (_, room) = self.participants.remove(&id)?;
        let mut st = room.lock();
        let member = st.members.remove(&id)?;
        self.worker_load[member.worker].fetch_sub(1, Ordering::Relaxed);
        let tracks = st
            .tracks
            .keys()
            .filter(|t| t.owner == id)
            .copied()
            .collect();
        let empty_at_epoch = st.members.is_empty().then_some(st.epoch);
        drop(st);
        Some(Removed {
            room,
            worker: member.worker,
            empty_at_epoch,
            tracks,
        })
    }

    /// Drop a room that has stayed empty since `epoch`. True if it closed.
    pub fn close_if_empty(&self, room: &Arc<Room>, epoch: u64) -> bool {
        let mut st = room.lock();
        if st.closed || !st.members.is_empty() || st.epoch != epoch {
            return false;
        }
        st.closed = true;
        st.tracks.clear();
        drop(st);
        self.rooms
            .remove_if(&room.name, |_, r| Arc::ptr_eq(r, room));
        self.by_id.remove(&room.id);
        true
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Kind, Source};
    use tokio::sync::mpsc;

    fn member(name: &str, role: Option<Role>) -> (NewMember, mpsc::Receiver<Outbound>) {
        let (outbox, rx, _) = Outbox::new(16);
        (
            NewMember {
                name: name.into(),
                role,
                outbox,
            },
            rx,
        )
    }

    fn texts(rx: &mut mpsc::Receiver<Outbound>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(Outbound::Text(t)) = rx.try_recv() {
            out.push(serde_json::from_str(t.as_str()).unwrap());
        }
        out
    }

    fn join(
        reg: &Registry,
        room: &str,
        mode: RoomMode,
        m: NewMember,
    ) -> (ParticipantId, Reservation) {
        let id = reg.next_participant_id();
        let r = reg.reserve(room, mode, id, m, 10).unwrap();
        reg.complete_join(id, &ServerMessage::Ok { req: None });
        (id, r)
    }

    #[test]
    fn webinar_roles_default_to_host_then_attendee() {
        let reg = Registry::new(1);
        let (a, _ra) = member("a", None);
        let (b, _rb) = member("b", None);
        let (_, first) = join(&reg, "w", RoomMode::Webinar, a);
        let (_, second) = join(&reg, "w", RoomMode::Meeting, b);
        assert_eq!(first.role, Role::Host);
        assert_eq!(second.role, Role::Attendee);
        assert_eq!(
            second.room.mode,
            RoomMode::Webinar,
            "the first join sets the mode"
        );
        let (c, _rc) = member("c", None);
        let (_, meeting) = join(&reg, "m", RoomMode::Meeting, c);
        assert_eq!(meeting.role, Role::Participant);
    }

    #[test]
    fn join_sees_others_and_others_are_told() {
        let reg = Registry::new(1);
        let (a, mut ra) = member("alice", None);
        let (b, mut rb) = member("bob", None);
        let (alice, _) = join(&reg, "r", RoomMode::Meeting, a);
        let (_, res) = join(&reg, "r", RoomMode::Meeting, b);
        assert_eq!(res.others.len(), 1);
        assert_eq!(res.others[0].id, alice.to_string());
        let to_alice = texts(&mut ra);
        assert_eq!(to_alice.last().unwrap()["type"], "participant_joined");
        assert_eq!(to_alice.last().unwrap()["participant"]["name"], "bob");
        let to_bob = texts(&mut rb);
        assert_eq!(to_bob.len(), 1, "bob gets only his join reply: {to_bob:?}");
    }

    #[test]
    fn messages_wait_until_the_join_reply_is_out() {
        let reg = Registry::new(1);
        let (a, mut ra) = member("a", None);
        let id = reg.next_participant_id();
        let res = reg.reserve("r", RoomMode::Meeting, id, a, 10).unwrap();
        res.room.send_to(id, &ServerMessage::Pong { req: None });
        assert!(texts(&mut ra).is_empty());
        reg.complete_join(id, &ServerMessage::Ok { req: None });
        let got = texts(&mut ra);
        assert_eq!(got[0]["type"], "ok");
        assert_eq!(got[1]["type"], "pong");
    }

    #[test]
    fn a_full_room_refuses() {
        let reg = Registry::new(1);
        for i in 0..2 {
            let (m, _) = member(&format!("m{i}"), None);
            let id = reg.next_participant_id();
            reg.reserve("r", RoomMode::Meeting, id, m, 2).unwrap();
        }
        let (m, _) = member("late", None);
        let id = reg.next_participant_id();
        let e = reg.reserve("r", RoomMode::Meeting, id, m, 2).err().unwrap();
        assert_eq!(e.code, ErrorCode::RoomFull);
    }

    #[test]
    fn removal_happens_once_and_empty_rooms_close() {
        let reg = Registry::new(1);
        let (m, _) = member("a", None);
        let (id, res) = join(&reg, "r", RoomMode::Meeting, m);
        let t = TrackId {
            owner: id,
            index: 0,
        };
        res.room.add_track(
            t,
            TrackInfo {
                id: t.to_string(),
                participant_id: id.to_string(),
                source: Source::Camera,
                kind: Kind::Video,
                codec: "VP8".into(),
                layers: 3,
                muted: false,
            },
        );
        let removed = reg.remove_member(id).unwrap();
        assert_eq!(removed.tracks, vec![t]);
        let epoch = removed.empty_at_epoch.expect("the room is empty");
        assert!(reg.remove_member(id).is_none());
        assert!(reg.close_if_empty(&removed.room, epoch));
        assert_eq!(reg.room_count(), 0);
        assert!(reg.room_by_id(removed.room.id).is_none());
    }

    #[test]
    fn a_rejoin_during_the_grace_period_keeps_the_room() {
        let reg = Registry::new(1);
        let (m, _) = member("a", None);
        let (id, res) = join(&reg, "r", RoomMode::Meeting, m);
        let epoch = reg.remove_member(id).unwrap().empty_at_epoch.unwrap();
        let (m, _) = member("b", None);
        let (id2, res2) = join(&reg, "r", RoomMode::Meeting, m);
        assert!(Arc::ptr_eq(&res.room, &res2.room));
        assert!(!reg.close_if_empty(&res.room, epoch));
        // Leaves again: the old timer must not close it, a new one does.
        let epoch2 = reg.remove_member(id2).unwrap().empty_at_epoch.unwrap();
        assert!(!reg.close_if_empty(&res.room, epoch));
        assert!(reg.close_if_empty(&res.room, epoch2));
    }

    #[test]
    fn a_join_after_close_makes_a_new_room() {
        let reg = Registry::new(1);
        let (m, _) = member("a", None);
        let (id, res) = join(&reg, "r", RoomMode::Webinar, m);
        let epoch = reg.remove_member(id).unwrap().empty_at_epoch.unwrap();
        assert!(reg.close_if_empty(&res.room, epoch));
        let (m, _) = member("b", None);
        let (_, res2) = join(&reg, "r", RoomMode::Meeting, m);
        assert_ne!(res.room.id, res2.room.id);
        assert_eq!(res2.room.mode, RoomMode::Meeting);
    }

    #[test]
    fn new_rooms_go_to_the_least_loaded_worker() {
        let reg = Registry::new(3);
        let (m, _) = member("a", None);
        let (_, r1) = join(&reg, "one", RoomMode::Meeting, m);
        let (m, _) = member("b", None);
        let (_, r2) = join(&reg, "two", RoomMode::Meeting, m);
        let (m, _) = member("c", None);
        let (_, r2b) = join(&reg, "two", RoomMode::Meeting, m);
        let (m, _) = member("d", None);
        let (_, r3) = join(&reg, "three", RoomMode::Meeting, m);
        assert_eq!(r1.room.worker, 0);
        assert_eq!(r2.room.worker, 1);
        assert_eq!(r2b.room.worker, 1);
        assert_eq!(r3.room.worker, 2);
        let (m, _) = member("e", None);
        let (_, r4) = join(&reg, "four", RoomMode::Meeting, m);
        assert_eq!(
            r4.room.worker, 0,
            "workers 0 and 2 hold one member, 0 wins the tie"
        );
    }

    #[test]
    fn a_webinar_audience_spreads_over_workers_and_publishers_stay_home() {
        let reg = Registry::new(2);
        let (m, _) = member("host", Some(Role::Host));
        let (host, r) = join(&reg, "w", RoomMode::Webinar, m);
        let home = r.room.worker;
        let (m, _) = member("presenter", Some(Role::Presenter));
        let (presenter, _) = join(&reg, "w", RoomMode::Webinar, m);
        let attendees: Vec<ParticipantId> = (0..6)
            .map(|i| {
                join(
                    &reg,
                    "w",
                    RoomMode::Webinar,
                    member(&format!("a{i}"), Some(Role::Attendee)).0,
                )
                .0
            })
            .collect();
        assert_eq!(reg.worker_of(host), Some(home));
        assert_eq!(reg.worker_of(presenter), Some(home));
        let on_other = attendees
            .iter()
            .filter(|a| reg.worker_of(**a) != Some(home))
            .count();
        // Two publishers on the home worker: the other takes four attendees
        // before the two balance, then they alternate.
        assert_eq!(on_other, 4);
        let before = reg.worker_of(attendees[0]).unwrap();
        let removed = reg.remove_member(attendees[0]).unwrap();
        assert_eq!(removed.worker, before);
        assert_eq!(reg.worker_of(attendees[0]), None);
    }
}
