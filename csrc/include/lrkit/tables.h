// The launch tables the Python side packs for lrkit::fused_adam_ and lrkit::mopt_l1 (lrkit/optim/tables.py
// writes exactly these layouts with numpy; static_asserts below pin the sizes, tests/optim/test_tables.py
// checks them against the numpy dtypes). The CUDA kernels read every field; the CPU kernel of fused_adam_
// reads the group rows and each tensor row's group and replica.
//
//   TensorEntry[n_tensors]  pointers of p, g, m, v (and AMSGrad's vmax, the M-opt Delta), numel, group index,
//                           replica (which of the group's programs gives its LR), param dtype
//   ChunkEntry[n_chunks]    one CUDA block each: (tensor index, first element); chunk_size elements
//   GroupEntry[n_groups]    the group's descriptors (meta, code, consts: n_programs of them, one per replica of
//                           a policy bank), step counter, lr_out (one float64 per program), M-opt sums and
//                           mode, hyper-parameters, its chunk range, its first AdamStep record
// A policy bank (FusedAdam(policies=[...])): every param of the group has the replica axis as dim 0, and
// its slice k is a TensorEntry of its own with replica k (a contiguous slice: its own addresses).
// and for the M-opt L1 sums (lrkit.optim.tables.pack_mopt):
//   MoptEntry[n_tensors]    pointers of the three snapshots theta0, theta1, theta2, numel, dtype
//   ChunkEntry[n_chunks]    as above
#pragma once

#include <cstdint>

namespace lrkit {

enum ParamDtype : int32_t { kF32 = 0, kBF16 = 1, kF16 = 2, kF64 = 3 };  // kF64: M-opt snapshots only
enum GroupFlags : int32_t { kFlagDecoupled = 1, kFlagMaximize = 2, kFlagAmsgrad = 4 };

// The descriptors of a policy bank lie one after another: meta int32[4], code int32[kMaxRegisters, 4] and
// consts float64[kMaxRegisters] per program (lrkit.optim.Program.pack with MAX_REGISTERS; program.h).

struct TensorEntry {
  uint64_t p, g, m, v;  // device addresses: param, grad (param dtype); exp_avg, exp_avg_sq (float32)
  uint64_t vmax;        // float32 max_exp_avg_sq of an AMSGrad group (0 otherwise)
  uint64_t prev;        // float32 Delta recorded for the streaming M-opt (0 when the group's step does no M-opt)
  int64_t numel;
  int32_t group;
  int32_t dtype;    // ParamDtype
  int32_t replica;  // the group's program (0 outside a policy bank) whose AdamStep updates this tensor
  int32_t pad;
};

struct ChunkEntry {
  int32_t tensor;
  int32_t pad;
  int64_t start;
};

struct GroupEntry {
  uint64_t meta, code, consts;  // int32[4], int32[cap, 4], float64[cap]  (lrkit.optim.Program.pack)
  uint64_t step;                // float64[1]: steps already taken (t)
  uint64_t lr_out;              // float64[1]: eta(t) written by the step
  uint64_t mopt_sums;           // float64[2]: (||Delta_prev||_1, ||Delta_prev - Delta||_1) of a measure step, or 0
  double beta1, beta2, eps, weight_decay;  // double, as the CPU op takes them: 1 - beta2 and the bias
                                           // corrections are computed before any rounding to float
  int32_t flags;      // GroupFlags
  int32_t mopt_mode;  // MoptMode of this step
  int32_t first_chunk, n_chunks;  // the group's chunks (packed group after group)
  int32_t n_programs;             // 1, or K for a policy bank
  int32_t first_step;             // index of its first AdamStep record (groups' records one after another)
};

enum MoptMode : int32_t { kMoptOff = 0, kMoptRecord = 1, kMoptMeasure = 2 };

struct MoptEntry {
  uint64_t x0, x1, x2;  // device addresses of theta0, theta1, theta2 (same dtype and numel)
  int64_t numel;
  int32_t dtype;  // ParamDtype
  int32_t pad;
};

static_assert(sizeof(MoptEntry) == 40, "MoptEntry layout");
static_assert(sizeof(TensorEntry) == 72, "TensorEntry layout");
static_assert(sizeof(ChunkEntry) == 16, "ChunkEntry layout");
static_assert(sizeof(GroupEntry) == 104, "GroupEntry layout");

}  // namespace lrkit
