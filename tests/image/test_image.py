"""The operator's image, built here without a registry (scripts/image), run as the chart runs it.

The archive comes from `scripts/image --output …`, or from USER_IMPORT_IMAGE_ARCHIVE when that
names an archive already built (so that other tests build it once). It is loaded with
`podman load`, run with the chart's securityContext and no network, and imported into a
private containerd with `ctr -n k8s.io images import`, as a node would take it.

Nothing is skipped: without podman, runc, containerd or the archive these tests fail.
Run as root (podman's default storage): python3 -m pytest -q tests/image
"""

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
REF = f"localhost/user-import-operator:{VERSION}"
OCI_RUNTIME = os.environ.get("USER_IMPORT_OCI_RUNTIME", "runc")

# podman asks for higher rlimits than these machines grant without CAP_SYS_RESOURCE.
PODMAN_RUN = [
    "podman", "--runtime", OCI_RUNTIME, "run", "--rm",
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
]
# The chart's securityContext (values.yaml: runAsUser/runAsGroup 65532, readOnlyRootFilesystem,
# capabilities drop ALL, allowPrivilegeEscalation false), and no network at all.
CHART_SECURITY = [
    "--network", "none",
    "--user", "65532:65532",
    "--read-only",
    "--cap-drop=ALL",
    "--security-opt", "no-new-privileges",
]
PLAN_ARGS = ["--template", "examples/template.csv", "--records", "examples/records.yaml",
             "--tenant", "Acme Corp"]


def run(cmd, timeout=120, **kwargs):
    """Runs cmd, returns the CompletedProcess; output is captured as text."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def require(tool):
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: these tests need it (Debian: apt-get install " \
                 "podman runc containerd binutils)"
    return path


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    prebuilt = os.environ.get("USER_IMPORT_IMAGE_ARCHIVE")
    if prebuilt:
        path = Path(prebuilt)
        assert path.is_file(), f"USER_IMPORT_IMAGE_ARCHIVE={prebuilt} is not a file"
        return path
    require("podman")
    path = tmp_path_factory.mktemp("image") / "user-import-operator.oci.tar"
    started = time.monotonic()
    # A cold build compiles the release binary: minutes on two cores.
    done = run([str(ROOT / "scripts/image"), "--output", str(path)], timeout=3600, cwd=ROOT)
    assert done.returncode == 0, f"scripts/image failed:\n{done.stderr[-6000:]}"
    lines = done.stdout.splitlines()
    assert lines and lines[-1] == REF, f"scripts/image's last line is not {REF}: {done.stdout!r}"
    print(f"scripts/image: {time.monotonic() - started:.0f} s")
    assert path.is_file()
    # The binary's debug info is kept beside the archive.
    assert (path.parent / f"user-import-operator-{VERSION}.debug").is_file()
    return path


@pytest.fixture(scope="session")
def image(archive):
    """The archive loaded into podman's storage; its reference."""
    require("podman")
    require(OCI_RUNTIME)
    loaded = run(["podman", "load", "--input", str(archive)])
    assert loaded.returncode == 0, loaded.stderr
    names = re.findall(r"^Loaded image(?:\(s\))?: (.+)$", loaded.stdout, re.MULTILINE)
    assert names == [REF], loaded.stdout
    return REF


class Archive:
    """The OCI layout in an archive: index, manifest, config, and the files of the layers."""

    def __init__(self, path):
        with tarfile.open(path) as outer:
            self.names = set(outer.getnames())
            self.blobs = {}

            def read(name):
                return outer.extractfile(outer.getmember(name)).read()

            self.layout = json.loads(read("oci-layout"))
            self.index = json.loads(read("index.json"))
            [entry] = self.index["manifests"]
            self.manifest = json.loads(read(blob_name(entry["digest"])))
            self.config = json.loads(read(blob_name(self.manifest["config"]["digest"])))
            self.files = {}
            self.modes = {}
            self.owners = {}
            for layer in self.manifest["layers"]:
                data = read(blob_name(layer["digest"]))
                if layer["mediaType"].endswith("+gzip"):
                    data = gzip.decompress(data)
                with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                    for member in inner.getmembers():
                        name = member.name[2:] if member.name.startswith("./") else member.name
                        path = "/" + name.strip("/")
                        self.modes[path] = member.mode
                        self.owners[path] = (member.uid, member.gid)
                        if member.isfile():
                            self.files[path] = inner.extractfile(member).read()
            self.entry = entry


def blob_name(digest):
    algorithm, hex_digest = digest.split(":")
    return f"blobs/{algorithm}/{hex_digest}"


@pytest.fixture(scope="session")
def layout(archive):
    return Archive(archive)


