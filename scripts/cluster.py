"""The production topology on one machine (contract, section 11): a PostgreSQL primary and one streaming replica
(`pg_basebackup -R`), PgBouncer in transaction pooling mode in front of each, two gunicorn app servers reading
from the replica, HAProxy in front of them, and the worker. `scripts/cluster` runs it until Ctrl-C; the topology
tests (tests/topology) start it with `Cluster`.

Everything lives in one temporary directory and listens on free loopback ports. PostgreSQL and PgBouncer refuse to
run as root: as root they run as the `postgres` user. Debian's packages (postgresql, pgbouncer, haproxy) must be
installed (`scripts/cluster` installs them).
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name))
    if not found:
        raise SystemExit("PostgreSQL is not installed: apt-get install postgresql")
    return found[-1]


def program(name: str) -> str:
    """A program of Debian's packages: pgbouncer and haproxy live in /usr/sbin, outside a user's PATH."""
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise SystemExit(f"{name} is not installed: apt-get install {name} (scripts/cluster does)")
    return found


def wait_for_port(port: int, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start on port {port}") from None
            time.sleep(0.1)


def wait_for_health(port: int, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not answer /healthz on port {port}")
        time.sleep(0.2)


@dataclass
class Cluster:
    """The topology's processes and ports. `start()` brings it up (a few seconds), `stop()` takes it down."""

    app_servers: int = 2
    max_lag_seconds: float = 5.0
    replica_reads: bool = True  # False: the app servers read from the primary only (to compare)
    settings: dict[str, str] = field(default_factory=dict)  # more environment for every process (DEVMANAGER_…)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="devmanager-cluster.")))
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    key: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['balancer']}"

    def dsn(self, name: str, database: str = "devmanager") -> str:
        """`primary`, `replica` (direct) or `bouncer-primary`, `bouncer-replica`."""
        return f"postgres://postgres@127.0.0.1:{self.ports[name]}/{database}"

    def start(self) -> "Cluster":
        if AS_POSTGRES:
            shutil.chown(self.root, "postgres")
        for name in ("primary", "replica", "bouncer-primary", "bouncer-replica", "balancer"):
            self.ports[name] = free_port()
        for number in range(1, self.app_servers + 1):
            self.ports[f"app{number}"] = free_port()
        self._start_primary()
        self._start_replica()
        for name in ("primary", "replica"):
            self._start_bouncer(name)
        self._prepare()
        for number in range(1, self.app_servers + 1):
            self._start_app(f"app{number}")
        self._start_balancer()
        self._start_worker()
        return self

    # --- PostgreSQL ---------------------------------------------------------------------------------------------

    def _postgres(self, name: str, data: Path) -> None:
        port = self.ports[name]
        options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run([*AS_POSTGRES, pg_bin() / "pg_ctl", "-D", data, "-l", self.root / f"{name}.log", "-w",
                        "start", "-o", options], check=True, stdout=subprocess.DEVNULL)  # fmt: skip

    def _start_primary(self) -> None:
        data = self.root / "primary"
        subprocess.run([*AS_POSTGRES, pg_bin() / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-locale"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        self._postgres("primary", data)
        subprocess.run([*AS_POSTGRES, pg_bin() / "createdb", "-h", "127.0.0.1", "-p", str(self.ports["primary"]),
                        "-U", "postgres", "devmanager"], check=True)  # fmt: skip

    def _start_replica(self) -> None:
        data = self.root / "replica"
        # A fast checkpoint: the default waits for a spread one, a minute or more.
        subprocess.run([*AS_POSTGRES, pg_bin() / "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.ports["primary"]),
                        "-U", "postgres", "-D", data, "-R", "-X", "stream", "-c", "fast"], check=True)  # fmt: skip
        self._postgres("replica", data)

    def stop_replica(self) -> None:
        subprocess.run([*AS_POSTGRES, pg_bin() / "pg_ctl", "-D", self.root / "replica", "-m", "immediate", "-w",
                        "stop"], check=False, stdout=subprocess.DEVNULL)  # fmt: skip

    def start_replica_again(self) -> None:
        self._postgres("replica", self.root / "replica")

    def device_scans(self, name: str) -> int:
        """How many scans `primary` or `replica` itself has made of the devices table (its own statistics, flushed
        within a second)."""
        return int(self.sql(name, "SELECT coalesce(sum(seq_scan + idx_scan), 0) FROM pg_stat_user_tables "
                                  "WHERE relname = 'devices_device'"))  # fmt: skip

    def sql(self, name: str, statement: str) -> str:
        """Run a statement with psql on `primary` or `replica` (direct); its output, unaligned."""
        result = subprocess.run([pg_bin() / "psql", "-h", "127.0.0.1", "-p", str(self.ports[name]), "-U", "postgres",
                                 "-d", "devmanager", "-AtX", "-c", statement], check=True, capture_output=True,
                                text=True)  # fmt: skip
        return result.stdout.strip()

    # --- PgBouncer, the app servers, the balancer, the worker ------------------------------------------------------

    def _start_bouncer(self, name: str) -> None:
        config = self.root / f"bouncer-{name}.ini"
        (self.root / f"bouncer-{name}.users").write_text('"postgres" ""\n')
        # A replica that is down must fail its reads fast, so that the app servers take them to the primary: a
        # client waits at most 2 s for a server connection (PgBouncer's default is 120 s), retried every second.
        fail_fast = "query_wait_timeout = 2\nserver_login_retry = 1\n" if name == "replica" else ""
        config.write_text(
            f"[databases]\n* = host=127.0.0.1 port={self.ports[name]}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.ports[f'bouncer-{name}']}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {self.root / f'bouncer-{name}.users'}\n"
            "pool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 20\n"
            f"ignore_startup_parameters = extra_float_digits,options\n{fail_fast}"
            f"logfile = {self.root / f'bouncer-{name}.log'}\n"
        )
        if AS_POSTGRES:
            shutil.chown(config, "postgres")
        self.processes[f"bouncer-{name}"] = subprocess.Popen(
            [*AS_POSTGRES, program("pgbouncer"), "-q", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # its log is in the directory
        wait_for_port(self.ports[f"bouncer-{name}"], f"PgBouncer ({name})")

    def environment(self) -> dict[str, str]:
        """What an app server of the topology runs with (the worker runs directly against the primary)."""
        return {
            **os.environ,
            "DATABASE_URL": self.dsn("bouncer-primary"),
            "DATABASE_REPLICA_URLS": self.dsn("bouncer-replica") if self.replica_reads else "",
            "DATABASE_DIRECT_URL": self.dsn("primary"),
            "DATABASE_POOLER": "pgbouncer",
            "DATABASE_CONN_MAX_AGE": "60",
            "DEVMANAGER_REPLICA_MAX_LAG_SECONDS": str(self.max_lag_seconds),
            "DEVMANAGER_THROTTLE_CACHE": "database",
            "DEVMANAGER_REQUIRE_HTTPS": "false",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "cluster-" + self.root.name),
            "DJANGO_ALLOWED_HOSTS": "*",
            **self.settings,
        }

    def _manage(self, *arguments: str) -> str:
        environment = {**self.environment(), "DATABASE_URL": self.dsn("primary"), "DATABASE_REPLICA_URLS": ""}
        result = subprocess.run([PYTHON, "manage.py", *arguments], cwd=ROOT, env=environment, check=True,
                                capture_output=True, text=True)  # fmt: skip
        return result.stdout

    def _prepare(self) -> None:
        self._manage("migrate", "--noinput")
        self._manage("createcachetable")
        self.key = self._manage("create_api_key", "cluster-operator", *[
            argument for scope in ("devices:write", "groups:write", "events:read", "webhooks:write", "keys:write")
            for argument in ("--scope", scope)
        ]).strip().splitlines()[-1]  # fmt: skip

    def _start_app(self, name: str) -> None:
        environment = {**self.environment(), "DEVMANAGER_BIND": f"127.0.0.1:{self.ports[name]}",
                       "DEVMANAGER_WORKERS": "2", "DEVMANAGER_THREADS": "4"}  # fmt: skip
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 (the process's, closed when it ends)
        command = [PYTHON, "-m", "gunicorn", "--config", "devmanager/gunicorn.conf.py", "devmanager.wsgi"]
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
        # Answering, not only listening (gunicorn listens before its workers have loaded the app): HAProxy, started
        # next, then finds every app server up from its first check.
        wait_for_health(self.ports[name], f"gunicorn ({name})")

    def _start_balancer(self) -> None:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{port} check inter 1s"
            for name, port in self.ports.items() if name.startswith("app")
        )  # fmt: skip
        config = self.root / "haproxy.cfg"
        config.write_text(
            "global\n    maxconn 2000\n"
            "defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n"
            "    timeout check 5s\n"  # a busy machine answers a check late: that is not a dead server
            "    option httpchk GET /healthz\n    retries 2\n    option redispatch\n"
            f"frontend api\n    bind 127.0.0.1:{self.ports['balancer']}\n    default_backend apps\n"
            f"backend apps\n    balance roundrobin\n{servers}\n"
        )
        self.processes["balancer"] = subprocess.Popen([program("haproxy"), "-f", str(config), "-db"],
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for_port(self.ports["balancer"], "HAProxy")

    def _start_worker(self) -> None:
        environment = {**self.environment(), "DATABASE_URL": self.dsn("primary"), "DATABASE_REPLICA_URLS": "",
                       "DATABASE_POOLER": ""}  # fmt: skip
        log = open(self.root / "worker.log", "w")  # noqa: SIM115 (the process's, closed when it ends)
        self.processes["worker"] = subprocess.Popen([PYTHON, "manage.py", "worker"], cwd=ROOT, env=environment,
                                                    stdout=log, stderr=log)  # fmt: skip

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in ("replica", "primary"):
            if (self.root / name).exists():
                subprocess.run([*AS_POSTGRES, pg_bin() / "pg_ctl", "-D", self.root / name, "-m", "fast", "-w",
                                "stop"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-lag", type=float, default=5.0, help="DEVMANAGER_REPLICA_MAX_LAG_SECONDS")
    args = parser.parse_args()
    cluster = Cluster(max_lag_seconds=args.max_lag)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        cluster.start()
        print(f"Load balancer: {cluster.url}/api/devmanager/v1/   (app servers: "
              f"{', '.join(str(port) for name, port in cluster.ports.items() if name.startswith('app'))})")  # fmt: skip
        print(f"Primary: {cluster.dsn('primary')}   replica: {cluster.dsn('replica')}")
        print(f"PgBouncer: {cluster.dsn('bouncer-primary')}, {cluster.dsn('bouncer-replica')}")
        print(f"Logs: {cluster.root}   Ctrl-C stops everything.")
        print(f"API key (every scope): {cluster.key}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
