//! A client's `jwks_uri` for the tests: a tiny server on a free loopback port serving a key
//! set the test can replace (key rotation), counting how often it was fetched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::serde::json::Json;
use rocket::{get, routes, State};
use serde_json::Value;

use crate::support::free_port;

#[derive(Default)]
struct Keys {
    set: Mutex<Value>,
    fetches: AtomicUsize,
}

#[get("/jwks.json")]
fn jwks(keys: &State<Arc<Keys>>) -> Json<Value> {
    keys.fetches.fetch_add(1, Ordering::SeqCst);
    Json(keys.set.lock().unwrap().clone())
}

/// The serving server; stopped when dropped.
pub struct JwksServer {
    /// Its `jwks_uri`.
    pub uri: String,
    keys: Arc<Keys>,
    shutdown: rocket::Shutdown,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

impl JwksServer {
    pub async fn start(set: Value) -> Self {
        let port = free_port();
        let keys = Arc::new(Keys {
            set: Mutex::new(set),
            fetches: AtomicUsize::new(0),
        });
        let config = rocket::Config {
            port,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            log_level: rocket::config::LogLevel::Off,
            ..rocket::Config::debug_default()
        };
        let rocket = rocket::custom(config)
            .manage(keys.clone())
            .mount("/", routes![jwks])
            .ignite()
            .await
            .expect("JWKS server ignites");
        let shutdown = rocket.shutdown();
        tokio::spawn(rocket.launch());
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            uri: format!("http://127.0.0.1:{port}/jwks.json"),
            keys,
            shutdown,
        }
    }

    /// Serves `set` from now on.
    pub fn replace(&self, set: Value) {
        *self.keys.set.lock().unwrap() = set;
    }

    /// How often the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.keys.fetches.load(Ordering::SeqCst)
    }
}
