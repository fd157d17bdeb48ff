"""No regression: an earlier commit's server and this checkout's, side by side in one run.

``python bench/serve.py --only baseline [--baseline REV]`` (``make bench-regress``) checks
REV out into a temporary ``git worktree`` and serves copies of one registry with
``modelbay serve --workers N --no-auth`` twice, from the same interpreter and venv: once
with ``PYTHONPATH=<worktree>/src`` (it comes before the editable install's .pth entry on
``sys.path``, so that process imports REV's code, checked by ``modelbay.__file__`` before
the start) and once without (this checkout's code). Each gets its own copy of the same
registry (nothing shared: the prediction log of one does not grow the other's database),
the same environment (MODELBAY_* cleared but MODELBAY_HOME; the old code reads its settings
from there, the new takes the same ones as options), the same worker count, the same CPUs
and address-space layout (``pinned``), and the defaults otherwise: validation, metrics and
the prediction log on.

Then, for each model, paired rounds (``serve.alternating``: both servers loaded seconds
apart, the order reversed every other round) of the 1-row v2 JSON request at 64
connections (req/s) and of the 1,000-row binary v2 request at 8 (rows/s): the ratio
new/old of each round and their median, against the target new/old >= 0.95 (within 5%).
The worktree is removed at the end, on an error too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from serve import BIG, HERE, alternating, clean_env, free_port, pinned, server, wrk

REPO = HERE.parent
BASELINE = "8cea589"  # the commit before issue 20's serving core
TARGET = 0.95
# label -> (body protocol, rows, connections, unit): what a regression is watched on
LOADS = {
    "1-row v2 JSON @ 64 conn": ("v2-json", "1", 64, "req/s"),
    f"{BIG:,}-row v2 binary @ 8 conn": ("v2-binary", str(BIG), 8, "rows/s"),
}
LAUNCH = "from modelbay.cli import main; main()"  # `modelbay`, from whatever modelbay imports


def git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip()


def commit_of(rev: str) -> str:
    """The full hash of ``rev``, or a clear error."""
    try:
        return git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except RuntimeError:
        raise SystemExit(f"--baseline {rev!r}: no such commit in {REPO}") from None


@contextmanager
def worktree(rev: str, where: Path) -> Iterator[Path]:
    """``rev`` checked out (detached) at ``where``; removed again however the block ends."""
    commit = commit_of(rev)
    git("worktree", "prune")  # the entry of a run that was killed before its clean-up
    git("worktree", "add", "--detach", str(where), commit)
    try:
        yield where
    finally:
        try:
            git("worktree", "remove", "--force", str(where))
        except RuntimeError as exc:
            print(f"baseline worktree not removed ({exc}); pruning its entry", file=sys.stderr)
            shutil.rmtree(where, ignore_errors=True)
            git("worktree", "prune")


def this_checkout() -> str:
    """This checkout's commit, and whether its src/ differs from it."""
    dirty = git("status", "--porcelain", "--untracked-files=normal", "--", "src")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in src/" if dirty else "")


def code_of(env: dict[str, str]) -> Path:
    """Where the interpreter imports modelbay from in ``env``."""
    argv = [sys.executable, "-c", "import modelbay; print(modelbay.__file__)"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip()).resolve()


def environments(src: Path, homes: dict[str, Path]) -> dict[str, dict[str, str]]:
    """The servers' environments: "old" imports modelbay from ``src``, "new" from the
    editable install; refused if either would import the other's code."""
    envs = {}
    for who, home in homes.items():
        env = clean_env() | {"MODELBAY_HOME": str(home), "PYTHONHASHSEED": "0"}
        if who == "old":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        envs[who] = env
    old, new = code_of(envs["old"]), code_of(envs["new"])
    if not old.is_relative_to(src.resolve()) or new.is_relative_to(src.resolve()):
        raise RuntimeError(
            f"the old server would import {old} and the new {new}; old must be under {src}"
        )
    print(f"baseline: old code from {old.parent}, new from {new.parent}", flush=True)
    return envs


def same_answers(urls: dict[str, str], bodies: Any) -> None:
    """Each server answers the 1,000-row v2 JSON request, and with the same outputs."""
    path, headers = bodies["v2-json"][str(BIG)]
    outputs = {}
    for who, url in urls.items():
        got = httpx.post(url, content=path.read_bytes(), headers=headers, timeout=60)
        if got.status_code != 200:
            raise RuntimeError(f"the {who} server answered {got.status_code}: {got.text[:300]}")
        outputs[who] = [(o["name"], o["data"]) for o in got.json()["outputs"]]
    if len({repr(o) for o in outputs.values()}) > 1:
        raise RuntimeError(
            f"the servers answer differently ({', '.join(urls.values())}): {outputs}"
        )


