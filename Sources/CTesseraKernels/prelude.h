// System headers every kernel body uses, included before a variant's `target` attribute push so
// that their inline functions keep the build's own target.
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "table.h"
