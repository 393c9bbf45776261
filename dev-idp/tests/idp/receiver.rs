//! A client's back-channel logout endpoint for the tests: a tiny server on a free loopback
//! port that keeps every logout token posted to it as a form.

use std::time::Duration;

use rocket::form::{Form, FromForm};
use rocket::http::Status;
use rocket::{post, routes, State};
use tokio::sync::mpsc;

use crate::support::free_port;

#[derive(FromForm)]
struct Delivery {
    logout_token: String,
}

struct Inbox(mpsc::UnboundedSender<String>);

#[post("/backchannel-logout", data = "<delivery>")]
fn receive(delivery: Form<Delivery>, inbox: &State<Inbox>) -> Status {
    let _ = inbox.0.send(delivery.into_inner().logout_token);
    Status::Ok
}

/// The receiving server; stopped when dropped.
pub struct Receiver {
    /// Its `backchannel_logout_uri`.
    pub uri: String,
    tokens: mpsc::UnboundedReceiver<String>,
    shutdown: rocket::Shutdown,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let port = free_port();
        let (sender, tokens) = mpsc::unbounded_channel();
        let config = rocket::Config {
            port,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            log_level: rocket::config::LogLevel::Off,
            ..rocket::Config::debug_default()
        };
        let rocket = rocket::custom(config)
            .manage(Inbox(sender))
            .mount("/", routes![receive])
            .ignite()
            .await
            .expect("receiver ignites");
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
            uri: format!("http://127.0.0.1:{port}/backchannel-logout"),
            tokens,
            shutdown,
        }
    }

    /// The next logout token delivered, waiting up to 10 s.
    pub async fn next(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.tokens.recv())
            .await
            .expect("a logout token delivered within 10 s")
            .expect("the receiver runs")
    }

    /// Whether another token arrives within `wait`.
    pub async fn nothing_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.tokens.recv())
            .await
            .is_err()
    }
}
