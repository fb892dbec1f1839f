#!/usr/bin/env python3
"""Build Yardarm's container images offline, without a Docker engine.

The steps follow ``images/operator.Dockerfile`` and ``images/serving.Dockerfile``:

1. a Debian bookworm *minbase* root filesystem made by ``debootstrap`` from the
   Debian mirror apt uses here, with ``python3`` (3.11), ``python3-venv`` and
   ``ca-certificates`` (cached in ``/var/cache/yardarm/rootfs/``);
2. per image, a copy of it with a virtualenv in ``/opt/venv`` into which pip
   (inside a chroot, so the interpreter is Debian's 3.11) installs the project's
   wheel with its extras: ``operator,train`` for ``yardarm/operator:dev`` and
   ``serve`` for ``yardarm/serving:dev``;
3. a non-root user ``nonroot`` (uid/gid 65532) that the image runs as;
4. a single-layer docker-archive tar written by this script
   (``/var/cache/yardarm/images/<name>.tar``), imported into containerd's
   ``k8s.io`` namespace with ``ctr -n k8s.io images import`` when containerd is
   running (``hack/cluster.py up --mode node`` imports the cached tars too).

``pause`` builds the sandbox image the kubelet needs (a static Go ``pause``).

``objectstore`` builds ``yardarm/objectstore:dev`` (``images/objectstore.Dockerfile``): the
static ``versitygw`` S3 server that ``hack/s3/install.sh`` builds from the Go module proxy, behind
a tiny static entrypoint that creates the configured buckets as directories first. The chart
deploys it with ``objectStore.embedded.enabled`` (local clusters, the demo).

Usage::

    python hack/images.py build [pause|base|serving|operator|objectstore|all] [--wheel PATH] [--no-import]
    python hack/images.py import      # import every cached tar into containerd
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("YARDARM_CACHE", "/var/cache/yardarm"))
IMAGES_DIR = CACHE / "images"
ROOTFS_DIR = CACHE / "rootfs"
BUILD_DIR = CACHE / "build"
CONTAINERD_SOCK = "/run/containerd/containerd.sock"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
NONROOT_UID = 65532
PIP_VERSION = "26.3"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"

IMAGES = {
    "operator": {"tag": "yardarm/operator:dev", "extras": "operator,train"},
    "serving": {"tag": "yardarm/serving:dev", "extras": "serve"},
}
PAUSE_TAG = "yardarm/pause:3.10"
OBJECTSTORE_TAG = "yardarm/objectstore:dev"

#: Entrypoint of the object-store image: make each bucket a directory (versitygw's posix backend
#: serves top-level directories as buckets), then become versitygw with the given arguments.
OBJECTSTORE_GO = """// objectstore: create the buckets in YARDARM_BUCKETS under YARDARM_DATA_DIR, then exec versitygw.
package main

import (
\t"fmt"
\t"os"
\t"path/filepath"
\t"strings"
\t"syscall"
)

func getenv(key, fallback string) string {
\tif v := os.Getenv(key); v != "" {
\t\treturn v
\t}
\treturn fallback
}

