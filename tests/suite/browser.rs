//! A real headless browser for the dashboard's tests: Debian's `chromium` (scripts/servers.sh
//! `install_chromium`, `FALCONER_TEST_CHROMIUM`), driven through the DevTools protocol over its pipe
//! (`--remote-debugging-pipe`: JSON messages ended by NUL on file descriptors 3 and 4). Navigation and
//! clicks wait for the page's load event, bounded.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one call, one navigation, waits at most.
const WAIT: Duration = Duration::from_secs(30);

pub struct Browser {
    child: Child,
    to: std::io::PipeWriter,
    from: Receiver<Value>,
    next: u64,
    session: String,
    /// Load events seen so far.
    loads: u64,
    _profile: tempdir::Dir,
}

/// A throwaway profile directory (removed on drop).
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    /// Starts chromium with a new profile and attaches to its page.
    pub fn start(tag: &str) -> Browser {
        let chromium = std::env::var("FALCONER_TEST_CHROMIUM").expect(
            "FALCONER_TEST_CHROMIUM: run the suite through scripts/test (install_chromium)",
        );
        let profile =
            std::env::temp_dir().join(format!("falconer-chromium-{tag}-{}", std::process::id()));
        let (their_in, to) = std::io::pipe().expect("a pipe");
        let (from, their_out) = std::io::pipe().expect("a pipe");
        let (a, b) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        let mut command = Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .args(["--remote-debugging-pipe", "--window-size=1280,1000"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only dup2 between fork and exec (async-signal-safe).
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        drop((their_in, their_out));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(from);
            let mut buf = Vec::new();
            while r.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    return;
                }
                buf.clear();
            }
        });
        let mut b = Browser {
            child,
            to,
            from: rx,
            next: 0,
            session: String::new(),
            loads: 0,
            _profile: tempdir::Dir(profile),
        };
        b.attach();
        b
    }

    fn attach(&mut self) {
        let targets = self.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .expect("a page")["targetId"]
            .clone();
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": page, "flatten": true }),
        );
        self.session = attached["sessionId"].as_str().expect("a session").into();
        self.call("Page.enable", json!({}));
        self.call("Runtime.enable", json!({}));
    }

    /// One DevTools call on the page (or the browser, before attaching): its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("JSON");
        bytes.push(0);
        self.to.write_all(&bytes).expect("chromium reads");
        loop {
            let m = self.message(method);
            if m["id"] == json!(id) {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
        }
    }

    /// The next message (counting load events), bounded.
    fn message(&mut self, waiting_for: &str) -> Value {
        let m = self
            .from
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("chromium did not answer {waiting_for} in {WAIT:?}"));
        if m["method"] == "Page.loadEventFired" {
            self.loads += 1;
        }
        m
    }

    /// Waits until more pages loaded than `before`.
    fn loaded_after(&mut self, before: u64) {
        let deadline = Instant::now() + WAIT;
        while self.loads <= before {
            assert!(Instant::now() < deadline, "the page did not load");
            self.message("a page's load");
        }
    }

    /// Opens `url` and waits until it loaded.
    pub fn go(&mut self, url: &str) {
        let before = self.loads;
        self.call("Page.navigate", json!({ "url": url }));
        self.loaded_after(before);
    }

    /// The value of a JavaScript expression on the page (the test's own; the page runs none).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Runs `action` (a click, a submit) and waits until the page it leads to loaded.
    pub fn then_load(&mut self, action: &str) {
        let before = self.loads;
        self.eval(action);
        self.loaded_after(before);
    }

    /// The page's address.
    pub fn url(&mut self) -> String {
        self.eval("location.href")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's visible text.
    pub fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's HTML.
    pub fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// A screenshot of the page as PNG (for the record: `FALCONER_SCREENSHOTS=DIR` keeps them).
    pub fn screenshot(&mut self, name: &str) {
        let Ok(dir) = std::env::var("FALCONER_SCREENSHOTS") else {
            return;
        };
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .expect("base64");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
            .expect("writes");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
