//! The impairment proxy on loopback (no namespace needed): one subscriber's
//! media goes through it with `JoinOptions::media_via`; with loss, the proxy
//! drops datagrams both ways and the video still arrives; at 100% loss
//! towards the subscriber, nothing does.

use std::time::Duration;

use relais_loadtest::impair::{Impairment, Proxy, ProxyConfig};
use relais_loadtest::protocol::{Quality, Role, RoomMode};
use relais_loadtest::{Bot, JoinOptions, PublishOptions};
use relais_signaling::{start, ServerConfig};

const WAIT: Duration = Duration::from_secs(20);

fn join(name: &str, role: Role) -> JoinOptions {
    JoinOptions::new("impaired", name)
        .role(role)
        .mode(RoomMode::Webinar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_crosses_a_lossy_proxy_and_not_a_dead_one() {
    let server = start(ServerConfig::default()).await.expect("server starts");
    let url = server.ws_url();
    let presenter = Bot::join(&url, join("presenter", Role::Presenter))
        .await
        .expect("presenter joins");
    let video = presenter
        .publish(PublishOptions::camera_and_mic())
        .await
        .expect("publishes")
        .video
        .unwrap();
    let media = server.sfu().worker(0).media_addr();
    let lossy = Impairment::default()
        .loss(0.1)
        .delay(Duration::from_millis(10))
        .jitter(Duration::from_millis(5));
    let proxy = Proxy::start(ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        server: media,
        up: lossy,
        down: lossy,
        seed: 1,
    })
    .await
    .expect("proxy starts");
    let sub = Bot::join(
        &url,
        join("through", Role::Attendee).media_via(proxy.local_addr()),
    )
    .await
    .expect("subscriber joins");
    sub.subscribe(&video, Quality::Low)
        .await
        .expect("subscribes");
    sub.wait_received(&video, |r| r.video_packets() > 100, WAIT)
        .await
        .expect("video through a 10% loss proxy");
    let s = proxy.stats();
    assert_eq!(s.clients, 1, "one client behind the proxy: {s:?}");
    assert!(s.down.lost > 0 && s.up.passed > 0, "{s:?}");

    // Cut the way in: nothing more arrives.
    proxy.set(Impairment::default(), Impairment::default().loss(1.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sub.received(&video).await.unwrap().packets;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sub.received(&video).await.unwrap().packets;
    assert_eq!(before, after, "nothing crosses a proxy losing everything");

    let _ = sub.leave().await;
    let _ = presenter.leave().await;
    server.shutdown().await;
}
