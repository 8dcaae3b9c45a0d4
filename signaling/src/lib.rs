//! Relais signaling: the HTTP and WebSocket server that hands out rooms and drives the media core.

pub mod protocol;
