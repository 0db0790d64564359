// The baseline variant: the build's own instruction set (SSE2 on x86-64, NEON on arm64).
#include "prelude.h"
#define TK_LANES 4
#include "body/all.h"

const tk_table tk_table_baseline = { TK_TABLE_ENTRIES };
