// Thin shim over OpenBLAS: CBLAS plus OpenBLAS's thread and build-introspection entry points.
#ifndef TESSERA_COPENBLAS_SHIM_H
#define TESSERA_COPENBLAS_SHIM_H
#include <cblas.h>

// These four are declared by OpenBLAS's own cblas.h; repeated here (same signatures) so the
// module also builds against a cblas.h that lacks them, e.g. a reference-CBLAS header first on the path.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);
#endif
