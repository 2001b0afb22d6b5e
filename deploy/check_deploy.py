"""Cross-checks of deploy/ that schema validation cannot see.

Run by deploy/validate.sh (with the PyYAML from its tool venv) after the
schema checks. Each check guards a mistake that a schema accepts but that
breaks a deployment: a probe on a port that does not exist, a Service whose
selector matches no pod, a secret committed in clear, a Dockerfile COPY of a
path that .dockerignore hides, a grace period shorter than the drain, ...

Usage: check_deploy.py REPO_ROOT RENDERED_K8S_YAML COMPOSE_CONFIG_JSON
Exit status 1 with one line per problem when anything fails.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import sys
from pathlib import Path

import yaml

# The server's default drain after SIGTERM (MUSTER_SHUTDOWN_TIMEOUT_S, seconds).
DEFAULT_DRAIN_S = 30
PLACEHOLDER = re.compile(r"PLACEHOLDER|CHANGE-ME", re.IGNORECASE)
SECRETISH = re.compile(r"SECRET|PASSWORD|ACCESS_KEY_ID|PRIVATE_KEY(?!_FILE)|TOKEN", re.IGNORECASE)

problems: list[str] = []


def fail(where: str, msg: str) -> None:
    problems.append(f"{where}: {msg}")


def port_of(listen: str | None) -> int | None:
    if not listen or ":" not in listen:
        return None
    try:
        return int(listen.rsplit(":", 1)[1])
    except ValueError:
        return None


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            op, _, rest = buf.strip().partition(" ")
            out.append((op.upper(), rest.strip()))
        buf = ""
    return out


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes path (last matching pattern wins)."""
    excluded = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        pat = pat.strip("/")
        candidates = [pat] + ([pat[3:]] if pat.startswith("**/") else [])
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, c) for c in candidates for p in prefixes) or any(
            pat.startswith("**/") and fnmatch.fnmatchcase(part, pat[3:]) for part in parts
        ):
            excluded = not negate
    return excluded


