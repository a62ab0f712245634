//! A secret printed by a program (`{ command = ["vault", "kv", "get", "-field=password", "..."] }` in a
//! profile): run without a shell in the profile's directory, stdin closed, bounded by a timeout; its
//! standard output less one trailing newline is the secret. Each command runs once per process (its value is
//! kept for the run), its output is never logged, and an error shows at most 300 characters of its standard
//! error, with the output (were it printed there too) blotted out.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Unresolved;

/// How long a command may run.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a command's standard error an error shows.
const STDERR_SHOWN: usize = 300;

type Runs = Mutex<HashMap<(PathBuf, Vec<String>), String>>;

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(Default::default)
}

/// The secret `argv` prints, run in `dir` (once per process for the same command and directory).
pub fn output(argv: &[String], dir: &Path, limit: Duration) -> Result<String, Unresolved> {
    let key = (dir.to_path_buf(), argv.to_vec());
    if let Some(v) = runs().lock().ok().and_then(|r| r.get(&key).cloned()) {
        return Ok(v);
    }
    let value = run(argv, dir, limit)?;
    if let Ok(mut r) = runs().lock() {
        r.insert(key, value.clone());
    }
    Ok(value)
}

fn run(argv: &[String], dir: &Path, limit: Duration) -> Result<String, Unresolved> {
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let failed = |why: String| Unresolved(format!("the command `{program}` {why}"));
    let mut child = Command::new(program)
        .args(&argv[1..])
        .current_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot be started: {}", e.kind())))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "did not finish within {} s",
                    limit.as_secs_f64()
                )));
            }
            Err(e) => return Err(failed(format!("cannot be waited for: {}", e.kind()))),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let value =
        String::from_utf8(out).map_err(|_| failed("printed something that is not text".into()))?;
    let value = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value)
        .to_string();
    if !status.success() {
        return Err(failed(format!(
            "failed ({status}){}",
            shown_stderr(&err, &value)
        )));
    }
    if value.is_empty() {
        return Err(failed(format!(
            "printed nothing{}",
            shown_stderr(&err, &value)
        )));
    }
    Ok(value)
}

/// Reads a pipe to its end on a thread of its own (a full pipe would otherwise stall the command).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// At most [`STDERR_SHOWN`] characters of a command's standard error, the secret it printed (if any) blotted
/// out, as `: "..."`; nothing when it wrote none.
fn shown_stderr(err: &[u8], value: &str) -> String {
    let mut text = String::from_utf8_lossy(err).trim().to_string();
    if value.len() >= 4 {
        text = text.replace(value, "***");
    }
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(STDERR_SHOWN).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!(": {cut:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn the_output_less_one_newline_is_the_secret() {
        let dir = Path::new(".");
        let limit = Duration::from_secs(10);
        assert_eq!(
            run(&sh("printf 'pa55\\n\\n'"), dir, limit),
            Ok("pa55\n".into())
        );
        assert_eq!(
            run(&sh("printf 'pa55\\r\\n'"), dir, limit),
            Ok("pa55".into())
        );
        assert_eq!(run(&sh("printf pa55"), dir, limit), Ok("pa55".into()));
    }

    #[test]
    fn failures_are_bounded_and_say_why_without_the_secret() {
        let dir = Path::new(".");
        let limit = Duration::from_secs(10);
        let e = run(&sh("echo 'no token' >&2; exit 3"), dir, limit).unwrap_err();
        assert!(
            e.0.contains("`sh` failed") && e.0.contains("no token"),
            "{}",
            e.0
        );
        let e = run(
            &sh("printf 'the-Secret-9'; echo 'leaked the-Secret-9' >&2; exit 1"),
            dir,
            limit,
        )
        .unwrap_err();
        assert!(!e.0.contains("the-Secret-9"), "{}", e.0);
        let e = run(&sh("true"), dir, limit).unwrap_err();
        assert!(e.0.contains("printed nothing"), "{}", e.0);
        let e = run(
            &sh(&format!("echo {} >&2; exit 1", "x".repeat(1000))),
            dir,
            limit,
        )
        .unwrap_err();
        assert!(e.0.len() < 400, "{}", e.0);
        let e = run(&["falconer-no-such-program".to_string()], dir, limit).unwrap_err();
        assert!(e.0.contains("cannot be started"), "{}", e.0);
        // A command that hangs is stopped at the limit (the limit is what is counted, not the clock).
        let e = run(&sh("sleep 30"), dir, Duration::from_millis(200)).unwrap_err();
        assert!(e.0.contains("did not finish within 0.2 s"), "{}", e.0);
    }

    #[test]
    fn a_command_runs_once_per_process() {
        let dir =
            std::env::temp_dir().join(format!("falconer-command-once-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let argv = sh("echo run >> count; printf s3cret");
        let limit = Duration::from_secs(10);
        assert_eq!(output(&argv, &dir, limit), Ok("s3cret".into()));
        assert_eq!(output(&argv, &dir, limit), Ok("s3cret".into()));
        let runs = std::fs::read_to_string(dir.join("count")).expect("the count");
        assert_eq!(runs.lines().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