func main() {
\troot := getenv("YARDARM_DATA_DIR", "/data")
\tdirs := []string{getenv("YARDARM_META_DIR", "/meta")}
\tfor _, b := range strings.Fields(strings.ReplaceAll(os.Getenv("YARDARM_BUCKETS"), ",", " ")) {
\t\tdirs = append(dirs, filepath.Join(root, b))
\t}
\tfor _, d := range dirs {
\t\tif err := os.MkdirAll(d, 0o750); err != nil {
\t\t\tfmt.Fprintf(os.Stderr, "cannot create %s: %v\\n", d, err)
\t\t\tos.Exit(1)
\t\t}
\t}
\targv := append([]string{"/versitygw"}, os.Args[1:]...)
\tif err := syscall.Exec("/versitygw", argv, os.Environ()); err != nil {
\t\tfmt.Fprintf(os.Stderr, "exec versitygw: %v\\n", err)
\t\tos.Exit(1)
\t}
}
"""

PAUSE_GO = """// pause: the sandbox process of a pod; sleeps until SIGINT/SIGTERM and reaps children.
package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tsigs := make(chan os.Signal, 4)
\tsignal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range sigs {
\t\tif s == syscall.SIGCHLD {
\t\t\tfor {
\t\t\t\tvar ws syscall.WaitStatus
\t\t\t\tpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
\t\t\t\tif pid <= 0 || err != nil {
\t\t\t\t\tbreak
\t\t\t\t}
\t\t\t}
\t\t\tcontinue
\t\t}
\t\tos.Exit(0)
\t}
}
"""


def log(msg: str) -> None:
    """Print a progress line."""
    print(f"[images {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd: list[str], **kw: object) -> None:
    """Run a command, streaming its output; raise on failure."""
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- docker-archive


def write_docker_archive(rootfs: Path, out: Path, tag: str, config: dict[str, object]) -> None:
    """Pack ``rootfs`` as a one-layer docker-archive (``docker save`` format) tar."""
    out.parent.mkdir(parents=True, exist_ok=True)
    skip_contents = {"dev", "proc", "sys", "run", "tmp"}
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        layer_path = Path(tmp) / "layer.tar"
        log(f"packing {rootfs} -> layer")
        with tarfile.open(layer_path, "w", format=tarfile.PAX_FORMAT) as layer:
            for top in sorted(rootfs.iterdir()):
                if top.name in skip_contents:
                    info = layer.gettarinfo(str(top), arcname=top.name)
                    layer.addfile(info)
                    continue
                layer.add(str(top), arcname=top.name, recursive=True, filter=_tar_filter)
        digest = _sha256(layer_path)
        img_config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hack/images.py"}],
        }
        cfg_bytes = json.dumps(img_config, sort_keys=True).encode()
        cfg_name = hashlib.sha256(cfg_bytes).hexdigest() + ".json"
        manifest = [{"Config": cfg_name, "RepoTags": [tag], "Layers": [f"{digest}/layer.tar"]}]
        tmp_out = out.with_suffix(".tar.tmp")
        with tarfile.open(tmp_out, "w") as arc:
            _add_bytes(arc, cfg_name, cfg_bytes)
            _add_bytes(arc, "manifest.json", json.dumps(manifest).encode())
            _add_bytes(
                arc,
                "repositories",
                json.dumps({tag.rsplit(":", 1)[0]: {tag.rsplit(":", 1)[1]: digest}}).encode(),
            )
            dir_info = tarfile.TarInfo(digest)
            dir_info.type = tarfile.DIRTYPE
            dir_info.mode = 0o755
            arc.addfile(dir_info)
            arc.add(str(layer_path), arcname=f"{digest}/layer.tar")
        tmp_out.replace(out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB, {tag})")


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if info.isfile() and info.name.startswith(("var/cache/apt/archives/", "var/lib/apt/lists/")):
        return None
    info.uname = info.gname = ""
    return info


def _add_bytes(arc: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    arc.addfile(info, io.BytesIO(data))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- images


def build_pause() -> Path:
    """The pod sandbox image: a static Go binary that sleeps until signalled."""
    out = IMAGES_DIR / "pause.tar"
    if out.exists():
        log(f"pause: cached {out}")
        return out
    src = BUILD_DIR / "pause"
    src.mkdir(parents=True, exist_ok=True)
    (src / "main.go").write_text(PAUSE_GO)
    (src / "go.mod").write_text("module yardarm.local/pause\n\ngo 1.22\n")
    rootfs = src / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.mkdir()
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = {**os.environ, "CGO_ENABLED": "0"}
    sh([go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(rootfs / "pause"), "."], cwd=src, env=env)
    write_docker_archive(rootfs, out, PAUSE_TAG, {"Entrypoint": ["/pause"], "User": "65535:65535"})
    return out


def build_objectstore() -> Path:
    """The embedded S3 server: static versitygw plus the bucket-making entrypoint, nothing else."""
    out = IMAGES_DIR / "objectstore.tar"
    versitygw = CACHE / "bin" / "versitygw"
    if not versitygw.is_file():
        sh(["bash", str(REPO / "hack" / "s3" / "install.sh")])
    key = hashlib.sha256(OBJECTSTORE_GO.encode() + versitygw.read_bytes()).hexdigest()
    stamp = IMAGES_DIR / "objectstore.key"
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        log(f"objectstore: cached {out}")
        return out
    src = BUILD_DIR / "objectstore"
    src.mkdir(parents=True, exist_ok=True)
    (src / "main.go").write_text(OBJECTSTORE_GO)
    (src / "go.mod").write_text("module yardarm.local/objectstore\n\ngo 1.22\n")
    rootfs = src / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    for d in ("tmp", "data", "meta"):
        (rootfs / d).mkdir(parents=True)
        os.chown(rootfs / d, NONROOT_UID, NONROOT_UID)
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = {**os.environ, "CGO_ENABLED": "0"}
    sh([go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(rootfs / "entrypoint"), "."], cwd=src, env=env)
    shutil.copy2(versitygw, rootfs / "versitygw")
    config = {
        "Entrypoint": ["/entrypoint"],
        "Cmd": ["--port", ":7070", "--health", "/health", "posix", "--sidecar", "/meta", "/data"],
        "User": f"{NONROOT_UID}:{NONROOT_UID}",
        "ExposedPorts": {"7070/tcp": {}},
    }
    write_docker_archive(rootfs, out, OBJECTSTORE_TAG, config)
    stamp.write_text(key)
    return out


def debian_mirror() -> str:
    """The Debian mirror apt is configured with here (deb822 or one-line sources)."""
    for path in [*sorted(Path("/etc/apt").glob("sources.list.d/*.sources")), Path("/etc/apt/sources.list")]:
        with contextlib.suppress(OSError):
            text = path.read_text()
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("URIs:") and "debian-security" not in line and "/debian" in line:
                    return line.split()[1]
                if line.startswith("deb ") and "/debian" in line and "security" not in line:
                    return next(p for p in line.split()[1:] if p.startswith("http"))
    return "http://deb.debian.org/debian"


def build_base() -> Path:
    """debootstrap a bookworm minbase rootfs with python3 (cached)."""
    base = ROOTFS_DIR / f"{SUITE}-minbase-python3"
    if (base / ".complete").exists():
        log(f"base rootfs: cached {base}")
        return base
    if not shutil.which("debootstrap"):
        raise SystemExit("debootstrap not found: run `bash hack/install-deps.sh` first")
    shutil.rmtree(base, ignore_errors=True)
    base.parent.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    log(f"debootstrap {SUITE} minbase from {mirror} (a few minutes)")
    sh(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(base), mirror])
    with chroot_mounts(base):
        sh(["chroot", str(base), "apt-get", "clean"])
    for d in ("var/lib/apt/lists",):
        for f in (base / d).glob("*"):
            if f.is_file():
                f.unlink()
    (base / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
    return base


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """Mount /proc and /dev for a chroot, and resolv.conf for pip; always unmount."""
    mounted: list[Path] = []
    try:
        for src, dst, fstype in (("proc", "proc", "proc"), ("/dev", "dev", None)):
            target = root / dst
            target.mkdir(exist_ok=True)
            if fstype:
                subprocess.run(["mount", "-t", fstype, src, str(target)], check=True)
            else:
                subprocess.run(["mount", "--rbind", src, str(target)], check=True)
                subprocess.run(["mount", "--make-rslave", str(target)], check=True)
            mounted.append(target)
        # pip inside the chroot trusts what the build host trusts (a proxy CA, if any) --
        # only during the build: the file is removed before the image is packed.
        host_ca = Path(os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or HOST_CA)
        if host_ca.is_file():
            shutil.copy(host_ca, root / "tmp" / "build-ca.crt")
        resolv = root / "etc" / "resolv.conf"
        with contextlib.suppress(OSError):
            resolv.unlink()
        shutil.copy("/etc/resolv.conf", resolv)
        yield
    finally:
        (root / "tmp" / "build-ca.crt").unlink(missing_ok=True)
        for target in reversed(mounted):
            subprocess.run(["umount", "-R", "-l", str(target)], check=False)


def project_wheel(explicit: str | None) -> Path:
    """The wheel to install: --wheel, else one built from the repository's pyproject.toml."""
    if explicit:
        return Path(explicit).resolve()
    if not (REPO / "pyproject.toml").exists():
        raise SystemExit("no pyproject.toml at the repository root; pass --wheel PATH")
    out = BUILD_DIR / "wheels"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO)])
    wheels = sorted(out.glob("*.whl"))
    if not wheels:
        raise SystemExit("pip wheel produced no wheel")
    return wheels[0]


