//! Cache behaviour on each backend.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use relais_platform::cache::{Cache, CacheBackend, RemoteInvalidation};
use relais_testkit::Ctx;
use tokio::sync::Notify;

use crate::support::*;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Centre {
    id: u32,
    name: String,
}

fn centre(id: u32) -> Centre {
    Centre {
        id,
        name: format!("centre {id}"),
    }
}

pub async fn values_are_typed_and_namespaced(ctx: Ctx) {
    for backend in backends(&ctx) {
        let cache = cache(&ctx, backend);
        ready(&cache).await;
        let name = format!("workforce-{}", backend.as_str());
        let refs = cache.namespace(&name).unwrap();
        let other = cache.namespace("events").unwrap();
        refs.set("centre:1", &centre(1), None, &[]).await.unwrap();
        assert_eq!(
            refs.get::<Centre>("centre:1").await,
            Some(centre(1)),
            "{backend:?}"
        );
        assert_eq!(
            other.get::<Centre>("centre:1").await,
            None,
            "namespaces are apart"
        );
        assert_eq!(
            refs.get::<u64>("centre:1").await,
            None,
            "another type is a miss"
        );
        refs.delete("centre:1").await;
        assert_eq!(refs.get::<Centre>("centre:1").await, None);
        let s = ns_stats(&cache, &name).await;
        // A value of another type is found (a hit) but not returned.
        assert_eq!((s.hits, s.misses, s.sets), (2, 1, 1), "{backend:?}: {s:?}");
        assert!(cache.namespace("Bad Name").is_err());
        assert!(refs.set("", &1, None, &[]).await.is_err());
        assert!(refs.set("k", &1, None, &["bad\ntag"]).await.is_err());
    }
}

/// The backends the run can reach: local always, Redis ones when the case has Redis.
fn backends(ctx: &Ctx) -> Vec<CacheBackend> {
    let mut all = vec![CacheBackend::Local];
    if ctx.redis_url.is_some() {
        all.extend([CacheBackend::Redis, CacheBackend::Tiered]);
    }
    all
}

pub async fn ttl_expires_on_the_cache_clock(ctx: Ctx) {
    let clock = manual_clock();
    let cache = cache_at(&ctx, CacheBackend::Local, Arc::new(clock.clone()), None);
    let ns = cache.namespace("events").unwrap();
    ns.set("code:ABC", &true, Some(Duration::from_secs(300)), &[])
        .await
        .unwrap();
    ns.set("default", &1u8, None, &[]).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(ns.get::<u8>("default").await, Some(1));
    clock.advance(Duration::from_secs(1));
    assert_eq!(ns.get::<u8>("default").await, None, "default TTL is 60s");
    clock.advance(Duration::from_secs(239));
    assert_eq!(ns.get::<bool>("code:ABC").await, Some(true), "1s left");
    clock.advance(Duration::from_secs(1));
    assert_eq!(ns.get::<bool>("code:ABC").await, None, "expired at 300s");
    let computed = ns
        .get_or_compute("code:ABC", Some(Duration::from_secs(300)), &[], || async {
            Ok::<_, Infallible>(false)
        })
        .await
        .unwrap();
    assert!(!computed, "recomputed after expiry");
    let s = ns_stats(&cache, "events").await;
    assert_eq!((s.expirations, s.computes), (2, 1), "{s:?}");
}

