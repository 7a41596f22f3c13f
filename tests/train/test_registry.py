"""Your own model and data set by name (lrkit.train.registry): registration, import paths, feature
vectors end to end, the record of which object a name stood for, and the errors."""

import numpy as np
import pytest
import torch
from torch import nn

import lrkit
from lrkit.train import TrainConfig, train
from lrkit.train import registry
from lrkit.train.data import TensorBatches, check_dataset_name, load_dataset
from lrkit.train.models import build_model

from .user_task import load_blobs, make_mlp

MLP = "tests.train.user_task:make_mlp"
BLOBS = "tests.train.user_task:load_blobs"


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    """Each test starts with nothing registered and leaves nothing behind."""
    for table in ("_MODELS", "_DATASETS", "_LOADED"):
        monkeypatch.setattr(registry, table, {})


def quick(**kw) -> TrainConfig:
    base = dict(dataset="blobs", model="mlp", normalize="none", iters=40, eval_every=20, batch_size=32,
                eval_batch_size=100, policy="FIX(k=0.05)", optimizer="momentum")
    return TrainConfig(**{**base, **kw})


def test_a_registered_model_and_data_set_train_and_the_record_says_which_objects_they_were():
    lrkit.register_model("mlp", make_mlp)
    lrkit.register_dataset("blobs", load_blobs())
    rec = train(quick(), progress=False, db=False)
    assert rec.status == "complete" and rec.summary["highest_top1"] > 0.9  # three separable blobs
    assert rec.config["model"] == "mlp" and rec.config["dataset"] == "blobs"
    model = rec.environment["model"]
    assert model["name"] == "mlp" and model["object"] == "tests.train.user_task:make_mlp"
    assert model["parameters"] == (8 * 16 + 16) + (16 * 3 + 3) and len(model["structure_sha256"]) == 16
    data = rec.environment["dataset"]
    assert data["sizes"] == {"train": 240, "test": 90} and data["input_shape"] == [8] and data["num_classes"] == 3
    assert len(data["sha256"]) == 16


def test_the_same_name_for_other_data_in_another_session_records_another_hash(monkeypatch):
    lrkit.register_model("mlp", make_mlp)
    lrkit.register_dataset("blobs", load_blobs(seed=0))
    first = train(quick(iters=2, eval_every=2), progress=False, db=False).environment["dataset"]
    monkeypatch.setattr(registry, "_DATASETS", {})  # a new session: the name is free again
    monkeypatch.setattr(registry, "_LOADED", {})
    lrkit.register_dataset("blobs", load_blobs(seed=1))
    second = train(quick(iters=2, eval_every=2), progress=False, db=False).environment["dataset"]
    assert first["sizes"] == second["sizes"] and first["sha256"] != second["sha256"]


def test_the_same_name_and_qualname_for_another_architecture_records_another_structure_hash(monkeypatch):
    lrkit.register_dataset("blobs", load_blobs())
    lrkit.register_model("mlp", make_mlp)
    first = train(quick(iters=2, eval_every=2), progress=False, db=False).environment["model"]
    monkeypatch.setattr(make_mlp, "__defaults__", (32,))  # hidden 32: the same function, other layers
    second = train(quick(iters=2, eval_every=2), progress=False, db=False).environment["model"]
    assert first["object"] == second["object"] and first["structure_sha256"] != second["structure_sha256"]
    assert (first["parameters"], second["parameters"]) == (8 * 16 + 16 + 16 * 3 + 3, 8 * 32 + 32 + 32 * 3 + 3)


def test_import_paths_need_no_registration_and_built_ins_record_nothing_extra(tmp_path):
    from tests.tiny_data import write_tiny_npz

    rec = train(quick(model=MLP, dataset=BLOBS, iters=4, eval_every=4), progress=False, db=False)
    assert rec.environment["model"]["object"] == MLP and rec.environment["dataset"]["object"] == BLOBS
    assert check_dataset_name(BLOBS) == BLOBS
    tiny = write_tiny_npz(tmp_path / "tiny.npz", n_train=20, n_test=10)
    built_in = train(TrainConfig(dataset=tiny, model="lenet", iters=2, eval_every=2, batch_size=10), progress=False, db=False)
    assert "model" not in built_in.environment and "dataset" not in built_in.environment