def test_archive_is_an_oci_layout_named_after_the_cargo_version(layout):
    assert layout.layout["imageLayoutVersion"] == "1.0.0"
    assert layout.entry["annotations"]["org.opencontainers.image.ref.name"] == REF
    # gzip layers, as a registry would serve them.
    media_types = {layer["mediaType"] for layer in layout.manifest["layers"]}
    assert media_types == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    config = layout.config["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/user-import-operator"]
    assert config["Cmd"] == ["run"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert layout.config["os"] == "linux"


def test_base_has_distroless_cc_contents(layout):
    files = layout.files
    passwd = files["/etc/passwd"].decode()
    assert re.search(r"^nonroot:x:65532:65532:", passwd, re.MULTILINE), passwd
    assert re.search(r"^nonroot:x:65532:", files["/etc/group"].decode(), re.MULTILINE)
    assert layout.modes["/tmp"] == 0o1777 and layout.owners["/tmp"] == (0, 0)
    assert layout.owners["/home/nonroot"] == (65532, 65532)
    assert "/lib/x86_64-linux-gnu/libc.so.6" in files or "/usr/lib/x86_64-linux-gnu/libc.so.6" in files
    assert any(p.endswith("/libgcc_s.so.1") for p in files)
    assert "/usr/share/zoneinfo/Europe/Berlin" in files
    assert b"PRETTY_NAME=" in files["/usr/lib/os-release"]
    for package in ("libc6", "libgcc-s1", "ca-certificates", "tzdata"):
        assert f"/var/lib/dpkg/status.d/{package}" in files
    # No shell, no package manager.
    assert not any(p.endswith(("/bin/sh", "/bin/bash", "/bin/dash", "/bin/apt", "/bin/dpkg"))
                   for p in files)


def pem_bodies(text):
    return {re.sub(r"\s", "", body) for body in
            re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)}


def test_ca_bundle_is_debians_without_the_hosts_local_authorities(layout):
    bundle = pem_bodies(layout.files["/etc/ssl/certs/ca-certificates.crt"].decode())
    assert len(bundle) > 100
    # Authorities added on the build machine (a proxy's, say) must not reach the image.
    for local in Path("/usr/local/share/ca-certificates").rglob("*.crt"):
        leaked = pem_bodies(local.read_text(errors="replace")) & bundle
        assert not leaked, f"{local} is in the image's CA bundle"


def test_binary_has_no_debug_info(layout, tmp_path):
    require("readelf")
    binary = tmp_path / "user-import-operator"
    binary.write_bytes(layout.files["/user-import-operator"])
    assert layout.modes["/user-import-operator"] & 0o111
    sections = run(["readelf", "--section-headers", "--wide", str(binary)])
    assert sections.returncode == 0, sections.stderr
    names = set(re.findall(r"\]\s+(\.\S+)", sections.stdout))
    # .debug_gdb_scripts is a loaded section naming Rust's pretty-printers, not debug info.
    debug = sorted(n for n in names if n.startswith(".debug_") and n != ".debug_gdb_scripts")
    assert debug == [], f"debug sections left in the image's binary: {debug}"
    assert ".gnu_debuglink" in names
    assert ".symtab" in names  # function names in a panic's backtrace


def test_version_under_the_charts_security_context(image):
    done = run(PODMAN_RUN + CHART_SECURITY + [image, "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"user-import-operator {VERSION}\n"


def test_plan_in_the_image_prints_what_the_host_binary_prints(image):
    examples = ROOT / "examples"
    in_image = run(
        PODMAN_RUN + CHART_SECURITY
        + ["--volume", f"{examples}:/examples:ro", image, "plan"]
        + [arg.replace("examples/", "/examples/") for arg in PLAN_ARGS])
    assert in_image.returncode == 0, in_image.stderr
    on_host = run(["cargo", "run", "--quiet", "--release", "--locked",
                   "--bin", "user-import-operator", "--", "plan"] + PLAN_ARGS,
                  timeout=3600, cwd=ROOT)
    assert on_host.returncode == 0, on_host.stderr
    assert in_image.stdout == on_host.stdout
    # The README's output.
    assert in_image.stdout.startswith("Tenant: Acme Corp\nTemplate: 21 rows, utf-8, ")
    assert "\nNew Data (5)\n" in in_image.stdout


def test_containerd_imports_the_archive(archive, tmp_path):
    """`ctr -n k8s.io images import`, as on a Kubernetes node, into a containerd of its own."""
    require("containerd")
    require("ctr")
    # A short folder: the socket's path must fit in a sockaddr_un.
    base = Path(tmp_path)
    socket = base / "c.sock"
    config = base / "config.toml"
    config.write_text(f"""version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"
""")
    log = open(base / "containerd.log", "w")
    daemon = subprocess.Popen(["containerd", "--config", str(config)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        ctr = ["ctr", "--address", str(socket), "--namespace", "k8s.io"]
        for _ in range(300):
            if run(ctr + ["version"]).returncode == 0:
                break
            assert daemon.poll() is None, (base / "containerd.log").read_text()
            time.sleep(0.1)
        imported = run(ctr + ["images", "import", "--snapshotter", "native", str(archive)])
        assert imported.returncode == 0, imported.stderr
        listed = run(ctr + ["images", "list", "--quiet"])
        assert listed.returncode == 0, listed.stderr
        assert REF in listed.stdout.split(), listed.stdout
        checked = run(ctr + ["images", "check"])
        assert re.search(rf"^{re.escape(REF)}\s.*complete", checked.stdout, re.MULTILINE), \
            checked.stdout
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