pub async fn single_flight_computes_a_cold_key_once(ctx: Ctx) {
    for backend in backends(&ctx) {
        let cache = cache(&ctx, backend);
        ready(&cache).await;
        let name = format!("workforce-{}", backend.as_str());
        let ns = cache.namespace(&name).unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let callers: Vec<_> = (0..1000)
            .map(|_| {
                let (ns, runs, release) = (ns.clone(), runs.clone(), release.clone());
                tokio::spawn(async move {
                    ns.get_or_compute("referentiel", None, &["refs"], || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        release.notified().await;
                        Ok::<_, Infallible>(centre(7))
                    })
                    .await
                })
            })
            .collect();
        // Every caller but the one computing waits on its flight before the value exists.
        until("999 callers waiting on the flight", || async {
            ns_stats(&cache, &name).await.coalesced == 999
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        release.notify_one();
        for caller in callers {
            assert_eq!(caller.await.unwrap().unwrap(), centre(7));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{backend:?}: computed once");
        assert_eq!(cache.flights(), 0, "no flight left in the air");
        let s = ns_stats(&cache, &name).await;
        assert_eq!((s.computes, s.misses, s.hits), (1, 1000, 0), "{s:?}");
        assert_eq!(
            ns.get::<Centre>("referentiel").await,
            Some(centre(7)),
            "{backend:?}: the value was cached"
        );
    }
}

pub async fn a_failed_computation_is_shared_and_not_cached(ctx: Ctx) {
    let cache = Cache::local(1 << 20, Duration::from_secs(60), system());
    let ns = cache.namespace("directory").unwrap();
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let (ns, runs, release) = (ns.clone(), runs.clone(), release.clone());
            tokio::spawn(async move {
                ns.get_or_compute("naf", None, &[], || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Err::<u32, _>("database unavailable".to_owned())
                })
                .await
            })
        })
        .collect();
    until("9 callers waiting", || async {
        ns_stats(&cache, "directory").await.coalesced == 9
    })
    .await;
    release.notify_one();
    for caller in callers {
        let error = caller.await.unwrap().unwrap_err();
        assert_eq!(*error, "database unavailable");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let value = ns
        .get_or_compute("naf", None, &[], || async { Ok::<_, String>(3u32) })
        .await
        .unwrap();
    assert_eq!(value, 3, "the error was not cached");
    drop(ctx);
}

pub async fn invalidation_by_key_tag_and_prefix(ctx: Ctx) {
    for backend in backends(&ctx) {
        let cache = cache(&ctx, backend);
        ready(&cache).await;
        let ns = cache.namespace("workforce").unwrap();
        let other = cache.namespace("elections").unwrap();
        for (key, tags) in [
            ("centre:1:taches", &["centre:1", "refs"][..]),
            ("centre:1:postes", &["centre:1"][..]),
            ("centre:2:taches", &["centre:2", "refs"][..]),
            ("direction:9", &[][..]),
        ] {
            ns.set(key, &key.len(), None, tags).await.unwrap();
        }
        other
            .set("centre:1:taches", &0usize, None, &["centre:1"])
            .await
            .unwrap();
        let present = |keys: &'static [&'static str]| {
            let ns = ns.clone();
            async move {
                let mut found = Vec::new();
                for k in keys {
                    if ns.get::<usize>(k).await.is_some() {
                        found.push(*k);
                    }
                }
                found
            }
        };
        const ALL: &[&str] = &[
            "centre:1:taches",
            "centre:1:postes",
            "centre:2:taches",
            "direction:9",
        ];
        assert_eq!(present(ALL).await, ALL, "{backend:?}");

        ns.invalidate_tag("centre:1").await;
        assert_eq!(
            present(ALL).await,
            ["centre:2:taches", "direction:9"],
            "{backend:?}: by tag"
        );
        assert_eq!(
            other.get::<usize>("centre:1:taches").await,
            Some(0),
            "other namespace kept"
        );

        ns.set("centre:1:taches", &1usize, None, &["refs"])
            .await
            .unwrap();
        ns.invalidate_prefix("centre:").await;
        assert_eq!(
            present(ALL).await,
            ["direction:9"],
            "{backend:?}: by prefix"
        );

        ns.set("a*[x]", &1usize, None, &[]).await.unwrap();
        ns.set("ab", &1usize, None, &[]).await.unwrap();
        ns.invalidate_prefix("a*").await;
        assert_eq!(
            ns.get::<usize>("ab").await,
            Some(1),
            "{backend:?}: prefix is literal"
        );
        assert_eq!(ns.get::<usize>("a*[x]").await, None);

        ns.delete("direction:9").await;
        ns.invalidate_prefix("").await;
        assert_eq!(present(ALL).await, Vec::<&str>::new());
        assert_eq!(
            ns.get::<usize>("ab").await,
            None,
            "empty prefix: whole namespace"
        );
        assert_eq!(other.get::<usize>("centre:1:taches").await, Some(0));
        other.invalidate_prefix("").await;
    }
}

