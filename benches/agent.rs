//! The agent's `/metrics` and its dashboard's fleet page for a fleet of 10,000 tenants (each checked in two
//! domains, every other one drifted with its plan kept, each backed up), from a SQLite state store: the
//! time of a whole render (read and encoded) against its anchor, the state store's reads alone (the same
//! rows, not encoded), best of ten.
//! Run with `cargo bench --bench agent` (or `-- 2000` for another size); figures go in
//! docs/performance.md.

use std::time::{Duration, Instant};

use falconer::agent::metrics::{Metrics, sample_fleet};
use falconer::agent::web::pages;
use falconer::state::State;

/// The best of ten runs of `f`.
async fn best<F, W>(mut f: F) -> Duration
where
    F: FnMut() -> W,
    W: Future<Output = ()>,
{
    let mut best = Duration::MAX;
    for _ in 0..10 {
        let t = Instant::now();
        f().await;
        best = best.min(t.elapsed());
    }
    best
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("falconer-bench-agent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let url = format!("sqlite:{}", dir.join("state.db").display());
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let state = State::open(&url).await.expect("the state store");
        sample_fleet(&state, n).await.expect("the fleet");
        let metrics = Metrics::default();
        let lines = metrics.render(Some(&state)).await.lines().count();
        let render = best(|| async {
            let _ = metrics.render(Some(&state)).await;
        })
        .await;
        let reads = best(|| async {
            let _ = state.drift().results().await.expect("reads");
            let _ = state.backups().all().await.expect("reads");
        })
        .await;
        println!(
            "/metrics of {n} tenants: {:.1} ms ({lines} lines); anchor, the state store's reads alone: {:.1} ms; ratio {:.2}",
            render.as_secs_f64() * 1000.0,
            reads.as_secs_f64() * 1000.0,
            render.as_secs_f64() / reads.as_secs_f64()
        );
        let page = || async {
            let all = falconer::agent::api::all(&state).await.expect("reads");
            let q = pages::FleetQuery::default();
            pages::fleet(all, &q, 1_700_000_000, &pages::Viewer::default()).into_string()
        };
        let bytes = page().await.len();
        let fleet = best(|| async {
            let _ = page().await;
        })
        .await;
        println!(
            "the fleet page of {n} tenants: {:.1} ms ({bytes} bytes); anchor, the state store's reads alone: {:.1} ms; ratio {:.2}",
            fleet.as_secs_f64() * 1000.0,
            reads.as_secs_f64() * 1000.0,
            fleet.as_secs_f64() / reads.as_secs_f64()
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
