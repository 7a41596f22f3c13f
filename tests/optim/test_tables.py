"""Launch tables of the CUDA step: layouts, chunk coverage, group fields (checked on CPU tensors)."""

import numpy as np
import pytest
import torch

from lrkit.optim.tables import CHUNK, GROUP, MOPT, TENSOR, pack, pack_mopt


def group(sizes, dtype=torch.float32, **kw):
    ps = [torch.zeros(n, dtype=dtype) for n in sizes]
    g = dict(params=ps, grads=[torch.zeros_like(p) for p in ps], exp_avgs=[torch.zeros(p.shape) for p in ps],
             exp_avg_sqs=[torch.zeros(p.shape) for p in ps], meta=torch.zeros(4, dtype=torch.int32),
             code=torch.zeros(8, 4, dtype=torch.int32), consts=torch.zeros(8, dtype=torch.float64),
             step=torch.zeros(1, dtype=torch.float64), lr_out=torch.zeros(1, dtype=torch.float64),
             beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False)
    g.update(kw)
    return g


def test_layout_sizes_match_the_header():
    header = open(__file__.rsplit("/tests/", 1)[0] + "/csrc/include/lrkit/tables.h").read()
    assert "sizeof(TensorEntry) == 72" in header and TENSOR.itemsize == 72
    assert "sizeof(ChunkEntry) == 16" in header and CHUNK.itemsize == 16
    assert "sizeof(GroupEntry) == 104" in header and GROUP.itemsize == 104
    assert "sizeof(MoptEntry) == 40" in header and MOPT.itemsize == 40


def header_fields(struct: str) -> list[tuple[str, str]]:
    """``(name, numpy type)`` of each member of ``struct`` in csrc/include/lrkit/tables.h, in order."""
    import re

    header = open(__file__.rsplit("/tests/", 1)[0] + "/csrc/include/lrkit/tables.h").read()
    body = re.search(r"struct " + struct + r" \{(.*?)\n\};", header, re.S).group(1)
    types = {"uint64_t": "<u8", "int64_t": "<i8", "int32_t": "<i4", "double": "<f8"}
    out = []
    for line in body.splitlines():
        decl = re.match(r"\s*(\w+) ([\w, ]+);", line.split("//")[0])
        if decl:
            out += [(name.strip(), types[decl.group(1)]) for name in decl.group(2).split(",")]
    return out


@pytest.mark.parametrize("struct,dtype", [("TensorEntry", TENSOR), ("ChunkEntry", CHUNK), ("GroupEntry", GROUP),
                                          ("MoptEntry", MOPT)])
def test_the_numpy_layouts_name_the_header_fields_in_order(struct, dtype):
    """tables.h is the one source of the layouts: the numpy dtypes have its members, names, types and order."""
    assert [(n, np.dtype(t).str) for n, t in header_fields(struct)] == [(n, dtype.fields[n][0].str) for n in dtype.names]


def test_mopt_tables_point_at_the_three_snapshots_and_cover_every_element():
    snaps = [[torch.zeros(n, dtype=d) for n, d in [(130, torch.float32), (0, torch.float64), (64, torch.bfloat16)]]
             for _ in range(3)]
    t = pack_mopt(*snaps, chunk_size=64)
    blob = t.blob
    entries = blob[:t.n_tensors * MOPT.itemsize].view(MOPT)
    chunks = blob[t.n_tensors * MOPT.itemsize:].view(CHUNK)
    assert (t.n_tensors, t.n_chunks) == (3, 3 + 0 + 1)
    assert entries["x2"][2] == snaps[2][2].data_ptr() and entries["dtype"].tolist() == [0, 3, 1]
    assert [(int(c["tensor"]), int(c["start"])) for c in chunks] == [(0, 0), (0, 64), (0, 128), (2, 0)]


def test_chunks_cover_every_element_once_and_groups_carry_their_fields():
    g0 = group([10, 0, 300], weight_decay=0.1, decoupled=True)
    g1 = group([129], dtype=torch.bfloat16, maximize=True)
    t = pack([g0, g1], chunk_size=64)
    tensors, chunks, groups = t.split()
    assert (t.n_tensors, t.n_groups) == (4, 2) and t.blob.dtype == np.uint8
    assert tensors["group"].tolist() == [0, 0, 0, 1] and tensors["dtype"].tolist() == [0, 0, 0, 1]
    assert tensors["p"][2] == g0["params"][2].data_ptr() and tensors["v"][3] == g1["exp_avg_sqs"][0].data_ptr()
    covered = {}
    for c in chunks:
        n = tensors["numel"][c["tensor"]]
        covered.setdefault(int(c["tensor"]), []).extend(range(int(c["start"]), min(int(c["start"]) + 64, int(n))))
    assert {k: sorted(v) for k, v in covered.items()} == {0: list(range(10)), 2: list(range(300)), 3: list(range(129))}
    assert t.n_chunks == 1 + 5 + 3  # the empty tensor has no chunk
    assert groups["flags"].tolist() == [1, 2]
    assert groups["first_chunk"].tolist() == [0, 6] and groups["n_chunks"].tolist() == [6, 3]  # group after group
    assert groups["mopt_mode"].tolist() == [0, 0] and groups["mopt_sums"].tolist() == [0, 0] and tensors["prev"].sum() == 0
    assert tensors["vmax"].sum() == 0  # no AMSGrad group
    assert groups["weight_decay"][0] == 0.1 and groups["beta2"][1] == 0.999  # doubles, not rounded to float
    assert groups["step"][1] == g1["step"].data_ptr() and groups["lr_out"][0] == g0["lr_out"].data_ptr()