pub async fn tiered_invalidations_reach_the_other_instances(ctx: Ctx) {
    let a = cache(&ctx, CacheBackend::Tiered);
    let b = cache(&ctx, CacheBackend::Tiered);
    ready(&a).await;
    ready(&b).await;
    let (na, nb) = (
        a.namespace("workforce").unwrap(),
        b.namespace("workforce").unwrap(),
    );
    let mut received = b.remote_invalidations();

    na.set("centre:1", &centre(1), None, &["centre:1"])
        .await
        .unwrap();
    na.set("centre:2", &centre(2), None, &[]).await.unwrap();
    na.set("poste:3", &centre(3), None, &[]).await.unwrap();
    for key in ["centre:1", "centre:2", "poste:3"] {
        // b hears of each write (it held no copy yet).
        expect(&mut received, "key", key).await;
    }
    for key in ["centre:1", "centre:2", "poste:3"] {
        assert!(
            nb.get::<Centre>(key).await.is_some(),
            "{key} read through Redis"
        );
    }
    assert_eq!(
        ns_stats(&b, "workforce").await.entries,
        3,
        "b now holds local copies"
    );
    let hits_before = ns_stats(&b, "workforce").await.hits;
    assert_eq!(nb.get::<Centre>("centre:2").await, Some(centre(2)));
    assert_eq!(ns_stats(&b, "workforce").await.hits, hits_before + 1);

    // A new value written on a: b drops its copy and reads the new one.
    na.set("centre:2", &centre(22), None, &[]).await.unwrap();
    expect(&mut received, "key", "centre:2").await;
    assert_eq!(nb.get::<Centre>("centre:2").await, Some(centre(22)));

    na.invalidate_tag("centre:1").await;
    expect(&mut received, "tag", "centre:1").await;
    assert_eq!(
        nb.get::<Centre>("centre:1").await,
        None,
        "tag reached b's local copy"
    );

    na.invalidate_prefix("poste:").await;
    expect(&mut received, "prefix", "poste:").await;
    assert_eq!(nb.get::<Centre>("poste:3").await, None);

    na.delete("centre:2").await;
    expect(&mut received, "key", "centre:2").await;
    assert_eq!(nb.get::<Centre>("centre:2").await, None);
    assert!(b.stats().await.remote_invalidations >= 4);
}

async fn expect(
    received: &mut tokio::sync::broadcast::Receiver<RemoteInvalidation>,
    by: &str,
    value: &str,
) {
    let wait = async {
        loop {
            let got = received.recv().await.expect("invalidation channel open");
            if got.by == by && got.value == value {
                return got;
            }
        }
    };
    let got = tokio::time::timeout(GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("no {by} {value} invalidation received"));
    assert_eq!(got.namespace.as_deref(), Some("workforce"));
}

