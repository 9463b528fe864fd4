"""docker/recipes/: the Kubernetes Indexed Job and GitHub Actions matrix recipes, their scripts run for real.

Each recipe builds shard I of N in its own job (Kubernetes: JOB_COMPLETION_INDEX; GitHub: the matrix's
SHARD_INDEX) with `shard.sh`, then `assemble.sh` puts the shards together; the result must search exactly
like a single index of the same tree. The YAML files must call those scripts.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import git, git_env
from tests.generated_repo import FILES, OBVIOUS_ANSWERS, make_shop_repo

RECIPES = Path(__file__).resolve().parent.parent / "docker" / "recipes"
COUNT = 3


def _script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**git_env(), "ATLAS": f"{sys.executable} -m atlas", **env}
    return subprocess.run(["bash", str(RECIPES / name), *args], capture_output=True, text=True, env=full, timeout=300)


def _top10(root: Path, index_dir: Path, query: str) -> list[tuple[str, float]]:
    done = subprocess.run(
        [sys.executable, "-m", "atlas", "search", "--repo", str(root), "--index-dir", str(index_dir),
         "--format", "jsonl", "--no-lines", query], capture_output=True, text=True, env=git_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return [(hit["path"], hit["score"]) for hit in map(orjson.loads, done.stdout.splitlines())]


def _single(root: Path, out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "atlas", "-q", "index", str(root), "--out", str(out)],
                          capture_output=True, text=True, env=git_env(), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def _assert_same_search(root: Path, assembled: Path, single: Path) -> None:
    for query, expected in OBVIOUS_ANSWERS:
        top = _top10(root, assembled, query)
        assert top == _top10(root, single, query), query
        assert top[0][0] == expected, query


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_shop_repo(tmp_path / "monorepo")


def test_kubernetes_indexed_job_recipe_gives_the_single_index(repo: Path, tmp_path: Path) -> None:
    shards, index = tmp_path / "shards", tmp_path / "index"
    common = {"SHARD_COUNT": str(COUNT), "REPO": str(repo), "SHARDS_DIR": str(shards)}
    for pod in range(COUNT):  # what each pod of the Indexed Job runs: Kubernetes sets JOB_COMPLETION_INDEX
        done = _script("shard.sh", {**common, "JOB_COMPLETION_INDEX": str(pod)})
        assert done.returncode == 0, done.stderr
        assert orjson.loads(done.stdout)["shard"]["index"] == pod
    done = _script("assemble.sh", {**common, "INDEX_DIR": str(index)})
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["files_indexed"] == len(FILES)
    _assert_same_search(repo, index, _single(repo, tmp_path / "single"))


def test_github_matrix_recipe_rebuilds_only_the_shard_whose_files_changed(repo: Path, tmp_path: Path) -> None:
    shards, index = tmp_path / "shards", tmp_path / "index"
    common = {"SHARD_COUNT": str(COUNT), "REPO": str(repo), "SHARDS_DIR": str(shards), "INDEX_DIR": str(index)}

    def matrix(*args: str) -> list[str]:
        """Every matrix job, in the order GitHub happens to run them: their stdout."""
        outputs = []
        for job in reversed(range(COUNT)):
            done = _script("shard.sh", {**common, "SHARD_INDEX": str(job)}, *args)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
        return outputs[::-1]

    keys = matrix("cache-key")
    assert all(re.fullmatch(r"key=atlas-\S+\nprefix=atlas-\S+\n", out) for out in keys), keys
    matrix()
    assert _script("assemble.sh", common).returncode == 0
    edited = "shop/pricing.py"
    with open(repo / edited, "a", encoding="utf-8") as handle:
        handle.write("\n\ndef loyalty_bonus(points):\n    return points // 10\n")
    git(repo, "commit", "-qam", "loyalty bonus")
    new_keys = matrix("cache-key")
    changed = [job for job in range(COUNT) if new_keys[job] != keys[job]]
    assert len(changed) == 1, (keys, new_keys)
    modes = [orjson.loads(out)["mode"] for out in matrix()]  # the shard directories are the restored caches
    assert [job for job, mode in enumerate(modes) if mode != "unchanged"] == changed
    done = _script("assemble.sh", common)
    assert done.returncode == 0, done.stderr
    assert _top10(repo, index, "loyalty bonus")[0][0] == edited
    _assert_same_search(repo, index, _single(repo, tmp_path / "single"))


def test_recipe_scripts_refuse_what_is_missing_in_one_sentence(repo: Path, tmp_path: Path) -> None:
    done = _script("shard.sh", {"REPO": str(repo), "SHARDS_DIR": str(tmp_path / "shards")})
    assert done.returncode == 2
    assert "SHARD_COUNT and SHARD_INDEX (or JOB_COMPLETION_INDEX) must be set" in done.stderr
    common = {"SHARD_COUNT": "2", "REPO": str(repo), "SHARDS_DIR": str(tmp_path / "shards")}
    assert _script("shard.sh", {**common, "SHARD_INDEX": "0"}).returncode == 0
    done = _script("assemble.sh", {**common, "INDEX_DIR": str(tmp_path / "index")})
    assert done.returncode == 2
    assert "shard-1-of-2" in done.stderr and "hint:" in done.stderr
    assert not (tmp_path / "index" / "CURRENT").exists()


@pytest.mark.parametrize("count", ["abc", "08", "2.0", "PATH[$(touch injected)]", "100000000"])
def test_regression_a_shard_count_that_is_not_a_plain_number_is_refused_before_any_arithmetic(
    repo: Path, tmp_path: Path, count: str
) -> None:
    # assemble.sh evaluated SHARD_COUNT as bash arithmetic: a command substitution in it ran, 08 was bad octal,
    # 10**8 built a 10**8-element array; shard.sh took 08 and named the directory shard-0-of-08.
    env = {"SHARD_COUNT": count, "REPO": str(repo), "SHARDS_DIR": str(tmp_path / "shards"), "SHARD_INDEX": "0"}
    for script in ("shard.sh", "assemble.sh"):
        done = _script(script, {**env, "INDEX_DIR": str(tmp_path / "index")})
        assert done.returncode == 2, (script, done.stderr)
        assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "injected").exists() and not Path("injected").exists()
    assert not (tmp_path / "shards").exists()


def test_regression_shard_cache_key_keeps_atlas_exit_code(repo: Path, tmp_path: Path) -> None:
    # It piped atlas into `read`, so under pipefail a usage error (exit 2) left the script as exit 1, "no results".
    for env in ({"REPO": str(tmp_path / "absent"), "SHARD_INDEX": "0"}, {"REPO": str(repo), "SHARD_INDEX": "5"}):
        done = _script("shard.sh", {"SHARD_COUNT": "2", **env}, "cache-key")
        assert done.returncode == 2, done.stderr
        assert done.stdout == "" and "hint:" in done.stderr
    done = _script("shard.sh", {"SHARD_COUNT": "2", "SHARD_INDEX": "1", "REPO": str(repo)}, "cache-key")
    assert done.returncode == 0, done.stderr
    key, prefix = done.stdout.splitlines()
    assert key.startswith("key=" + prefix.removeprefix("prefix=")) and prefix.endswith("shard1of2-")


def _yaml(name: str) -> list[dict]:
    yaml = pytest.importorskip("yaml")
    return [doc for doc in yaml.safe_load_all((RECIPES / name).read_text()) if doc]


def test_kubernetes_manifests_run_the_scripts_one_shard_per_completion_index() -> None:
    (shards,) = _yaml("kubernetes/shards-job.yaml")
    spec = shards["spec"]
    assert spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"][-1] == "/recipes/shard.sh"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert int(env["SHARD_COUNT"]) == spec["completions"]
    assert "JOB_COMPLETION_INDEX" not in env  # Kubernetes sets it in each pod
    (assemble,) = _yaml("kubernetes/assemble-job.yaml")
    (container,) = assemble["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == "/recipes/assemble.sh"
    assert {item["name"]: item["value"] for item in container["env"]}["SHARD_COUNT"] == env["SHARD_COUNT"]


def test_github_workflow_runs_the_scripts_in_a_matrix_then_assembles() -> None:
    (workflow,) = _yaml("github-actions/atlas-index.yml")
    count = int(workflow["env"]["SHARD_COUNT"])
    shard, assemble = workflow["jobs"]["shard"], workflow["jobs"]["assemble"]
    assert shard["strategy"]["matrix"]["shard"] == list(range(count))
    assert shard["env"]["SHARD_INDEX"] == "${{ matrix.shard }}"
    runs = [step.get("run", "") for step in shard["steps"]]
    assert "bash .github/atlas/shard.sh cache-key >> \"$GITHUB_OUTPUT\"" in runs
    assert "bash .github/atlas/shard.sh" in runs
    assert assemble["needs"] == "shard"
    assert "bash .github/atlas/assemble.sh" in [step.get("run", "") for step in assemble["steps"]]


@pytest.mark.parametrize("budget", ["1M", "nan"])
def test_regression_the_kubernetes_recipes_memory_budget_reaches_the_shard_build(
    repo: Path, tmp_path: Path, budget: str
) -> None:
    # shards-job.yaml sets ATLAS_MEMORY for each pod, which runs shard.sh, not the image's entry point: atlas itself
    # never read ATLAS_MEMORY, so the pods indexed within the default 1G whatever the manifest said.
    assert "ATLAS_MEMORY" in (RECIPES / "kubernetes" / "shards-job.yaml").read_text(encoding="utf-8")
    env = {"SHARD_COUNT": "2", "SHARD_INDEX": "0", "REPO": str(repo), "SHARDS_DIR": str(tmp_path / "shards")}
    done = _script("shard.sh", {**env, "ATLAS_MEMORY": budget})
    assert done.returncode == 2, done.stderr
    assert f"ATLAS_MEMORY '{budget}'" in done.stderr.splitlines()[0] and "hint:" in done.stderr, done.stderr
    assert _script("shard.sh", {**env, "ATLAS_MEMORY": "512M"}).returncode == 0


def test_github_workflow_never_installs_the_atlas_of_pypi() -> None:
    """`atlas` on PyPI is another project: the workflow's ATLAS_PIP_SPEC has no default, and every job stops with
    one error naming the variable before pip runs without it (it defaulted to 'atlas', a stranger's package)."""
    text = (RECIPES / "github-actions/atlas-index.yml").read_text()
    assert "ATLAS_PIP_SPEC: ${{ vars.ATLAS_PIP_SPEC }}" in text
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert len(installs) == 2
    guard = '[ -n "$ATLAS_PIP_SPEC" ] || { echo "::error::set the repository variable ATLAS_PIP_SPEC'
    assert text.count(guard) == 2 and all(text.index(guard) < text.index(line) for line in installs)
