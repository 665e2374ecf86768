//! Graceful shutdown of the accept loop.

use crate::support::*;

pub(crate) async fn serve_in_background(
    app: &TestApp,
    grace: Duration,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(relais_http::serve(
        listener,
        app.router.clone(),
        app.platform.shutdown.clone(),
        grace,
    ));
    (addr, server)
}

pub(crate) async fn shutdown_drains_in_flight_requests(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let (addr, server) = serve_in_background(&app, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(client.get(format!("http://{addr}/api/test/slow")).send());
    app.gate.entered.notified().await;
    app.platform.shutdown.trigger();
    app.gate.release.notify_one();
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    server.await.unwrap().expect("server stops cleanly");
    let after = reqwest::Client::new()
        .get(format!("http://{addr}/api/health"))
        .send()
        .await;
    assert!(after.is_err(), "no longer accepting");
    app.platform.store.close().await;
}

pub(crate) async fn shutdown_cuts_requests_past_the_grace_period(ctx: Ctx) {
    let app = start(config(&ctx)).await;
    let (addr, server) = serve_in_background(&app, Duration::from_millis(200)).await;
    let in_flight = tokio::spawn(
        reqwest::Client::new()
            .get(format!("http://{addr}/api/test/slow"))
            .send(),
    );
    app.gate.entered.notified().await;
    app.platform.shutdown.trigger();
    server
        .await
        .unwrap()
        .expect("server returns after the grace period");
    assert!(
        in_flight.await.unwrap().is_err(),
        "the stuck request was cut"
    );
    app.platform.store.close().await;
}