pub async fn redis_outage_degrades_to_computing_then_recovers(ctx: Ctx) {
    let proxy = Proxy::start(ctx.redis_url.as_deref().unwrap()).await;
    let clock = manual_clock();
    for backend in [CacheBackend::Redis, CacheBackend::Tiered] {
        let cache = cache_at(&ctx, backend, Arc::new(clock.clone()), Some(&proxy.url));
        ready(&cache).await;
        let ns = cache
            .namespace(&format!("ns-{}", backend.as_str()))
            .unwrap();
        ns.set("kept", &1u32, None, &[]).await.unwrap();
        ns.set("dropped", &2u32, None, &[]).await.unwrap();
        assert_eq!(ns.get::<u32>("kept").await, Some(1));

        let mut link = cache.link_events().unwrap();
        proxy.cut();
        // Requests still succeed: the value is computed.
        let runs = AtomicUsize::new(0);
        for _ in 0..3 {
            let v = ns
                .get_or_compute("kept", None, &[], || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(10u32)
                })
                .await
                .unwrap();
            assert!(v == 10 || v == 1, "{backend:?}: {v}");
        }
        link_is(|| cache.redis_up(), Some(link.resubscribe()), false).await;
        assert_eq!(cache.redis_up(), Some(false));
        // Once the link is known down, no local copy is served: the value is computed.
        let computed = ns
            .get_or_compute("kept", None, &[], || async { Ok::<_, Infallible>(10u32) })
            .await
            .unwrap();
        assert_eq!(computed, 10, "{backend:?}");
        assert_eq!(
            ns.get::<u32>("kept").await,
            None,
            "{backend:?}: a miss while down"
        );
        // Written while Redis is away: the old value must not come back afterwards.
        ns.delete("dropped").await;
        ns.set("kept", &11u32, None, &[]).await.unwrap();
        let s = ns_stats(&cache, ns.name()).await;
        assert!(s.degraded >= 2, "{backend:?}: {s:?}");
        assert!(cache.stats().await.redis_errors >= 1);

        proxy.restore();
        until("the link to wait for its retry", || async {
            clock.pending_timers() == 1
        })
        .await;
        clock.advance(relais_platform::redis::RETRY);
        link_is(|| cache.redis_up(), Some(link.resubscribe()), true).await;
        assert_eq!(
            ns.get::<u32>("dropped").await,
            None,
            "{backend:?}: delete replayed"
        );
        assert_eq!(
            ns.get::<u32>("kept").await,
            None,
            "{backend:?}: stale value dropped"
        );
        ns.set("kept", &12u32, None, &[]).await.unwrap();
        assert_eq!(
            ns.get::<u32>("kept").await,
            Some(12),
            "{backend:?}: recovered"
        );
        let _ = link.try_recv();
    }
}

pub async fn values_are_typed_and_namespaced_on_redis(ctx: Ctx) {
    values_are_typed_and_namespaced(ctx).await;
}

pub async fn single_flight_computes_a_cold_key_once_on_redis(ctx: Ctx) {
    single_flight_computes_a_cold_key_once(ctx).await;
}

pub async fn invalidation_by_key_tag_and_prefix_on_redis(ctx: Ctx) {
    invalidation_by_key_tag_and_prefix(ctx).await;
}

pub async fn the_local_tier_stays_within_its_memory_budget(ctx: Ctx) {
    let budget = 1u64 << 20;
    let cache = Cache::local(budget, Duration::from_secs(60), system());
    let ns = cache.namespace("photos").unwrap();
    let value = "x".repeat(1000);
    for i in 0..5000 {
        ns.set(&format!("selfie:{i}"), &value, None, &[])
            .await
            .unwrap();
    }
    let s = ns_stats(&cache, "photos").await;
    assert!(s.evictions > 0, "{s:?}");
    assert!(s.memory_bytes <= budget, "{s:?}");
    assert!(s.entries < 5000 && s.entries > 0, "{s:?}");
    let mut present = 0;
    for i in 0..5000 {
        present += usize::from(ns.get::<String>(&format!("selfie:{i}")).await.is_some());
    }
    assert_eq!(present as u64, ns_stats(&cache, "photos").await.entries);
    // A value above a shard's share of the budget (1/16) is not kept.
    ns.set("album", &"y".repeat(100_000), None, &[])
        .await
        .unwrap();
    assert_eq!(ns.get::<String>("album").await, None);
    assert!(ns_stats(&cache, "photos").await.memory_bytes <= budget);
    drop(ctx);
}
