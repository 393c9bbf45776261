//! The metrics listener: `GET /metrics` on `METRICS_ADDRESS`, a Rocket of its own next to the
//! app's, so the metrics never share the public port. It stops when the app stops.

use std::net::SocketAddr;

use rand::RngCore;
use rocket::config::{LogLevel, SecretKey, Shutdown};
use rocket::fairing::AdHoc;
use rocket::http::ContentType;
use rocket::{get, routes};

/// Serves the metrics on `address` once the app has lifted off, and enables recording.
pub fn listener(address: SocketAddr) -> AdHoc {
    super::enable();
    AdHoc::on_liftoff("metrics listener", move |app| {
        let app_stopped = app.shutdown();
        Box::pin(async move {
            // Its own key (Rocket wants one outside debug builds); it never issues cookies.
            let mut key = [0u8; 64];
            rand::thread_rng().fill_bytes(&mut key);
            let config = rocket::Config {
                address: address.ip(),
                port: address.port(),
                log_level: LogLevel::Off,
                secret_key: SecretKey::from(&key),
                // The app's own listener handles the signals; this one follows it.
                shutdown: Shutdown {
                    ctrlc: false,
                    #[cfg(unix)]
                    signals: Default::default(),
                    grace: 1,
                    mercy: 1,
                    ..Shutdown::default()
                },
                ..rocket::Config::release_default()
            };
            match rocket::custom(config)
                .mount("/", routes![metrics])
                .ignite()
                .await
            {
                Ok(server) => {
                    let stop = server.shutdown();
                    tokio::spawn(async move {
                        app_stopped.await;
                        stop.notify();
                    });
                    tokio::spawn(async move {
                        if let Err(error) = server.launch().await {
                            tracing::error!(%error, %address, "the metrics listener stopped");
                        }
                    });
                    tracing::info!(%address, "metrics on http://{address}/metrics");
                }
                Err(error) => tracing::error!(%error, "the metrics listener could not start"),
            }
        })
    })
}

#[get("/metrics")]
fn metrics() -> (ContentType, String) {
    let openmetrics = ContentType::new("application", "openmetrics-text")
        .with_params([("version", "1.0.0"), ("charset", "utf-8")]);
    (openmetrics, super::encode())
}