def test_an_amsgrad_group_carries_its_flag_and_the_maxima_addresses():
    plain = group([8])
    ams = group([5, 0, 70], maximize=True, amsgrad=True)
    ams["max_exp_avg_sqs"] = [torch.zeros(p.shape) for p in ams["params"]]
    tensors, _, groups = pack([plain, ams], chunk_size=64).split()
    assert groups["flags"].tolist() == [0, 2 | 4]
    assert tensors["vmax"].tolist() == [0] + [x.data_ptr() for x in ams["max_exp_avg_sqs"]]
    assert tensors["v"][1] == ams["exp_avg_sqs"][0].data_ptr()  # vmax is its own column, v unchanged


def test_bad_input():
    with pytest.raises(ValueError, match="multiple of 4"):
        pack([group([4])], chunk_size=6)
    with pytest.raises(ValueError, match="one max_exp_avg_sq per param"):
        pack([group([4], amsgrad=True)])
    with pytest.raises(ValueError, match="max_exp_avg_sq must be a contiguous float32"):
        pack([group([4], amsgrad=True, max_exp_avg_sqs=[torch.zeros(4, dtype=torch.float64)])])
    with pytest.raises(TypeError, match="float32, bfloat16 or float16"):
        pack([group([4], dtype=torch.float64)])


def test_the_vectorised_chunk_table_cuts_every_tensor_like_a_loop():
    import numpy as np

    from lrkit.optim.tables import chunk_table

    numels = np.array([0, 1, 4096, 4097, 70001, 0, 8192])
    got = chunk_table(numels, 4096)
    loop = [(k, s) for k, n in enumerate(numels) for s in range(0, int(n), 4096)]
    assert list(zip(got["tensor"].tolist(), got["start"].tolist())) == loop
    assert len(chunk_table(np.array([], dtype=np.int64), 4)) == 0


def test_a_policy_bank_gives_each_replica_slice_a_row_and_each_program_a_record():
    """Slice k of every param is a row of its own (addresses offset by k slices, replica k); the group's
    K programs take AdamStep records first_step .. first_step + K - 1, after the groups before it."""
    single = group([5])
    ps = [torch.zeros(3, 4), torch.zeros(3, 2, dtype=torch.bfloat16)]
    bank = group([1], params=ps, grads=[torch.zeros_like(p) for p in ps], exp_avgs=[torch.zeros(3, 4), torch.zeros(3, 2)],
                 exp_avg_sqs=[torch.zeros(3, 4), torch.zeros(3, 2)], meta=torch.zeros(3, 4, dtype=torch.int32),
                 code=torch.zeros(3, 8, 4, dtype=torch.int32), consts=torch.zeros(3, 8, dtype=torch.float64),
                 lr_out=torch.zeros(3, dtype=torch.float64), replicas=3)
    t = pack([single, bank], chunk_size=64)
    tensors, chunks, groups = t.split()
    assert (t.n_tensors, t.n_groups, t.n_programs) == (1 + 6, 2, 4)
    rows = tensors[1:]
    assert rows["replica"].tolist() == [0, 0, 1, 1, 2, 2] and rows["numel"].tolist() == [4, 2] * 3
    assert rows["p"].tolist() == [x for k in range(3) for x in (ps[0].data_ptr() + 16 * k, ps[1].data_ptr() + 4 * k)]
    assert rows["m"][3] == bank["exp_avgs"][1].data_ptr() + 8  # float32 state: 2 elements a slice
    assert groups["n_programs"].tolist() == [1, 3] and groups["first_step"].tolist() == [0, 1]
    assert t.source.tolist() == [0, 1, 2, 1, 2, 1, 2]
    assert list(t.grad_addresses([7, 100, 1000])) == [7, 100, 1000, 116, 1004, 132, 1008]
    with pytest.raises(ValueError, match="a policy bank of 3 needs dim 0 of every param of that size"):
        pack([dict(bank, params=[torch.zeros(2, 4)], grads=[torch.zeros(2, 4)], exp_avgs=[torch.zeros(2, 4)],
                   exp_avg_sqs=[torch.zeros(2, 4)])])
