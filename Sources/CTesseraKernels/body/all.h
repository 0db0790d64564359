// Every kernel body, included once per variant by isa_*.c between a `target` attribute push and
// pop, and turned into that variant's table. System headers come first, outside the push.

#include "vectors.h"
#include "vector_math.h"
#include "elementwise.h"
#include "batchnorm.h"
#include "pooling.h"
#include "softmax.h"
#include "optimizers.h"
#include "peak.h"
#include "im2col.h"
#include "winograd23.h"
#include "winograd43.h"
#include "winograd_products.h"
#include "winograd_s2.h"
#include "direct3x3.h"
#include "augment.h"

#define TK_TABLE_ENTRIES \
    .fma_loop = fma_loop, \
    .unary = unary, \
    .binary = binary, \
    .select = select_where, \
    .sum = sum, \
    .batchnorm_statistics = batchnorm_statistics, \
    .batchnorm_forward = batchnorm_forward, \
    .batchnorm_backward = batchnorm_backward, \
    .maxpool2d_forward = maxpool2d_forward, \
    .maxpool2d_backward = maxpool2d_backward, \
    .avgpool2d_forward = avgpool2d_forward, \
    .avgpool2d_backward = avgpool2d_backward, \
    .global_avgpool_forward = global_avgpool_forward, \
    .global_avgpool_backward = global_avgpool_backward, \
    .softmax_rows = softmax_rows, \
    .log_softmax_rows = log_softmax_rows, \
    .cross_entropy_forward = cross_entropy_forward, \
    .cross_entropy_backward = cross_entropy_backward, \
    .sgd_update = sgd_update, \
    .adam_update = adam_update, \
    .rmsprop_update = rmsprop_update, \
    .im2col = im2col, \
    .col2im = col2im, \
    .wino23_output_gradient = wino23_output_gradient, \
    .wino23_weights = wino23_weights, \
    .conv_epilogue_apply = conv_epilogue_apply, \
    .normalize_planes = normalize_planes, \
    .reverse_rows = reverse_rows, \
    .wino23_input_band = wino23_input_band, \
    .wino23_output_band = wino23_output_band, \
    .wino23_weight_gradient = wino23_weight_gradient, \
    .wino43_input_band = wino43_input_band, \
    .wino43_output_band = wino43_output_band, \
    .wino43_output_gradient = wino43_output_gradient, \
    .wino43_weights = wino43_weights, \
    .wino43_weight_gradient = wino43_weight_gradient, \
    .wino_products = wino_products, \
    .wino_s2_weights = wino_s2_weights, \
    .wino_s2_channels_last = wino_s2_channels_last, \
    .wino_s2_input = wino_s2_input, \
    .wino_s2_output = wino_s2_output, \
    .direct3x3_pack = direct3x3_pack, \
    .direct3x3_pack_weights = direct3x3_pack_weights, \
    .direct3x3 = direct3x3, \
    .direct3x3_unpack = direct3x3_unpack, \
