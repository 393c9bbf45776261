//! bff-loadgen: the bench IdP and the load generator behind bench/run.sh, bench/soak.sh and
//! bench/soak-redis.sh.
//!
//! ```text
//! loadgen idp     --port 4400 --key rsa-a.pem [--kid key-a] [--max-secs 3600]
//! loadgen login   --app http://localhost:3000 --app-kind bff|express --issuer URL
//!                 --client-id ID --key rsa-a.pem [--concurrency 32] [--secs 10] [--n N]
//!                 [--warmup-secs 2] [--signers 1] [--threads 1] [--session-out FILE]
//!                 [--session-path /api/hello] [--server-pid PID]
//!                 [--prefix ours.login] [--out results.env]
//! loadgen login   --flow code --app URL --split N [--warmup-logins 200] [--concurrency 32]
//!                 [--accounts alice:alice,bob:bob] [--server-pid PID] [--prefix P] [--out F]
//! loadgen logout (login's options) [--n 2000] [--users N] [--concurrency 8]
//!                 [--login-concurrency 32] [--check 200]
//! loadgen soak    (login's options) [--secs 600] [--warmup-secs 30] [--idle-secs 20]
//!                 [--rate OPS_PER_SEC] [--oversize-kib 100] [--max-growth-pct 10]
//!                 [--app URL_A,URL_B --server-pid PID_A,PID_B] [--logouts WEIGHT]
//!                 [--outage-from-secs F --outage-secs 30 --recovery-secs 5
//!                  --sync-grace-secs 30 --outage-slack-secs 1]
//! loadgen startup --url URL --log FILE [--timeout-secs 60] -- COMMAND ARGS...
//! loadgen report  FILE [--title TEXT]
//! ```

mod args;
mod http;
mod idp;
mod jar;
mod login;
mod logout;
mod report;
mod soak;
mod startup;
mod stats;
mod token;

use std::process::ExitCode;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = raw.split_first() else {
        eprintln!("usage: loadgen idp|login|logout|soak|startup|report …  (see src/main.rs)");
        return ExitCode::FAILURE;
    };
    let result = match mode.as_str() {
        "report" => match rest.split_first() {
            Some((file, more)) => args::Args::parse(more).and_then(|a| report::run(&a, file)),
            None => Err("report FILE".into()),
        },
        "startup" => args::Args::parse(rest).and_then(|a| startup::run(&a)),
        "idp" | "login" | "logout" | "soak" => args::Args::parse(rest).and_then(|a| {
            let threads: usize = a.or("threads", 1)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                match mode.as_str() {
                    "idp" => idp::run(&a).await,
                    "login" => login::run(&a).await,
                    "logout" => logout::run(&a).await,
                    _ => soak::run(&a).await,
                }
            })
        }),
        other => Err(format!("unknown mode `{other}`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen {mode}: {error}");
            ExitCode::FAILURE
        }
    }
}
