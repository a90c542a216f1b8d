"""Pipeline files as whole processes: a three-step build from sampled topics (an LLM column, a second
LLM column over the first, a filter on it) against the loopback server with 200 ms latency; plan
against the actual run; ``kill -9`` at random moments and resume; ``validate``'s cold start. Peers
run the same build from their own environments when given.

python benchmarks/pipelines.py [--rows 1000] [--trials 20]
       [--dd-python /tmp/dd-venv/bin/python] [--distilabel-python /tmp/dl-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datagen.testing_server import Behaviour, LoopbackServer

HERE = Path(__file__).resolve().parent
TOPICS = ["tides", "volcanoes", "bread", "batteries", "bridges", "bees", "glaciers", "vaccines"]

PIPELINE = """\
name: bench
rows: {rows}
row_group: {group}
steps:
  - {{name: topic, sampler: category, values: {topics}}}
  - {{name: answer, llm: text, prompt: "Write a short paragraph about {{{{ topic }}}} (note {{{{ id }}}})."}}
  - {{name: summary, llm: text, prompt: "Summarise in one sentence: {{{{ answer }}}}"}}
  - {{name: long_enough, keep: "summary | length > 86"}}
"""


def pipeline_file(folder: Path, rows: int, group: int = 100) -> Path:
    path = folder / "bench.yaml"
    path.write_text(PIPELINE.format(rows=rows, group=group, topics=json.dumps(TOPICS)))
    return path


def datagen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "datagen", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def whole_run(srv: LoopbackServer, rows: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = pipeline_file(folder, rows)
        took, proc = timed(
            lambda: datagen("run", str(path), "-o", "out", "--base-url", srv.url + "/v1", cwd=folder)
        )
        assert proc.returncode == 0, proc.stderr[-1000:]
        return took, json.loads((folder / "out" / "report.json").read_text())


def plan_vs_run(srv: LoopbackServer, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = pipeline_file(folder, rows)
        plan = json.loads(
            datagen("plan", str(path), "--json", "--base-url", srv.url + "/v1", cwd=folder).stdout
        )
        proc = datagen(
            "run",
            str(path),
            "-o",
            "out",
            "--base-url",
            srv.url + "/v1",
            "--config",
            str(nocache(folder)),
            cwd=folder,
        )
        assert proc.returncode == 0, proc.stderr[-1000:]
        actual = json.loads((folder / "out" / "report.json").read_text())
    print("plan versus actual run (preview of 10 rows, cache off for both):")
    for key in ("requests", "input_tokens", "output_tokens"):
        ratio = plan[key] / actual[key] if actual[key] else float("nan")
        print(f"  {key:14s} plan {plan[key]:>8} actual {actual[key]:>8}  plan/actual {ratio:.3f}")


def nocache(folder: Path) -> Path:
    path = folder / "nocache.toml"
    path.write_text("[cache]\nenabled = false\n")
    return path


def _trial(
    tool: str, python: str | None, srv: LoopbackServer, folder: Path, rows: int
) -> tuple[list[str], dict]:
    """The command and environment of one resumable run of ``tool`` in ``folder``, row groups of 20."""
    if tool == "datagen":
        path = pipeline_file(folder, rows, group=20)
        cmd = [sys.executable, "-m", "datagen", "run", str(path), "-o", "out", "--base-url", srv.url + "/v1"]
        return cmd, dict(os.environ)
    script = {"distilabel": "distilabel_pipeline.py", "Data Designer": "data_designer_pipeline.py"}[tool]
    env = {
        **os.environ, "OPENAI_API_KEY": "sk-bench", "BENCH_URL": srv.url + "/v1", "BENCH_ROWS": str(rows),
        "BENCH_RESUME": "1", "BENCH_CACHE": str(folder / "cache"), "BENCH_GROUP": "20", "BENCH_KEEP_ALL": "1",
        "BENCH_IDS": str(folder / "ids.json"),
    }  # fmt: skip
    return [str(python), str(HERE / "peers" / script)], env


def _arrived(tool: str, folder: Path) -> list[str] | None:
    """The ids of the rows the finished run accounts for (kept or, for datagen, listed as removed)."""
    if tool == "datagen":
        out = folder / "out"
        if not (out / "data.jsonl").is_file():
            return None
        lines = (out / "data.jsonl").read_text().splitlines() + (
            out / "rejects.jsonl"
        ).read_text().splitlines()
        return [json.loads(x)["id"] for x in lines if x]
    path = folder / "ids.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _run(cmd: list[str], folder: Path, env: dict, timeout: float | None) -> str:
    """Run to the end in its own process group: ``finished``, ``exit N``, or ``hung`` (killed, whole
    group, after ``timeout`` seconds)."""
    proc = subprocess.Popen(
        cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return "hung"
    return "finished" if code == 0 else f"exit {code}"


def kill_trials(
    srv: LoopbackServer,
    rows: int,
    trials: int,
    peers: dict[str, str] | None = None,
    peer_trials: int | None = None,
    seed: int = 0,
) -> None:
    """Each tool in its resumable mode, row groups (batches) of 20, every row kept: one clean run for
    its time T, then per trial a run killed with SIGKILL (its whole process group) at a random moment in
    0.2-0.8 T and a rerun, given 5 T (at least 60 s) before it counts as hung. Rows lost and duplicated
    are counted over the reruns that finished."""
    tools: dict[str, str | None] = {"datagen": None, **(peers or {})}
    print(f"kill -9 at a random moment in 0.2-0.8 of a clean run, then rerun; trials of {rows} rows")
    for tool, python in tools.items():
        rng = random.Random(seed)
        with tempfile.TemporaryDirectory() as tmp:
            cmd, env = _trial(tool, python, srv, Path(tmp), rows)
            clean, outcome = timed(lambda: _run(cmd, Path(tmp), env, None))  # noqa: B023
        if outcome != "finished":
            print(f"  {tool}: its clean run did not finish ({outcome}); no trials")
            continue
        outcomes: dict[str, int] = {}
        lost = duplicated = 0
        extra: list[int] = []
        for _ in range(trials if tool == "datagen" or peer_trials is None else peer_trials):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                cmd, env = _trial(tool, python, srv, folder, rows)
                before = sum(srv.received.values())
                proc = subprocess.Popen(
                    cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )  # fmt: skip
                time.sleep(rng.uniform(0.2, 0.8) * clean)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                outcome = _run(cmd, folder, env, max(60.0, 5 * clean))
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                ids = _arrived(tool, folder) if outcome == "finished" else None
                if ids is not None:
                    lost += rows - len(set(ids))
                    duplicated += len(ids) - len(set(ids))
                    extra.append(sum(srv.received.values()) - before - 2 * rows)
        sent = f"median {statistics.median(extra)}, max {max(extra)}" if extra else "n/a"
        print(
            f"  {tool}: clean run {clean:.1f} s; reruns {outcomes}; over the {len(extra)} finished: "
            f"{lost} rows lost, "
            f"{duplicated} duplicated; requests beyond one per row and step: {sent}"
        )


def validate_cold(repeats: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = pipeline_file(folder, 10)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "datagen")], check=True)
        base = statistics.median(timed(lambda: datagen("--help", cwd=folder))[0] for _ in range(repeats))
        val = statistics.median(
            timed(lambda: datagen("validate", str(path), cwd=folder))[0] for _ in range(repeats)
        )
    print(f"validate, whole process: {val:.3f} s; datagen --help {base:.3f} s; ratio {val / base:.2f}")


def peer(python: str, script: str, srv: LoopbackServer, rows: int) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-bench",
            "BENCH_URL": srv.url + "/v1",
            "BENCH_ROWS": str(rows),
        }
        took, proc = timed(
            lambda: subprocess.run(
                [python, str(HERE / "peers" / script)],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        )
        if proc.returncode != 0:
            print(f"  ! {script} exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
            return None
        print(f"  {script}: {proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ''}")
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--dd-python")
    parser.add_argument("--distilabel-python")
    parser.add_argument("--only", choices=["run", "plan", "kill", "validate"])
    parser.add_argument("--peer-trials", type=int, help="kill -9 trials per peer (default: --trials)")
    args = parser.parse_args()
    with LoopbackServer(Behaviour(latency_s=0.2)) as srv:
        if args.only in (None, "run"):
            took, report = whole_run(srv, args.rows)
            print(
                f"datagen run, {args.rows} rows, LLM column -> LLM column -> filter, 200 ms latency: "
                f"{took:.2f} s "
                f"({report['requests']} requests, {report['written']} rows kept)"
            )
            peers = {}
            if args.dd_python:
                peers["Data Designer"] = peer(args.dd_python, "data_designer_pipeline.py", srv, args.rows)
            if args.distilabel_python:
                peers["distilabel"] = peer(args.distilabel_python, "distilabel_pipeline.py", srv, args.rows)
            for name, other in peers.items():
                if other is not None:
                    print(f"  {name}: {other:.2f} s; ratio {name} / datagen {other / took:.2f}")
        if args.only in (None, "plan"):
            plan_vs_run(srv, args.rows)
        if args.only in (None, "kill"):
            peers = {"distilabel": args.distilabel_python, "Data Designer": args.dd_python}
            peers = {k: v for k, v in peers.items() if v}
            kill_trials(srv, min(args.rows, 200), args.trials, peers, args.peer_trials)
        if args.only in (None, "validate"):
            validate_cold()


if __name__ == "__main__":
    main()