def build_python_image(name: str, wheel: Path) -> Path:
    """Copy the base rootfs, add a venv with the wheel + extras and a non-root user, pack it."""
    spec = IMAGES[name]
    base = build_base()
    work = BUILD_DIR / f"rootfs-{name}"
    remove_tree(work)
    log(f"{name}: copying base rootfs")
    sh(["cp", "-a", str(base), str(work)])
    (work / ".complete").unlink(missing_ok=True)
    shutil.copy(wheel, work / "tmp" / wheel.name)
    extras = spec["extras"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # Host CA variables point at host paths; inside the chroot they must name the copied bundle.
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        env[var] = "/tmp/build-ca.crt"
    env.pop("SSL_CERT_DIR", None)
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_DEFAULT_TIMEOUT="180")
    with chroot_mounts(work):
        sh(["chroot", str(work), "/usr/bin/python3", "-m", "venv", "/opt/venv"], env=env)
        pip = ["chroot", str(work), "/opt/venv/bin/pip", "install", "--no-cache-dir"]
        sh([*pip, f"pip=={PIP_VERSION}"], env=env)
        sh([*pip, f"/tmp/{wheel.name}" + (f"[{extras}]" if extras else "")], env=env)
    (work / "tmp" / wheel.name).unlink()
    (work / "etc" / "resolv.conf").write_text("")
    _add_nonroot_user(work)
    out = IMAGES_DIR / f"{name}.tar"
    write_docker_archive(
        work,
        out,
        spec["tag"],
        {
            "User": f"{NONROOT_UID}:{NONROOT_UID}",
            "Env": [
                "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "PYTHONUNBUFFERED=1",
                "PYTHONDONTWRITEBYTECODE=1",
                "HOME=/home/nonroot",
            ],
            "WorkingDir": "/home/nonroot",
            "Cmd": ["python3"],
            "Labels": {"org.opencontainers.image.source": "yardarm", "yardarm.image": name},
        },
    )
    remove_tree(work)
    return out


