// Every kernel body, included once per variant by isa_*.c between a `target` attribute push and
// pop, and turned into that variant's table. System headers come first, outside the push.

#include "vector_math.h"
#include "elementwise.h"
#include "batchnorm.h"
#include "pooling.h"
#include "softmax.h"
#include "optimizers.h"
#include "peak.h"

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

