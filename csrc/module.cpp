// The Python module lrkit._C built by setup.py: importing it loads this library, whose TORCH_LIBRARY
// blocks (csrc/cpu, csrc/cuda) register the lrkit ops. It defines no Python functions itself.
#include <Python.h>

static struct PyModuleDef lrkit_c_module = {PyModuleDef_HEAD_INIT, "_C", "lrkit compiled ops (torch.ops.lrkit)", -1,
                                            nullptr};

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&lrkit_c_module); }
