"""Distributed training, the parts that run in this process: how batches are shared,
the torchrun environment, device and backend choice, failure reports, option
checks, and a one-process run that joins a real gloo process group."""

import json
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.backend.cli import main
from layerloom.backend.compile import compile_graph
from layerloom.backend.training import TrainingError
from layerloom.backend.training.distributed import (
    DEBUG_FAIL_VAR,
    batch_share,
    debug_failure_step,
    device_count,
    has_unused_parameters,
    is_peer_loss,
    plan_device,
    worker_env,
)
from layerloom.backend.training.launch import (
    LaunchError,
    LaunchOptions,
    describe_failures,
    free_port,
    train_command,
)
from layerloom.backend.training.settings import SettingsError, TrainSettings
from tests.backend.helpers import error_line, moons_file
from tests.graph.helpers import mlp


# ------------------------------------------------------------------ batches
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), batch=st.integers(1, 70), world=st.integers(1, 5), seed=st.integers(0, 9))
def test_ranks_share_each_batch_exactly_and_weights_make_the_global_mean(n, batch, world, seed):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    bs = min(batch, n)
    for lo in range(0, n, bs):
        hi = min(lo + bs, n)
        shares = [batch_share(perm, lo, hi, rank, world) for rank in range(world)]
        rows = torch.cat([r for r, _ in shares])
        # together the ranks take exactly the single process's batch, no row twice
        assert sorted(rows.tolist()) == sorted(perm[lo:hi].tolist())
        # DDP averages over ranks: sum(weight_r * mean_r) / world == batch mean
        values = torch.randn(n, generator=torch.Generator().manual_seed(seed + lo))
        ddp = sum(w * (values[r].mean() if len(r) else 0.0) for r, w in shares) / world
        assert float(ddp) == pytest.approx(float(values[perm[lo:hi]].mean()), abs=1e-5)
        assert all(w == 0 for r, w in shares if not len(r))


def test_rows_are_strided_by_rank_like_distributed_sampler():
    perm = torch.arange(10, 20)
    assert batch_share(perm, 0, 8, 0, 2)[0].tolist() == [10, 12, 14, 16]
    assert batch_share(perm, 0, 8, 1, 2)[0].tolist() == [11, 13, 15, 17]
    rows, weight = batch_share(perm, 8, 10, 2, 3)  # last batch of 2 on 3 ranks: rank 2 idles
    assert rows.tolist() == [] and weight == 0


# -------------------------------------------------------------- environment
def test_worker_env_reads_torchrun_variables():
    assert worker_env({}) is None
    assert worker_env({"WORLD_SIZE": "2", "RANK": "1"}) is None  # LOCAL_RANK missing: not a worker
    env = worker_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (env.rank, env.local_rank, env.world_size, env.local_world_size) == (3, 1, 4, 2)
    assert not env.is_main and worker_env({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}).is_main


