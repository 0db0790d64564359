// The AVX-512 variant (F, BW, DQ, VL, with FMA; x86-64 only): 16 floats per vector.
#include "prelude.h"
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2,f16c"))), apply_to = function)
#define TK_LANES 16
#include "body/all.h"
#pragma clang attribute pop

const tk_table tk_table_avx512 = { TK_TABLE_ENTRIES };
#endif
