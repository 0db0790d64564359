// The function table every variant fills: one entry per kernel of tessera_kernels.h, typed from
// the public declaration itself.
#ifndef TESSERA_KERNELS_TABLE_H
#define TESSERA_KERNELS_TABLE_H

#include "tessera_kernels.h"

typedef struct tk_table {
    __typeof__(&tk_fma_loop) fma_loop;
    __typeof__(&tk_unary) unary;
    __typeof__(&tk_binary) binary;
    __typeof__(&tk_select) select;
    __typeof__(&tk_sum) sum;
    __typeof__(&tk_batchnorm_statistics) batchnorm_statistics;
    __typeof__(&tk_batchnorm_forward) batchnorm_forward;
    __typeof__(&tk_batchnorm_backward) batchnorm_backward;
    __typeof__(&tk_maxpool2d_forward) maxpool2d_forward;
    __typeof__(&tk_maxpool2d_backward) maxpool2d_backward;
    __typeof__(&tk_avgpool2d_forward) avgpool2d_forward;
    __typeof__(&tk_avgpool2d_backward) avgpool2d_backward;
    __typeof__(&tk_global_avgpool_forward) global_avgpool_forward;
    __typeof__(&tk_global_avgpool_backward) global_avgpool_backward;
    __typeof__(&tk_softmax_rows) softmax_rows;
    __typeof__(&tk_log_softmax_rows) log_softmax_rows;
    __typeof__(&tk_cross_entropy_forward) cross_entropy_forward;
    __typeof__(&tk_cross_entropy_backward) cross_entropy_backward;
    __typeof__(&tk_sgd_update) sgd_update;
    __typeof__(&tk_adam_update) adam_update;
    __typeof__(&tk_rmsprop_update) rmsprop_update;
    __typeof__(&tk_im2col) im2col;
    __typeof__(&tk_col2im) col2im;
    __typeof__(&tk_wino23_output_gradient) wino23_output_gradient;
    __typeof__(&tk_wino23_weights) wino23_weights;
    __typeof__(&tk_conv_epilogue_apply) conv_epilogue_apply;
    __typeof__(&tk_normalize_planes) normalize_planes;
    __typeof__(&tk_reverse_rows) reverse_rows;
    __typeof__(&tk_wino23_input_band) wino23_input_band;
    __typeof__(&tk_wino23_output_band) wino23_output_band;
    __typeof__(&tk_wino23_weight_gradient) wino23_weight_gradient;
    __typeof__(&tk_wino43_input_band) wino43_input_band;
    __typeof__(&tk_wino43_output_band) wino43_output_band;
    __typeof__(&tk_wino43_output_gradient) wino43_output_gradient;
    __typeof__(&tk_wino43_weights) wino43_weights;
    __typeof__(&tk_wino43_weight_gradient) wino43_weight_gradient;
    __typeof__(&tk_wino_products) wino_products;
    __typeof__(&tk_wino_s2_weights) wino_s2_weights;
    __typeof__(&tk_wino_s2_channels_last) wino_s2_channels_last;
    __typeof__(&tk_wino_s2_input) wino_s2_input;
    __typeof__(&tk_wino_s2_output) wino_s2_output;
    __typeof__(&tk_direct3x3_pack) direct3x3_pack;
    __typeof__(&tk_direct3x3_pack_weights) direct3x3_pack_weights;
    __typeof__(&tk_direct3x3) direct3x3;
    __typeof__(&tk_direct3x3_unpack) direct3x3_unpack;
} tk_table;

extern const tk_table tk_table_baseline;
#if defined(__x86_64__)
extern const tk_table tk_table_avx2;
extern const tk_table tk_table_avx512;
#endif

#endif