@pytest.mark.parametrize(("environ", "expected"), [
    ({"WORLD_SIZE": "two", "RANK": "0", "LOCAL_RANK": "0"}, "WORLD_SIZE must be a whole number, got 'two'"),
    ({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"}, "RANK=2"),
])
def test_worker_env_refuses_inconsistent_variables(environ, expected):
    with pytest.raises(TrainingError, match=expected):
        worker_env(environ)


def test_debug_failure_hook_names_rank_and_step():
    assert debug_failure_step(1, {}) is None
    assert debug_failure_step(1, {DEBUG_FAIL_VAR: "1"}) == 1
    assert debug_failure_step(1, {DEBUG_FAIL_VAR: "1:7"}) == 7
    assert debug_failure_step(0, {DEBUG_FAIL_VAR: "1:7"}) is None
    with pytest.raises(TrainingError, match="RANK or RANK:STEP"):
        debug_failure_step(0, {DEBUG_FAIL_VAR: "one"})


# ------------------------------------------------------------ device, backend
def test_cpu_trains_with_gloo_and_mps_is_refused():
    assert plan_device("cpu", 1, 2) == ("cpu", "gloo", [])
    with pytest.raises(TrainingError, match="mps device cannot train with several processes"):
        plan_device("mps", 0, 2)


def test_cuda_gives_each_process_its_own_gpu_with_nccl(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert plan_device("auto", 3, 4) == ("cuda:3", "nccl", [])
    device, backend, notes = plan_device("cuda:2", 1, 4)
    assert (device, backend) == ("cuda:1", "nccl") and "cuda:2 is ignored" in notes[0]
    assert device_count("auto") == 4
    with pytest.raises(TrainingError, match="5 processes on this machine need one GPU each, but it has 4"):
        plan_device("cuda", 0, 5)


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert plan_device("auto", 0, 2)[:2] == ("cpu", "gloo")
    with pytest.raises(TrainingError, match="no CUDA GPU is available"):
        plan_device("cuda", 0, 2)
    assert device_count("cpu") >= 1


def test_unused_parameters_are_detected():
    model = compile_graph(mlp(), seed=0)
    assert not has_unused_parameters(model)
    model.register_parameter("spare", torch.nn.Parameter(torch.zeros(3)))
    assert has_unused_parameters(model)


# ---------------------------------------------------------------- failures
def _failure(message=None, lost=False, exitcode=1, timestamp=5, pid=100):
    data = {"layerloom": {"lost_peer": lost}} if message is not None else {}
    return SimpleNamespace(message={"message": message} if message else "", error_file_data=data,
                           exitcode=exitcode, timestamp=timestamp, pid=pid,
                           signal_name=lambda: "SIGKILL" if exitcode == -9 else "SIGTERM")


def test_the_rank_at_fault_is_named_before_ranks_that_lost_it():
    failures = {0: _failure("training failed: Connection closed by peer", lost=True, timestamp=1),
                1: _failure("training failed at step 3: RuntimeError: boom", timestamp=2)}
    text = describe_failures(failures)
    assert text.startswith("rank 1 failed: training failed at step 3: RuntimeError: boom")
    assert "rank 0 stopped as well" in text


def test_killed_and_silent_ranks_are_described():
    text = describe_failures({2: _failure(exitcode=-9, pid=77)})
    assert "rank 2 (process 77) was killed by signal SIGKILL" in text and "memory" in text
    assert "rank 0 (process 100) exited with status 3 without a message" in describe_failures(
        {0: _failure(exitcode=3)})
    lost = describe_failures({4: _failure("Connection reset by peer", lost=True)})
    assert lost.startswith("rank 4 lost contact") and "another machine" in lost


def test_peer_loss_is_recognised_from_gloo_messages():
    assert is_peer_loss(RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer [1.2.3.4]:5"))
    assert not is_peer_loss(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_peer_loss(None)


@pytest.mark.parametrize(("options", "expected"), [
    (LaunchOptions(nproc=0), "--nproc must be at least 1, got 0"),
    (LaunchOptions(nnodes=2, node_rank=2), "--node-rank must be between 0 and 1 (--nnodes 2), got 2"),
    (LaunchOptions(master_port=70000), "--master-port must be between 1 and 65535, got 70000"),
    (LaunchOptions(master_addr=" "), "--master-addr is empty"),
])
def test_launch_options_are_checked(options, expected):
    with pytest.raises(LaunchError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        options.check()


def test_processes_setting_is_checked_and_defaults_to_one():
    assert TrainSettings().processes == 1
    assert TrainSettings.from_dict({"processes": 4}).processes == 4
    with pytest.raises(SettingsError, match="processes must be at least 1, got 0"):
        TrainSettings.from_dict({"processes": 0})


def test_train_command_runs_the_training_module(tmp_path):
    cmd = train_command(tmp_path / "a.loom", 3, out=tmp_path / "run", events=tmp_path / "e.jsonl")
    assert cmd[1:] == ["-m", "layerloom.backend.training", str(tmp_path / "a.loom"), "--nproc", "3", "--no-progress",
                       "--out", str(tmp_path / "run"), "--events", str(tmp_path / "e.jsonl")]


# ------------------------------------------------------------- command line
def test_bad_node_rank_gives_one_error_line(tmp_path, capsys):
    path = moons_file(tmp_path)
    code = main(["train", str(path), "--out", str(tmp_path / "run"), "--nproc", "2", "--nnodes", "2",
                 "--node-rank", "2"])
    assert code == 2
    line, _ = error_line(capsys)
    assert "--node-rank must be between 0 and 1 (--nnodes 2), got 2" in line


@pytest.mark.parametrize(("argv", "expected"), [
    (["--nproc", "0"], "argument --nproc: processes must be at least 1, got 0"),
    (["--nproc", "1025"], "argument --nproc: processes must be at most 1024, got 1025"),
    (["--master-port", "70000"], "must be a port number up to 65535, got 70000"),
])
def test_bad_distributed_arguments_are_refused_by_the_parser(tmp_path, capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(["train", str(tmp_path / "a.loom"), *argv])
    assert info.value.code == 2
    line, _ = error_line(capsys)
    assert expected in line


def test_help_says_the_batch_size_is_global(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the global batch: each of N processes takes 1/N of it" in text
    assert "--nproc N" in text and "--master-addr ADDR" in text and "--node-rank K" in text


def _torchrun_env(monkeypatch, world=1):
    for name, value in {"WORLD_SIZE": str(world), "RANK": "0", "LOCAL_RANK": "0",
                        "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)


def test_under_torchrun_the_command_joins_the_process_group(tmp_path, capsys, monkeypatch):
    path = moons_file(tmp_path, training={"epochs": 2, "lr": 0.01, "batch_size": 32, "seed": 3})
    assert main(["train", str(path), "--out", str(tmp_path / "alone"), "--no-progress"]) == 0
    _torchrun_env(monkeypatch)
    events = tmp_path / "events.jsonl"
    code = main(["train", str(path), "--out", str(tmp_path / "joined"), "--no-progress",
                 "--events", str(events)])
    assert code == 0
    assert not torch.distributed.is_initialized()  # left the group again
    alone = json.loads((tmp_path / "alone" / "metrics.json").read_text())
    joined = json.loads((tmp_path / "joined" / "metrics.json").read_text())
    assert (joined["processes"], joined["backend"], alone["processes"]) == (1, "gloo", 1)
    assert joined["final"] == pytest.approx(alone["final"], abs=1e-6)
    kinds = [json.loads(line)["kind"] for line in events.read_text().splitlines()]
    assert kinds[0] == "started" and kinds.count("epoch") == 2 and kinds[-1] == "finished"
    assert "2 epoch(s)" in capsys.readouterr().out


def test_under_torchrun_a_different_nproc_is_refused(tmp_path, capsys, monkeypatch):
    path = moons_file(tmp_path)
    _torchrun_env(monkeypatch, world=2)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--nproc", "3"]) == 2
    line, _ = error_line(capsys)
    assert "one of 2 on this machine started by torchrun" in line and "leave out --nproc 3" in line
