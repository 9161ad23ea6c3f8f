"""docker-compose.yml, .env.example and docker/ agree with each other and with the settings.

Docker cannot run here, so these read the files: the compose file is interpolated the way
Compose does it, with the values of .env.example, and what each container would see is fed to
the real Settings class. The Airflow database init script runs for real against PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
import yaml
from dotenv import dotenv_values

from tradewind.settings import PROJECT_ROOT, Settings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
INIT_SCRIPT = PROJECT_ROOT / "docker" / "postgres-init" / "10-airflow-db.sh"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
SERVICES = ("timescaledb", *AIRFLOW_SERVICES, "ray-head")
# Profile `celery`: started only with `docker compose --profile celery up`.
CELERY_WORKERS = ("airflow-worker-1", "airflow-worker-2")
CELERY_SERVICES = ("redis", *CELERY_WORKERS)
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}

# --- pure helpers -----------------------------------------------------------------------------
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: $$, ${V}, $V, ${V:-d}, ${V-d}, ${V:?msg}, ${V?msg}."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m["name"] or m["bare"]
        value, op = env.get(name), m["op"]
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return m["arg"] if unset else value
        if op in (":?", "?"):
            if unset:
                raise MissingVariable(f"{name}: {m['arg']}")
            return value
        return value or ""

    return _INTERPOLATION.sub(sub, text)


def interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(n, env) for n in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


def referenced_variables(text: str) -> set[str]:
    return {m["name"] or m["bare"] for m in _INTERPOLATION.finditer(text) if m.group(0) != "$$"}


def env_example_names(text: str) -> set[str]:
    """Every variable the example documents, set or commented out (`# NAME=`)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def settings_env_names() -> set[str]:
    """Environment variable names that set a field of Settings."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add("TRADEWIND_" + field_name.upper())
        else:
            names.update(c for c in getattr(alias, "choices", [alias]) if isinstance(c, str))
    return names


def service_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def parse_port(spec: str) -> tuple[str, int, int]:
    """'ip:host:container' -> (ip, host port, container port)."""
    ip, host, container = spec.split(":")
    return ip, int(host), int(container.split("/")[0])


def volume_source(spec: str) -> str:
    return spec.split(":")[0]


def depends(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (cfg or {}).get("condition", "service_started") for name, cfg in deps.items()}


def one_shot(service: dict) -> bool:
    return str(service.get("restart", "no")) == "no"


def requirement_pin(name: str) -> str:
    text = (PROJECT_ROOT / "requirements.txt").read_text()
    m = re.search(rf"^{re.escape(name)}==([^\s;]+)", text, flags=re.M | re.I)
    assert m, f"{name} is not pinned in requirements.txt"
    return m.group(1)


def dockerfile_arg(path: Path, name: str) -> str:
    m = re.search(rf"^ARG {name}=(\S+)", path.read_text(), flags=re.M)
    assert m, f"{path.name} has no ARG {name} default"
    return m.group(1)


def clear_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRADEWIND_") or name in settings_env_names():
            monkeypatch.delenv(name)


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE).items()}


@pytest.fixture(scope="module")
def compose(raw_compose: dict, example_env: dict[str, str]) -> dict:
    """The compose file as Compose would see it with .env.example copied to .env."""
    return interpolate_tree(raw_compose, example_env)


# --- unit tests of the helpers (they decide what the other tests see) -------------------------
def test_interpolation_follows_compose_rules():
    env = {"A": "1", "E": ""}
    assert interpolate("${A}-${A:-x}-${B:-x}-${E:-x}-${E-x}-$A-$$A", env) == "1-1-x-x--1-$A"
    assert interpolate("${B}", env) == ""
    with pytest.raises(MissingVariable, match="B: set B"):
        interpolate("${B:?set B}", env)
    with pytest.raises(MissingVariable):
        interpolate("${E:?empty}", env)
    assert referenced_variables("${A:-x} $B $$C ${D:?m}") == {"A", "B", "D"}


# --- structure --------------------------------------------------------------------------------
def test_services_are_the_documented_ones(compose: dict):
    services = compose["services"]
    default = {n for n, svc in services.items() if not svc.get("profiles")}
    assert default == set(SERVICES)
    assert set(services) - default == set(CELERY_SERVICES)
    for name in CELERY_SERVICES:
        assert services[name]["profiles"] == ["celery"], name


def test_every_long_running_service_has_a_healthcheck(compose: dict):
    for name, svc in compose["services"].items():
        if one_shot(svc):
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    assert [n for n, s in compose["services"].items() if one_shot(s)] == ["airflow-init"]


def test_depends_on_names_real_services_with_fitting_conditions(compose: dict):
    services = compose["services"]
    for name, svc in services.items():
        for dep, condition in depends(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert condition in CONDITIONS, f"{name} -> {dep}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck to wait for"
            if condition == "service_completed_successfully":
                assert one_shot(services[dep]), f"{dep} never completes"
    # No cycles: a topological order exists.
    remaining = {n: set(depends(s)) for n, s in services.items()}
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps & set(remaining)]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for n in ready:
            del remaining[n]
    # Everything that touches a database waits for it to be healthy.
    for name in (*AIRFLOW_SERVICES, "ray-head"):
        assert depends(services[name]).get("timescaledb") == "service_healthy", name
    for name in AIRFLOW_SERVICES[1:]:
        assert depends(services[name])["airflow-init"] == "service_completed_successfully"


def test_named_volumes_are_declared_and_used_and_bind_sources_exist(compose: dict):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes", []):
            source = volume_source(spec)
            if source.startswith((".", "/")):
                assert (PROJECT_ROOT / source).exists(), f"{name}: bind source {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"


def test_published_ports_are_loopback_and_unique(compose: dict):
    host_ports = []
    for name, svc in compose["services"].items():
        for spec in svc.get("ports", []):
            ip, host, _ = parse_port(spec)
            assert ip == "127.0.0.1", f"{name} publishes {spec} beyond loopback"
            host_ports.append(host)
    assert len(host_ports) == len(set(host_ports)), host_ports
    assert len(host_ports) == 4  # warehouse, Airflow UI, Ray dashboard, Ray client


def test_builds_and_their_copied_files_exist(compose: dict):
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if not build:
            continue
        dockerfile = PROJECT_ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.exists(), name
        ignore = Path(str(dockerfile) + ".dockerignore")
        assert ignore.exists(), f"{dockerfile.name}: the context is the repository root (.venv!)"
        allowed = {
            line[1:].rstrip("/") for line in ignore.read_text().splitlines() if line[:1] == "!"
        }
        for src in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile.read_text(), flags=re.M):
            for item in src.split():
                assert (PROJECT_ROOT / item).exists(), f"{dockerfile.name} copies missing {item}"
                assert item.rstrip("/") in allowed, f"{ignore.name} excludes {item}"
        for arg in build.get("args", {}):
            assert re.search(rf"^ARG {arg}\b", dockerfile.read_text(), flags=re.M), (name, arg)


def test_base_images_match_the_pinned_versions(raw_compose: dict, example_env: dict):
    airflow, ray = requirement_pin("apache-airflow"), requirement_pin("ray")
    want = {
        "AIRFLOW_IMAGE": f"apache/airflow:{airflow}-python3.11",
        "RAY_IMAGE": f"rayproject/ray:{ray}-py311-cpu",
    }
    dockerfiles = {"AIRFLOW_IMAGE": "airflow.Dockerfile", "RAY_IMAGE": "ray.Dockerfile"}
    text = COMPOSE_FILE.read_text()
    for var, image in want.items():
        assert dockerfile_arg(PROJECT_ROOT / "docker" / dockerfiles[var], var) == image
        assert f"${{{var}:-{image}}}" in text, f"compose default for {var}"
        assert example_env[var] == image


# --- settings ---------------------------------------------------------------------------------
def test_every_tradewind_variable_is_a_setting(raw_compose: dict):
    known = settings_env_names()
    compose_text = COMPOSE_FILE.read_text()
    names = referenced_variables(compose_text) | env_example_names(ENV_EXAMPLE.read_text())
    for svc in raw_compose["services"].values():
        names |= set(service_env(svc))
    tradewind = {n for n in names if n.startswith("TRADEWIND_")}
    # Compose's own knobs that share the prefix but are not application settings.
    compose_only = {"TRADEWIND_IMAGE_TAG"}
    assert tradewind - compose_only <= known, sorted(tradewind - compose_only - known)
    assert compose_only <= referenced_variables(compose_text)
    assert {"TRADEWIND_USE_TIMESCALE", "TRADEWIND_RAY_ADDRESS"} <= tradewind


def test_env_example_documents_what_compose_needs(example_env: dict[str, str]):
    documented = env_example_names(ENV_EXAMPLE.read_text())
    compose_vars = referenced_variables(COMPOSE_FILE.read_text())
    assert compose_vars <= documented, sorted(compose_vars - documented)
    # Each documented variable is read by someone: compose, the settings, or Airflow.
    for name in documented:
        assert (
            name in compose_vars or name in settings_env_names() or name.startswith("AIRFLOW_CONN_")
        ), f"{name} in .env.example is read by nothing"
    for name in (
        "DATABASE_URL",
        "AIRFLOW_CONN_TRADEWIND_WAREHOUSE",
        "AIRFLOW_CONN_ALPACA",
        "AIRFLOW_CONN_NASDAQ_DATA_LINK",
        "APCA_API_KEY_ID",
        "APCA_API_SECRET_KEY",
        "NASDAQ_DATA_LINK_API_KEY",
    ):
        assert name in documented, name
    # Required secrets are required in the compose file, so a forgotten one fails loudly.
    with pytest.raises(MissingVariable, match="WAREHOUSE_DB_PASSWORD"):
        interpolate(COMPOSE_FILE.read_text(), {})


def test_env_example_is_valid_for_the_host(monkeypatch: pytest.MonkeyPatch, example_env: dict):
    """As .env on the host, the example points tradewind at the published compose services."""
    clear_settings_env(monkeypatch)
    s = Settings(_env_file=ENV_EXAMPLE)
    assert s.use_timescale is True
    url = urlsplit(s.database_url.get_secret_value())
    assert (url.hostname, url.port) == ("127.0.0.1", int(example_env["TIMESCALEDB_PORT"]))
    assert url.path.strip("/") == example_env["WAREHOUSE_DB_NAME"]
    assert url.username == example_env["WAREHOUSE_DB_USER"]
    assert unquote(url.password) == example_env["WAREHOUSE_DB_PASSWORD"]
    assert s.ray_address == f"ray://127.0.0.1:{example_env['RAY_CLIENT_PORT']}"
    assert s.live_trading is False


def test_containers_see_valid_settings_pointing_at_the_services(
    monkeypatch: pytest.MonkeyPatch, compose: dict
):
    services = compose["services"]
    db = service_env(services["timescaledb"])
    db_port = {parse_port(p)[2] for p in services["timescaledb"]["ports"]}
    ray_cmd = services["ray-head"]["command"]
    ray_ports = {parse_port(p)[2] for p in services["ray-head"]["ports"]}
    for name in (*AIRFLOW_SERVICES, *CELERY_WORKERS, "ray-head"):
        env = service_env(services[name])
        clear_settings_env(monkeypatch)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        s = Settings(_env_file=None)
        assert s.use_timescale is True, name
        url = urlsplit(s.database_url.get_secret_value())
        assert url.hostname == "timescaledb" and url.port in db_port, name
        assert url.path.strip("/") == db["POSTGRES_DB"], name
        assert (url.username, url.password) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])
        ray = urlsplit(s.ray_address)
        assert (ray.scheme, ray.hostname) == ("ray", "ray-head"), name
        assert f"--ray-client-server-port={ray.port}" in ray_cmd and ray.port in ray_ports
        assert s.home == Path("/opt/tradewind/var")
        assert "tradewind-var:/opt/tradewind/var" in services[name]["volumes"], name


def test_airflow_warehouse_connection_is_the_warehouse(
    monkeypatch: pytest.MonkeyPatch, compose: dict
):
    from tradewind.orchestration.connections import warehouse_location

    db = service_env(compose["services"]["timescaledb"])
    for name in AIRFLOW_SERVICES:
        env = service_env(compose["services"][name])
        monkeypatch.setenv(
            "AIRFLOW_CONN_TRADEWIND_WAREHOUSE", env["AIRFLOW_CONN_TRADEWIND_WAREHOUSE"]
        )
        loc = warehouse_location(Settings(_env_file=None))
        assert (loc.host, loc.port, loc.database) == ("timescaledb", 5432, db["POSTGRES_DB"])
        assert env["AIRFLOW_CONN_TRADEWIND_WAREHOUSE"].startswith("postgres://")


def test_airflow_uses_local_executor_and_a_database_of_its_own(compose: dict):
    services = compose["services"]
    db = service_env(services["timescaledb"])
    api_port = parse_port(services["airflow-apiserver"]["ports"][0])[2]
    images = set()
    for name in AIRFLOW_SERVICES:
        env = service_env(services[name])
        images.add(services[name]["image"])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert meta.hostname == "timescaledb", name
        assert meta.path.strip("/") == db["AIRFLOW_DB_NAME"] != db["POSTGRES_DB"]
        assert (meta.username, meta.password) == (db["AIRFLOW_DB_USER"], db["AIRFLOW_DB_PASSWORD"])
        assert meta.username != db["POSTGRES_USER"]
        execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert (execution.hostname, execution.port) == ("airflow-apiserver", api_port)
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"], name
    assert len(images) == 1, "all Airflow services run the same image"
    mounts = [volume_source(v) for v in services["timescaledb"]["volumes"]]
    assert f"./{INIT_SCRIPT.relative_to(PROJECT_ROOT)}" in mounts


def test_celery_profile_redis_and_two_workers(raw_compose: dict, example_env: dict):
    """With AIRFLOW_EXECUTOR=CeleryExecutor every Airflow service runs CeleryExecutor against
    the profile's Redis (password from .env), results in Airflow's own database; the workers
    are Airflow services like the others (same image, warehouse connection, Ray head, shared
    volume), so a task runs the same wherever it lands."""
    compose = interpolate_tree(raw_compose, {**example_env, "AIRFLOW_EXECUTOR": "CeleryExecutor"})
    services = compose["services"]
    redis = services["redis"]
    assert "--requirepass" in redis["command"]
    password = redis["command"][redis["command"].index("--requirepass") + 1]
    assert password == example_env["REDIS_PASSWORD"]
    assert "redis-data" in {volume_source(v) for v in redis["volumes"]}
    scheduler = service_env(services["airflow-scheduler"])
    db = service_env(services["timescaledb"])
    for name in (*AIRFLOW_SERVICES, *CELERY_WORKERS):
        env = service_env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379), name
        assert unquote(broker.password) == password
        backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
        assert backend.hostname == "timescaledb"
        assert backend.path.strip("/") == db["AIRFLOW_DB_NAME"], name
        for key in ("AIRFLOW_CONN_TRADEWIND_WAREHOUSE", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                    "TRADEWIND_RAY_ADDRESS", "AIRFLOW__API_AUTH__JWT_SECRET"):  # fmt: skip
            assert env[key] == scheduler[key], (name, key)
    hosts = set()
    for name in CELERY_WORKERS:
        worker = services[name]
        assert worker["command"] == "celery worker"
        assert worker["image"] == services["airflow-scheduler"]["image"]
        assert depends(worker)["redis"] == "service_healthy"
        assert depends(worker)["airflow-init"] == "service_completed_successfully"
        assert "tradewind-var:/opt/tradewind/var" in worker["volumes"]
        assert "ports" not in worker
        hosts.add(worker["hostname"])
    assert hosts == set(CELERY_WORKERS)
    # Without the variable the default stays LocalExecutor (the other tests check it).
    default = interpolate_tree(raw_compose, example_env)["services"]
    assert service_env(default["airflow-scheduler"])["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert service_env(default["airflow-worker-1"])["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_airflow_init_migrates_both_databases_and_writes_the_admin_password(compose: dict):
    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"])
    assert script.index("airflow db migrate") < script.index("tradewind db migrate")
    assert "set -e" in script
    env = service_env(init)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{env['AIRFLOW_ADMIN_USER']}:admin"
    auth_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    api = compose["services"]["airflow-apiserver"]
    assert service_env(api)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == auth_file
    # The password file lives on a volume both containers mount.
    shared = {v for v in init["volumes"] if auth_file.startswith(v.split(":")[1] + "/")}
    assert shared and shared <= set(api["volumes"])


# --- the Airflow database init script, for real ----------------------------------------------
def _psql_dir() -> Path | None:
    from tradewind.db.embedded import EmbeddedPostgresError, find_bin_dir

    try:
        bin_dir = find_bin_dir(Settings(_env_file=None))
    except EmbeddedPostgresError:
        found = shutil.which("psql")
        return Path(found).parent if found else None
    return bin_dir if (bin_dir / "psql").exists() else None


@pytest.mark.integration
def test_init_script_creates_airflows_database_and_role_once(pg_server_url: str):
    psql_dir = _psql_dir()
    if psql_dir is None:
        pytest.skip("psql not found")
    url = urlsplit(pg_server_url)
    tag = uuid.uuid4().hex[:8]
    db_name, role = f"tw_airflow_{tag}", f"tw_airflow_{tag}"
    env = {
        **os.environ,
        "PATH": f"{psql_dir}:{os.environ.get('PATH', '')}",
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGPASSWORD": unquote(url.password or ""),
        "AIRFLOW_DB_NAME": db_name,
        "AIRFLOW_DB_USER": role,
        "AIRFLOW_DB_PASSWORD": 'it\'s a "quoted" pass',
    }
    try:
        for _ in range(2):  # a second run (container restart on an initialised volume) is a no-op
            res = subprocess.run(
                ["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
            )
            assert res.returncode == 0, res.stderr
        with psycopg.connect(pg_server_url, autocommit=True) as c:
            owner = c.execute(
                "select pg_get_userbyid(datdba) from pg_database where datname = %s", (db_name,)
            ).fetchone()
            assert owner == (role,)
            can_login = c.execute(
                "select rolcanlogin, rolsuper from pg_roles where rolname = %s", (role,)
            ).fetchone()
            assert can_login == (True, False)
        missing = subprocess.run(
            ["bash", str(INIT_SCRIPT)],
            env={k: v for k, v in env.items() if k != "AIRFLOW_DB_PASSWORD"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode != 0 and "AIRFLOW_DB_PASSWORD" in missing.stderr
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as c:
            c.execute(f'drop database if exists "{db_name}" with (force)')
            c.execute(f'drop role if exists "{role}"')