@pytest.mark.parametrize("form", ["tuple", "mapping", "tensors", "tensor_datasets", "loader"])
def test_every_form_of_data_loads_as_the_same_in_memory_features(form):
    xtr, ytr, xte, yte = load_blobs()
    t = [torch.from_numpy(a) for a in (xtr, ytr, xte, yte)]
    data = {"tuple": (xtr, ytr, xte, yte),
            "mapping": dict(x_train=xtr, y_train=ytr, x_test=xte, y_test=yte),
            "tensors": tuple(t),
            "tensor_datasets": (torch.utils.data.TensorDataset(t[0], t[1]), torch.utils.data.TensorDataset(t[2], t[3])),
            "loader": load_blobs}[form]
    lrkit.register_dataset("blobs", data)
    ds = load_dataset("blobs")
    assert ds.in_memory and ds.input_shape == (8,) and ds.num_classes == 3 and ds.sizes() == {"train": 240, "test": 90}
    np.testing.assert_array_equal(ds.x_test, xte)
    np.testing.assert_array_equal(ds.y_train, ytr)
    expected = {"mapping": "builtins:dict", "loader": "tests.train.user_task:load_blobs"}.get(form, "builtins:tuple")
    assert ds.origin["object"] == expected


class Squares(torch.utils.data.Dataset):
    """A map-style Dataset that is not a TensorDataset: streamed through a DataLoader."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((4,), float(i % 5)), i % 5


def test_other_torch_datasets_are_streamed_and_train():
    lrkit.register_model("mlp", make_mlp)
    lrkit.register_dataset("squares", (Squares(50), Squares(20)))
    ds = load_dataset("squares")
    assert not ds.in_memory and ds.input_shape == (4,) and ds.num_classes == 5
    rec = train(quick(dataset="squares", iters=4, eval_every=4), progress=False, db=False)
    assert rec.status == "complete" and rec.environment["dataset"]["object"] == "builtins:tuple"


def test_a_factory_gets_only_the_keywords_it_names():
    seen = {}

    def everything(**kw):
        seen.update(kw)
        return nn.Linear(kw["in_channels"], kw["num_classes"])

    lrkit.register_model("everything", everything)
    lrkit.register_model("fixed", lambda: nn.Linear(8, 3))
    assert isinstance(build_model("everything", num_classes=3, in_channels=8, input_shape=(8,)), nn.Linear)
    assert seen == {"num_classes": 3, "in_channels": 8, "input_shape": (8,)}
    assert build_model("FIXED", num_classes=3).out_features == 3  # names are case-insensitive, as the built-ins


def test_names_cannot_shadow_built_ins_or_be_taken_twice_unless_replaced():
    with pytest.raises(ValueError, match="name 'LeNet' is a built-in model"):
        lrkit.register_model("LeNet", make_mlp)
    with pytest.raises(ValueError, match="name 'mnist' is a built-in dataset"):
        lrkit.register_dataset("mnist", load_blobs)
    with pytest.raises(ValueError, match="must not contain ':'"):
        lrkit.register_model("my:mlp", make_mlp)
    lrkit.register_model("mlp", make_mlp)
    lrkit.register_model("mlp", make_mlp)  # the same object again: nothing changes
    other = lambda in_channels, num_classes: nn.Linear(in_channels, num_classes)  # noqa: E731
    with pytest.raises(ValueError, match="'mlp' is already registered to tests.train.user_task:make_mlp; pass replace=True"):
        lrkit.register_model("mlp", other)
    lrkit.register_model("mlp", other, replace=True)
    assert isinstance(build_model("mlp", num_classes=3, in_channels=8), nn.Linear)


@pytest.mark.parametrize("data,needle", [
    ((np.zeros(5, np.float32), np.zeros(5, int), np.zeros((5, 2), np.float32), np.zeros(5, int)),
     "field 'x_train' must be (N, F) features or (N, C, ...) images, got shape (5,)"),
    ((np.zeros((5, 2), np.float32), np.zeros(4, int), np.zeros((5, 2), np.float32), np.zeros(5, int)),
     "field 'x_train' has 5 samples and 'y_train' 4 labels"),
    ((np.zeros((5, 2), np.float32), np.zeros(5, np.float32), np.zeros((5, 2), np.float32), np.zeros(5, int)),
     "field 'y_train' must be 1-D integer labels"),
    ((np.zeros((5, 2), np.float32), np.zeros(5, int), np.zeros((5, 3), np.float32), np.zeros(5, int)),
     "field 'x_test' samples are (3,) but x_train's are (2,)"),
    ((np.zeros((5, 2), np.int32), np.zeros(5, int), np.zeros((5, 2), np.int32), np.zeros(5, int)),
     "field 'x_train' must be uint8 or float, got int32"),
    ({"x_train": 1}, "missing field(s) y_train, x_test, y_test"),
    ("blobs.npz", "data must be (x_train, y_train, x_test, y_test)"),
])
def test_bad_data_is_one_line_naming_the_field(data, needle):
    with pytest.raises(ValueError) as err:
        lrkit.register_dataset("bad", data)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert "bad" not in registry.registered_datasets()


def test_unknown_names_list_the_allowed_ones_and_say_how_other_processes_resolve_a_name():
    lrkit.register_model("mlp", make_mlp)
    with pytest.raises(ValueError, match=r"field 'model' must be one of lenet, .* or an import path"):
        TrainConfig(model="nosuch")
    with pytest.raises(ValueError) as err:
        build_model("mpl")
    assert "unknown model 'mpl'" in str(err.value) and "registered here: mlp" in str(err.value)
    assert "another process (a notebook)" in str(err.value) and "'package.module:function'" in str(err.value)
    with pytest.raises(ValueError, match="unknown dataset name 'blobz'; allowed: mnist"):
        check_dataset_name("blobz")
    with pytest.raises(ImportError, match="cannot import module 'tests.train.no_such_module'"):
        build_model("tests.train.no_such_module:make", num_classes=3)
    with pytest.raises(AttributeError, match="has no attribute 'make_mpl'"):
        load_dataset("tests.train.user_task:make_mpl")


def test_names_registered_here_only_are_refused_before_trials_run_in_other_processes(tmp_path, monkeypatch):
    from lrkit.tune import Search, grid_trials, run_search

    lrkit.register_model("mlp", make_mlp)
    search = Search(dict(quick(dataset=BLOBS).to_dict()), grid_trials(["FIX(k=0.05)"]))
    monkeypatch.setattr("lrkit.run.executors.ProcessPool.run", lambda *a, **k: pytest.fail("a trial started"))
    with pytest.raises(ValueError, match="model 'mlp' is registered in this process only, and a spawned worker "
                                         "process cannot resolve it; name it by an import path"):
        run_search(search, workers=2, db=f"sqlite:///{tmp_path / 'x.db'}", progress=False)
    registry.check_portable(Search(dict(quick(model=MLP, dataset=BLOBS).to_dict()), search.trials).configs())


def test_feature_batches_are_left_as_given_or_standardised_per_feature():
    x = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]], np.float32)
    y = np.array([0, 1, 2])
    as_given = TensorBatches(x, y, batch_size=3, shuffle=False, scale=1.0)
    torch.testing.assert_close(as_given.next()[0], torch.from_numpy(x))
    std = TensorBatches(x, y, batch_size=3, shuffle=False, scale="standardize", mean=(2.0, 20.0), std=(2.0, 10.0))
    torch.testing.assert_close(std.next()[0], torch.tensor([[-1.0, -1.0], [0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="augment='crop_flip' needs \\(N, C, H, W\\) images, got shape \\(3, 2\\)"):
        TensorBatches(x, y, batch_size=3, augment="crop_flip")


def test_a_search_over_a_registered_task_lands_in_the_database_ranked(tmp_path):
    from lrkit.db import Database
    from lrkit.evaluate.ranking import LEVELS, top_k
    from lrkit.tune import Search, grid_trials, run_search

    lrkit.register_model("mlp", make_mlp)
    lrkit.register_dataset("blobs", load_blobs())
    db = Database(f"sqlite:///{tmp_path / 'runs.db'}")
    policies = ["FIX(k=0.05)", "FIX(k=1e-6)", "TRI(k0=0.01, k1=0.1, l=10)"]
    result = run_search(Search(quick().to_dict(), grid_trials(policies), name="own"), db=db, progress=False)
    assert list(result.trials["status"]) == ["complete"] * 3
    ranking = top_k(db, "blobs", "mlp", k=3)
    assert ranking.level == LEVELS[0]  # the task itself, not a fallback to similar tasks
    assert len(ranking.table) == 3 and ranking.table["policy"].iloc[-1] == "FIX(k=1e-06)"  # a step of 1e-6 learns nothing
    env = db.get_run(int(result.trials["run_id"][0]))["environment"]
    assert env["model"]["object"] == "tests.train.user_task:make_mlp" and env["dataset"]["sizes"]["train"] == 240
