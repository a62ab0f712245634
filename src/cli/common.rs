//! What the commands share: running async work, the state store, a live plan, writing files.

use super::exit;
use super::output::Output;

/// Writes a manifest in `format` to `output` (atomically) or to standard output; returns the exit code.
pub fn emit_manifest(
    m: &crate::manifest::Manifest,
    format: crate::manifest::Format,
    output: Option<&std::path::Path>,
    out: &Output,
) -> i32 {
    let text = match crate::manifest::write::write(m, format) {
        Ok(t) => t,
        Err(e) => {
            out.error(e.to_string());
            return exit::ERROR;
        }
    };
    match output {
        Some(p) => {
            if let Err(e) = write_atomic(p, &text) {
                out.error(format!("cannot write {}: {e}", p.display()));
                return exit::ERROR;
            }
            eprintln!("wrote {} ({} resources)", p.display(), m.resources.len());
        }
        None => print!("{text}"),
    }
    exit::OK
}

/// Runs a command's async work on a current-thread runtime; its exit code (1 when the runtime cannot
/// start, said on standard error).
pub fn block_on(out: &Output, work: impl std::future::Future<Output = i32>) -> i32 {
    run_async(out, work).unwrap_or(exit::ERROR)
}

/// Runs async work on a current-thread runtime; `None` (said on standard error) when it cannot start.
pub fn run_async<T>(out: &Output, work: impl std::future::Future<Output = T>) -> Option<T> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt.block_on(work)),
        Err(e) => {
            out.error(format!("cannot start the async runtime: {e}"));
            None
        }
    }
}

/// Runs `f` against the state store on a fresh runtime; errors are printed and exit 1.
pub fn with_state<F>(out: &Output, state_url: &str, f: F) -> i32
where
    F: AsyncFnOnce(crate::state::State) -> Result<i32, crate::ops::Error>,
{
    let result = run_async(out, async {
        let state = crate::state::State::open(state_url).await?;
        f(state).await
    });
    match result {
        Some(Ok(code)) => code,
        Some(Err(e)) => exit::fail(out, &e),
        None => exit::ERROR,
    }
}

/// Loads a manifest (or an artifact) and plans it against the live systems; `None` when it could not
/// (said on standard error).
pub fn live_plan(
    path: &std::path::Path,
    opts: crate::plan::Options,
    out: &Output,
    settings: &crate::ops::live::Settings,
) -> Option<crate::plan::Plan> {
    let events = super::terminal::Terminal::new(out);
    let planned = crate::ops::live::plan_path(path, opts, settings, &events);
    match run_async(out, planned)? {
        Ok(plan) => Some(plan),
        Err(e) => {
            exit::fail(out, &e);
            None
        }
    }
}

/// Writes a text file atomically (see [`crate::util::write_atomic`]).
pub fn write_atomic(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    crate::util::write_atomic(path, content.as_bytes())
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    crate::state::rfc3339(crate::state::now())
}

/// The systems' timeouts where the profile gives none: `FALCONER_CONNECT_TIMEOUT` and
/// `FALCONER_REQUEST_TIMEOUT` (seconds, more than 0), else the defaults. The environment is read here, once.
pub fn timeouts_from_env() -> crate::util::Timeouts {
    let base = crate::util::Timeouts::default();
    let env = |k: &str, d: std::time::Duration| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .map_or(d, std::time::Duration::from_secs)
    };
    crate::util::Timeouts {
        connect: env("FALCONER_CONNECT_TIMEOUT", base.connect),
        request: env("FALCONER_REQUEST_TIMEOUT", base.request),
    }
}
