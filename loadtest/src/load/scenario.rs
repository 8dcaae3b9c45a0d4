//! The scenario drivers: who joins, in which room and role, what each
//! publishes and asks for. They only start things (joins at `--ramp` per
//! second, publishes, subscriptions) and record them in the [`Fleet`]; the
//! sampler in [`super::run`] measures. Every join and request has a timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::cli::{ChurnArgs, Common, Layout, MeetingArgs, Scenario, WebinarArgs};
use super::fleet::{explain, Fleet, Totals};
use crate::media::{AudioOptions, VideoOptions};
use crate::protocol::{Quality, Role, RoomMode};
use crate::{Bot, BotError, BotHandle, JoinOptions, PublishOptions};

/// Packets of each track a receiving bot keeps in its log, for latency
/// samples: more than a second of a 1.5 Mbit/s layer.
pub const LOG_CAPACITY: usize = 512;
/// Joins in flight at once, at most.
const MAX_PENDING_JOINS: usize = 64;
/// Failed joins, with none succeeding, after which the run stops.
const GIVE_UP_AFTER: usize = 5;
/// Lifetime of minted tokens.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// How many joins the scenario makes (for churn: bots at once).
pub fn target(s: &Scenario) -> usize {
    match s {
        Scenario::Webinar(a) => a.presenters + a.attendees,
        Scenario::Meeting(a) => a.rooms * a.participants,
        Scenario::Churn(a) => a.participants + 1,
    }
}

/// Run the scenario's joins until done (or `end`, for churn).
pub async fn drive(s: Scenario, ws: String, run_id: String, fleet: Arc<Fleet>, end: Instant) {
    match s {
        Scenario::Webinar(a) => webinar(a, ws, run_id, fleet).await,
        Scenario::Meeting(a) => meeting(a, ws, run_id, fleet).await,
        Scenario::Churn(a) => churn(a, ws, run_id, fleet, end).await,
    }
}

pub fn publish_options(c: &Common) -> PublishOptions {
    let mut video = VideoOptions::default();
    for (layer, kbps) in video
        .layers
        .iter_mut()
        .zip([c.low_kbps, c.medium_kbps, c.high_kbps])
    {
        layer.bitrate_bps = kbps * 1000;
    }
    PublishOptions {
        video: Some(video.with_layers(usize::from(c.layers))),
        audio: (!c.no_audio).then(AudioOptions::default),
    }
}

fn join_options(c: &Common, room: &str, name: String, role: Role, mode: RoomMode) -> JoinOptions {
    let mut o = JoinOptions::new(room, name)
        .role(role)
        .mode(mode)
        .log_capacity(LOG_CAPACITY);
    o.timeout = c.join_timeout();
    if let Some(ip) = c.bind_ip {
        o = o.bind_ip(ip);
    }
    match &c.secret {
        Some(secret) => o.signed(secret, TOKEN_TTL),
        None => o,
    }
}

/// Start `n` jobs at `c.ramp` per second; stop starting when the run has a
/// fatal error or nothing joins. Each job gets a permit of at most
/// [`MAX_PENDING_JOINS`] and drops it once its join is done (a churn job
/// then goes on cycling without holding one).
async fn ramp<F, Fut>(c: &Common, fleet: &Arc<Fleet>, n: usize, already: usize, job: F)
where
    F: Fn(usize, OwnedSemaphorePermit) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let t0 = tokio::time::Instant::now();
    let gate = Arc::new(Semaphore::new(MAX_PENDING_JOINS));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        tokio::time::sleep_until(t0 + c.join_interval() * i as u32).await;
        if fleet.fatal().is_some() {
            break;
        }
        if fleet.failed() >= GIVE_UP_AFTER && fleet.joined() <= already {
            let why = fleet
                .hint()
                .unwrap_or_else(|| format!("{:?}", fleet.failures()));
            fleet.set_fatal(format!("the first {GIVE_UP_AFTER} joins failed: {why}"));
            break;
        }
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        tasks.spawn(job(i, permit));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

fn fatal_for(fleet: &Fleet, who: &str, e: &BotError) {
    let why = explain(e).unwrap_or_else(|| e.to_string());
    fleet.set_fatal(format!("{who}: {why}"));
}

async fn webinar(a: WebinarArgs, ws: String, run_id: String, fleet: Arc<Fleet>) {
    let c = &a.common;
    let room = format!("{}-{run_id}-webinar", c.room);
    let mut videos = Vec::new();
    for p in 0..a.presenters {
        let started = Instant::now();
        let opts = join_options(
            c,
            &room,
            format!("presenter-{p}"),
            Role::Presenter,
            RoomMode::Webinar,
        );
        let bot = match Bot::join(&ws, opts).await {
            Ok(b) => b,
            Err(e) => {
                fleet.fail("presenter join", &e);
                return fatal_for(&fleet, "a presenter could not join", &e);
            }
        };
        match bot.publish(publish_options(c)).await {
            Ok(p) => videos.extend(p.video),
            Err(e) => {
                fleet.fail("publish", &e);
                let _ = bot.leave().await;
                return fatal_for(&fleet, "a presenter could not publish", &e);
            }
        }
        fleet.add(bot, started, false);
    }
    let videos = Arc::new(videos);
    let quality: Quality = c.layer.map(Quality::from).unwrap_or(Quality::High);
    let job = |i: usize, permit: OwnedSemaphorePermit| {
        let (ws, fleet, videos) = (ws.clone(), fleet.clone(), videos.clone());
        let opts = join_options(
            c,
            &room,
            format!("attendee-{i}"),
            Role::Attendee,
            RoomMode::Webinar,
        );
        async move {
            let _permit = permit;
            let started = Instant::now();
            match Bot::join(&ws, opts).await {
                Ok(bot) => {
                    for v in videos.iter() {
                        if let Err(e) = bot.subscribe(v, quality).await {
                            fleet.problem("subscribe", &e);
                        }
                    }
                    fleet.add(bot, started, true);
                }
                Err(e) => fleet.fail("join", &e),
            }
        }
    };
    ramp(c, &fleet, a.attendees, a.presenters, job).await;
}

