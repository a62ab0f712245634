//! The agent's dashboard in a real headless browser (Debian's chromium, `browser.rs`): an agent with a token
//! and a write token over three tenants (in sync; drifted, with `<script>` in its realm's display name and
//! in a bucket's tag; a broken manifest). The browser is sent to the sign-in form, signs in, sees the fleet
//! failures first, filters it, follows every link, reads the drifted tenant's plan with the `<script>`s as
//! text (the page runs no script), asks for a backup with the tenant page's button and sees it listed, and
//! signs out. A form from another site and a form without the session's CSRF token are refused; no page
//! shows a password or a token; every answer carries the Content-Security-Policy.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::{Agent, PASSWORD, tenant};
use crate::browser::Browser;
use crate::keycloak_double::{KeycloakDouble, Options};
use crate::support::{TestDb, Workdir, code};

const TOKEN: &str = "dash-read-token-5c8e1f0a9b";
const WRITE_TOKEN: &str = "dash-write-token-2d7b4e6a13";
const REALM_NAME: &str = "<script>alert('realm')</script>";
const BUCKET_TAG: &str = "<script>alert('bucket')</script>";

/// The drifted tenant: a realm and a bucket with `<script>` in what the tenant controls, and a role with a
/// password (never shown).
fn drifted(bucket: &str, role: &str) -> String {
    format!(
        r#"format_version = "1"

[tenant]
id = "dash-drift"

[[iam.realm]]
name = "dash-drift"
display_name = "{REALM_NAME}"
enabled = true

[[storage.bucket]]
name = "{bucket}"
tags = {{ note = "{BUCKET_TAG}" }}

[[postgres.role]]
name = "{role}"
login = true
password = {{ env = "AGENT_ROLE_PASSWORD" }}
"#
    )
}

struct Setup {
    agent: Agent,
    _db: TestDb,
    _kc: KeycloakDouble,
    _w: Workdir,
}

async fn setup(tag: &str) -> Setup {
    let db = TestDb::new(tag).await;
    let kc = KeycloakDouble::start(0, Options::default())
        .await
        .expect("the double starts");
    let endpoint = crate::support::s3_endpoint().await;
    let mut w = Workdir::new("agent", tag, kc.env());
    for (k, v) in [
        ("FALCONER_POSTGRES_URL", db.url.as_str()),
        ("AGENT_ROLE_PASSWORD", PASSWORD),
        ("AGENT_TOKEN", TOKEN),
        ("AGENT_WRITE_TOKEN", WRITE_TOKEN),
        ("FALCONER_S3_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AK"),
        ("AWS_SECRET_ACCESS_KEY", crate::support::S3_SECRET),
        ("AWS_REGION", "us-east-1"),
    ] {
        w.set_env(k, v);
    }
    let pid = format!("{tag}_{}", std::process::id());
    let fleet = w.dir.join("fleet");
    let write = |id: &str, text: String| {
        std::fs::create_dir_all(fleet.join(id)).expect("dir");
        std::fs::write(fleet.join(id).join("main.toml"), text).expect("writes");
    };
    write("dash-sync", tenant("dash-sync", &format!("dash_{pid}_a")));
    write(
        "dash-drift",
        drifted(
            &format!("dash-drift-{}", pid.replace('_', "-")),
            &format!("dash_{pid}_b"),
        ),
    );
    write(
        "dash-broken",
        "format_version = \"1\"\n[tenant]\nid = \"dash-broken\"\n[[postgres.schema]]\nnmae = \"x\"\n"
            .into(),
    );
    let sync = fleet.join("dash-sync").display().to_string();
    code(&w.run(&["apply", &sync, "--auto-approve"]), 0);
    let repo = format!("file:{}", w.dir.join("repo").display());
    let profile = w.dir.join("profile.toml");
    let text = format!(
        "[serve]\ntoken = {{ env = \"AGENT_TOKEN\" }}\nwrite_token = {{ env = \"AGENT_WRITE_TOKEN\" }}\n\n[backup]\nrepo = \"{repo}\"\n"
    );
    std::fs::write(&profile, text).expect("the profile");
    let (fleet, profile) = (fleet.display().to_string(), profile.display().to_string());
    let args = ["serve", &fleet, "--drift-every", "2s", "--no-schedules"];
    let mut c = w.command(&args);
    c.args(["--profile", &profile])
        .env_remove("FALCONER_PROFILE");
    let agent = Agent::spawn(c);
    Setup {
        agent,
        _db: db,
        _kc: kc,
        _w: w,
    }
}

