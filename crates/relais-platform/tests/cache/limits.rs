//! Rate limits: local buckets on a manual clock, buckets shared through Redis, and the local
//! fallback while Redis is away.

use std::sync::Arc;
use std::time::Duration;

use relais_platform::limit::Limiter;
use relais_platform::rate::Rate;
use relais_testkit::Ctx;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const S: i64 = 1_000_000;

pub async fn local_limits_refill_on_the_clock(ctx: Ctx) {
    let clock = manual_clock();
    let limiter = Limiter::local(Arc::new(clock.clone()));
    let rate: Rate = "10/hour".parse().unwrap();
    for i in 0..10 {
        let d = limiter.take("POST /api/uploads", "user:ana", rate, 1).await;
        assert!(d.decision.allowed, "upload {i}");
        assert_eq!(d.decision.remaining, 9 - i);
        assert!(!d.shared);
    }
    let refused = limiter.take("POST /api/uploads", "user:ana", rate, 1).await;
    assert!(!refused.decision.allowed, "the 11th upload in the hour");
    assert_eq!(
        refused.decision.retry_after_micros,
        360 * S,
        "one token every 6 minutes"
    );
    assert!(
        limiter
            .take("POST /api/uploads", "user:bob", rate, 1)
            .await
            .decision
            .allowed,
        "buckets are per caller"
    );
    assert!(
        limiter
            .take("POST /api/other", "user:ana", rate, 1)
            .await
            .decision
            .allowed,
        "and per scope"
    );
    clock.advance(Duration::from_secs(359));
    assert!(
        !limiter
            .take("POST /api/uploads", "user:ana", rate, 1)
            .await
            .decision
            .allowed
    );
    clock.advance(Duration::from_secs(1));
    assert!(
        limiter
            .take("POST /api/uploads", "user:ana", rate, 1)
            .await
            .decision
            .allowed
    );
    drop(ctx);
}

fn redis_limiter(ctx: &Ctx, url: &str, clock: Arc<dyn relais_platform::clock::Clock>) -> Limiter {
    Limiter::redis(
        redis::Client::open(url).unwrap(),
        &ctx.key_prefix,
        clock,
        CancellationToken::new(),
    )
}

async fn limiter_up(limiter: &Limiter, up: bool) {
    let l = limiter.clone();
    link_is(move || l.redis_up(), limiter.link_events(), up).await;
}

pub async fn redis_limits_are_shared_by_two_instances(ctx: Ctx) {
    let url = ctx.redis_url.clone().unwrap();
    let a = redis_limiter(&ctx, &url, system());
    let b = redis_limiter(&ctx, &url, system());
    limiter_up(&a, true).await;
    limiter_up(&b, true).await;
    let rate: Rate = "3/hour".parse().unwrap();
    let first = a.take("POST /api/uploads", "token:t1", rate, 1).await;
    assert!(first.shared && first.decision.allowed);
    assert_eq!(first.decision.remaining, 2);
    assert!(
        b.take("POST /api/uploads", "token:t1", rate, 1)
            .await
            .decision
            .allowed
    );
    let third = a.take("POST /api/uploads", "token:t1", rate, 1).await;
    assert!(third.decision.allowed);
    assert_eq!(third.decision.remaining, 0);
    let refused = b.take("POST /api/uploads", "token:t1", rate, 1).await;
    assert!(
        !refused.decision.allowed,
        "the 4th request, on the other instance"
    );
    let retry = refused.decision.retry_after_micros;
    assert!(
        retry > 1190 * S && retry <= 1200 * S,
        "about 20 minutes: {retry}"
    );
    assert_eq!(refused.decision.remaining, 0);
    assert!(
        a.take("POST /api/uploads", "token:t2", rate, 1)
            .await
            .decision
            .allowed
    );
}

pub async fn limits_fall_back_to_local_buckets_when_redis_is_down(ctx: Ctx) {
    let proxy = Proxy::start(ctx.redis_url.as_deref().unwrap()).await;
    let clock = manual_clock();
    let limiter = redis_limiter(&ctx, &proxy.url, Arc::new(clock.clone()));
    limiter_up(&limiter, true).await;
    let rate: Rate = "2/hour".parse().unwrap();
    assert!(limiter.take("GET /x", "ip:1", rate, 1).await.shared);
    proxy.cut();
    let during = limiter.take("GET /x", "ip:1", rate, 1).await;
    assert!(!during.shared, "answered from this process's buckets");
    assert!(during.decision.allowed);
    limiter_up(&limiter, false).await;
    assert!(
        limiter
            .take("GET /x", "ip:1", rate, 1)
            .await
            .decision
            .allowed
    );
    assert!(
        !limiter
            .take("GET /x", "ip:1", rate, 1)
            .await
            .decision
            .allowed,
        "local buckets still limit"
    );
    proxy.restore();
    until("the link to wait for its retry", || async {
        clock.pending_timers() == 1
    })
    .await;
    clock.advance(relais_platform::redis::RETRY);
    limiter_up(&limiter, true).await;
    let back = limiter.take("GET /x", "ip:1", rate, 1).await;
    assert!(back.shared, "shared again");
    assert!(
        back.decision.allowed,
        "the shared bucket had one token left"
    );
}
