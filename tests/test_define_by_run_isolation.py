"""A define-by-run function that segfaults, hangs or raises for some choices fails those
trials, never the study (issue 18 item 3): replays run in a supervised helper process,
trials in worker processes. Real processes throughout."""

import os
import pickle
import time

import numpy as np
import pytest

from nasforge import spaces
from nasforge.core import Arch, SpaceDefinitionError
from nasforge.core.processes import Supervised
from nasforge.study import Storage

from conftest import EXAMPLES, run_cli

# ``kind`` is drawn, then the bad choice misbehaves before ``dropout`` is drawn
SPACE = '''
import ctypes, math, time
from torch import nn
from nasforge.spaces import DefineByRunSpace


def build(hp):
    units = hp.int("units", 8, 64, step=8)
    kind = hp.choice("kind", ["relu", "tanh", "{bad}"])
    if kind == "crash":
        ctypes.string_at(0)  # a segfault
    if kind == "hang":
        time.sleep(3600)
    if kind == "raise":
        raise ValueError("kind 'raise' is not supported")
    drop = hp.float("dropout", 0.0, 0.5)
    act = nn.ReLU() if kind == "relu" else nn.Tanh()
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(hp.input_shape), units), act, nn.Dropout(drop),
                         nn.Linear(units, hp.num_classes))


space = DefineByRunSpace(build, name="hangs", replay_timeout=1.0)  # a hang costs 1 s while sampling
'''


def space_file(tmp_path, bad):
    path = tmp_path / f"{bad}.py"
    path.write_text(SPACE.replace("{bad}", bad))
    return path


