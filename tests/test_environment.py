"""lrkit.environment: the one place that names the machine and the code behind a record or a benchmark."""

import torch

from lrkit import environment as env_mod


def test_device_label_names_the_cpu_with_its_threads():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = env_mod.device_label("cpu")
    finally:
        torch.set_num_threads(threads)
    assert one == f"{env_mod.cpu_name()} (1 threads)"
    assert env_mod.device_label(torch.device("cpu")).startswith(env_mod.cpu_name())


def test_benchmark_environment_is_the_record_environment_cut_to_the_day():
    env = env_mod.benchmark_environment("cpu")
    record = env_mod.environment("cpu")
    assert env["threads"] == env["torch_threads"] == torch.get_num_threads()
    assert env["cuda"] == torch.version.cuda
    assert len(env["date"]) == 10 and record["date"].startswith(env["date"])
    for key in ("lrkit", "commit", "source_hash", "numerics_version", "torch", "device_name"):
        assert env[key] == record[key]


def test_source_hash_follows_the_sources(tmp_path):
    (tmp_path / "lrkit").mkdir()
    (tmp_path / "csrc").mkdir()
    (tmp_path / "lrkit" / "a.py").write_text("x = 1\n")
    first = env_mod.source_hash(tmp_path)
    assert env_mod.source_hash(tmp_path) == first
    (tmp_path / "csrc" / "op.cu").write_text("// kernel\n")
    second = env_mod.source_hash(tmp_path)
    (tmp_path / "lrkit" / "a.py").write_text("x = 2\n")
    assert len({first, second, env_mod.source_hash(tmp_path)}) == 3
