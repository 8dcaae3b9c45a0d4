//! Test-only crate: see `tests/`. It keeps the `webrtc` crate's dependencies
//! out of the server and the load tester.
