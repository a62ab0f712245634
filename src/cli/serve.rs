//! `falconer serve`: the agent (docs/agent.md), until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::exit;
use super::output::Output;
use crate::ops::Cancel;
use crate::ops::live::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The fleet whose drift the agent checks, as `drift` takes it (manifests, a directory of tenants,
    /// globs, a fleet file), read again at every cycle. None: the agent runs the backup schedules only.
    #[arg(value_name = "FLEET")]
    pub paths: Vec<PathBuf>,
    /// Where the agent answers HTTP: a loopback address and port (`127.0.0.1:0`: a port the system
    /// chooses, printed on standard error).
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// The time from one drift cycle's start to the next's: `15m`, `1h`, `90s`, `1h30m`.
    #[arg(long, default_value = "15m", value_parser = parse_every, value_name = "DURATION")]
    pub drift_every: Duration,
    /// How long an agent's claim of a tenant's check lasts unrenewed (it renews it every third of this
    /// while the check runs): a check whose agent died is taken over by another agent after it. At least
    /// 3s.
    #[arg(long, default_value = "1m", value_parser = parse_lease, value_name = "DURATION")]
    pub lease: Duration,
    /// Do not run the backup schedules (`backup schedule`); by default the agent runs each due slot, as
    /// `backup run-due` does, checking every minute.
    #[arg(long)]
    pub no_schedules: bool,
    /// Tenants checked at once (they share one connection pool per system).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
    /// The repository key of the schedules' backups (else each profile's `[backup] key`).
    #[arg(long, env = "FALCONER_BACKUP_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// A webhook for the events (new drift, drift resolved, a backup not complete, a restore finished),
    /// in falconer's JSON, signed with FALCONER_WEBHOOK_SECRET when set. A URL here is seen by every user
    /// of the machine: give it in the profile's `[[serve.webhook]]` instead (docs/agent.md).
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Answer in plain HTTP on an address that is not loopback (with the profile's `[serve] token`):
    /// inside a cluster's network, or behind a proxy that adds TLS.
    #[arg(long)]
    pub insecure_http: bool,
    /// How long a running job may go on after SIGTERM or SIGINT before the agent stops anyway.
    #[arg(long, default_value = "30s", value_parser = parse_every, value_name = "DURATION")]
    pub grace: Duration,
}

/// A duration of hours, minutes and seconds: `15m`, `1h30m`, `90s`.
fn parse_every(s: &str) -> Result<Duration, String> {
    let units = [('s', 1), ('m', 60), ('h', 3600)];
    let seconds = crate::util::sum_of_units(s, &units, "15m, 1h30m or 90s")?;
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = parse_every(s)?;
    if d < Duration::from_secs(3) {
        return Err("a lease of at least 3s (it is renewed every third of it)".into());
    }
    Ok(d)
}

pub fn run(a: &Args, out: &Output, settings: &Settings) -> i32 {
    if a.paths.is_empty() && a.no_schedules {
        out.error("nothing to do: give a fleet to check, or leave the backup schedules on (no --no-schedules)");
        return exit::ERROR;
    }
    let webhooks = match webhooks(a, out, settings) {
        Ok(w) => w,
        Err(e) => return exit::fail(out, &e),
    };
    let access = match settings.serve_access() {
        Ok(s) => crate::agent::Access {
            token: s.token,
            write_token: s.write_token,
            metrics_public: s.metrics_public,
            insecure_http: a.insecure_http,
            tls: s.tls,
        },
        Err(e) => return exit::fail(out, &e),
    };
    let req = crate::ops::agent::Request {
        paths: a.paths.clone(),
        drift_every: a.drift_every,
        lease: a.lease,
        schedules: !a.no_schedules,
        schedule_every: Duration::from_secs(60),
        parallelism: a.parallelism.max(1),
        key_file: a.key_file.clone(),
        grace: a.grace,
        webhooks,
        deliver_every: Duration::from_secs(5),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.error(format!("cannot start the async runtime: {e}"));
            return exit::ERROR;
        }
    };
    let cancel = Cancel::new();
    let served = runtime.block_on(async {
        tokio::spawn(stop_on_signal(cancel.clone()));
        let events = Arc::new(crate::agent::Log);
        crate::agent::serve(settings, (req, access), a.listen, events, cancel).await
    });
    match served {
        Ok(()) => {
            eprintln!("falconer serve: stopped");
            exit::OK
        }
        Err(e) => {
            out.error(e.to_string());
            exit::ERROR
        }
    }
}

/// The profile's webhooks and those of `--webhook` (warned of: a command line is public on its machine).
fn webhooks(
    a: &Args,
    out: &Output,
    settings: &Settings,
) -> Result<Vec<crate::ops::webhooks::Webhook>, crate::ops::Error> {
    let mut hooks = settings.webhooks()?;
    let secret = std::env::var("FALCONER_WEBHOOK_SECRET").ok();
    for url in &a.webhook {
        let hook = crate::ops::webhooks::Webhook {
            url: url.clone(),
            format: crate::ops::webhooks::Format::Json,
            secret: secret.clone(),
        };
        out.warning(format!(
            "the webhook to {} is given on the command line, which every user of this machine can read: give it in the profile's [[serve.webhook]] as {{ env = \"NAME\" }}",
            hook.host()
        ));
        hooks.push(hook);
    }
    Ok(hooks)
}

/// Cancels the agent on SIGTERM (a container's stop) or SIGINT (Ctrl-C).
async fn stop_on_signal(cancel: Cancel) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    eprintln!("falconer serve: stopping (running jobs get their grace period)");
    cancel.cancel();
}

#[cfg(test)]
mod tests {
    use super::parse_every;
    use std::time::Duration;

    #[test]
    fn durations_of_hours_minutes_and_seconds() {
        assert_eq!(parse_every("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_every("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_every("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "0s", "15", "m", "15d", "1.5h", "-1m"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