def search(path, study, trials, *extra):
    """Run (or resume) a study of ``path`` in a real `nasforge search`; its stored trials."""
    proc = run_cli("search", "--space", path, "--dataset", "digits", "--strategy", "random", "--trials", trials,
                   "--epochs", "1", "--seed", "3", "--study", study, *extra, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    storage = Storage.open(study)  # read here: a `nasforge show` process would cost seconds
    try:
        return storage.trials()
    finally:
        storage.close()


def check_trials(trials, n, bad, reason):
    """``n`` trials; those of the bad choice (the 2nd with seed 3) failed with ``reason``, the others ok."""
    assert len(trials) == n and {t.number for t in trials} == set(range(n))
    failed = [t for t in trials if t.arch["kind"] == bad]
    assert [t.number for t in failed] == [1]
    assert all(t.status == "failed" and reason in t.error for t in failed), [t.error for t in failed]
    assert all(t.status == "ok" for t in trials if t not in failed), [t.error for t in trials]
    assert all("dropout" not in t.arch.decisions for t in failed)  # only the decisions made before


def test_a_build_that_segfaults_fails_its_trial_and_the_study_resumes(tmp_path):
    path, study = space_file(tmp_path, "crash"), tmp_path / "s.db"
    check_trials(search(f"{path}:build", study, 2), 2, "crash", "SIGSEGV")
    check_trials(search(f"{path}:build", study, 3), 3, "crash", "SIGSEGV")  # resumed: asks for one more


def test_a_build_that_raises_fails_its_trial(tmp_path):
    path, study = space_file(tmp_path, "raise"), tmp_path / "s.db"
    check_trials(search(f"{path}:build", study, 2), 2, "raise", "ValueError: kind 'raise' is not supported")


@pytest.mark.slow  # ~20 s: a real study waiting out a trial timeout (the in-process hang test stays fast)
def test_a_build_that_hangs_fails_its_trial_at_the_trial_timeout(tmp_path):
    path, study = space_file(tmp_path, "hang"), tmp_path / "s.db"  # a good trial takes ~1-4 s on a busy machine
    check_trials(search(f"{path}:space", study, 2, "--trial-timeout", "6"), 2, "hang", "TrialTimeout")


# -- the helper process, in this process's view ------------------------------------------------

def test_sampling_in_the_helper_is_sampling_in_process(mlp_space):
    here = spaces.get(f"{EXAMPLES / 'kerastuner_mlp.py'}:build_model")
    here._contained = False  # replays in this process, as before the helper existed
    for space in (mlp_space, here):
        rng = np.random.default_rng(3)
        archs = [space.sample(rng) for _ in range(20)]
        archs += [space.mutate(archs[0], rng), space.crossover(archs[1], archs[2], rng), *space.neighbors(archs[3])]
        space.archs = archs
    assert mlp_space._contained and mlp_space.archs == here.archs
    del mlp_space.archs


def test_a_crash_mid_replay_keeps_the_decisions_made(tmp_path):
    spec = f"{space_file(tmp_path, 'crash')}:build"
    samples = [[s.sample(rng) for _ in range(12)]
               for s, rng in ((spaces.get(spec), np.random.default_rng(1)) for _ in range(2))]
    assert samples[0] == samples[1]  # same seed, same architectures, crashes included
    crashed = [a for a in samples[0] if a["kind"] == "crash"]
    assert crashed and all(set(a.decisions) == {"units", "kind"} for a in crashed)
    space = spaces.get(spec)
    space.validate(crashed[0])  # the function crashed before it could use more decisions
    assert space.training_config(crashed[0]) == {}  # replayed in the helper too: this process lives on
    ok = next(a for a in samples[0] if a["kind"] != "crash")
    assert space.mutate(ok, np.random.default_rng(0)) != ok
    assert len(space.encode(ok)) == space.encoding_length >= 5


def test_a_hang_mid_replay_is_stopped_at_the_replay_timeout(tmp_path):
    space = spaces.get(f"{space_file(tmp_path, 'hang')}:space")
    assert space.replay_timeout == 1.0
    space.replay_timeout = space._supervisor().timeout = 0.3
    rng = np.random.default_rng(0)
    start = time.monotonic()
    archs = [space.sample(rng) for _ in range(6)]
    hung = [a for a in archs if a["kind"] == "hang"]
    assert hung and set(hung[0].decisions) == {"units", "kind"}
    assert 0.3 * len(hung) <= time.monotonic() - start < 0.3 * len(hung) + 20
    space.validate(hung[0])  # remembered: no second wait


def test_a_raise_mid_replay_is_an_architecture_whose_build_fails(tmp_path):
    space = spaces.get(f"{space_file(tmp_path, 'raise')}:build")
    rng = np.random.default_rng(0)
    bad = next(a for a in (space.sample(rng) for _ in range(30)) if a["kind"] == "raise")
    with pytest.raises(SpaceDefinitionError, match="raised ValueError: kind 'raise' is not supported"):
        space.build(bad, (1, 8, 8), 10)


def test_functions_that_cannot_be_pickled_are_replayed_here_and_kept_from_workers():
    from torch import nn

    space = spaces.DefineByRunSpace(lambda hp: nn.Linear(2, hp.int("n", 1, 4)), name="lam")
    assert space.sample(np.random.default_rng(0))["n"] in range(1, 5)
    assert space._contained is False and space.runs_user_code
    with pytest.raises(SpaceDefinitionError, match="cannot be sent to a worker process"):
        pickle.dumps(space)


def test_spaces_from_files_pickle_by_their_source(mlp_space):
    copy = pickle.loads(pickle.dumps(mlp_space))
    arch = Arch(mlp_space.name, {"num_layers": 1, "units_0": 64, "learning_rate": 1e-3})
    assert copy.source == mlp_space.name and copy.training_config(arch) == {"lr": 1e-3}


def _echo(payload):
    """A handler for the helper test: streams the request, then misbehaves as it asks."""
    def handle(request, emit):
        emit(request)
        if request == "crash":
            os._exit(3)
        if request == "hang":
            time.sleep(60)
        if request == "raise":
            raise SpaceDefinitionError("asked to raise")
        return request * 2

    return handle


def test_a_supervised_helper_survives_what_it_runs():
    helper = Supervised(_echo, None, timeout=1.0)
    try:
        assert helper.call(3).value == 6
        crashed = helper.call("crash")
        assert crashed.parts == ["crash"] and crashed.failure == "exit code 3" and not crashed.timed_out
        hung = helper.call("hang")
        assert hung.parts == ["hang"] and hung.timed_out and "1s limit" in hung.failure
        with pytest.raises(SpaceDefinitionError, match="asked to raise"):
            helper.call("raise")
        assert helper.call(4).value == 8
        helper._proc.kill()  # dies while idle: replaced on the next call
        helper._proc.join()
        assert helper.call(5).value == 10
    finally:
        helper.close()


def test_the_python_api_runs_a_define_by_run_space_in_workers(tmp_path):
    """`nasforge.search` gives workers a factory built from the stored spec, as the CLI does:
    the estimator holds the data set's closures and would not pickle."""
    import nasforge

    study = nasforge.search(study=tmp_path / "api.db", trials=2, space=f"{space_file(tmp_path, 'tanh')}:space",
                            dataset="digits", strategy="random", epochs=1, subset=0.2, seed=3)
    try:
        trials = study.storage.trials()
    finally:
        study.storage.close()
    assert len(trials) == 2 and all(t.status == "ok" for t in trials), [t.error for t in trials]