/// A meeting room's published videos, in join order.
type Registry = Mutex<Vec<(BotHandle, String, usize)>>;

fn meeting_quality(a: &MeetingArgs, publisher_index: usize) -> Quality {
    if let Some(l) = a.common.layer {
        return l.into();
    }
    match (a.layout, publisher_index) {
        (Layout::Grid, _) => Quality::Medium,
        (Layout::Speaker, 0) => Quality::High,
        (Layout::Speaker, _) => Quality::Low,
    }
}

async fn meeting(a: MeetingArgs, ws: String, run_id: String, fleet: Arc<Fleet>) {
    let c = &a.common;
    let rooms: Arc<Vec<Registry>> =
        Arc::new((0..a.rooms).map(|_| Mutex::new(Vec::new())).collect());
    let args = Arc::new(a.clone());
    let job = |i: usize, permit: OwnedSemaphorePermit| {
        let (ws, fleet, rooms, a) = (ws.clone(), fleet.clone(), rooms.clone(), args.clone());
        let per_room = a.participants.max(1);
        let (r, index) = (i / per_room, i % per_room);
        let opts = join_options(
            &a.common,
            &format!("{}-{run_id}-meeting-{r}", a.common.room),
            format!("participant-{r}-{index}"),
            Role::Participant,
            RoomMode::Meeting,
        );
        async move {
            let _permit = permit;
            let started = Instant::now();
            let bot = match Bot::join(&ws, opts).await {
                Ok(b) => b,
                Err(e) => return fleet.fail("join", &e),
            };
            let video = match bot.publish(publish_options(&a.common)).await {
                Ok(p) => p.video,
                Err(e) => {
                    fleet.fail("publish", &e);
                    let _ = bot.leave().await;
                    return;
                }
            };
            let Some(video) = video else { return };
            let others = {
                let mut reg = rooms[r].lock().unwrap_or_else(|e| e.into_inner());
                let others = reg.clone();
                reg.push((bot.clone(), video.clone(), index));
                others
            };
            fleet.add(bot.clone(), started, true);
            let mine = others
                .iter()
                .map(|(_, v, at)| bot.subscribe(v, meeting_quality(&a, *at)));
            let theirs = others
                .iter()
                .map(|(other, _, _)| other.subscribe(&video, meeting_quality(&a, index)));
            for r in join_all(mine)
                .await
                .into_iter()
                .chain(join_all(theirs).await)
            {
                if let Err(e) = r {
                    fleet.problem("subscribe", &e);
                }
            }
        }
    };
    ramp(c, &fleet, a.rooms * a.participants, 0, job).await;
}

async fn churn(a: ChurnArgs, ws: String, run_id: String, fleet: Arc<Fleet>, end: Instant) {
    let c = &a.common;
    let room = format!("{}-{run_id}-churn", c.room);
    let started = Instant::now();
    let opts = join_options(
        c,
        &room,
        "publisher".into(),
        Role::Participant,
        RoomMode::Meeting,
    );
    let publisher = match Bot::join(&ws, opts).await {
        Ok(b) => b,
        Err(e) => {
            fleet.fail("publisher join", &e);
            return fatal_for(&fleet, "the publisher could not join", &e);
        }
    };
    let video = match publisher.publish(publish_options(c)).await {
        Ok(p) => p.video.unwrap_or_default(),
        Err(e) => {
            fleet.fail("publish", &e);
            return fatal_for(&fleet, "the publisher could not publish", &e);
        }
    };
    fleet.add(publisher, started, false);
    let quality: Quality = c.layer.map(Quality::from).unwrap_or(Quality::Low);
    let stay = Duration::from_secs_f64(a.stay.clamp(0.1, 3600.0));
    let pause = Duration::from_secs_f64(a.pause.clamp(0.0, 3600.0));
    let job = |i: usize, permit: OwnedSemaphorePermit| {
        let (ws, fleet, video) = (ws.clone(), fleet.clone(), video.clone());
        let room = room.clone();
        let c = c.clone();
        async move {
            // Held for the first join only: the later cycles are spread out
            // by their stay and pause, and a job holds its slot for the run.
            let mut permit = Some(permit);
            let mut cycle = 0u64;
            // The last cycle may outlast the run: the run's end stops the
            // driver, and the bots still in the room leave with the others.
            while Instant::now() < end {
                let opts = join_options(
                    &c,
                    &room,
                    format!("churn-{i}-{cycle}"),
                    Role::Participant,
                    RoomMode::Meeting,
                );
                cycle += 1;
                let started = Instant::now();
                let joined = Bot::join(&ws, opts).await;
                permit.take();
                match joined {
                    Ok(bot) => {
                        if let Err(e) = bot.subscribe(&video, quality).await {
                            fleet.problem("subscribe", &e);
                        }
                        let id = fleet.add(bot.clone(), started, true);
                        tokio::time::sleep(stay).await;
                        let mut got = Totals::default();
                        for r in bot.receipts().await.values() {
                            got.add_receipt(r);
                        }
                        if let Err(e) = bot.leave().await {
                            fleet.problem("leave", &e);
                        }
                        fleet.retire(id, &got);
                    }
                    Err(e) => fleet.fail("join", &e),
                }
                tokio::time::sleep(pause).await;
            }
        }
    };
    ramp(c, &fleet, a.participants, 1, job).await;
}
