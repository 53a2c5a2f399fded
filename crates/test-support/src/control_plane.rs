//! A real control plane: `scripts/control-plane` (etcd and kube-apiserver) started as a child
//! process. One per test process is shared by every [`crate::Env`] when
//! `USER_IMPORT_E2E_KUBECONFIG` names none ([`shared_admin_kubeconfig`]); a test that needs a
//! kube-apiserver to itself (cluster-scoped objects such as a Helm release's ClusterRole, CRDs
//! of another shape, or the audit log of its requests) starts its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Names the environment variable of a running control plane's admin kubeconfig (scripts/test
/// starts one and sets it); without it a test process starts a control plane of its own.
pub const E2E_KUBECONFIG: &str = "USER_IMPORT_E2E_KUBECONFIG";

/// The admin kubeconfig (YAML) of the control plane every [`crate::Env`] of this process uses:
/// the one `USER_IMPORT_E2E_KUBECONFIG` names, else one started on first use and shared by the
/// process's tests. It is never dropped (statics are not): it stops when the process ends,
/// however it ends, because its standard input is a pipe of this process (see
/// [`ControlPlane::start`]). Blocking: call it from `spawn_blocking`.
pub fn shared_admin_kubeconfig() -> String {
    if let Some(path) = std::env::var_os(E2E_KUBECONFIG) {
        return std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {E2E_KUBECONFIG} {path:?}: {e}"));
    }
    static SHARED: OnceLock<(ControlPlane, String)> = OnceLock::new();
    let (_, yaml) = SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let plane = ControlPlane::start(dir.path(), false);
        // Read now: the folder goes with `dir`, and a static is never dropped to remove it.
        let yaml = std::fs::read_to_string(&plane.kubeconfig).expect("the admin kubeconfig");
        (plane, yaml)
    });
    yaml.clone()
}

/// A running etcd + kube-apiserver; stopped (SIGTERM, then waited for) on drop, and when this
/// process ends (the end of its standard input).
pub struct ControlPlane {
    child: Child,
    /// The write end of the runner's standard input, never written to: when this process ends,
    /// however it ends, the pipe closes and the runner stops etcd and kube-apiserver.
    _stdin: Option<ChildStdin>,
    /// The admin kubeconfig (group system:masters).
    pub kubeconfig: PathBuf,
    /// The API server's audit log (JSON lines), when asked for.
    pub audit_log: Option<PathBuf>,
    /// etcd's client URL (`http://127.0.0.1:PORT`), as the runner prints it.
    pub etcd: Option<String>,
}

impl ControlPlane {
    /// Starts one in `dir` and waits for its `control plane ready` line. The binaries are
    /// built (or taken from the cache) by the script itself.
    pub fn start(dir: &Path, audit: bool) -> ControlPlane {
        let script = crate::repo_root().join("scripts/control-plane");
        let kubeconfig = dir.join("control-plane.kubeconfig");
        let audit_log = audit.then(|| dir.join("audit.log"));
        let mut command = Command::new(script);
        command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("USER_IMPORT_CONTROL_PLANE_STOP_ON_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(path) = &audit_log {
            command.env("USER_IMPORT_CONTROL_PLANE_AUDIT_LOG", path);
        }
        let mut child = command.spawn().expect("start scripts/control-plane");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        // A cold build of the binaries happens before this, when the cache is empty.
        let deadline = Instant::now() + Duration::from_secs(1200);
        let mut etcd = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) if line == "control plane ready" => break,
                Ok(line) if line.starts_with("etcd ") => etcd = Some(line[5..].to_string()),
                Ok(_) => {}
                Err(error) => panic!("scripts/control-plane did not get ready: {error}"),
            }
        }
        ControlPlane {
            child,
            _stdin: stdin,
            kubeconfig,
            audit_log,
            etcd,
        }
    }

    /// The audit log, when it was asked for.
    pub fn audit(&self) -> AuditLog {
        AuditLog {
            path: self.audit_log.clone().expect("started with an audit log"),
        }
    }

    /// See [`AuditLog::mark`].
    pub fn audit_mark(&self) -> u64 {
        self.audit().mark()
    }

    /// See [`AuditLog::events_since`].
    pub fn audit_events_since(&self, mark: u64, each: impl FnMut(serde_json::Value)) {
        self.audit().events_since(mark, each);
    }

    /// The audit log's events, parsed.
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        self.audit().events_since(0, |event| events.push(event));
        events
    }
}

/// A kube-apiserver's audit log (JSON lines, `USER_IMPORT_CONTROL_PLANE_AUDIT_LOG`): of a
/// [`ControlPlane`] started here, or of one started by hand (a bench run against it).
#[derive(Clone, Debug)]
pub struct AuditLog {
    /// The file the API server writes.
    pub path: PathBuf,
}

impl AuditLog {
    /// The audit log's files, oldest first: the API server rotates the log at 100 MB (its
    /// default), renaming the full file to `audit-<time>.log` beside it.
    fn files(&self) -> Vec<PathBuf> {
        let path = &self.path;
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(path.parent().unwrap())
            .expect("the audit log's folder")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|file| {
                let name = file.file_name().unwrap().to_string_lossy();
                name.starts_with(&format!("{stem}-")) && name.ends_with(".log")
            })
            .collect();
        rotated.sort(); // the names carry the time of rotation
        rotated.push(path.clone());
        rotated
    }

    /// How much has been logged so far (bytes, over the rotated files too): events logged after
    /// it are read by [`AuditLog::events_since`].
    pub fn mark(&self) -> u64 {
        let sizes = self.files().into_iter();
        sizes
            .map(|file| std::fs::metadata(file).map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// The events logged after `mark`, each passed to `each` as it is read: a large run's log
    /// (hundreds of thousands of events) is never held at once.
    pub fn events_since(&self, mark: u64, mut each: impl FnMut(serde_json::Value)) {
        use std::io::{Seek as _, SeekFrom};
        let mut skip = mark;
        for path in self.files() {
            let Ok(mut file) = std::fs::File::open(&path) else {
                continue;
            };
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if skip >= len {
                skip -= len;
                continue;
            }
            file.seek(SeekFrom::Start(skip))
                .expect("seek in the audit log");
            skip = 0;
            for line in BufReader::new(file).lines() {
                let line = line.expect("a line of the audit log");
                each(serde_json::from_str(&line).expect("an audit event"));
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
