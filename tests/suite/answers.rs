//! Bad answers on every route of the Keycloak and OpenWhisk doubles (issue 18, item 3). The acme example's
//! realm (or functions) is applied to a double; then every read its plan makes (each method and path) is
//! answered badly in turn, and every write its apply makes (each method and path, the ids the double
//! generates written `{id}`) is refused in turn on a fresh double:
//!
//! - a read answered 503 once (`Retry-After: 0`) is read again and the plan finds the tenant in sync;
//! - a read answered 429 every time fails after four tries; malformed JSON and a 500 fail at once; each
//!   failure names the system (exit 1);
//! - a read answered with the wrong shape or types (a list for an object, an object for a list, numbers
//!   for names) is an error naming the system, on every route (never a plan that takes junk for nothing);
//! - a write answered 503 is not repeated (no object's write, the same path and body, is sent twice), and
//!   the apply fails naming the system.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::keycloak_double::KeycloakDouble;
use crate::openwhisk_double::OpenWhiskDouble;
use crate::support::{Workdir, both, bounded, code};

/// A route: the method and the path with generated ids as `{id}`.
type Route = (String, String);

/// An answer: status, `Retry-After` (empty: none) and body.
type Answer = (u16, &'static str, &'static str);

/// The fault a double answers: on `route` (a path as requested, or with `{id}` for any generated id),
/// `answer` for the first `times` requests. Every request's route is recorded as requested.
#[derive(Default)]
struct Switch {
    seen: Vec<Route>,
    fault: Option<(Route, Answer, usize)>,
    /// The requests answered with the fault, in order: each path and body.
    served: Vec<(String, Vec<u8>)>,
}

type Shared = Arc<Mutex<Switch>>;