def remove_tree(path: Path) -> None:
    """Delete a build root: unmount what a crashed chroot left, never cross into a mount."""
    if not path.exists():
        return
    prefix = str(path) + "/"
    mounts = [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def source_key(extras: str) -> str:
    """A digest of the repository's files (tracked + untracked, not ignored) and the build recipe.

    Stable across clones (content only), so an unchanged tree reuses its image tar.
    """
    res = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True)
    if res.returncode != 0:
        return ""
    h = hashlib.sha256(f"{extras}|{PIP_VERSION}|{SUITE}|{','.join(BASE_PACKAGES)}".encode())
    h.update(Path(__file__).read_bytes())
    # Only what goes into the wheel: pyproject.toml, the readme and the package directories
    # it names (the whole tree when it names none).
    roots: tuple[str, ...] = ()
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
        project = tomllib.loads((REPO / "pyproject.toml").read_text())
        dirs = project.get("tool", {}).get("setuptools", {}).get("package-dir", {})
        roots = tuple(f"{d.rstrip('/')}/" for d in dirs.values() if d and d != ".")
    for rel in sorted(res.stdout.decode().split("\0")):
        f = REPO / rel
        wanted = not roots or rel.startswith(roots) or "/" not in rel
        if rel and wanted and f.is_file():
            h.update(rel.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _add_nonroot_user(root: Path) -> None:
    etc = root / "etc"
    passwd = (etc / "passwd").read_text()
    if f":{NONROOT_UID}:" not in passwd:
        with open(etc / "passwd", "a") as fh:
            fh.write(f"nonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/home/nonroot:/usr/sbin/nologin\n")
        with open(etc / "group", "a") as fh:
            fh.write(f"nonroot:x:{NONROOT_UID}:\n")
    home = root / "home" / "nonroot"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, NONROOT_UID, NONROOT_UID)


