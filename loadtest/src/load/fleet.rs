//! The bots of a run and what happened to their joins: the scenario drivers
//! add to it, the sampler reads it. Locks here are held only to copy or
//! push, never across an await.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::protocol::ErrorCode;
use crate::{BotError, BotHandle, TrackReceipt};

/// Totals of receipts, summed over tracks and bots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub lost: u64,
    pub freezes: u64,
    pub per_layer: [u64; 3],
    pub audio: u64,
    /// Sum and count of the tracks' jitter, and the largest.
    pub jitter_sum_us: f64,
    pub jitter_tracks: u64,
    pub jitter_max_us: f64,
}

impl Totals {
    pub fn add_receipt(&mut self, r: &TrackReceipt) {
        self.packets += r.packets;
        self.bytes += r.bytes;
        self.lost += r.lost();
        self.freezes += r.freezes;
        for (t, n) in self.per_layer.iter_mut().zip(r.per_layer) {
            *t += n;
        }
        self.audio += r.audio_packets;
        if r.packets > 1 {
            let j = r.jitter.as_secs_f64() * 1e6;
            self.jitter_sum_us += j;
            self.jitter_tracks += 1;
            self.jitter_max_us = self.jitter_max_us.max(j);
        }
    }

    pub fn add(&mut self, o: &Totals) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.lost += o.lost;
        self.freezes += o.freezes;
        for (t, n) in self.per_layer.iter_mut().zip(o.per_layer) {
            *t += n;
        }
        self.audio += o.audio;
        self.jitter_sum_us += o.jitter_sum_us;
        self.jitter_tracks += o.jitter_tracks;
        self.jitter_max_us = self.jitter_max_us.max(o.jitter_max_us);
    }
}

/// One joined bot.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: usize,
    pub handle: BotHandle,
    /// When its join started.
    pub started: Instant,
    /// It subscribes to media (attendees, meeting participants).
    pub receives: bool,
}

#[derive(Debug, Default)]
struct Inner {
    members: Vec<Member>,
    failures: BTreeMap<String, u64>,
    join_times: Vec<Duration>,
    /// Receipts of bots that left (churn).
    retired: Totals,
    /// Time to first media of each receiving bot, once seen.
    first_media: BTreeMap<usize, Duration>,
    fatal: Option<String>,
    hint: Option<String>,
    /// When the latest join finished (joined or failed).
    last_settled: Option<Instant>,
}

/// The run's bots.
#[derive(Debug)]
pub struct Fleet {
    /// Joins the scenario means to make in all (for churn: bots at once).
    pub target: usize,
    /// Joins that succeeded, over all cycles.
    pub joined: AtomicUsize,
    pub failed: AtomicUsize,
    next_id: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Fleet {
    pub fn new(target: usize) -> Fleet {
        Fleet {
            target,
            joined: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            next_id: AtomicUsize::new(0),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn joined(&self) -> usize {
        self.joined.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    /// Record a bot that joined in `took`; its member id.
    pub fn add(&self, handle: BotHandle, started: Instant, receives: bool) -> usize {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        g.join_times.push(started.elapsed());
        g.last_settled = Some(Instant::now());
        g.members.push(Member {
            id,
            handle,
            started,
            receives,
        });
        drop(g);
        self.joined.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// Record a failed join (or publish) and remember a hint for the user.
    pub fn fail(&self, what: &str, e: &BotError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        g.last_settled = Some(Instant::now());
        *g.failures
            .entry(format!("{what}: {}", short(e)))
            .or_insert(0) += 1;
        if g.hint.is_none() {
            g.hint = explain(e);
        }
    }

    /// Record an error of a bot that did join (a subscribe refused).
    pub fn problem(&self, what: &str, e: &BotError) {
        let mut g = self.lock();
        *g.failures
            .entry(format!("{what}: {}", short(e)))
            .or_insert(0) += 1;
    }

    /// Stop the run with this message (a presenter could not publish, the
    /// server cannot be reached).
    pub fn set_fatal(&self, msg: String) {
        self.lock().fatal.get_or_insert(msg);
    }

    pub fn fatal(&self) -> Option<String> {
        self.lock().fatal.clone()
    }

    pub fn hint(&self) -> Option<String> {
        self.lock().hint.clone()
    }

    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.lock().failures.clone()
    }

    pub fn join_times(&self) -> Vec<Duration> {
        self.lock().join_times.clone()
    }

    /// Bots in their rooms now (churn: fewer than joins over the run).
    pub fn present(&self) -> usize {
        self.lock().members.len()
    }

    pub fn members(&self) -> Vec<Member> {
        self.lock().members.clone()
    }

    /// Remove a member that left, keeping what it received.
    pub fn retire(&self, id: usize, received: &Totals) {
        let mut g = self.lock();
        g.members.retain(|m| m.id != id);
        g.retired.add(received);
    }

    pub fn last_settled(&self) -> Option<Instant> {
        self.lock().last_settled
    }

    pub fn retired(&self) -> Totals {
        self.lock().retired
    }

    pub fn note_first_media(&self, id: usize, after: Duration) {
        self.lock().first_media.entry(id).or_insert(after);
    }

    pub fn first_media(&self) -> Vec<Duration> {
        self.lock().first_media.values().copied().collect()
    }

    pub fn has_first_media(&self, id: usize) -> bool {
        self.lock().first_media.contains_key(&id)
    }
}

/// A short key for counting failures by kind.
fn short(e: &BotError) -> String {
    match e {
        BotError::Refused { code, .. } => format!("refused ({code:?})"),
        BotError::Connect { .. } => "cannot connect".into(),
        BotError::Timeout(_) => "timed out".into(),
        BotError::Closed => "connection closed".into(),
        other => other.to_string(),
    }
}

/// What a user should do about an error, when there is something to say.
pub fn explain(e: &BotError) -> Option<String> {
    Some(match e {
        BotError::Connect { url, reason } => format!(
            "cannot reach the server at {url} ({reason}): is relais running and listening there?"
        ),
        BotError::Refused {
            code: ErrorCode::Unauthorized,
            message,
        } => format!(
            "the server refused the token ({message}): pass the server's secret with --secret \
             (or RELAIS_SECRET), or run the server without one (development mode)"
        ),
        BotError::Refused {
            code: ErrorCode::RoomFull,
            ..
        } => "room full: the server's participant limit (--max-participants) is below \
              this scenario's room size"
            .into(),
        BotError::Refused {
            code: ErrorCode::Forbidden,
            message,
        } => format!("the server forbade it ({message}): check the roles the tokens grant"),
        BotError::Refused {
            code: ErrorCode::RateLimited,
            ..
        } => "rate limited by the server: lower --ramp".into(),
        BotError::Timeout(what) => {
            format!("timed out waiting for {what}: the server or the bots may be overloaded; lower --ramp")
        }
        _ => return None,
    })
}