/// A path with the segments a double generates (UUIDs) as `{id}`.
fn shape(path: &str) -> String {
    let generated = |s: &str| s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4;
    path.split('/')
        .map(|s| if generated(s) { "{id}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

type FaultFn = Arc<
    dyn Fn(&axum::http::Method, &str, &[u8]) -> Option<(u16, Vec<(String, String)>, String)>
        + Send
        + Sync,
>;

/// The doubles' fault hook, driven by `switch`.
fn hook(switch: &Shared) -> FaultFn {
    let switch = switch.clone();
    Arc::new(move |m, path, request| {
        let mut s = switch.lock().expect("the switch");
        s.seen.push((m.as_str().to_string(), path.to_string()));
        let ((method, at), (status, retry, body), times) = s.fault.clone()?;
        let here = method == m.as_str() && (at == path || at == shape(path));
        if !here || s.served.len() >= times {
            return None;
        }
        s.served.push((path.to_string(), request.to_vec()));
        let headers = match retry {
            "" => Vec::new(),
            r => vec![("Retry-After".to_string(), r.to_string())],
        };
        Some((status, headers, body.to_string()))
    })
}

impl Switch {
    fn set(shared: &Shared, fault: Option<(Route, Answer, usize)>) {
        let mut s = shared.lock().expect("the switch");
        s.fault = fault;
        s.served.clear();
    }

    fn served(shared: &Shared) -> usize {
        shared.lock().expect("the switch").served.len()
    }

    /// The requests answered with the fault more than once (the same path and body: the same object's
    /// write sent again), with how many times.
    fn repeated(shared: &Shared) -> Vec<(String, usize)> {
        let mut count: BTreeMap<&(String, Vec<u8>), usize> = BTreeMap::new();
        let s = shared.lock().expect("the switch");
        for r in &s.served {
            *count.entry(r).or_default() += 1;
        }
        count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|((p, b), n)| (format!("{p} {}", String::from_utf8_lossy(b)), n))
            .collect()
    }

    /// The requests seen since the last call, in order, forgotten.
    fn take_seen(shared: &Shared) -> Vec<Route> {
        std::mem::take(&mut shared.lock().expect("the switch").seen)
    }
}

/// The bad answers to a read, and what `plan --detailed-exitcode` must end with (several: any of them).
const READ_FAULTS: &[(&str, Answer, usize, &[i32])] = &[
    ("busy once", (503, "0", "{\"error\":\"busy\"}"), 1, &[0]),
    (
        "limited",
        (429, "0", "{\"error\":\"slow down\"}"),
        usize::MAX,
        &[1],
    ),
    (
        "malformed",
        (200, "", "{\"name\": \"acme\", "),
        usize::MAX,
        &[1],
    ),
    (
        "server error",
        (500, "", "{\"error\":\"boom\"}"),
        usize::MAX,
        &[1],
    ),
    // Junk where an answer was expected is an error on every route, never taken for something empty.
    ("a list", (200, "", "[1, \"two\", null]"), usize::MAX, &[1]),
    (
        "wrong types",
        (
            200,
            "",
            "{\"id\": 5, \"name\": [], \"enabled\": \"yes\", \"namespace\": 7}",
        ),
        usize::MAX,
        &[1],
    ),
];

/// Every read of a plan answered badly in turn, on `double` (whose tenant `w` applied already).
fn every_read(w: &Workdir, switch: &Shared, system: &str) -> usize {
    let plan = || bounded(w.command(&["plan", &w.manifest(), "--detailed-exitcode"]));
    Switch::take_seen(switch);
    code(&plan(), 0);
    let reads: BTreeSet<Route> = Switch::take_seen(switch)
        .into_iter()
        .filter(|(m, _)| m == "GET")
        .collect();
    assert!(reads.len() >= 5, "{system}: the plan reads: {reads:?}");
    let mut wrong = Vec::new();
    for route in &reads {
        for (what, answer, times, ends) in READ_FAULTS {
            Switch::set(switch, Some((route.clone(), *answer, *times)));
            let o = plan();
            let out = both(&o);
            let at = format!("{system} {route:?}, {what}");
            assert!(!out.contains("panicked"), "{at}: {out}");
            let exit = o.status.code().unwrap_or(-1);
            if !ends.contains(&exit) {
                wrong.push(format!(
                    "{at}: exit {exit}: {}",
                    out.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                ));
                continue;
            }
            if exit == 1 {
                assert!(out.contains(system), "{at}: names {system}: {out}");
            }
            match *what {
                "busy once" => assert_eq!(Switch::served(switch), 1, "{at}"),
                "limited" => assert_eq!(Switch::served(switch), 4, "{at}: four tries"),
                "malformed" | "server error" => {
                    assert_eq!(Switch::served(switch), 1, "{at}: not tried again")
                }
                _ => {}
            }
        }
    }
    Switch::set(switch, None);
    assert!(wrong.is_empty(), "{wrong:#?}");
    reads.len()
}

/// Every write of the apply refused (503) in turn, each on a fresh double: not repeated (no object's write,
/// the same path and body, is answered the fault twice; and the route no more often than the apply that
/// succeeded made it), and the apply fails naming the system. `start` gives a fresh double's environment and switch,
/// and the double to keep alive.
async fn every_write<D, F, Fut>(
    system: &str,
    writes: &BTreeMap<Route, usize>,
    start: F,
    manifest: &dyn Fn(&Workdir),
    allow: &[&str],
) -> usize
where
    F: Fn(Shared) -> Fut,
    Fut: std::future::Future<Output = (D, Vec<(String, String)>)>,
{
    for (route, made) in writes {
        let switch: Shared = Default::default();
        let (_double, env) = start(switch.clone()).await;
        Switch::set(
            &switch,
            Some((
                route.clone(),
                (503, "0", "{\"error\":\"busy\"}"),
                usize::MAX,
            )),
        );
        let w = Workdir::new("answers", "write", env);
        manifest(&w);
        let m = w.manifest();
        let mut args = vec!["apply", m.as_str(), "--auto-approve"];
        for a in allow {
            args.extend(["--allow", a]);
        }
        let o = bounded(w.command(&args));
        let out = both(&o);
        let at = format!("{system} {route:?}");
        assert!(!out.contains("panicked"), "{at}: {out}");
        assert_eq!(o.status.code(), Some(1), "{at}: {out}");
        assert!(out.contains(system) && out.contains("503"), "{at}: {out}");
        let served = Switch::served(&switch);
        assert!(
            (1..=*made).contains(&served),
            "{at}: answered {served} times, the apply made it {made}"
        );
        let repeated = Switch::repeated(&switch);
        assert!(
            repeated.is_empty(),
            "{at}: a write is not repeated, per object: {repeated:?}"
        );
        let _ = std::fs::remove_dir_all(&w.dir);
    }
    writes.len()
}

/// The writes an apply made and how many times each (the token requests are sign-ins, not writes),
/// generated ids as `{id}`: a fresh double generates others.
fn writes(seen: Vec<Route>) -> BTreeMap<Route, usize> {
    let mut made = BTreeMap::new();
    for (m, p) in seen {
        if m != "GET" && !p.ends_with("/token") {
            *made.entry((m, shape(&p))).or_default() += 1;
        }
    }
    made
}

const KC_SECRETS: &[(&str, &str)] = &[
    ("ACME_SMTP_PASSWORD", "smtp-secret-4c1d"),
    ("ACME_ORDERS_API_SECRET", "orders-secret-9e2b"),
    ("ACME_GOOGLE_CLIENT_SECRET", "google-secret-77aa"),
];

async fn keycloak(switch: Shared) -> (KeycloakDouble, Vec<(String, String)>) {
    let kc = KeycloakDouble::start(
        0,
        crate::keycloak_double::Options {
            fault: Some(hook(&switch)),
            ..Default::default()
        },
    )
    .await
    .expect("the Keycloak double starts");
    let mut env = kc.env();
    env.extend(
        KC_SECRETS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    (kc, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_keycloak_route_answered_badly_is_retried_or_reported() {
    let acme = |w: &Workdir| w.acme(&["tenant.toml", "iam.toml"]);
    let switch: Shared = Default::default();
    let (_kc, env) = keycloak(switch.clone()).await;
    let w = Workdir::new("answers", "keycloak", env);
    acme(&w);
    code(&w.apply(&["WIDENS_ACCESS"]), 0);
    let applied = writes(Switch::take_seen(&switch));
    let reads = every_read(&w, &switch, "Keycloak");
    let refused = every_write("Keycloak", &applied, keycloak, &acme, &["WIDENS_ACCESS"]).await;
    assert!(
        reads >= 10 && refused >= 5,
        "reads {reads}, writes {refused}"
    );
    let _ = std::fs::remove_dir_all(&w.dir);
}

async fn openwhisk(switch: Shared) -> (OpenWhiskDouble, Vec<(String, String)>) {
    let ow = OpenWhiskDouble::start(
        0,
        crate::openwhisk_double::Options {
            fault: Some(hook(&switch)),
            ..Default::default()
        },
    )
    .await
    .expect("the OpenWhisk double starts");
    let mut env = ow.env();
    env.push((
        "ACME_FUNCTIONS_API_TOKEN".into(),
        "functions-token-5b3c".into(),
    ));
    (ow, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_openwhisk_route_answered_badly_is_retried_or_reported() {
    let acme = |w: &Workdir| w.acme(&["tenant.toml", "functions.toml", "code"]);
    let switch: Shared = Default::default();
    let (_ow, env) = openwhisk(switch.clone()).await;
    let w = Workdir::new("answers", "openwhisk", env);
    acme(&w);
    code(&w.apply(&[]), 0);
    let applied = writes(Switch::take_seen(&switch));
    let reads = every_read(&w, &switch, "OpenWhisk");
    let refused = every_write("OpenWhisk", &applied, openwhisk, &acme, &[]).await;
    assert!(
        reads >= 5 && refused >= 4,
        "reads {reads}, writes {refused}"
    );
    let _ = std::fs::remove_dir_all(&w.dir);
}
