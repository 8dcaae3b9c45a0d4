//! Criterion micro-benchmarks of the media path live in `benches/`; their
//! recorded results are in `RESULTS.md`. Run them with
//! `cargo bench -p relais-benches`.
