// The lrkit ops: every schema, defined once. Each op has one name for every device; its kernels are
// registered per dispatch key by TORCH_LIBRARY_IMPL blocks next to them (csrc/cpu for CPU, csrc/cuda for
// CUDA). Typed Python wrappers and fake kernels: lrkit/optim/ops.py.
//
//   eval_program(meta, code, consts, t) -> Tensor
//       eta(t) of one compiled policy for every t (float64): the interpreter, to test it (CPU).
//   fused_adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, prev_deltas, steps, lrs, mopt_sums,
//               tables, scratch, n_tensors, n_chunks, chunk_size, n_programs, grad_scale, found_inf) -> ()
//       one Adam/AdamW step of every parameter group the launch tables describe (csrc/include/lrkit/tables.h,
//       packed by lrkit/optim/tables.py): each group's eta(step) from its compiled policies, the update of its
//       params, and its step counter advanced by 1 - found_inf. The tensor lists are what the step writes,
//       in the tables' group order: one param, grad, exp_avg and exp_avg_sq per param; one max_exp_avg_sq per
//       param of an AMSGrad group; one prev_delta per param of a group whose step records or measures the
//       streaming M-opt; one step counter and one lrs (eta per program) per group; one mopt_sums per group
//       that measures. Hyper-parameters, flags and the M-opt role of each group are rows of the tables.
//   mopt_l1(theta0, theta1, theta2, tables, n_chunks, chunk_size) -> Tensor
//       float64 (sum |theta1 - theta0|, sum |2 theta1 - theta0 - theta2|) over three snapshots, summed chunk
//       by chunk (chunk_size elements) in a fixed order; `tables` (lrkit.optim.tables.pack_mopt) is the
//       device launch's view of those chunks (the CUDA kernel needs it; the CPU kernel walks the lists).
#include <torch/library.h>

TORCH_LIBRARY(lrkit, m) {
  m.def("eval_program(Tensor meta, Tensor code, Tensor consts, Tensor t) -> Tensor");
  m.def(
      "fused_adam_(Tensor(a!)[] params, Tensor(b!)[] grads, Tensor(c!)[] exp_avgs, Tensor(d!)[] exp_avg_sqs, "
      "Tensor(e!)[] max_exp_avg_sqs, Tensor(f!)[] prev_deltas, Tensor(g!)[] steps, Tensor(h!)[] lrs, "
      "Tensor(i!)[] mopt_sums, Tensor tables, Tensor(j!) scratch, int n_tensors, int n_chunks, int chunk_size, "
      "int n_programs, Tensor? grad_scale, Tensor? found_inf) -> ()");
  m.def(
      "mopt_l1(Tensor[] theta0, Tensor[] theta1, Tensor[] theta2, Tensor? tables=None, int n_chunks=0, "
      "int chunk_size=65536) -> Tensor");
}
