//! Headless Chromium (Debian's package) driven over the DevTools protocol, for tests that need
//! what a browser computes: styles, layout, whether a script ran, what was requested.
//!
//! The protocol runs on a pipe (`--remote-debugging-pipe`: Chromium reads commands from file
//! descriptor 3 and writes replies and events to 4, each a JSON text ending in a NUL byte), so
//! no port is opened and no WebSocket client is needed. A shell `exec` hands the child's
//! standard input and output to Chromium as descriptors 3 and 4. The page under test is
//! loaded as it is: every check is a script run from here, never one added to the page.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// Where Debian's `chromium` package installs the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest wait for one reply or event: a first start on a busy two-core machine is slow.
const TIMEOUT: Duration = Duration::from_secs(90);

/// Width of the window pages are laid out and shot in, in CSS pixels.
pub const WIDTH: u32 = 1100;

/// A running headless Chromium with a fresh profile, ended when dropped.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    /// Events read while waiting for something else, oldest first, kept for later waits.
    events: VecDeque<Value>,
    next_id: u64,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `executable` headless. Chromium's own output goes to `log`.
    ///
    /// A missing browser is an error that says how to install it: the tests that need it
    /// fail, never skip.
    pub fn launch(executable: &Path, log: &Path) -> Result<Self, String> {
        if !executable.is_file() {
            return Err(format!(
                "{} is missing: install Debian's Chromium (apt-get install -y \
                 --no-install-recommends chromium), as .ci/run does",
                executable.display()
            ));
        }
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(executable)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--force-device-scale-factor=1",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", executable.display()))?;
        let commands = child.stdin.take().expect("a piped stdin");
        let mut replies = child.stdout.take().expect("a piped stdout");
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = match replies.read(&mut chunk) {
                    Ok(0) | Err(_) => return, // closed: the receiver sees the sender gone
                    Ok(n) => n,
                };
                pending.extend_from_slice(&chunk[..n]);
                while let Some(end) = pending.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    let value = serde_json::from_slice(&message[..end])
                        .expect("Chromium sends JSON messages");
                    if sender.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Browser {
            child,
            commands,
            messages,
            events: VecDeque::new(),
            next_id: 0,
            log: log.to_path_buf(),
            _profile: profile,
        })
    }

    /// The next message from Chromium, within [`TIMEOUT`].
    fn receive(&mut self, waiting_for: &str) -> Value {
        match self.messages.recv_timeout(TIMEOUT) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!(
                "no answer from Chromium within {TIMEOUT:?} to {waiting_for}; its log: {}",
                self.log.display()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "Chromium ended while waiting for {waiting_for}; its log: {}",
                self.log.display()
            ),
        }
    }

    /// Sends a command (to the browser, or to a page's `session`) and returns its result.
    /// An error reply fails the test.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&command).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|e| panic!("cannot send {method} to Chromium: {e}"));
        loop {
            let message = self.receive(method);
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.events.push_back(message);
        }
    }

    /// Waits for the event `method` of `session`, taking it and every event before it.
    fn wait_event(&mut self, session: &str, method: &str) -> Vec<Value> {
        let matches = |event: &Value| event["method"] == method && event["sessionId"] == session;
        let mut taken = Vec::new();
        while let Some(event) = self.events.pop_front() {
            let found = matches(&event);
            taken.push(event);
            if found {
                return taken;
            }
        }
        let started = Instant::now();
        loop {
            let event = self.receive(method);
            let found = matches(&event);
            taken.push(event);
            if found {
                return taken;
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "no {method} within {TIMEOUT:?}"
            );
        }
    }

    /// Opens `url` in a new tab of [`WIDTH`] pixels and waits until it has loaded (the
    /// `load` event: images and other subresources done, or failed).
    pub fn open(&mut self, url: &str) -> Page<'_> {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        let s = Some(session.as_str());
        self.call(s, "Page.enable", json!({}));
        self.call(s, "Network.enable", json!({}));
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": WIDTH, "height": 800, "deviceScaleFactor": 1, "mobile": false }),
        );
        // Only what happens from the navigation on counts.
        self.events.clear();
        let navigation = self.call(s, "Page.navigate", json!({ "url": url }));
        if let Some(error) = navigation.get("errorText") {
            panic!("cannot open {url}: {error}");
        }
        let events = self.wait_event(&session, "Page.loadEventFired");
        let requests = events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent" && e["sessionId"] == session)
            .map(|e| {
                e["params"]["request"]["url"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        Page {
            browser: self,
            session,
            requests,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Asked to close, Chromium ends with its children; killed, it might leave them.
        let mut close = serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap();
        close.push(0);
        let _ = self.commands.write_all(&close);
        let _ = self.commands.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loaded tab.
pub struct Page<'b> {
    browser: &'b mut Browser,
    session: String,
    /// Every URL the tab requested while loading, the page's own first.
    pub requests: Vec<String>,
}

impl Page<'_> {
    /// Runs `expression` in the page and returns its value (as JSON). A thrown exception
    /// fails the test.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let reply = self.browser.call(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        if let Some(exception) = reply.get("exceptionDetails") {
            panic!("the check script threw: {exception}");
        }
        reply["result"]["value"].clone()
    }

    /// A PNG of the whole page, [`WIDTH`] pixels wide and as tall as the document.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let height = self
            .evaluate("document.documentElement.scrollHeight")
            .as_f64()
            .expect("a height");
        let session = self.session.clone();
        let shot = self.browser.call(
            Some(&session),
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1 },
            }),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("PNG data"))
            .expect("base64 PNG data")
    }
}
