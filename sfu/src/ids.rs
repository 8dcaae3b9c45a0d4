//! Small `Copy` identifiers for the things the core manages.
//!
//! Signaling allocates room and participant ids; the core allocates track ids.
//! A track id carries its owner's participant id, so it is unique across
//! workers without any coordination, and its text form (`p12t3`) says whose
//! track it is.

use std::fmt;
use std::str::FromStr;

/// A room, as numbered by signaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub u64);

/// A participant, as numbered by signaling. Text form: `p12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

/// A published track: the owner's id and a per-owner counter. Text form: `p12t3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId {
    pub owner: ParticipantId,
    pub index: u32,
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}t{}", self.owner, self.index)
    }
}

/// The text was not an id of the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid id")]
pub struct BadId(pub String);

impl FromStr for ParticipantId {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        s.strip_prefix('p')
            .and_then(|n| n.parse().ok())
            .map(ParticipantId)
            .ok_or_else(|| BadId(s.to_string()))
    }
}

impl FromStr for TrackId {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        let bad = || BadId(s.to_string());
        let (owner, index) = s.rsplit_once('t').ok_or_else(bad)?;
        Ok(TrackId {
            owner: owner.parse().map_err(|_| bad())?,
            index: index.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let t = TrackId {
            owner: ParticipantId(12),
            index: 3,
        };
        assert_eq!(t.to_string(), "p12t3");
        assert_eq!("p12t3".parse::<TrackId>().unwrap(), t);
        assert_eq!("p7".parse::<ParticipantId>().unwrap(), ParticipantId(7));
        assert!("x7".parse::<ParticipantId>().is_err());
        assert!("p12".parse::<TrackId>().is_err());
        assert!("p12tx".parse::<TrackId>().is_err());
    }
}