/// Waits (bounded) until the API shows every tenant checked.
async fn until_checked(agent: &Agent) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = client
            .get(format!("{}/api/v1/tenants", agent.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answers");
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 3 && items.iter().all(|t| t["drift"].is_string()) {
            return;
        }
        assert!(Instant::now() < deadline, "never all checked: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Nothing secret in a page.
fn no_secrets(html: &str, page: &str) {
    for s in [PASSWORD, TOKEN, WRITE_TOKEN] {
        assert!(!html.contains(s), "{page} shows a secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() {
    let s = setup("dash_browser").await;
    let base = s.agent.base.clone();
    until_checked(&s.agent).await;
    let mut b = Browser::start("dashboard");

    // Not signed in: the sign-in form; a wrong token is refused; the write token signs in.
    b.go(&format!("{base}/"));
    assert_eq!(b.url(), format!("{base}/login"));
    b.screenshot("login");
    b.then_load("document.getElementById('token').value = 'wrong'; document.querySelector('form.login button').click()");
    assert!(
        b.text().contains("That is not the agent's token."),
        "{}",
        b.text()
    );
    b.then_load(&format!("document.getElementById('token').value = '{WRITE_TOKEN}'; document.querySelector('form.login button').click()"));
    assert_eq!(b.url(), format!("{base}/"));
    assert_eq!(
        b.eval("document.cookie"),
        "",
        "the session cookie is HttpOnly"
    );

    // The fleet: failures first, then drifted, then in sync; one column per system.
    // (A manifest that cannot be read is named by its path.)
    let rows =
        b.eval("[...document.querySelectorAll('table.fleet tbody th')].map(t => t.innerText)");
    let rows: Vec<&str> = rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rows.len() == 3
            && rows[0].ends_with("dash-broken")
            && rows[1] == "dash-drift"
            && rows[2] == "dash-sync",
        "{rows:?}"
    );
    let text = b.text();
    assert!(text.contains("3 tenants"), "{text}");
    for d in ["iam", "postgres", "storage"] {
        assert!(b.eval(&format!("[...document.querySelectorAll('table.fleet thead th')].some(t => t.innerText == '{d}')")) == true, "{d}");
    }
    no_secrets(&b.html(), "the fleet");
    b.screenshot("fleet");

    // The filter form keeps the drifted tenant only.
    b.then_load("document.getElementById('status').value = 'drifted'; document.querySelector('form.filters button').click()");
    let rows =
        b.eval("[...document.querySelectorAll('table.fleet tbody th')].map(t => t.innerText)");
    assert_eq!(rows, serde_json::json!(["dash-drift"]), "{}", b.url());

    // Every link of the fleet page and of the pages it leads to opens a page of the dashboard.
    b.go(&format!("{base}/"));
    follow_links(&mut b, &base);

    // The drifted tenant: its plan shows the `<script>`s as text; the page has no script element.
    b.go(&format!("{base}/tenants/dash-drift"));
    let plan = b.eval("document.querySelector('pre.plan').innerText");
    let plan = plan.as_str().unwrap_or("");
    assert!(plan.contains(REALM_NAME), "{plan}");
    assert!(plan.contains(BUCKET_TAG), "{plan}");
    assert_eq!(b.eval("document.scripts.length"), 0);
    no_secrets(&b.html(), "the drifted tenant");
    b.screenshot("tenant-drifted");

    // A backup asked with the button: said, then listed with its domains.
    b.go(&format!("{base}/tenants/dash-sync"));
    b.then_load("[...document.querySelectorAll('form.ask button')].find(x => x.innerText == 'Back up now').click()");
    assert!(b.text().contains("Asked: a backup now"), "{}", b.text());
    let deadline = Instant::now() + Duration::from_secs(90);
    while !b.text().contains("Its domains") {
        assert!(
            Instant::now() < deadline,
            "the backup never showed: {}",
            b.text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.go(&format!("{base}/tenants/dash-sync"));
    }
    assert!(b.text().contains("postgres"), "{}", b.text());
    no_secrets(&b.html(), "the tenant with its backup");
    b.screenshot("tenant-backed-up");

    // The agents' page names this agent.
    b.go(&format!("{base}/agents"));
    assert!(b.text().contains("Agents alive"), "{}", b.text());
    b.screenshot("agents");

    // A form sent from another site's page is refused (its Origin; and its cookie is SameSite=Strict).
    let foreign = format!(
        "data:text/html,<form method=post action='{base}/tenants/dash-sync/drift'><input name=csrf value=x><button>go</button></form>"
    );
    b.go(&foreign);
    b.then_load("document.querySelector('button').click()");
    assert_eq!(b.text().trim(), "a form of another site");

    // Signing out ends the session.
    b.go(&format!("{base}/"));
    b.then_load("document.querySelector('header form button').click()");
    assert_eq!(b.url(), format!("{base}/login"));
    b.go(&format!("{base}/tenants/dash-sync"));
    assert_eq!(b.url(), format!("{base}/login"));
}

/// Opens every link of the current page and of the pages it links to (once each): each is a page of the
/// dashboard with a heading, never an error page.
fn follow_links(b: &mut Browser, base: &str) {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![b.url()];
    while let Some(url) = todo.pop() {
        if !seen.insert(url.clone()) || seen.len() > 30 {
            continue;
        }
        b.go(&url);
        let title = b.eval("document.title");
        let title = title.as_str().unwrap_or("");
        assert!(
            !title.starts_with("Not ") && b.eval("document.querySelector('h1') !== null") == true,
            "{url}: {title}"
        );
        let links = b.eval("[...document.querySelectorAll('a[href]')].map(a => a.href)");
        for l in links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let l = l.split('#').next().unwrap_or(l);
            if l.starts_with(base) {
                todo.push(l.to_string());
            }
        }
    }
    assert!(seen.len() >= 5, "{seen:?}");
}

/// The button's form without its session's CSRF token is refused; with it, the check is asked. The
/// answers carry the Content-Security-Policy.
#[tokio::test]
async fn a_form_needs_its_sessions_csrf_token() {
    let s = setup("dash_csrf").await;
    let base = s.agent.base.clone();
    until_checked(&s.agent).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let login = client
        .post(format!("{base}/login"))
        .form(&[("token", WRITE_TOKEN)])
        .send()
        .await
        .expect("answers");
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("a cookie")
        .to_string();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let session = cookie.split(';').next().expect("the pair").to_string();
    let page = client
        .get(format!("{base}/tenants/dash-sync"))
        .header("Cookie", &session)
        .send()
        .await
        .expect("answers");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("a CSP")
        .to_string();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = page.text().await.expect("a page");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form's CSRF token")
        .to_string();
    let ask = |csrf: Option<String>| {
        let mut r = client
            .post(format!("{base}/tenants/dash-sync/drift"))
            .header("Cookie", &session);
        if let Some(c) = csrf {
            r = r.form(&[("csrf", c)]);
        }
        async move { r.send().await.expect("answers").status().as_u16() }
    };
    assert_eq!(ask(None).await, 403);
    assert_eq!(ask(Some("0".repeat(64))).await, 403);
    assert_eq!(ask(Some(csrf.clone())).await, 303);
    // A read session has no button, and its posts are refused.
    let read = client
        .post(format!("{base}/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .expect("answers");
    let read = read.headers()["set-cookie"].to_str().expect("a cookie");
    let read = read.split(';').next().expect("the pair").to_string();
    let html = client
        .get(format!("{base}/tenants/dash-sync"))
        .header("Cookie", &read)
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("a page");
    assert!(!html.contains("name=\"csrf\""), "{html}");
    let post = client
        .post(format!("{base}/tenants/dash-sync/backup"))
        .header("Cookie", &read)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .expect("answers");
    assert_eq!(post.status().as_u16(), 403);
    // Without a session: the API asks for the token, a page sends to the sign-in form.
    let api = client
        .get(format!("{base}/api/v1/tenants"))
        .send()
        .await
        .expect("answers");
    assert_eq!(api.status().as_u16(), 401);
    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status().as_u16(), 303);
    assert_eq!(page.headers()["location"], "/login");
}
