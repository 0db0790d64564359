// Thin shim over LAPACKE, the C interface to LAPACK (row-major entry points are used).
#ifndef TESSERA_CLAPACKE_SHIM_H
#define TESSERA_CLAPACKE_SHIM_H
#include <lapacke.h>
#endif
