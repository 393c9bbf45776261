//! Support for the browser end-to-end tests (`tests/e2e/main.rs`): processes, ports,
//! temporary directories and the tests' HTTP client (reqwest) here; the browser sessions in
//! `browser`, the IdP drivers in `idp_driver`, the page helpers in `page`, the app's recording
//! store in `store`.
//!
//! Clean-up rules: every child process is owned by a [`ChildProcess`] that stops it by PID when
//! dropped (also while a panic unwinds); every Chromium started through ChromeDriver is owned by
//! a [`BrowserSession`](crate::browser::BrowserSession) that closes the WebDriver session and, should the browser outlive it,
//! terminates the browser's own PID (checked against its private profile directory first).

use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The app, browsed as `localhost`, and the IdP (either one) on `127.0.0.1`: two sites.
pub const APP: &str = "http://localhost:3000";
pub const APP_PORT: u16 = 3000;
pub const IDP: &str = "http://127.0.0.1:4000";
pub const IDP_PORT: u16 = 4000;
/// The second development IdP of the two-provider round.
pub const SECOND_IDP: &str = "http://127.0.0.1:4001";
pub const SECOND_IDP_PORT: u16 = 4001;

/// Sends SIGTERM to one process id.
pub fn terminate(pid: i32) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions; a positive pid names one process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The package root (`cargo test` also runs tests with it as the working directory).
pub fn package_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<name>` under the package root, created if missing.
pub fn target_subdir(name: &str) -> PathBuf {
    let dir = package_root().join("target").join(name);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Whether something accepts connections on `127.0.0.1:<port>`. (A connection attempt rather
/// than a trial `bind`: sockets of closed connections in `TIME_WAIT` make a plain `bind` fail
/// for a minute, though the servers here, which set `SO_REUSEADDR`, can listen again at once.)
pub fn port_in_use(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Panics with a clear message when something is already listening on a fixed port.
pub fn assert_port_free(port: u16, what: &str) {
    if port_in_use(port) {
        panic!(
            "port {port} (needed for {what}) is not free: something listens on 127.0.0.1:{port}. \
             Stop it (a `cargo run` of the app, a benchmark or a test IdP?) and retry."
        );
    }
}

/// Waits until nothing listens on `port` any more (a server that was just told to stop), and
/// panics after `timeout`.
pub async fn wait_port_free(port: u16, what: &str, timeout: Duration) {
    let start = Instant::now();
    while port_in_use(port) {
        if start.elapsed() > timeout {
            panic!("{what} still listens on port {port} {timeout:?} after it was stopped");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port that was free a moment ago (for ChromeDriver, whose port is not fixed).
pub use dev_idp::testing::free_port;

/// The tests' own HTTP client: redirects are not followed, and no request waits long.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

/// `GET http://127.0.0.1:<port><path>` with `Host: <host>`: the status and the body.
pub async fn http_get(port: u16, host: &str, path: &str) -> Result<(u16, String), String> {
    let request = http_client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("host", host)
        .header("accept", "*/*");
    let answer = send(request).await?;
    Ok((answer.status, answer.body))
}

/// An HTTP answer: the status, the headers and the body.
pub struct HttpAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl HttpAnswer {
    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Result<HttpAnswer, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

/// A child process whose stdout and stderr go to a log file, stopped when dropped.
pub struct ChildProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildProcess {
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Self {
        let out =
            File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out.try_clone().expect("cannot duplicate log file handle");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", command.get_program()));
        Self {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// `Err` with the end of the log when the process has already exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited early ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(30)
            )),
            Err(e) => Err(format!("cannot check on {}: {e}", self.name)),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Polls `GET http://127.0.0.1:<port><path>` until `ready(status, body)` holds, failing
    /// early (with the log) if the process exits and after `timeout` otherwise.
    pub async fn wait_until_serving(
        &mut self,
        port: u16,
        path: &str,
        timeout: Duration,
        ready: impl Fn(u16, &str) -> bool,
    ) -> Result<(), String> {
        let start = Instant::now();
        loop {
            self.check_running()?;
            let last = match http_get(port, &format!("127.0.0.1:{port}"), path).await {
                Ok((status, body)) if ready(status, &body) => return Ok(()),
                Ok((status, _)) => format!("HTTP {status}"),
                Err(e) => e,
            };
            if start.elapsed() > timeout {
                return Err(format!(
                    "{} did not answer GET {path} on port {port} within {timeout:?} (last: {last}); \
                     last lines of {}:\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // Holding the un-waited `Child` keeps its PID from being reused, so this signals only
        // the process that was started here.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        terminate(self.child.id() as i32);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A browser that is still shutting down may write a last file; try a few times.
        for _ in 0..5 {
            if fs::remove_dir_all(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