def import_images(tars: list[Path], fresh: tuple[Path, ...] = ()) -> None:
    """Import docker-archive tars into containerd's k8s.io namespace, if containerd runs.

    A tar not in ``fresh`` (built by this run) is skipped when containerd has its tags.
    """
    ctr = ["ctr", "--address", CONTAINERD_SOCK, "-n", "k8s.io"]
    if not shutil.which("ctr") or subprocess.run([*ctr, "version"], capture_output=True).returncode != 0:
        log("containerd is not running: tars stay cached; `hack/cluster.py up --mode node` imports them")
        return
    present = subprocess.run([*ctr, "images", "ls", "-q"], text=True, capture_output=True).stdout.split()
    for tar in tars:
        if tar in fresh or not all(t in present for t in _tags(tar)):
            sh([*ctr, "images", "import", "--no-unpack", str(tar)])
        else:
            log(f"{tar.name}: already in containerd")


def _tags(tar: Path) -> list[str]:
    """Fully qualified tags named by a docker-archive's manifest.json."""
    try:
        with tarfile.open(tar) as arc:
            member = arc.extractfile("manifest.json")
            manifest = json.load(member) if member else []
    except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError):
        return ["<unreadable>"]
    tags = [t for entry in manifest for t in entry.get("RepoTags") or []]
    return [t if "." in t.split("/")[0] else f"docker.io/{t}" for t in tags]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "import"))
    targets = ("pause", "base", "serving", "operator", "objectstore", "all")
    parser.add_argument("what", nargs="?", default="all", choices=targets)
    parser.add_argument("--wheel", help="wheel to install instead of building one from pyproject.toml")
    parser.add_argument("--no-import", action="store_true", help="do not import into containerd")
    parser.add_argument("--force", action="store_true", help="rebuild even if a tar is cached")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("images.py needs root (debootstrap, chroot)", file=sys.stderr)
        return 2
    if args.command == "import":
        import_images(sorted(IMAGES_DIR.glob("*.tar")), fresh=tuple(IMAGES_DIR.glob("*.tar")))
        return 0
    built: list[Path] = []
    fresh: list[Path] = []
    if args.what in ("pause", "all"):
        if args.force:
            (IMAGES_DIR / "pause.tar").unlink(missing_ok=True)
        built.append(build_pause())
    if args.what in ("objectstore", "all"):
        if args.force:
            (IMAGES_DIR / "objectstore.tar").unlink(missing_ok=True)
        built.append(build_objectstore())
    if args.what == "base":
        build_base()
    names = [n for n in IMAGES if args.what in (n, "all")]
    todo: list[str] = []
    keys: dict[str, str] = {}
    for name in names:
        out, stamp = IMAGES_DIR / f"{name}.tar", IMAGES_DIR / f"{name}.key"
        keys[name] = "" if args.wheel else source_key(IMAGES[name]["extras"])
        if not args.force and keys[name] and out.exists() and stamp.exists() and stamp.read_text() == keys[name]:
            log(f"{name}: cached {out} (same sources)")
            built.append(out)
        else:
            todo.append(name)
    if todo:
        wheel = project_wheel(args.wheel)
        log(f"wheel: {wheel}")
        for name in todo:
            t0 = time.monotonic()
            fresh.append(build_python_image(name, wheel))
            built.append(fresh[-1])
            stamp = IMAGES_DIR / f"{name}.key"
            if keys[name]:
                stamp.write_text(keys[name])
            else:
                stamp.unlink(missing_ok=True)
            log(f"{name}: built in {time.monotonic() - t0:.0f}s")
    if built and not args.no_import:
        import_images(built, fresh=tuple(fresh))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