def check_dockerfile(root: Path, listen_port: int | None) -> None:
    where = "deploy/Dockerfile"
    instrs = dockerfile_instructions((root / "deploy/Dockerfile").read_text())
    ignore_file = root / ".dockerignore"
    patterns = []
    if ignore_file.exists():
        patterns = [
            ln.strip() for ln in ignore_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")
        ]
    else:
        fail(".dockerignore", "missing: target/ and .git would be sent to the builder")
    for needed in ("target", ".git", "muster-data"):
        if not dockerignored(needed, patterns):
            fail(".dockerignore", f"does not exclude {needed}")

    copied: set[str] = set()
    for op, args in instrs:
        if op not in ("COPY", "ADD"):
            continue
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        srcs = [w for w in words if not w.startswith("--")][:-1]
        for src in srcs:
            src = src.rstrip("/").removeprefix("./")
            copied.add(src)
            if not (root / src).exists():
                fail(where, f"COPY source {src} does not exist in the build context")
            elif dockerignored(src, patterns):
                fail(where, f"COPY source {src} is excluded by .dockerignore")
    # What the build needs: build.rs compiles proto/, migrations/ are embedded.
    for needed in ("Cargo.toml", "Cargo.lock", "src", "build.rs", "proto", "migrations"):
        if (root / needed).exists() and needed not in copied:
            fail(where, f"the builder never copies {needed}, which the build needs")

    # Files the crate pulls in at compile time must be inside what is copied.
    for rs in sorted((root / "src").rglob("*.rs")) if (root / "src").is_dir() else []:
        text = rs.read_text(errors="replace")
        for macro, rel in re.findall(r'\b(include_str|include_bytes|migrate)!\(\s*"([^"]+)"', text):
            base = root if macro == "migrate" else rs.parent
            target = (base / rel).resolve()
            try:
                inside = target.relative_to(root.resolve()).as_posix()
            except ValueError:
                inside = None
            if inside is None or not any(inside == c or inside.startswith(c + "/") for c in copied):
                fail(where, f"{rs.relative_to(root)} embeds {rel} at compile time, which the builder does not copy")

    stages = [a for op, a in instrs if op == "FROM"]
    if len(stages) < 2:
        fail(where, "expected a multi-stage build (builder + runtime)")
    final = instrs[max(i for i, (op, _) in enumerate(instrs) if op == "FROM") :]
    users = [a for op, a in final if op == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        fail(where, "the runtime stage must end with a non-root USER")
    exposed = {int(p.split("/")[0]) for op, a in final if op == "EXPOSE" for p in a.split()}
    env_listen = None
    for op, a in final:
        if op == "ENV":
            m = re.search(r"MUSTER_LISTEN=(\S+)", a)
            env_listen = m.group(1) if m else env_listen
    if port_of(env_listen) not in exposed:
        fail(where, f"MUSTER_LISTEN={env_listen} is not on an EXPOSEd port {sorted(exposed)}")
    if env_listen and env_listen.startswith("127."):
        fail(where, "MUSTER_LISTEN on loopback is unreachable from outside the container")
    entry = [a for op, a in final if op == "ENTRYPOINT"]
    if not entry or json.loads(entry[-1])[0] not in ("muster", "/usr/local/bin/muster"):
        fail(where, "ENTRYPOINT must run the muster binary (exec form)")
    if listen_port is not None and listen_port not in exposed:
        fail(where, f"EXPOSE {sorted(exposed)} does not include the Kubernetes container port {listen_port}")


# ---------------------------------------------------------------- Compose


def compose_seconds(duration: str) -> float | None:
    """Seconds in a Compose duration such as 1m30s; None when unreadable."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(n) * scale[u] for n, u in parts)


def check_compose(root: Path, cfg: dict) -> None:
    where = "deploy/docker-compose.yml"
    raw = yaml.safe_load((root / "deploy/docker-compose.yml").read_text())
    # No secret may be written in the file: only ${VAR:?...} references (or
    # a bare name passed through from the environment).
    for name, svc in (raw.get("services") or {}).items():
        env = svc.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        for key, value in items:
            if SECRETISH.search(key) and value not in (None, "") and not re.search(r"\$\{[A-Z0-9_]+:\?", str(value)):
                fail(where, f"services.{name}.environment.{key} must come from ${{VAR:?}}, not be written in the file")
        for dep, spec in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) else []:
            if dep not in raw["services"]:
                fail(where, f"services.{name} depends on unknown service {dep}")

    services = cfg.get("services", {})
    muster = services.get("muster")
    if not muster:
        fail(where, "no muster service")
        return
    env = muster.get("environment") or {}
    for key in ("MUSTER_DATABASE_URL", "MUSTER_PHOTO_STORE", "MUSTER_JWT_SECRET", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MUSTER_LISTEN"):
        if key not in env:
            fail(where, f"muster service lacks {key}")
    if not str(env.get("MUSTER_DATABASE_URL", "")).startswith("postgres://"):
        fail(where, "muster must use PostgreSQL (MUSTER_DATABASE_URL=postgres://...)")
    if not str(env.get("MUSTER_PHOTO_STORE", "")).startswith("s3://"):
        fail(where, "muster must use S3 (MUSTER_PHOTO_STORE=s3://...)")
    for dep, spec in (muster.get("depends_on") or {}).items():
        if spec.get("condition") not in ("service_healthy", "service_completed_successfully"):
            fail(where, f"muster depends on {dep} without a health/completion condition")
        target = services.get(dep, {})
        if spec.get("condition") == "service_healthy" and not target.get("healthcheck"):
            fail(where, f"muster waits for {dep} to be healthy, but {dep} has no healthcheck")
    build = muster.get("build") or {}
    ctx = Path(build.get("context", ""))
    if ctx.resolve() != root.resolve():
        fail(where, f"muster builds from {ctx}, not the repository root")
    if not (ctx / build.get("dockerfile", "Dockerfile")).exists():
        fail(where, "muster's Dockerfile does not exist")
    drain = int(env.get("MUSTER_SHUTDOWN_TIMEOUT_S") or DEFAULT_DRAIN_S)
    grace = compose_seconds(muster.get("stop_grace_period", "10s"))
    if grace is None or grace <= drain:
        fail(where, f"muster's stop_grace_period must exceed the {drain}s drain")
    listen_port = port_of(env.get("MUSTER_LISTEN"))
    if listen_port is not None and not any(int(p.get("target", 0)) == listen_port for p in muster.get("ports", [])):
        fail(where, f"no published port targets MUSTER_LISTEN's port {listen_port}")


# ---------------------------------------------------------------- Kubernetes


def matches(selector: dict, labels: dict) -> bool:
    want = selector.get("matchLabels", selector)
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def check_kustomization(root: Path) -> None:
    where = "deploy/k8s/kustomization.yaml"
    kdir = root / "deploy/k8s"
    kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    listed = set(kust.get("resources", []))
    for res in listed:
        if not (kdir / res).exists():
            fail(where, f"lists {res}, which does not exist")
    for f in sorted(kdir.glob("*.y*ml")):
        if f.name in ("kustomization.yaml", "secret.example.yaml"):
            continue
        if f.name not in listed:
            fail(where, f"does not list {f.name}")
    if "secret.example.yaml" in listed:
        fail(where, "must not list secret.example.yaml (it would install placeholder secrets)")


def check_k8s(root: Path, docs: list[dict]) -> int | None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    secret_ex = yaml.safe_load((root / "deploy/k8s/secret.example.yaml").read_text())

    # Secret example: placeholders only.
    for key, value in (secret_ex.get("stringData") or {}).items():
        if not PLACEHOLDER.search(str(value)):
            fail("deploy/k8s/secret.example.yaml", f"{key} must be a clearly marked PLACEHOLDER")
    for key, value in (secret_ex.get("data") or {}).items():
        fail("deploy/k8s/secret.example.yaml", f"{key}: use stringData placeholders, not base64 data")
    jwt = str((secret_ex.get("stringData") or {}).get("MUSTER_JWT_SECRET", ""))
    if len(jwt.encode()) >= 32:
        fail("deploy/k8s/secret.example.yaml", "the MUSTER_JWT_SECRET placeholder must be too short to be accepted")

    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in by_kind.get("ConfigMap", [])}
    for name, data in configmaps.items():
        for key in data:
            if SECRETISH.search(key):
                fail("deploy/k8s/configmap.yaml", f"{key} looks secret: put it in the Secret")

    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        fail("deploy/k8s", f"expected one Deployment, found {len(deps)}")
        return None
    dep = deps[0]
    where = "deploy/k8s/deployment.yaml"
    spec = dep["spec"]
    tmpl = spec["template"]
    pod = tmpl["spec"]
    pod_labels = tmpl["metadata"].get("labels", {})
    if not matches(spec["selector"], pod_labels):
        fail(where, "selector does not match the pod template labels")
    if spec.get("replicas", 1) < 2:
        fail(where, "replicas must be at least 2")
    psc = pod.get("securityContext", {})
    if not psc.get("runAsNonRoot") or psc.get("runAsUser", 0) == 0:
        fail(where, "pod securityContext must run as a non-root uid")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        fail(where, "pod securityContext must use the RuntimeDefault seccomp profile")
    if not any(t.get("topologyKey") == "kubernetes.io/hostname" for t in pod.get("topologySpreadConstraints", [])):
        fail(where, "replicas must be spread across nodes (topologyKey kubernetes.io/hostname)")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}

    containers = pod["containers"]
    c = next((c for c in containers if c["name"] == "muster"), None)
    if c is None:
        fail(where, "no container named muster")
        return None
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    csc = c.get("securityContext", {})
    if not csc.get("readOnlyRootFilesystem"):
        fail(where, "container must have readOnlyRootFilesystem")
    if csc.get("allowPrivilegeEscalation") is not False:
        fail(where, "container must set allowPrivilegeEscalation: false")
    if "ALL" not in (csc.get("capabilities") or {}).get("drop", []):
        fail(where, "container must drop ALL capabilities")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
        fail(where, "/tmp must be an emptyDir (the root filesystem is read-only)")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(kind, {}):
                fail(where, f"resources.{kind}.{r} is missing")

    def probe(name: str, path: str | None) -> None:
        p = c.get(name)
        if not p:
            fail(where, f"{name} is missing")
            return
        get = p.get("httpGet") or {}
        if path and get.get("path") != path:
            fail(where, f"{name} must GET {path}, not {get.get('path')}")
        port = get.get("port")
        if isinstance(port, str) and port not in ports or isinstance(port, int) and port not in ports.values():
            fail(where, f"{name} probes port {port}, which the container does not declare")

    probe("livenessProbe", "/healthz")
    probe("readinessProbe", "/readyz")
    probe("startupProbe", None)

    pre = ((c.get("lifecycle") or {}).get("preStop") or {})
    sleep_s = (pre.get("sleep") or {}).get("seconds")
    cmd = (pre.get("exec") or {}).get("command") or []
    if sleep_s is None and len(cmd) == 2 and cmd[0] in ("sleep", "/bin/sleep"):
        sleep_s = int(cmd[1])
    if not sleep_s:
        fail(where, "a preStop sleep is needed so the endpoint is removed before the drain starts")
    env_names = {e["name"] for e in c.get("env", [])}
    env: dict[str, str] = {e["name"]: e.get("value") for e in c.get("env", []) if "value" in e}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            name = src["configMapRef"]["name"]
            if name not in configmaps:
                fail(where, f"envFrom ConfigMap {name} is not in the kustomization")
            env.update(configmaps.get(name, {}))
            env_names |= set(configmaps.get(name, {}))
        if "secretRef" in src:
            name = src["secretRef"]["name"]
            if name != secret_ex["metadata"]["name"]:
                fail(where, f"envFrom Secret {name} is not the one secret.example.yaml documents")
            env_names |= set((secret_ex.get("stringData") or {}).keys())
    for key in ("MUSTER_DATABASE_URL", "MUSTER_PHOTO_STORE", "MUSTER_JWT_SECRET", "MUSTER_LISTEN"):
        if key not in env_names:
            fail(where, f"the container gets no {key}")
    drain = int(env.get("MUSTER_SHUTDOWN_TIMEOUT_S") or DEFAULT_DRAIN_S)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= drain + (sleep_s or 0):
        fail(where, f"terminationGracePeriodSeconds {grace} must exceed preStop {sleep_s}s + drain {drain}s")
    http_port = port_of(env.get("MUSTER_LISTEN"))
    if http_port != ports.get("http"):
        fail(where, f"MUSTER_LISTEN port {http_port} is not the container port 'http' ({ports.get('http')})")
    ann = tmpl["metadata"].get("annotations", {})
    metrics_port = port_of(env.get("MUSTER_METRICS_LISTEN")) or http_port
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics":
        fail(where, "pod template lacks prometheus.io/scrape and prometheus.io/path annotations")
    if str(metrics_port) != ann.get("prometheus.io/port"):
        fail(where, f"prometheus.io/port {ann.get('prometheus.io/port')} is not the metrics port {metrics_port}")

    for svc in by_kind.get("Service", []):
        w = "deploy/k8s/service.yaml"
        if not matches(svc["spec"].get("selector", {}), pod_labels):
            fail(w, f"Service {svc['metadata']['name']} selects no muster pod")
        if svc["spec"].get("sessionAffinity", "None") != "None":
            fail(w, "no session affinity: replicas are stateless")
        for p in svc["spec"].get("ports", []):
            t = p.get("targetPort", p["port"])
            if (t not in ports) if isinstance(t, str) else (t not in ports.values()):
                fail(w, f"targetPort {t} is not a container port")
    if not by_kind.get("Service"):
        fail("deploy/k8s", "no Service")

    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    min_replicas = spec.get("replicas", 1)
    for hpa in hpas:
        w = "deploy/k8s/hpa.yaml"
        ref = hpa["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) != ("Deployment", dep["metadata"]["name"]):
            fail(w, f"scales {ref['kind']}/{ref['name']}, not the muster Deployment")
        min_replicas = hpa["spec"].get("minReplicas", 1)
        if min_replicas < 2 or min_replicas > hpa["spec"]["maxReplicas"]:
            fail(w, "minReplicas must be at least 2 and at most maxReplicas")
        if not any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"].get("metrics", [])):
            fail(w, "no CPU metric")
    if not hpas:
        fail("deploy/k8s", "no HorizontalPodAutoscaler")

    pdbs = by_kind.get("PodDisruptionBudget", [])
    for pdb in pdbs:
        w = "deploy/k8s/pdb.yaml"
        if not matches(pdb["spec"]["selector"], pod_labels):
            fail(w, "selects no muster pod")
        min_avail = pdb["spec"].get("minAvailable")
        if isinstance(min_avail, int) and min_avail >= min_replicas:
            fail(w, f"minAvailable {min_avail} >= minReplicas {min_replicas} would block every node drain")
    if not pdbs:
        fail("deploy/k8s", "no PodDisruptionBudget")

    for d in docs:
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "muster":
            fail("deploy/k8s", f"{d['kind']}/{d['metadata']['name']} is not in the muster namespace")
    return ports.get("http")


def main() -> int:
    root = Path(sys.argv[1])
    docs = [d for d in yaml.safe_load_all(Path(sys.argv[2]).read_text()) if d]
    compose = json.loads(Path(sys.argv[3]).read_text())
    check_kustomization(root)
    http_port = check_k8s(root, docs)
    check_compose(root, compose)
    check_dockerfile(root, http_port)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
