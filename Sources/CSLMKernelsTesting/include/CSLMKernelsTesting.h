// The kernels' test-only entry points, for the test targets (see Package.swift). The declarations
// live next to the kernels, which include them too, so they exist once and are checked against
// the definitions; this header only makes them importable as the module CSLMKernelsTesting.
#include "../../CSLMKernels/slm_kernels_testing.h"