def downgrade(database: Path, old_src: Path) -> None:
    """Take the old server's copy of the registry back to the schema its code knows: the
    home is made by this checkout, whose migrations may have gone further (0006 since
    42f1724), and a server refuses a database newer than its code."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    versions = old_src / "modelbay" / "registry" / "migrations" / "versions"
    head = max(p.name.split("_")[0] for p in versions.glob("0*.py"))
    cfg = Config()
    cfg.set_main_option(
        "script_location",
        str(Path(__file__).resolve().parents[1] / "src" / "modelbay" / "registry" / "migrations"),
    )
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, head)
    engine.dispose()


def baseline_runs(
    home: Path, bodies: Any, rev: str, rounds: int, seconds: float, tmp: Path
) -> dict[str, Any]:
    """Paired rounds of ``LOADS`` on REV's server and this checkout's, for each model."""
    from modelbay.settings import auto_workers

    workers = auto_workers()
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    homes = {who: tmp / f"home-{who}" for who in ("old", "new")}
    for copy in homes.values():
        shutil.copytree(home, copy)
    ports = {who: free_port() for who in homes}
    urls = {who: f"http://127.0.0.1:{port}/v2/models/{{}}/infer" for who, port in ports.items()}
    runs: dict[str, dict[str, dict[str, list[dict[str, float]]]]] = {}
    with ExitStack() as stack:
        src = stack.enter_context(worktree(rev, tmp / "baseline-worktree")) / "src"
        downgrade(homes["old"] / "modelbay.db", src)
        envs = environments(src, homes)
        for who, port in ports.items():
            argv = [sys.executable, "-c", LAUNCH, "serve", "--port", str(port)]
            argv += ["--workers", str(workers), "--no-auth"]
            ready = f"http://127.0.0.1:{port}/v2/health/ready"
            log = tmp / f"baseline-{who}.log"
            stack.enter_context(server(pinned(argv, cpus), ready, tmp, envs[who], log))
        for model in ("logistic", "forest"):
            same_answers({who: url.format(model) for who, url in urls.items()}, bodies)
            for url in urls.values():  # each worker loads the model on its first request
                wrk(url.format(model), *bodies["v2-json"]["1"], 16, 1)
            runs[model] = {
                load: alternating(
                    {who: url.format(model) for who, url in urls.items()},
                    bodies[proto][rows],
                    conns,
                    rounds,
                    seconds,
                )
                for load, (proto, rows, conns, _) in LOADS.items()
            }
    new = this_checkout()
    return {"old": rev, "new": new, "workers": workers, "cpus": cpus, "runs": runs}


def baseline_report(result: dict[str, Any]) -> None:
    old, new = result["old"], result["new"]
    print(
        f"\n### No regression: {old} (old) and {new} (new) side by side, paired rounds "
        f"({result['workers']} workers each, CPUs {result['cpus']})\n"
    )
    print("| model | load | round | old | new | new / old | errors old/new |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    medians = []
    for model, loads in result["runs"].items():
        for load, runs in loads.items():
            unit = LOADS[load][3]
            scale = BIG if unit == "rows/s" else 1
            for i, (o, n) in enumerate(zip(runs["old"], runs["new"], strict=True)):
                errors = f"{o['errors'] + o['timeouts']:.0f}/{n['errors'] + n['timeouts']:.0f}"
                print(
                    f"| {model} | {load} | {i + 1} | {o['rps'] * scale:,.0f} {unit} | "
                    f"{n['rps'] * scale:,.0f} {unit} | {n['rps'] / o['rps']:.3f} | {errors} |"
                )
            ratios = sorted(
                n["rps"] / o["rps"] for o, n in zip(runs["old"], runs["new"], strict=True)
            )
            medians.append((model, load, ratios))
    print()
    for model, load, ratios in medians:
        mid = statistics.median(ratios)
        verdict = "holds" if mid >= TARGET else "MISSED"
        print(
            f"- {model}, {load}, new/old paired: median {mid:.3f} of {len(ratios)} rounds "
            f"({ratios[0]:.3f} to {ratios[-1]:.3f}; target: within 5%, median >= {TARGET}: {verdict})"
        )
