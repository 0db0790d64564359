// The AVX2 + FMA variant (x86-64 only).
#include "prelude.h"
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi2,f16c"))), apply_to = function)
#define TK_LANES 8
#include "body/all.h"
#pragma clang attribute pop

const tk_table tk_table_avx2 = { TK_TABLE_ENTRIES };
#endif
